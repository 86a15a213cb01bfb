//! The published flags-file schema and the docs agree: every YAML example in
//! docs/flags-as-code.md is valid against docs/flags.schema.json (checked by the Python
//! `jsonschema` package of the packaging tools, `BURGEE_CHART_PYTHON`) and reads with the
//! binary (`burgee validate`); an exported file is valid against the schema too; and the
//! schema refuses what the binary refuses.

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The ```yaml blocks of a Markdown file.
fn yaml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.trim_start() == "```yaml" => current = Some(String::new()),
            Some(_) if line.trim_start() == "```" => blocks.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

fn python() -> Option<PathBuf> {
    match std::env::var_os("BURGEE_CHART_PYTHON") {
        Some(python) if Path::new(&python).is_file() => Some(PathBuf::from(python)),
        _ => {
            common::skip_or_fail(
                "BURGEE_CHART_PYTHON is not set to a Python with packaging/requirements.txt \
                 (PyYAML and jsonschema; scripts/check-packaging.sh installs one under \
                 target/ci/venv)",
            );
            None
        }
    }
}

/// Validates each file against the schema: the failures, one line each.
fn schema_errors(python: &Path, files: &[PathBuf]) -> Vec<String> {
    const CHECK: &str = r#"
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
for path in sys.argv[2:]:
    for error in validator.iter_errors(yaml.safe_load(open(path))):
        print(f"{path}: {list(error.absolute_path)}: {error.message}")
"#;
    let output = Command::new(python)
        .arg("-c")
        .arg(CHECK)
        .arg(root().join("docs/flags.schema.json"))
        .args(files)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the schema check failed to run: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn written(dir: &Path, n: usize, text: &str) -> PathBuf {
    let path = dir.join(format!("example-{n}.yaml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn every_example_in_the_docs_is_valid_for_the_schema_and_the_binary() {
    let docs = std::fs::read_to_string(root().join("docs/flags-as-code.md")).unwrap();
    let examples: Vec<String> = yaml_blocks(&docs)
        .into_iter()
        .filter(|b| b.starts_with("version:"))
        .collect();
    assert!(examples.len() >= 2, "the docs show flags files");
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = examples
        .iter()
        .enumerate()
        .map(|(n, text)| written(dir.path(), n, text))
        .collect();
    for file in &files {
        let (code, _, err) =
            common::server::run_cli(&["validate", "-f", file.to_str().unwrap()], &[]);
        assert_eq!(code, 0, "{}: {err}", file.display());
    }
    // And they apply: each to a server of its own.
    for file in &files {
        let server = common::server::Server::start();
        let (code, out, err) =
            common::server::cli(&server, &["apply", "-f", file.to_str().unwrap()]);
        assert_eq!(code, 0, "{}: {err}", file.display());
        assert!(out.contains("applied"), "{out}");
    }
    let Some(python) = python() else { return };
    assert_eq!(schema_errors(&python, &files), Vec::<String>::new());

    // What the binary refuses, the schema refuses too.
    let bad = [
        "version: 2\nproject:\n  name: Web\n",
        "version: 1\nproject:\n  name: Web\nfeatures:\n  - name: banner\n    colour: red\n",
        "version: 1\nproject:\n  name: Web\nenvironments:\n  - name: P\n    flags:\n      banner:\n        enabled: maybe\n",
        "version: 1\nproject:\n  name: Web\nfeatures:\n  - name: banner\n    initial_value: [1]\n",
    ];
    for (n, text) in bad.iter().enumerate() {
        let file = written(dir.path(), 100 + n, text);
        let errors = schema_errors(&python, std::slice::from_ref(&file));
        assert!(!errors.is_empty(), "the schema accepts {text}");
    }
}

#[tokio::test]
async fn an_exported_file_is_valid_for_the_schema() {
    let server = common::server::Server::start();
    let admin = common::server::Admin::new(&server);
    admin.web_production().await;
    admin
        .post(
            "/admin/v1/projects/1/features",
            serde_json::json!({"name": "checkout", "type": "MULTIVARIATE", "tags": ["team:pay"],
                               "options": [{"value": "new", "default_weight": 30}]}),
        )
        .await;
    admin
        .post(
            "/admin/v1/projects/1/segments",
            serde_json::json!({"name": "beta", "rules": [{"type": "ANY", "conditions": [
                {"property": "plan", "operator": "IN", "value": "pro,team"},
                {"property": "beta", "operator": "IS_SET"}]}]}),
        )
        .await;
    let (code, out, err) = common::server::cli(&server, &["export", "yaml", "--project", "Web"]);
    assert_eq!(code, 0, "{err}");
    let dir = tempfile::tempdir().unwrap();
    let file = written(dir.path(), 0, &out);
    let Some(python) = python() else { return };
    assert_eq!(
        schema_errors(&python, &[file]),
        Vec::<String>::new(),
        "{out}"
    );
}
