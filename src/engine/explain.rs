//! Explanations for people: which segments and conditions matched, and why each flag has
//! its value.

use std::fmt::Write as _;

use crate::model::{ConditionValue, Identity, RuleKind};

use super::compile::CompiledEnvironment;
use super::condition::{CompiledCondition, describe_value};
use super::context_value::ContextValue;
use super::error::{ConditionError, EvaluationError};
use super::evaluate::{Evaluation, FlagSource, Frame, Observer};

struct Recorder {
    out: String,
}

impl Observer for Recorder {
    const RECORDS: bool = true;

    fn enter_rule(&mut self, depth: usize, kind: RuleKind) {
        let _ = writeln!(self.out, "{}{} of:", indent(depth + 1), kind.as_str());
    }

    fn exit_rule(&mut self, depth: usize, matched: bool) {
        let word = if matched { "matched" } else { "did not match" };
        let _ = writeln!(self.out, "{}=> rule {word}", indent(depth + 1));
    }

    fn condition(
        &mut self,
        depth: usize,
        condition: &CompiledCondition,
        value: Option<&ContextValue<'_>>,
        outcome: &Result<bool, ConditionError>,
    ) {
        let mark = match outcome {
            Ok(true) => "yes".to_owned(),
            Ok(false) => "no ".to_owned(),
            Err(e) => format!("ERROR ({e})"),
        };
        let source = &condition.source;
        let property = if source.property.is_empty() {
            "<identity key>"
        } else {
            source.property.as_str()
        };
        let operand = match &source.value {
            ConditionValue::Null => "null".to_owned(),
            ConditionValue::Text(t) => format!("{t:?}"),
            ConditionValue::List(items) => format!("{items:?}"),
        };
        let _ = writeln!(
            self.out,
            "{}[{mark}] {property} {} {operand}   (context value: {})",
            indent(depth + 2),
            source.operator,
            describe_value(value),
        );
    }
}

fn indent(depth: usize) -> String {
    "  ".repeat(depth)
}

/// Evaluates like [`CompiledEnvironment::evaluate`] and describes every step.
pub fn explain(
    environment: &CompiledEnvironment,
    identity: Option<&Identity>,
) -> Result<String, EvaluationError> {
    let evaluation = environment.evaluate(identity)?;
    let mut frame = Frame::new(environment, identity);
    let mut recorder = Recorder { out: String::new() };
    let out = &mut recorder.out;
    let _ = writeln!(
        out,
        "environment {:?} (key {})",
        environment.name(),
        environment.key()
    );
    match identity {
        Some(identity) => {
            let _ = writeln!(
                out,
                "identity {:?}, hashing key {:?}, {} trait(s)",
                identity.identifier,
                frame.identity_key().unwrap_or_default(),
                identity.traits.len()
            );
            for (name, value) in &identity.traits {
                let _ = writeln!(out, "  trait {name:?} = {value}");
            }
        }
        None => {
            let _ = writeln!(
                out,
                "no identity: environment defaults, segments need no identity"
            );
        }
    }
    let _ = writeln!(out, "\nsegments:");
    frame.hash_splits(environment);
    for (index, segment) in environment.segments().iter().enumerate() {
        let _ = writeln!(
            recorder.out,
            "segment {:?} (key {}):",
            segment.name, segment.key
        );
        if segment.rules.is_empty() {
            let _ = writeln!(recorder.out, "  has no rules, so it never matches");
        }
        let matched = environment.segment_matches(index, &mut frame, &mut recorder)?;
        let verdict = if matched { "MATCHED" } else { "not matched" };
        let _ = writeln!(recorder.out, "  => segment {verdict}");
    }
    describe_flags(&mut recorder.out, environment, &evaluation);
    Ok(recorder.out)
}

fn describe_flags(
    out: &mut String,
    environment: &CompiledEnvironment,
    evaluation: &Evaluation<'_>,
) {
    let _ = writeln!(out, "\nflags:");
    for flag in &evaluation.flags {
        let source = match flag.source {
            FlagSource::EnvironmentDefault => "environment default".to_owned(),
            FlagSource::Segment(i) => format!(
                "override of segment {:?}",
                environment
                    .segments()
                    .get(i)
                    .map_or("", |s| s.name.as_str())
            ),
            FlagSource::IdentityOverride => "identity override".to_owned(),
        };
        let _ = writeln!(
            out,
            "  {}: enabled={} value={} variant={} reason={:?} (from {source})",
            flag.feature.name,
            flag.enabled,
            flag.value,
            flag.variant.unwrap_or("-"),
            flag.reason.to_string(),
        );
    }
}
