//! Flagsmith's evaluation context (`schemas/evaluation-context.json`).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::model::{
    Condition, ConditionValue, Environment, FeatureState, Identity, Metadata, Operator,
    OverridePriority, Rule, RuleKind, Scalar, Segment, Variant, VariantOrder, Weight,
};

use super::serde_helpers::{exact_scalar, exact_scalar_map, present_or_null};

/// Input of one evaluation: an environment, its features and segments, and an identity.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct EvaluationContext {
    pub environment: EnvironmentContext,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityContext>,
    #[serde(default)]
    pub features: Option<IndexMap<String, FeatureContext>>,
    #[serde(default)]
    pub segments: Option<IndexMap<String, SegmentContext>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct EnvironmentContext {
    pub key: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct IdentityContext {
    pub identifier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, deserialize_with = "exact_scalar_map")]
    pub traits: Option<IndexMap<String, Scalar>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct FeatureContext {
    pub key: String,
    pub name: String,
    pub enabled: bool,
    #[serde(deserialize_with = "exact_scalar")]
    pub value: Scalar,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variants: Option<Vec<VariantContext>>,
    /// Absent (`None`), explicit null (`Some(None)`) or a number.
    #[serde(
        default,
        deserialize_with = "present_or_null",
        skip_serializing_if = "Option::is_none"
    )]
    pub priority: Option<Option<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct VariantContext {
    #[serde(deserialize_with = "exact_scalar")]
    pub value: Scalar,
    pub weight: serde_json::Number,
    pub priority: serde_json::Number,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SegmentContext {
    pub key: String,
    pub name: String,
    pub rules: Vec<RuleContext>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overrides: Option<Vec<FeatureContext>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RuleContext {
    #[serde(rename = "type")]
    pub kind: RuleKindWire,
    #[serde(default)]
    pub conditions: Option<Vec<ConditionContext>>,
    #[serde(default)]
    pub rules: Option<Vec<RuleContext>>,
}

/// Rule quantifiers as spelled on the wire; anything else is rejected when reading.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub enum RuleKindWire {
    #[serde(rename = "ALL")]
    All,
    #[serde(rename = "ANY")]
    Any,
    #[serde(rename = "NONE")]
    None,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ConditionContext {
    #[serde(default)]
    pub property: Option<String>,
    pub operator: String,
    #[serde(default)]
    pub value: ConditionValueWire,
}

/// A condition value: a string, a list of strings (`IN` only), or null.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ConditionValueWire {
    Text(String),
    List(Vec<String>),
    #[default]
    Null,
}

impl From<RuleKindWire> for RuleKind {
    fn from(kind: RuleKindWire) -> Self {
        match kind {
            RuleKindWire::All => Self::All,
            RuleKindWire::Any => Self::Any,
            RuleKindWire::None => Self::None,
        }
    }
}

impl From<RuleKind> for RuleKindWire {
    fn from(kind: RuleKind) -> Self {
        match kind {
            RuleKind::All => Self::All,
            RuleKind::Any => Self::Any,
            RuleKind::None => Self::None,
        }
    }
}

/// The numeric `id` a Flagsmith mapper puts in feature and segment metadata.
fn metadata_id(metadata: Option<&Metadata>) -> Option<u32> {
    metadata
        .and_then(|m| m.get("id"))
        .and_then(serde_json::Value::as_u64)
        .and_then(|id| u32::try_from(id).ok())
}

/// Flagsmith omits empty metadata (`if metadata := ...`).
fn non_empty(metadata: Option<Metadata>) -> Option<Metadata> {
    metadata.filter(|m| !m.is_empty())
}

/// A weight as written: integers print as integers, floats in Python's `repr`.
pub fn weight_from_number(number: &serde_json::Number) -> Weight {
    match number.as_i64() {
        Some(i) => Weight::integer(i),
        None => match number.as_u64() {
            Some(u) => Weight {
                value: u as f64,
                text: u.to_string(),
            },
            None => Weight::float(number.as_f64().unwrap_or(f64::NAN)),
        },
    }
}

fn number_from_f64(value: f64) -> serde_json::Number {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        serde_json::Number::from(value as i64)
    } else {
        serde_json::Number::from_f64(value).unwrap_or_else(|| serde_json::Number::from(0))
    }
}

impl EvaluationContext {
    /// Splits the context into the domain environment and identity.
    pub fn into_domain(self) -> (Environment, Option<Identity>) {
        let environment = Environment {
            key: self.environment.key,
            name: self.environment.name,
            features: self
                .features
                .unwrap_or_default()
                .into_values()
                .map(FeatureContext::into_domain)
                .collect(),
            segments: self
                .segments
                .unwrap_or_default()
                .into_values()
                .map(SegmentContext::into_domain)
                .collect(),
            identity_overrides: Vec::new(),
        };
        (environment, self.identity.map(IdentityContext::into_domain))
    }

    /// The context Flagsmith's engine would see for this environment and identity.
    pub fn from_domain(environment: &Environment, identity: Option<&Identity>) -> Self {
        Self {
            environment: EnvironmentContext {
                key: environment.key.clone(),
                name: environment.name.clone(),
            },
            identity: identity.map(IdentityContext::from_domain),
            features: Some(
                environment
                    .features
                    .iter()
                    .map(|f| (f.feature_name.clone(), FeatureContext::from_domain(f)))
                    .collect(),
            ),
            segments: Some(
                environment
                    .segments
                    .iter()
                    .map(|s| (s.key.clone(), SegmentContext::from_domain(s)))
                    .collect(),
            ),
        }
    }
}

