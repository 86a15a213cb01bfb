//! `GET /admin/v1/features/{id}/history`: every audited change of one feature — its record,
//! its tags, and its states in every environment (or one, `?environment_id=`) — read from
//! the audit log, oldest first, each entry with only the changes that concern the feature.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::audit::{cursor, page, view};
use super::{ApiError, find};
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::store::audit::{AuditChange, AuditRecord};

/// Whether a change of an audit entry concerns feature `feature_id` (in `environment_id`,
/// when given: then only its states there do).
pub fn concerns(change: &AuditChange, feature_id: u32, environment_id: Option<u32>) -> bool {
    match change.kind.as_str() {
        "feature" | "feature_labels" => {
            environment_id.is_none() && change.id == feature_id.to_string()
        }
        "feature_state" => [&change.before, &change.after].into_iter().any(|side| {
            side.as_deref()
                .and_then(|text| serde_json::from_str::<Value>(text).ok())
                .is_some_and(|state| {
                    state["feature_id"] == feature_id
                        && environment_id.is_none_or(|e| state["environment_id"] == e)
                })
        }),
        _ => false,
    }
}

/// Whether an entry changed anything of the feature.
pub fn touches(entry: &AuditRecord, feature_id: u32, environment_id: Option<u32>) -> bool {
    entry
        .changes
        .iter()
        .any(|c| concerns(c, feature_id, environment_id))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    environment_id: Option<u32>,
    limit: Option<usize>,
    cursor: Option<String>,
}

pub async fn handler(
    State(state): State<AppState>,
    _caller: Caller,
    Path(feature_id): Path<u32>,
    Query(query): Query<HistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("limit must be 1 to 500"));
    }
    let catalog = state.store.catalog();
    let project_id = find(&catalog.features, "feature", feature_id)?.project_id;
    let environment_id = query.environment_id;
    if let Some(id) = environment_id
        && find(&catalog.environments, "environment", id)?.project_id != project_id
    {
        return Err(ApiError::bad_request(format!(
            "environment {id} is not of the feature's project"
        )));
    }
    let from = cursor(query.cursor.as_deref())?;
    let (entries, next) = page(&state.store, from, limit, move |e| {
        touches(e, feature_id, environment_id)
    })
    .await?;
    let items: Vec<Value> = entries
        .iter()
        .map(|entry| {
            let mut shown = entry.clone();
            shown
                .changes
                .retain(|c| concerns(c, feature_id, environment_id));
            view::entry(&shown)
        })
        .collect();
    Ok(Json(json!({
        "items": items,
        "next_cursor": next.map(|n| format!("a1.{n:x}")),
    })))
}
