//! Storage records: what the state machine writes to redb, encoded with postcard behind a
//! format-version byte. These types stay postcard-safe: no `untagged`, `flatten`,
//! `skip_serializing_if` or `serde_json::Value`.

use serde::{Deserialize, Serialize};

use crate::model::{FeatureKind, Scalar};

/// A typed value as stored (a postcard-safe [`Scalar`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub enum StoredValue {
    #[default]
    Null,
    Bool(bool),
    Integer(i64),
    Float(f64),
    String(String),
}

impl From<&Scalar> for StoredValue {
    fn from(value: &Scalar) -> Self {
        match value {
            Scalar::Null => Self::Null,
            Scalar::Bool(b) => Self::Bool(*b),
            Scalar::Integer(i) => Self::Integer(*i),
            // Kept as text, as the admin API stores such numbers: the engine reads a numeric
            // string as the same integer.
            Scalar::BigInteger(b) => Self::String(b.to_string()),
            Scalar::Float(f) => Self::Float(*f),
            Scalar::String(s) => Self::String(s.clone()),
        }
    }
}

impl From<&StoredValue> for Scalar {
    fn from(value: &StoredValue) -> Self {
        match value {
            StoredValue::Null => Self::Null,
            StoredValue::Bool(b) => Self::Bool(*b),
            StoredValue::Integer(i) => Self::Integer(*i),
            StoredValue::Float(f) => Self::Float(*f),
            StoredValue::String(s) => Self::String(s.clone()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrganisationRecord {
    pub id: u32,
    pub name: String,
    pub persist_trait_data: bool,
    pub stop_serving_flags: bool,
    pub feature_analytics: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectRecord {
    pub id: u32,
    pub organisation_id: u32,
    pub name: String,
    pub hide_disabled_flags: bool,
    pub enable_realtime_updates: bool,
    pub created_at: i64,
}

/// Settings of an environment that shape SDK responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentSettingsRecord {
    pub hide_disabled_flags: Option<bool>,
    pub hide_sensitive_data: bool,
    pub allow_client_traits: bool,
    pub use_identity_composite_key_for_hashing: bool,
    pub use_identity_overrides_in_local_eval: bool,
}

impl Default for EnvironmentSettingsRecord {
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentRecord {
    pub id: u32,
    pub project_id: u32,
    pub name: String,
    /// The public client key; unique across the instance.
    pub client_key: String,
    pub settings: EnvironmentSettingsRecord,
    /// Bumped by every change that alters what the environment serves.
    pub revision: u64,
    /// Milliseconds since the epoch of the last such change.
    pub updated_at: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredFeatureKind {
    Standard,
    Multivariate,
}

impl From<StoredFeatureKind> for FeatureKind {
    fn from(kind: StoredFeatureKind) -> Self {
        match kind {
            StoredFeatureKind::Standard => Self::Standard,
            StoredFeatureKind::Multivariate => Self::Multivariate,
        }
    }
}

/// A multivariate option of a feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptionRecord {
    pub id: u32,
    pub value: StoredValue,
    pub key: Option<String>,
    /// Weight given to new environments, as a percentage.
    pub default_weight: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureRecord {
    pub id: u32,
    pub project_id: u32,
    pub name: String,
    pub kind: StoredFeatureKind,
    pub description: Option<String>,
    pub initial_value: StoredValue,
    pub default_enabled: bool,
    pub server_key_only: bool,
    pub options: Vec<OptionRecord>,
    pub created_at: i64,
}

/// Burgee's own labels of a feature (Flagsmith's documents carry none): its tags, and
/// whether it is archived (hidden from SDKs and lists, restorable).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureLabelsRecord {
    /// Sorted, without repeats.
    pub tags: Vec<String>,
    /// When it was archived.
    pub archived_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredRuleKind {
    All,
    Any,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionRecord {
    pub property: String,
    pub operator: String,
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleRecord {
    pub kind: StoredRuleKind,
    pub conditions: Vec<ConditionRecord>,
    pub rules: Vec<RuleRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentRecord {
    pub id: u32,
    pub project_id: u32,
    /// Evaluation order (creation order; an import keeps its document's order): it decides
    /// ties between overrides and the order of matched segments.
    pub position: u64,
    pub name: String,
    pub description: Option<String>,
    pub rules: Vec<RuleRecord>,
    pub created_at: i64,
}

/// The weight of one multivariate option in one feature state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantWeightRecord {
    pub option_id: u32,
    pub weight: f64,
}

/// What a feature state applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateTarget {
    /// The environment default.
    Environment,
    /// A segment override with its priority (lower wins).
    Segment { segment_id: u32, priority: u32 },
    /// An identity override.
    Identity { identifier: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureStateRecord {
    pub id: u32,
    pub environment_id: u32,
    pub feature_id: u32,
    pub target: StateTarget,
    pub enabled: bool,
    pub value: StoredValue,
    /// Multivariate seed: Flagsmith's `django_id` (numeric, stringified for hashing), kept
    /// through every edit, export and import.
    pub django_id: Option<u64>,
    /// Seed when `django_id` is absent; always emitted.
    pub uuid: String,
    pub variants: Vec<VariantWeightRecord>,
    pub updated_at: i64,
}

impl FeatureStateRecord {
    /// The multivariate hashing seed.
    pub fn hash_seed(&self) -> String {
        match self.django_id {
            Some(id) if id != 0 => id.to_string(),
            _ => self.uuid.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerKeyRecord {
    pub id: u32,
    pub environment_id: u32,
    pub name: String,
    /// SHA-256 of the whole key; the key itself is never stored.
    pub key_hash: [u8; 32],
    /// The first characters, to recognise a key in lists.
    pub prefix: String,
    pub active: bool,
    /// When it stops working (milliseconds), if ever; rotation sets the old key's.
    pub expires_at: Option<i64>,
    pub created_at: i64,
}

/// A UUID derived from `parts` (SHA-256): stable for the same input, on every node.
pub fn stable_uuid(parts: &[&[u8]]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// An identity of an environment (traits live in their own table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityRecord {
    pub id: u32,
    pub created_at: i64,
}
