//! `POST /api/v1/analytics/flags/` and `/api/v2/analytics/flags/`: evaluation counts the
//! application reports, added to the environment snapshot's in-memory counters (written
//! through the write path by [`crate::analytics`]). Names that are not features of the
//! environment are dropped, as Flagsmith does, so no SDK traffic grows memory or disk.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::api::AppState;
use crate::cache::EnvironmentSnapshot;

use super::key::{SdkError, environment};

/// v1: `{"<feature name>": <count>, …}`; entries whose count is not a non-negative integer
/// are dropped.
pub async fn record(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, SdkError> {
    let (snapshot, _) = environment(&state.snapshots, &headers, false)?;
    let Ok(Value::Object(entries)) = serde_json::from_slice::<Value>(&body) else {
        return Err(SdkError::Invalid(
            json!({"non_field_errors": ["Expected a JSON object."]}),
        ));
    };
    for (name, count) in &entries {
        if let Some(count) = count.as_u64() {
            report(&snapshot, name, count);
        }
    }
    Ok(StatusCode::OK.into_response())
}

/// v2: `{"evaluations": [{"feature_name": …, "count": …, "identity_identifier": …,
/// "enabled_when_evaluated": …}]}` → 204. Burgee counts per feature; the identity and the
/// enabled state are accepted and not kept.
pub async fn record_v2(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, SdkError> {
    let (snapshot, _) = environment(&state.snapshots, &headers, false)?;
    let parsed: Value = serde_json::from_slice(&body)
        .map_err(|_| SdkError::Invalid(json!({"non_field_errors": ["Expected a JSON object."]})))?;
    let Some(evaluations) = parsed.get("evaluations").and_then(Value::as_array) else {
        return Err(SdkError::Invalid(
            json!({"evaluations": ["This field is required and must be a list."]}),
        ));
    };
    let mut counted = Vec::with_capacity(evaluations.len());
    for (position, evaluation) in evaluations.iter().enumerate() {
        let name = evaluation.get("feature_name").and_then(Value::as_str);
        let count = evaluation.get("count").and_then(Value::as_u64);
        let identity = evaluation.get("identity_identifier");
        let enabled = evaluation.get("enabled_when_evaluated");
        let optional_fields_fit = identity.is_none_or(|v| v.is_null() || v.is_string())
            && enabled.is_none_or(Value::is_boolean);
        let (Some(name), Some(count), true) = (name, count, optional_fields_fit) else {
            return Err(SdkError::Invalid(json!({"evaluations": [format!(
                "item {position} needs a `feature_name` (a string) and a `count` (a non-negative integer); `identity_identifier` is a string or null and `enabled_when_evaluated` a boolean"
            )]})));
        };
        counted.push((name, count));
    }
    // Counted only once the whole body is known to be valid.
    for (name, count) in counted {
        report(&snapshot, name, count);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn report(snapshot: &EnvironmentSnapshot, name: &str, count: u64) {
    if let Some(flag) = snapshot.flag_by_name.get(name) {
        snapshot.evaluations.reported(flag.index, count);
    }
}
