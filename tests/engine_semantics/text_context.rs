//! Contexts written as JSON text, so numbers keep every digit (a `json!` value would already
//! have rounded integers beyond `u64`).

use burgee::engine::{CompiledEnvironment, EvaluationError};
use burgee::flagsmith::context::EvaluationContext;
use burgee::flagsmith::result::EvaluationResult;
use serde_json::{Value, json};

/// Evaluates a context given as JSON text, so numbers keep every digit (a `json!` value
/// would already have rounded integers beyond `u64`).
pub fn evaluate_text(context: &str) -> Result<Value, EvaluationError> {
    let context: EvaluationContext = serde_json::from_str(context).expect("valid context");
    let (environment, identity) = context.into_domain();
    let compiled = CompiledEnvironment::compile(&environment);
    let evaluation = compiled.evaluate(identity.as_ref())?;
    Ok(serde_json::to_value(EvaluationResult::from(&evaluation)).unwrap())
}

/// A context whose one segment has the given rules (JSON text) and whose identity has the
/// given traits (JSON text).
pub fn rules_context(rules: &str, traits: &str) -> String {
    format!(
        r#"{{"environment": {{"key": "env", "name": "Production"}},
            "identity": {{"identifier": "user-1", "traits": {traits}}},
            "segments": {{"1": {{"key": "1", "name": "s", "rules": {rules}}}}}}}"#
    )
}

/// Does one condition match a trait `t` written as JSON text?
pub fn check_raw(operator: &str, trait_json: &str, value: &str) -> Result<bool, EvaluationError> {
    let condition = json!({"property": "t", "operator": operator, "value": value});
    let rules = format!(r#"[{{"type": "ALL", "conditions": [{condition}]}}]"#);
    let result = evaluate_text(&rules_context(&rules, &format!(r#"{{"t": {trait_json}}}"#)))?;
    Ok(!result["segments"].as_array().unwrap().is_empty())
}
