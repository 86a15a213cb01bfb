//! Failing conditions (an invalid pattern, a zero divisor) fail the evaluation only when
//! Flagsmith's evaluation order reaches them.

use burgee::engine::{CompiledEnvironment, EvaluationError};
use burgee::flagsmith::context::EvaluationContext;

use super::text_context::{evaluate_text, rules_context};

/// A segment with one rule of `kind` over `conditions` (JSON text), on traits `{"a": 1}`.
fn one_rule(kind: &str, conditions: &str) -> Result<bool, EvaluationError> {
    let rules = format!(r#"[{{"type": "{kind}", "conditions": [{conditions}]}}]"#);
    let result = evaluate_text(&rules_context(&rules, r#"{"a": 1}"#))?;
    Ok(!result["segments"].as_array().unwrap().is_empty())
}

const TRUE: &str = r#"{"property": "a", "operator": "EQUAL", "value": "1"}"#;
const FALSE: &str = r#"{"property": "a", "operator": "EQUAL", "value": "2"}"#;
const BAD_REGEX: &str = r#"{"property": "a", "operator": "REGEX", "value": "("}"#;
const MODULO_ZERO: &str = r#"{"property": "a", "operator": "MODULO", "value": "0|0"}"#;

#[test]
fn failing_conditions_raise_only_when_evaluation_reaches_them() {
    assert!(!one_rule("ALL", &format!("{FALSE}, {BAD_REGEX}")).unwrap());
    assert_eq!(
        one_rule("ALL", &format!("{TRUE}, {BAD_REGEX}"))
            .unwrap_err()
            .code(),
        "invalid_regex"
    );
    assert_eq!(
        one_rule("ALL", &format!("{BAD_REGEX}, {FALSE}"))
            .unwrap_err()
            .code(),
        "invalid_regex",
        "conditions run in order"
    );
    assert!(one_rule("ANY", &format!("{TRUE}, {MODULO_ZERO}")).unwrap());
    assert_eq!(
        one_rule("ANY", &format!("{FALSE}, {MODULO_ZERO}"))
            .unwrap_err()
            .code(),
        "modulo_by_zero"
    );
    assert!(
        !one_rule("NONE", &format!("{TRUE}, {MODULO_ZERO}")).unwrap(),
        "NONE stops at the first true condition"
    );
    assert_eq!(
        one_rule("NONE", &format!("{FALSE}, {MODULO_ZERO}"))
            .unwrap_err()
            .code(),
        "modulo_by_zero"
    );
}

#[test]
fn failing_rules_raise_only_when_evaluation_reaches_them() {
    let rule = |kind: &str, condition: &str| {
        format!(r#"{{"type": "{kind}", "conditions": [{condition}]}}"#)
    };
    let bad = rule("ALL", BAD_REGEX);
    let outcome = |rules: String| {
        evaluate_text(&rules_context(&rules, r#"{"a": 1}"#))
            .map(|result| !result["segments"].as_array().unwrap().is_empty())
            .map_err(|e| e.code())
    };
    // Top-level rules: Python's all() stops at the first that fails.
    assert_eq!(
        outcome(format!("[{}, {bad}]", rule("ALL", FALSE))),
        Ok(false)
    );
    assert_eq!(
        outcome(format!("[{}, {bad}]", rule("ALL", TRUE))),
        Err("invalid_regex")
    );
    // Sub-rules run under the rule's quantifier, even when its own conditions failed.
    let with_sub_rules = |kind: &str, condition: &str, sub_rules: &[&str]| {
        format!(
            r#"[{{"type": "{kind}", "conditions": [{condition}], "rules": [{}]}}]"#,
            sub_rules.join(", ")
        )
    };
    assert_eq!(
        outcome(with_sub_rules("ALL", FALSE, &[&bad])),
        Err("invalid_regex")
    );
    assert_eq!(
        outcome(with_sub_rules("ANY", TRUE, &[&rule("ALL", TRUE), &bad])),
        Ok(true)
    );
    assert_eq!(
        outcome(with_sub_rules("ALL", TRUE, &[&rule("ALL", FALSE), &bad])),
        Ok(false)
    );
    assert_eq!(
        outcome(with_sub_rules("ALL", TRUE, &[&rule("ALL", TRUE), &bad])),
        Err("invalid_regex")
    );
    // Every segment is evaluated, whatever the others gave.
    let two_segments = r#"{"environment": {"key": "env", "name": "Production"},
        "identity": {"identifier": "u", "traits": {"a": 1}},
        "segments": {
            "1": {"key": "1", "name": "first", "rules": [{"type": "ALL", "conditions": [{"property": "a", "operator": "EQUAL", "value": "1"}]}]},
            "2": {"key": "2", "name": "second", "rules": [{"type": "ALL", "conditions": [{"property": "a", "operator": "MODULO", "value": "0|1"}]}]}}}"#;
    assert_eq!(
        evaluate_text(two_segments).unwrap_err().code(),
        "modulo_by_zero"
    );
}

#[test]
fn explanations_show_conditions_evaluation_never_reaches() {
    let context = rules_context(
        &format!(r#"[{{"type": "ALL", "conditions": [{FALSE}, {BAD_REGEX}]}}]"#),
        r#"{"a": 1}"#,
    );
    let context: EvaluationContext = serde_json::from_str(&context).unwrap();
    let (environment, identity) = context.into_domain();
    let compiled = CompiledEnvironment::compile(&environment);
    let text = burgee::engine::explain::explain(&compiled, identity.as_ref()).unwrap();
    assert!(text.contains("ERROR"), "{text}");
    assert!(text.contains("segment not matched"), "{text}");
}
