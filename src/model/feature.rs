//! Features and their per-environment states.

use std::cmp::Ordering;

use super::{Metadata, Scalar};

/// Whether a feature is a plain flag or splits its value between weighted variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureKind {
    Standard,
    Multivariate,
}

impl FeatureKind {
    /// Flagsmith's spelling (`STANDARD`, `MULTIVARIATE`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "STANDARD",
            Self::Multivariate => "MULTIVARIATE",
        }
    }
}

/// A feature of a project: the thing a flag is about.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    pub id: u32,
    pub name: String,
    pub kind: FeatureKind,
    pub description: Option<String>,
    /// Hidden from client-side keys.
    pub server_key_only: bool,
}

/// The state of one feature in one environment: its default, a segment override or an
/// identity override.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureState {
    /// The state's own numeric id, where stored.
    pub id: Option<u32>,
    /// The feature's numeric id, where known (bare evaluation contexts carry none).
    pub feature_id: Option<u32>,
    pub feature_name: String,
    pub enabled: bool,
    pub value: Scalar,
    /// The multivariate bucketing seed (Flagsmith's `django_id` or feature-state UUID). It
    /// must never change across edits, or identities get re-bucketed.
    pub hash_seed: String,
    /// Weighted values; empty for standard features.
    pub variants: Vec<Variant>,
    /// Decides between overrides of one feature from several matching segments.
    pub priority: OverridePriority,
    pub metadata: Option<Metadata>,
}

/// One weighted value of a multivariate feature state.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub value: Scalar,
    pub weight: Weight,
    /// Variants are walked in ascending order of this key.
    pub order: VariantOrder,
    /// The variant key reported to SDKs, if the option has one.
    pub key: Option<String>,
}

/// A percentage weight, remembering how it was written: `30` and `30.0` are the same
/// weight but Flagsmith reports them differently (`SPLIT; weight=30` vs `weight=30.0`).
#[derive(Debug, Clone, PartialEq)]
pub struct Weight {
    pub value: f64,
    pub text: String,
}

impl Weight {
    pub fn integer(value: i64) -> Self {
        Self {
            value: value as f64,
            text: value.to_string(),
        }
    }

    pub fn float(value: f64) -> Self {
        Self {
            value,
            text: crate::engine::python::float_repr(value),
        }
    }
}

/// The sort key of a variant: its multivariate value id, or its UUID as an integer when it
/// has no id (Flagsmith's rule), or any number an evaluation context gives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VariantOrder {
    Number(f64),
    Uuid(u128),
}

impl VariantOrder {
    /// Total order used for sorting; ties keep the original order (stable sort).
    pub fn compare(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Uuid(a), Self::Uuid(b)) => a.cmp(b),
            _ => self.as_f64().total_cmp(&other.as_f64()),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Self::Number(n) => n,
            Self::Uuid(u) => u as f64,
        }
    }
}

/// Priority of a segment override: lower wins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OverridePriority {
    /// No priority given: weaker than any number.
    Absent,
    /// An explicit `null`: Flagsmith cannot compare it with another priority.
    Null,
    Value(f64),
}
