//! A Flagsmith flag as an OFREP resolution (`docs/ofrep.md` has the mapping):
//! `value` is the flag's value, or whether it is enabled when it has none; `reason` says
//! what decided it; `variant` is the multivariate option a split chose.

use serde::Serialize;

use crate::engine::{Flag, FlagSource, Reason};
use crate::model::Scalar;

#[derive(Serialize)]
pub struct Resolution<'a> {
    pub key: &'a str,
    pub value: Value<'a>,
    pub reason: &'static str,
    /// Always present (`null` when there is none): some providers require the field.
    pub variant: Option<&'a str>,
    pub metadata: Metadata,
}

/// The flag's value, or its enabled state for a flag without one.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Value<'a> {
    Enabled(bool),
    Scalar(&'a Scalar),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// Whether the flag is enabled, also for flags whose value is not a boolean.
    pub enabled: bool,
    /// Flagsmith's own words: `DEFAULT`, `TARGETING_MATCH; segment=…`, `SPLIT; weight=…`.
    pub flagsmith_reason: String,
    /// Metadata values must be booleans, strings or numbers: absent rather than `null`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature_id: Option<u32>,
}

/// OFREP's reason for a flag.
fn reason(flag: &Flag<'_>) -> &'static str {
    if !flag.enabled {
        return "DISABLED";
    }
    match (flag.reason, flag.source) {
        (_, FlagSource::IdentityOverride | FlagSource::Segment(_)) => "TARGETING_MATCH",
        // A percentage split decided, also when it left the identity on the control value.
        (Reason::Split { .. }, _) => "SPLIT",
        _ if flag.variant.is_some() => "SPLIT",
        _ => "STATIC",
    }
}

pub fn resolution<'a>(flag: &'a Flag<'a>) -> Resolution<'a> {
    Resolution {
        key: &flag.feature.name,
        value: match flag.value {
            Scalar::Null => Value::Enabled(flag.enabled),
            other => Value::Scalar(other),
        },
        reason: reason(flag),
        variant: flag.variant,
        metadata: Metadata {
            enabled: flag.enabled,
            flagsmith_reason: flag.reason.to_string(),
            feature_id: flag.feature.feature_id,
        },
    }
}
