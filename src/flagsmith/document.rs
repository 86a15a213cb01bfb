//! Flagsmith's environment document (`/api/v1/environment-document/`), as every SDK reads
//! it, and its mapping to the domain environment (Flagsmith's Python SDK mapper is the
//! reference for the mapping).

use serde::{Deserialize, Serialize};

use crate::model::{
    Environment, EnvironmentSettings, FeatureKind, FeatureState, IdentityOverride, Metadata,
    OverridePriority, Rule, Scalar, Segment, Variant, VariantOrder,
};

use super::context::{RuleKindWire, weight_from_number};
use super::serde_helpers::present_or_null;

/// The whole document. Reads older shapes too (fields missing from older documents default).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct EnvironmentDocument {
    pub id: u32,
    pub api_key: String,
    #[serde(default)]
    pub name: String,
    pub project: ProjectDocument,
    #[serde(default)]
    pub feature_states: Vec<FeatureStateDocument>,
    #[serde(default)]
    pub identity_overrides: Vec<IdentityOverrideDocument>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default = "yes")]
    pub allow_client_traits: bool,
    #[serde(default)]
    pub hide_sensitive_data: bool,
    #[serde(default)]
    pub hide_disabled_flags: Option<bool>,
    #[serde(default = "yes")]
    pub use_identity_composite_key_for_hashing: bool,
    #[serde(default = "yes")]
    pub use_identity_overrides_in_local_eval: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ProjectDocument {
    pub id: u32,
    pub name: String,
    pub organisation: OrganisationDocument,
    #[serde(default)]
    pub hide_disabled_flags: bool,
    #[serde(default)]
    pub segments: Vec<SegmentDocument>,
    #[serde(default)]
    pub enable_realtime_updates: bool,
    #[serde(default)]
    pub server_key_only_feature_ids: Vec<u32>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct OrganisationDocument {
    pub id: u32,
    pub name: String,
    #[serde(default)]
    pub feature_analytics: bool,
    #[serde(default)]
    pub stop_serving_flags: bool,
    #[serde(default = "yes")]
    pub persist_trait_data: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct FeatureDocument {
    pub id: u32,
    pub name: String,
    #[serde(rename = "type", default = "standard")]
    pub kind: String,
}

fn standard() -> String {
    FeatureKind::Standard.as_str().to_owned()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct FeatureStateDocument {
    pub feature: FeatureDocument,
    pub enabled: bool,
    #[serde(default)]
    pub feature_state_value: Scalar,
    #[serde(default)]
    pub django_id: Option<u64>,
    #[serde(default)]
    pub featurestate_uuid: Option<String>,
    #[serde(default)]
    pub feature_segment: Option<FeatureSegmentDocument>,
    #[serde(default)]
    pub multivariate_feature_state_values: Vec<MultivariateValueDocument>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct FeatureSegmentDocument {
    /// Absent, explicit null, or a number (always an integer when Burgee writes it: the Rust
    /// SDK reads a `u32`).
    #[serde(default, deserialize_with = "present_or_null")]
    pub priority: Option<Option<serde_json::Number>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct MultivariateValueDocument {
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mv_fs_value_uuid: Option<String>,
    pub percentage_allocation: serde_json::Number,
    pub multivariate_feature_option: MultivariateOptionDocument,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct MultivariateOptionDocument {
    #[serde(default)]
    pub value: Scalar,
    #[serde(default)]
    pub id: Option<u64>,
    #[serde(default)]
    pub key: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SegmentDocument {
    pub id: u32,
    pub name: String,
    #[serde(default)]
    pub rules: Vec<RuleDocument>,
    #[serde(default)]
    pub feature_states: Vec<FeatureStateDocument>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RuleDocument {
    #[serde(rename = "type")]
    pub kind: RuleKindWire,
    #[serde(default)]
    pub rules: Vec<RuleDocument>,
    #[serde(default)]
    pub conditions: Vec<ConditionDocument>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ConditionDocument {
    pub operator: String,
    #[serde(rename = "property_", default)]
    pub property: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct IdentityOverrideDocument {
    pub identifier: String,
    #[serde(default)]
    pub identity_features: Vec<FeatureStateDocument>,
    /// Everything else of the identity record, passed through.
    #[serde(flatten)]
    pub rest: Metadata,
}

impl EnvironmentDocument {
    /// The domain environment, mapped as Flagsmith's SDKs map a document to a context.
    pub fn to_environment(&self) -> Environment {
        Environment {
            key: self.api_key.clone(),
            name: self.name.clone(),
            features: self
                .feature_states
                .iter()
                .map(FeatureStateDocument::to_state)
                .collect(),
            segments: self
                .project
                .segments
                .iter()
                .map(SegmentDocument::to_segment)
                .collect(),
            identity_overrides: if self.use_identity_overrides_in_local_eval {
                self.identity_overrides
                    .iter()
                    .map(|o| IdentityOverride {
                        identifier: o.identifier.clone(),
                        overrides: o
                            .identity_features
                            .iter()
                            .map(FeatureStateDocument::to_state)
                            .collect(),
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    /// The environment's settings as the document states them.
    pub fn settings(&self) -> EnvironmentSettings {
        EnvironmentSettings {
            hide_disabled_flags: self.hide_disabled_flags,
            hide_sensitive_data: self.hide_sensitive_data,
            allow_client_traits: self.allow_client_traits,
            use_identity_composite_key_for_hashing: self.use_identity_composite_key_for_hashing,
            use_identity_overrides_in_local_eval: self.use_identity_overrides_in_local_eval,
        }
    }
}

impl FeatureStateDocument {
    /// The feature state: seed `str(django_id)` when set, else the feature-state UUID;
    /// variants ordered by value id, or UUID as an integer when there is no id.
    pub fn to_state(&self) -> FeatureState {
        let hash_seed = match self.django_id {
            Some(id) if id != 0 => id.to_string(),
            _ => self.featurestate_uuid.clone().unwrap_or_default(),
        };
        let mut metadata = Metadata::new();
        metadata.insert("id".into(), self.feature.id.into());
        FeatureState {
            id: self.django_id.and_then(|id| u32::try_from(id).ok()),
            feature_id: Some(self.feature.id),
            feature_name: self.feature.name.clone(),
            enabled: self.enabled,
            value: self.feature_state_value.clone(),
            hash_seed,
            variants: self
                .multivariate_feature_state_values
                .iter()
                .map(|mv| Variant {
                    value: mv.multivariate_feature_option.value.clone(),
                    weight: weight_from_number(&mv.percentage_allocation),
                    order: match (mv.id, &mv.mv_fs_value_uuid) {
                        (Some(id), _) if id != 0 => VariantOrder::Number(id as f64),
                        (_, Some(uuid)) => uuid_as_integer(uuid)
                            .map_or(VariantOrder::Number(f64::INFINITY), VariantOrder::Uuid),
                        _ => VariantOrder::Number(f64::INFINITY),
                    },
                    key: mv.multivariate_feature_option.key.clone(),
                })
                .collect(),
            priority: match &self.feature_segment {
                None | Some(FeatureSegmentDocument { priority: None }) => OverridePriority::Absent,
                Some(FeatureSegmentDocument {
                    priority: Some(None),
                }) => OverridePriority::Null,
                Some(FeatureSegmentDocument {
                    priority: Some(Some(p)),
                }) => OverridePriority::Value(p.as_f64().unwrap_or(f64::INFINITY)),
            },
            metadata: Some(metadata),
        }
    }
}

/// Python's `UUID(text).int`.
fn uuid_as_integer(text: &str) -> Option<u128> {
    let hex: String = text
        .trim_start_matches("urn:")
        .trim_start_matches("uuid:")
        .trim_matches(['{', '}'])
        .chars()
        .filter(|c| *c != '-')
        .collect();
    if hex.len() != 32 {
        return None;
    }
    u128::from_str_radix(&hex, 16).ok()
}

impl SegmentDocument {
    pub fn to_segment(&self) -> Segment {
        let mut metadata = Metadata::new();
        metadata.insert("id".into(), self.id.into());
        metadata.insert("source".into(), "api".into());
        Segment {
            id: Some(self.id),
            key: self.id.to_string(),
            name: self.name.clone(),
            rules: self.rules.iter().map(RuleDocument::to_rule).collect(),
            overrides: self
                .feature_states
                .iter()
                .map(FeatureStateDocument::to_state)
                .collect(),
            metadata: Some(metadata),
        }
    }
}

impl RuleDocument {
    /// The engine's form of these rules (the one conversion in [`crate::rules`]).
    pub fn to_rule(&self) -> Rule {
        crate::rules::document_to_engine(self)
    }
}
