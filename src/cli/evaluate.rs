//! `burgee evaluate`: local evaluation of evaluation contexts or an environment document.

use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::{Value, json};

use crate::engine::{CompiledEnvironment, EvaluationError, explain::explain};
use crate::flagsmith::context::EvaluationContext;
use crate::flagsmith::document::EnvironmentDocument;
use crate::flagsmith::result::EvaluationResult;
use crate::model::{Identity, Scalar, Traits};

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Evaluation contexts in Flagsmith's format: one JSON document, or JSON Lines with one
    /// context per line; `-` reads standard input.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["document", "environment"],
        required_unless_present_any = ["document", "environment"]
    )]
    context: Option<PathBuf>,

    /// An environment document as `/api/v1/environment-document/` serves it.
    #[arg(long, value_name = "FILE", conflicts_with = "environment")]
    document: Option<PathBuf>,

    /// A live environment of the server (its client key): explains what the server serves
    /// the identity there, with its stored traits under --trait.
    #[arg(long, value_name = "CLIENT_KEY")]
    environment: Option<String>,

    /// The identity to evaluate the document (or live environment) for; without it,
    /// environment defaults.
    #[arg(long)]
    identity: Option<String>,

    /// A trait of the identity, `name=value`; the value is read as JSON when it is a valid
    /// JSON number, boolean or null, and as a string otherwise. Repeatable.
    #[arg(long = "trait", value_name = "NAME=VALUE", requires = "identity")]
    traits: Vec<String>,

    /// Describe for people which segments and conditions matched and why.
    #[arg(long)]
    explain: bool,

    #[command(flatten)]
    connection: super::client::Connection,
}

pub fn run(args: &EvaluateArgs) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if args.document.is_none()
        && args.environment.is_none()
        && (args.identity.is_some() || !args.traits.is_empty())
    {
        bail!(
            "--identity and --trait apply to --document or --environment; a context carries \
             its own identity"
        );
    }
    if !args.traits.is_empty() && args.identity.is_none() {
        bail!("--trait belongs to an identity: give --identity");
    }
    if let Some(key) = &args.environment {
        return live(args, key);
    }
    let all_ok = match (&args.context, &args.document) {
        (Some(path), _) => evaluate_contexts(&read_input(path)?, args.explain, &mut out)?,
        (None, Some(path)) => evaluate_document(args, &read_input(path)?, &mut out)?,
        (None, None) => bail!("give --context or --document"),
    };
    out.flush()?;
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn read_input(path: &PathBuf) -> anyhow::Result<String> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading standard input")?;
    } else {
        text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    }
    Ok(text)
}

/// Evaluates each context; returns whether all could be evaluated.
fn evaluate_contexts(input: &str, explain: bool, out: &mut impl Write) -> anyhow::Result<bool> {
    let mut all_ok = true;
    // One document (possibly pretty-printed), or else one context per line.
    let documents: Vec<Result<&str, serde_json::Error>> =
        match serde_json::from_str::<serde::de::IgnoredAny>(input) {
            Ok(_) => vec![Ok(input)],
            Err(_) => input
                .lines()
                .filter(|line| !line.trim().is_empty())
                .map(|line| serde_json::from_str::<serde::de::IgnoredAny>(line).map(|_| line))
                .collect(),
        };
    for document in documents {
        let outcome = document
            .map_err(|e| error_body("invalid_json", &e.to_string(), Value::Null))
            .and_then(|text| evaluate_context(text, explain));
        match outcome {
            Ok(text) => writeln!(out, "{text}")?,
            Err(error) => {
                all_ok = false;
                writeln!(out, "{error}")?;
            }
        }
    }
    Ok(all_ok)
}

/// A conformance test case: `{"context": ..., "result": ...}`.
#[derive(serde::Deserialize)]
struct TestCase {
    context: Box<serde_json::value::RawValue>,
}