impl IdentityContext {
    pub fn into_domain(self) -> Identity {
        Identity {
            identifier: self.identifier,
            key: self.key,
            traits: self.traits.unwrap_or_default(),
        }
    }

    pub fn from_domain(identity: &Identity) -> Self {
        Self {
            identifier: identity.identifier.clone(),
            key: identity.key.clone(),
            traits: Some(identity.traits.clone()),
        }
    }
}

impl FeatureContext {
    pub fn into_domain(self) -> FeatureState {
        let feature_id = metadata_id(self.metadata.as_ref());
        FeatureState {
            id: None,
            feature_id,
            feature_name: self.name,
            enabled: self.enabled,
            value: self.value,
            hash_seed: self.key,
            variants: self
                .variants
                .unwrap_or_default()
                .into_iter()
                .map(|v| Variant {
                    weight: weight_from_number(&v.weight),
                    order: VariantOrder::Number(v.priority.as_f64().unwrap_or(f64::INFINITY)),
                    value: v.value,
                    key: v.key,
                })
                .collect(),
            priority: match self.priority {
                None => OverridePriority::Absent,
                Some(None) => OverridePriority::Null,
                Some(Some(p)) => OverridePriority::Value(p),
            },
            metadata: non_empty(self.metadata),
        }
    }

    pub fn from_domain(state: &FeatureState) -> Self {
        let variants = (!state.variants.is_empty()).then(|| {
            state
                .variants
                .iter()
                .map(|v| VariantContext {
                    value: v.value.clone(),
                    weight: weight_number(&v.weight),
                    priority: match v.order {
                        VariantOrder::Number(n) => number_from_f64(n),
                        VariantOrder::Uuid(u) => serde_json::Number::from_f64(u as f64)
                            .unwrap_or_else(|| serde_json::Number::from(0)),
                    },
                    key: v.key.clone(),
                })
                .collect()
        });
        Self {
            key: state.hash_seed.clone(),
            name: state.feature_name.clone(),
            enabled: state.enabled,
            value: state.value.clone(),
            variants,
            priority: match state.priority {
                OverridePriority::Absent => None,
                OverridePriority::Null => Some(None),
                OverridePriority::Value(p) => Some(Some(p)),
            },
            metadata: state.metadata.clone(),
        }
    }
}

/// The JSON number for a weight, integral when it was written as an integer.
fn weight_number(weight: &Weight) -> serde_json::Number {
    if weight.text.contains(['.', 'e', 'n', 'i']) {
        serde_json::Number::from_f64(weight.value).unwrap_or_else(|| serde_json::Number::from(0))
    } else {
        number_from_f64(weight.value)
    }
}

impl SegmentContext {
    pub fn into_domain(self) -> Segment {
        let id = metadata_id(self.metadata.as_ref());
        Segment {
            id,
            key: self.key,
            name: self.name,
            rules: self
                .rules
                .into_iter()
                .map(RuleContext::into_domain)
                .collect(),
            overrides: self
                .overrides
                .unwrap_or_default()
                .into_iter()
                .map(FeatureContext::into_domain)
                .collect(),
            metadata: non_empty(self.metadata),
        }
    }

    pub fn from_domain(segment: &Segment) -> Self {
        Self {
            key: segment.key.clone(),
            name: segment.name.clone(),
            rules: segment.rules.iter().map(RuleContext::from_domain).collect(),
            overrides: Some(
                segment
                    .overrides
                    .iter()
                    .map(FeatureContext::from_domain)
                    .collect(),
            ),
            metadata: segment.metadata.clone(),
        }
    }
}

impl RuleContext {
    pub fn into_domain(self) -> Rule {
        Rule {
            kind: self.kind.into(),
            conditions: self
                .conditions
                .unwrap_or_default()
                .into_iter()
                .map(ConditionContext::into_domain)
                .collect(),
            rules: self
                .rules
                .unwrap_or_default()
                .into_iter()
                .map(Self::into_domain)
                .collect(),
        }
    }

    pub fn from_domain(rule: &Rule) -> Self {
        Self {
            kind: rule.kind.into(),
            conditions: Some(
                rule.conditions
                    .iter()
                    .map(ConditionContext::from_domain)
                    .collect(),
            ),
            rules: Some(rule.rules.iter().map(Self::from_domain).collect()),
        }
    }
}

impl ConditionContext {
    pub fn into_domain(self) -> Condition {
        Condition {
            property: self.property.unwrap_or_default(),
            operator: Operator::parse(&self.operator),
            value: match self.value {
                ConditionValueWire::Text(t) => ConditionValue::Text(t),
                ConditionValueWire::List(items) => ConditionValue::List(items),
                ConditionValueWire::Null => ConditionValue::Null,
            },
        }
    }

    pub fn from_domain(condition: &Condition) -> Self {
        Self {
            property: Some(condition.property.clone()),
            operator: condition.operator.to_string(),
            value: match &condition.value {
                ConditionValue::Text(t) => ConditionValueWire::Text(t.clone()),
                ConditionValue::List(items) => ConditionValueWire::List(items.clone()),
                ConditionValue::Null => ConditionValueWire::Null,
            },
        }
    }
}
