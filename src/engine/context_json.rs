//! The JSON form of an evaluation context: what `$.` JSONPath properties are evaluated on.

use serde_json::Value;

use crate::flagsmith::context::{EvaluationContext, FeatureContext, IdentityContext};
use crate::model::{Environment, Identity, Scalar};

/// The context without its identity: `environment`, `features` and `segments`.
pub fn environment_context_json(environment: &Environment) -> Value {
    let mut context = EvaluationContext::from_domain(environment, None);
    for feature in context.features.iter_mut().flat_map(|f| f.values_mut()) {
        feature_digits_as_text(feature);
    }
    for segment in context.segments.iter_mut().flat_map(|s| s.values_mut()) {
        for feature in segment.overrides.iter_mut().flatten() {
            feature_digits_as_text(feature);
        }
    }
    serde_json::to_value(context).unwrap_or(Value::Null)
}

/// The `identity` member of the context, with its effective hashing key.
pub fn identity_context_json(identity: &Identity, key: Option<&str>) -> Value {
    let mut context = IdentityContext::from_domain(identity);
    context.key = key.map(str::to_owned).or(context.key);
    for value in context.traits.iter_mut().flat_map(|t| t.values_mut()) {
        digits_as_text(value);
    }
    serde_json::to_value(context).unwrap_or(Value::Null)
}

fn feature_digits_as_text(feature: &mut FeatureContext) {
    digits_as_text(&mut feature.value);
    for variant in feature.variants.iter_mut().flatten() {
        digits_as_text(&mut variant.value);
    }
}

/// An integer beyond `i64` as its digits: a JSON value cannot hold every such integer, and
/// Flagsmith's normalisation reads a string of digits as the same integer.
fn digits_as_text(value: &mut Scalar) {
    if let Scalar::BigInteger(integer) = value {
        *value = Scalar::String(integer.to_string());
    }
}
