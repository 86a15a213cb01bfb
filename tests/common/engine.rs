//! Burgee's engine on a Flagsmith evaluation context, answered in Flagsmith's result shape
//! (`{"flags": {name: flag}, "segments": [...]}`): what the conformance and differential
//! tests compare with Flagsmith's answers.

use burgee::engine::{CompiledEnvironment, Evaluation, EvaluationError};
use burgee::flagsmith::context::EvaluationContext;
use burgee::flagsmith::result::EvaluationResult;
use burgee::model::Scalar;
use serde_json::Value;

/// Compiles and evaluates the context; `shape` turns the evaluation into what is compared.
pub fn evaluate_with<R>(
    context: EvaluationContext,
    shape: impl FnOnce(&Evaluation<'_>) -> R,
) -> Result<R, EvaluationError> {
    let (environment, identity) = context.into_domain();
    let compiled = CompiledEnvironment::compile(&environment);
    let evaluation = compiled.evaluate(identity.as_ref())?;
    Ok(shape(&evaluation))
}

/// Flagsmith's evaluation result JSON of an evaluation.
pub fn result_json(evaluation: &Evaluation<'_>) -> Value {
    serde_json::to_value(EvaluationResult::from(evaluation)).expect("results serialise")
}

/// [`result_json`] with each flag's value written by `value` (a `serde_json::Value` cannot
/// hold integers beyond the float range, which JSON text and Python can).
pub fn result_json_with_values(
    evaluation: &Evaluation<'_>,
    value: impl Fn(&Scalar) -> Value,
) -> Value {
    let mut shaped = EvaluationResult::from(evaluation);
    for flag in shaped.flags.values_mut() {
        flag.value = &Scalar::Null;
    }
    let mut result = serde_json::to_value(&shaped).expect("results serialise");
    for flag in &evaluation.flags {
        result["flags"][flag.feature.name.as_str()]["value"] = value(flag.value);
    }
    result
}
