//! Organisations and projects: the owners of features and segments.

/// The top-level tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Organisation {
    pub id: u32,
    pub name: String,
    /// When false, identify calls never store traits.
    pub persist_trait_data: bool,
    /// When true, every SDK call is refused.
    pub stop_serving_flags: bool,
    pub feature_analytics: bool,
}

/// A project groups features, segments and environments.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub id: u32,
    pub name: String,
    pub organisation_id: u32,
    /// Default for environments that do not set their own.
    pub hide_disabled_flags: bool,
    pub enable_realtime_updates: bool,
}
