//! `POST /api/v1/analytics/flags/`: evaluation counts per feature, kept in memory.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::api::AppState;

use super::key::{SdkError, environment};

/// Evaluation counts by (environment, feature name).
#[derive(Default)]
pub struct Counters {
    counts: Mutex<HashMap<(u32, String), u64>>,
}

pub async fn record(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Result<Response, SdkError> {
    let (snapshot, _) = environment(&state.snapshots, &headers, false)?;
    let Ok(serde_json::Value::Object(entries)) = serde_json::from_slice::<serde_json::Value>(&body)
    else {
        return Err(SdkError::Invalid(
            json!({"non_field_errors": ["Expected a JSON object."]}),
        ));
    };
    if let Ok(mut counts) = state.analytics.counts.lock() {
        for (name, count) in entries {
            // Non-integer counts and unknown features are dropped silently, as Flagsmith does.
            let (Some(count), true) = (count.as_u64(), snapshot.flag_by_name.contains_key(&name))
            else {
                continue;
            };
            *counts.entry((snapshot.environment_id, name)).or_insert(0) += count;
        }
    }
    Ok(StatusCode::OK.into_response())
}
