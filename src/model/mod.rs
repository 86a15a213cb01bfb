//! Domain types: what Burgee stores and evaluates, independent of any wire format.
//!
//! Organisations own projects; projects own features and segments; environments hold one
//! state per feature, segment overrides and identity overrides. Identities carry traits.

mod big_integer;
mod environment;
mod feature;
mod identity;
mod project;
mod segment;
mod value;

pub use big_integer::BigInteger;
pub use environment::{Environment, EnvironmentSettings};
pub use feature::{
    Feature, FeatureKind, FeatureState, OverridePriority, Variant, VariantOrder, Weight,
};
pub use identity::{Identity, IdentityOverride, Traits};
pub use project::{Organisation, Project};
pub use segment::{Condition, ConditionValue, Operator, Rule, RuleKind, Segment};
pub use value::Scalar;

/// Opaque metadata passed through evaluation untouched (Flagsmith's `metadata` objects).
pub type Metadata = serde_json::Map<String, serde_json::Value>;
