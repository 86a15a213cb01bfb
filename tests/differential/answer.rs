//! Burgee's answer to one context in the reference driver's shape
//! (`sdk-tests/engine/reference.py`): the result with typed flag values, or the class of the
//! exception Flagsmith's engine raises in the same case.

use burgee::engine::python::float_repr;
use burgee::engine::{ConditionError, EvaluationError};
use burgee::flagsmith::context::EvaluationContext;
use burgee::model::Scalar;
use serde_json::{Value, json};

use crate::common::engine::{evaluate_with, result_json_with_values};

/// `{"result": ...}` or `{"error": "<Python exception class>"}`.
pub fn burgee_answer(context_text: &str) -> Value {
    let context: EvaluationContext = match serde_json::from_str(context_text) {
        Ok(context) => context,
        Err(e) => return json!({"error": format!("unreadable context: {e}")}),
    };
    let answer = evaluate_with(context, |evaluation| {
        result_json_with_values(evaluation, typed)
    });
    match answer {
        Ok(result) => json!({ "result": result }),
        Err(error) => json!({ "error": python_exception(&error) }),
    }
}

/// `{"type": <Python type>, "text": <str, or repr for non-strings>}`, as the driver prints.
fn typed(value: &Scalar) -> Value {
    let (kind, text) = match value {
        Scalar::Null => ("NoneType", "None".to_owned()),
        Scalar::Bool(b) => ("bool", if *b { "True" } else { "False" }.to_owned()),
        Scalar::Integer(i) => ("int", i.to_string()),
        Scalar::BigInteger(b) => ("int", b.to_string()),
        Scalar::Float(f) => ("float", float_repr(*f)),
        Scalar::String(s) => ("str", s.clone()),
    };
    json!({"type": kind, "text": text})
}

/// The exception Flagsmith's engine raises where Burgee reports this error.
fn python_exception(error: &EvaluationError) -> &'static str {
    match error {
        EvaluationError::Condition { error, .. } => match error {
            // `re.error`; Python 3.13 renamed it `PatternError` (see [`normalise`]).
            ConditionError::InvalidRegex(_) => "error",
            ConditionError::ModuloByZero => "ZeroDivisionError",
            ConditionError::IntegerTooLarge => "OverflowError",
            ConditionError::IntegerStringTooLong { .. } => "ValueError",
        },
        // `None < float` while ordering overrides.
        EvaluationError::NullPriority { .. } => "TypeError",
    }
}

/// The reference's answer with names that differ only between Python versions unified.
pub fn normalise(mut answer: Value) -> Value {
    if answer["error"] == "PatternError" {
        answer["error"] = json!("error");
    }
    answer
}
