//! Flagsmith environments ready to import: everything that decides buckets is kept.

use serde::{Deserialize, Serialize};

use crate::store::records::{
    EnvironmentSettingsRecord, RuleRecord, StoredFeatureKind, StoredValue,
};

/// A Flagsmith environment, ready to apply: everything that decides buckets is kept (client
/// key, segment ids and order, feature-state seeds, option order, priorities).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportedEnvironment {
    pub project_name: String,
    pub project_hide_disabled_flags: bool,
    pub name: String,
    pub client_key: String,
    pub settings: EnvironmentSettingsRecord,
    /// Replace an environment with the same client key instead of refusing.
    pub replace: bool,
    pub features: Vec<ImportedFeature>,
    /// In document order.
    pub segments: Vec<ImportedSegment>,
    pub states: Vec<ImportedState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportedFeature {
    pub name: String,
    pub kind: StoredFeatureKind,
    pub server_key_only: bool,
    /// Options by ascending source id (the variant order).
    pub options: Vec<ImportedOption>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportedOption {
    pub source_id: u64,
    pub value: StoredValue,
    pub key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportedSegment {
    /// Flagsmith's id: the percentage-split seed, kept.
    pub id: u32,
    pub name: String,
    pub rules: Vec<RuleRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ImportedTarget {
    Environment,
    Segment { segment_id: u32, priority: u32 },
    Identity { identifier: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportedState {
    pub feature_name: String,
    pub target: ImportedTarget,
    pub enabled: bool,
    pub value: StoredValue,
    pub django_id: Option<u64>,
    pub uuid: String,
    /// (option source id, weight).
    pub variants: Vec<(u64, f64)>,
}
