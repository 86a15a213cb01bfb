//! Edits of features' configuration in several environments, applied as one command (a
//! promotion, a bulk edit): all of them or none.

use serde::{Deserialize, Serialize};

use super::StatePatch;
use crate::store::records::{StoredValue, VariantWeightRecord};

/// The configuration one feature gets in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureEdit {
    pub environment_id: u32,
    pub feature_id: u32,
    /// The environment default's settable parts (`None` keeps each).
    pub default: StatePatch,
    /// Replaces the feature's segment overrides there, strongest first; `None` keeps them.
    /// An override of a segment already overriding keeps its hash seed, so identities keep
    /// their variant where only the weights move.
    pub segment_overrides: Option<Vec<OverrideConfig>>,
}

/// One segment override, whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverrideConfig {
    pub segment_id: u32,
    pub enabled: bool,
    pub value: StoredValue,
    pub variants: Vec<VariantWeightRecord>,
}

/// The revision of an environment the proposer planned against: if it moved meanwhile, the
/// command is refused and nothing changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionGuard {
    pub environment_id: u32,
    pub revision: u64,
}

/// Why the edits were made, for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EditKind {
    /// Configuration copied from this environment.
    Promotion { from_environment_id: u32 },
    /// The same enabled state or value set in many places.
    BulkEdit,
    /// A feature's configuration restored as it was right after this audit entry.
    Rollback { to_seq: u64 },
}
