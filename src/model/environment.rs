//! Environments: one set of feature states, segment overrides and identity overrides.

use super::{FeatureState, IdentityOverride, Segment};

/// Everything evaluation needs about one environment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Environment {
    /// The public client key; part of every identity's hashing key.
    pub key: String,
    pub name: String,
    /// Environment defaults, one per feature, in document order.
    pub features: Vec<FeatureState>,
    /// Segments in document order (order decides ties and the order of matched segments).
    pub segments: Vec<Segment>,
    pub identity_overrides: Vec<IdentityOverride>,
}

/// Per-environment settings that shape what the SDK API serves.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvironmentSettings {
    /// `None` inherits the project's setting.
    pub hide_disabled_flags: Option<bool>,
    pub hide_sensitive_data: bool,
    pub allow_client_traits: bool,
    pub use_identity_composite_key_for_hashing: bool,
    pub use_identity_overrides_in_local_eval: bool,
}

impl Default for EnvironmentSettings {
    fn default() -> Self {
        Self {
            hide_disabled_flags: None,
            hide_sensitive_data: false,
            allow_client_traits: true,
            use_identity_composite_key_for_hashing: true,
            use_identity_overrides_in_local_eval: true,
        }
    }
}
