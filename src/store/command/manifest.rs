//! A flags file resolved for the state machine: names kept (it matches them against what
//! exists), values, rules and weights in their stored form.

use serde::{Deserialize, Serialize};

use super::{NewOption, RevisionGuard, SettingsPatch};
use crate::store::records::{RuleRecord, StoredFeatureKind, StoredValue};

/// What `burgee apply` asks for: the project made to match the file, in one command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestChange {
    /// The project's environments at the revisions the plan was made against.
    pub guards: Vec<RevisionGuard>,
    pub project_name: String,
    pub hide_disabled_flags: bool,
    pub segments: Vec<SegmentPlan>,
    pub features: Vec<FeaturePlan>,
    pub environments: Vec<EnvironmentPlan>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentPlan {
    /// Its percentage-split seed; `None` lets a new segment take the next id.
    pub id: Option<u32>,
    pub name: String,
    pub description: Option<String>,
    pub rules: Vec<RuleRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeaturePlan {
    pub name: String,
    pub kind: StoredFeatureKind,
    pub description: Option<String>,
    pub initial_value: StoredValue,
    pub default_enabled: bool,
    pub server_key_only: bool,
    pub tags: Vec<String>,
    pub archived: bool,
    pub options: Vec<NewOption>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentPlan {
    pub name: String,
    /// The client key if the environment is new (chosen by the proposer, random).
    pub new_client_key: String,
    pub settings: SettingsPatch,
    pub flags: Vec<FlagPlan>,
}

/// A multivariate hash seed: Flagsmith's numeric `django_id`, or a UUID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Seed {
    Number(u64),
    Uuid(String),
}

impl Seed {
    /// A seed as the file writes it: digits are a number, anything else a UUID.
    pub fn parse(text: &str) -> Self {
        match text.parse::<u64>() {
            Ok(n) if n != 0 => Self::Number(n),
            _ => Self::Uuid(text.to_owned()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagPlan {
    pub feature: String,
    pub enabled: bool,
    pub value: StoredValue,
    pub seed: Option<Seed>,
    /// (option value, weight); `None` keeps the weights.
    pub variants: Option<Vec<(StoredValue, f64)>>,
    /// `None` keeps the overrides.
    pub segment_overrides: Option<Vec<OverridePlan>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverridePlan {
    pub segment: String,
    pub enabled: bool,
    pub value: StoredValue,
    pub seed: Option<Seed>,
    pub variants: Vec<(StoredValue, f64)>,
}
