//! Identities (the users flags are evaluated for) and their traits.

use indexmap::IndexMap;

use super::{FeatureState, Scalar};

/// Trait name to value, in the order given.
pub type Traits = IndexMap<String, Scalar>;

/// An identity as evaluation sees it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Identity {
    pub identifier: String,
    /// The hashing key; `None` means the composite `<environment key>_<identifier>`.
    pub key: Option<String>,
    pub traits: Traits,
}

/// Feature states pinned for one identity in one environment; they beat every segment.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityOverride {
    pub identifier: String,
    pub overrides: Vec<FeatureState>,
}
