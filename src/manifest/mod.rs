//! Flags as code: a project's features, segments and per-environment flags described in one
//! file (YAML, or JSON), applied to a server atomically and exported back in the same form.
//!
//! The file carries everything that decides buckets — each segment's id (the seed of its
//! percentage splits), each flag's and override's hash seed, and each environment's public
//! client key (part of an identity's bucket with composite-key hashing) — so applying it to
//! another server keeps every identity's variant and split. It carries no secret: no
//! server-side keys, no tokens. The published schema is `docs/flags.schema.json`.

mod yaml;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use yaml::{FileError, from_yaml, to_yaml};

/// The only version of the file format so far.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The file format: 1.
    pub version: u32,
    pub project: ProjectSpec,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<SegmentSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<FeatureSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<EnvironmentSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSpec {
    pub name: String,
    #[serde(default)]
    pub hide_disabled_flags: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentSpec {
    pub name: String,
    /// The segment's id: the seed of its percentage splits. Absent: a new one is chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// As the admin API takes them: `{type, conditions: [{property, operator, value}], rules}`.
    #[serde(default)]
    pub rules: Vec<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum FeatureType {
    #[default]
    #[serde(rename = "STANDARD")]
    Standard,
    #[serde(rename = "MULTIVARIATE")]
    Multivariate,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    pub name: String,
    #[serde(rename = "type", default)]
    pub kind: FeatureType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The value new environments start with.
    #[serde(default)]
    pub initial_value: Value,
    #[serde(default)]
    pub default_enabled: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub server_key_only: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub archived: bool,
    /// Multivariate options, in their order (the order variants are bucketed in).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<OptionSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionSpec {
    pub value: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default)]
    pub default_weight: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSpec {
    pub name: String,
    /// The client-side key (public: web and mobile apps embed it). With composite-key
    /// hashing it is part of every identity's bucket, so a new environment takes it from
    /// the file; an existing one keeps its own. Server-side keys are never in the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<String>,
    #[serde(default)]
    pub settings: SettingsSpec,
    /// By feature name; features not listed keep their state.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub flags: BTreeMap<String, FlagSpec>,
}

/// Environment settings; an absent one keeps its value (a new environment's default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsSpec {
    /// `null`: inherit the project's setting.
    #[serde(
        default,
        deserialize_with = "given",
        skip_serializing_if = "Option::is_none"
    )]
    pub hide_disabled_flags: Option<Option<bool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hide_sensitive_data: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_client_traits: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_identity_composite_key_for_hashing: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_identity_overrides_in_local_eval: Option<bool>,
}

/// A field that may be absent (`None`) or `null` (`Some(None)`).
fn given<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagSpec {
    pub enabled: bool,
    #[serde(default)]
    pub value: Value,
    /// The multivariate hash seed (a number, or a UUID); absent keeps the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// Weights by option value; absent keeps the current ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variants: Option<Vec<VariantSpec>>,
    /// Strongest first; absent keeps the current overrides, `[]` removes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment_overrides: Option<Vec<OverrideSpec>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    pub option: Value,
    pub weight: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideSpec {
    pub segment: String,
    pub enabled: bool,
    #[serde(default)]
    pub value: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<VariantSpec>,
}