/// Evaluates one context given as JSON text, read from the text itself so that numbers keep
/// every digit.
fn evaluate_context(text: &str, explain: bool) -> Result<String, Value> {
    let invalid = |e: serde_json::Error| error_body("invalid_context", &e.to_string(), Value::Null);
    let shape: Value = serde_json::from_str(text).map_err(invalid)?;
    // Accept a conformance test case as well.
    let case;
    let text = if shape.get("environment").is_none() && shape.get("context").is_some() {
        case = serde_json::from_str::<TestCase>(text).map_err(invalid)?;
        case.context.get()
    } else {
        text
    };
    let context: EvaluationContext = serde_json::from_str(text).map_err(invalid)?;
    let (environment, identity) = context.into_domain();
    let compiled = CompiledEnvironment::compile(&environment);
    render(&compiled, identity.as_ref(), explain)
}

fn evaluate_document(
    args: &EvaluateArgs,
    input: &str,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    let document: EnvironmentDocument =
        serde_json::from_str(input).context("reading the environment document")?;
    let mut environment = document.to_environment();
    let identity = match &args.identity {
        Some(identifier) => Some(Identity {
            identifier: identifier.clone(),
            key: None,
            traits: parse_traits(&args.traits)?,
        }),
        None => {
            // Like the SDKs: without an identity, environment defaults only.
            environment.segments.clear();
            None
        }
    };
    let compiled = CompiledEnvironment::compile(&environment);
    match render(&compiled, identity.as_ref(), args.explain) {
        Ok(text) => {
            writeln!(out, "{text}")?;
            Ok(true)
        }
        Err(error) => {
            writeln!(out, "{error}")?;
            Ok(false)
        }
    }
}

fn render(
    compiled: &CompiledEnvironment,
    identity: Option<&Identity>,
    explain_it: bool,
) -> Result<String, Value> {
    if explain_it {
        return explain(compiled, identity).map_err(|e| evaluation_error(&e));
    }
    let evaluation = compiled
        .evaluate(identity)
        .map_err(|e| evaluation_error(&e))?;
    serde_json::to_string(&EvaluationResult::from(&evaluation))
        .map_err(|e| error_body("internal", &e.to_string(), Value::Null))
}

fn evaluation_error(error: &EvaluationError) -> Value {
    error_body(error.code(), &error.to_string(), error.details())
}

#[allow(clippy::needless_pass_by_value)] // callers build the details inline
fn error_body(code: &str, message: &str, details: Value) -> Value {
    json!({"error": {"code": code, "message": message, "details": details}})
}

/// Reads `name=value` pairs; values that are JSON scalars keep their type.
pub fn parse_traits(pairs: &[String]) -> anyhow::Result<Traits> {
    let mut traits = Traits::new();
    for pair in pairs {
        let Some((name, raw)) = pair.split_once('=') else {
            bail!("trait {pair:?} is not NAME=VALUE");
        };
        if name.is_empty() {
            bail!("trait {pair:?} has an empty name");
        }
        // A JSON string literal ('"42"') forces a string; other JSON scalars keep their type
        // (and integers every digit).
        let value = serde_json::from_str::<serde::de::IgnoredAny>(raw)
            .ok()
            .and_then(|_| Scalar::from_json_text(raw).ok())
            .unwrap_or_else(|| Scalar::String(raw.to_owned()));
        traits.insert(name.to_owned(), value);
    }
    Ok(traits)
}

/// `--environment`: the server explains what it serves the identity in a live environment.
fn live(args: &EvaluateArgs, key: &str) -> anyhow::Result<ExitCode> {
    let client = super::client::Client::new(&args.connection)?;
    let env = client.environment(key)?;
    let traits: serde_json::Map<String, Value> = parse_traits(&args.traits)?
        .into_iter()
        .map(|(k, v)| (k, v.to_json()))
        .collect();
    let mut question = json!({"traits": traits});
    if let Some(identifier) = &args.identity {
        question["identifier"] = json!(identifier);
    }
    let answer = client.call(
        reqwest::Method::POST,
        &format!("/admin/v1/environments/{}/explain", env["id"]),
        Some(&question),
    )?;
    match args.connection.output {
        super::client::Output::Json => println!("{answer}"),
        super::client::Output::Table => {
            println!("{}", answer["explanation"].as_str().unwrap_or_default());
        }
    }
    Ok(ExitCode::SUCCESS)
}
