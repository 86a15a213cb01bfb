//! The JSON form of an evaluation context: what `$.` JSONPath properties are evaluated on.

use serde_json::Value;

use crate::flagsmith::context::{EvaluationContext, IdentityContext};
use crate::model::{Environment, Identity};

/// The context without its identity: `environment`, `features` and `segments`.
pub fn environment_context_json(environment: &Environment) -> Value {
    serde_json::to_value(EvaluationContext::from_domain(environment, None)).unwrap_or(Value::Null)
}

/// The `identity` member of the context, with its effective hashing key.
pub fn identity_context_json(identity: &Identity, key: Option<&str>) -> Value {
    let mut context = IdentityContext::from_domain(identity);
    context.key = key.map(str::to_owned).or(context.key);
    serde_json::to_value(context).unwrap_or(Value::Null)
}
