//! Evaluation analytics: per-feature counts and last evaluation of an environment, one
//! feature's counts by hour or day, and a project's stale features.
//!
//! Counts are those written so far: each node writes what it counted every
//! `--analytics-flush-interval`, so the latest minute may not show yet.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access::{Permission, Target};
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::cache::document::iso_timestamp;
use crate::store::evaluations::{
    EvaluationQuery, EvaluationRecord, HOUR_MS, SUMMARY_HOUR, hour_of,
};

use super::{ApiError, find};

/// The longest window a request may ask for.
const MAX_DAYS: u32 = 366;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/environments/{id}/feature-usage", get(usage))
        .route(
            "/admin/v1/environments/{id}/features/{feature_id}/evaluations",
            get(series),
        )
        .route("/admin/v1/projects/{id}/stale-features", get(stale))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Window {
    days: Option<u32>,
}

fn days(asked: Option<u32>, default: u32) -> Result<u32, ApiError> {
    match asked.unwrap_or(default) {
        days @ 1..=MAX_DAYS => Ok(days),
        other => Err(ApiError::bad_request(format!(
            "days must be from 1 to {MAX_DAYS}, not {other}"
        ))),
    }
}

/// The first hour of a window of `days` that ends with the current hour.
fn first_hour(days: u32) -> u32 {
    hour_of(crate::clock::now_millis()).saturating_sub(days * 24 - 1)
}

fn time(at: Option<i64>) -> Value {
    at.map_or(Value::Null, |at| json!(iso_timestamp(at)))
}

/// `GET /admin/v1/environments/{id}/feature-usage?days=30`: every feature of the
/// environment's project with its counts in the window, its totals and when it was last
/// evaluated.
async fn usage(
    State(state): State<AppState>,
    _caller: Caller,
    Path(environment_id): Path<u32>,
    Query(window): Query<Window>,
) -> Result<Json<Value>, ApiError> {
    let days = days(window.days, 30)?;
    let catalog = state.store.catalog();
    let environment = find(&catalog.environments, "environment", environment_id)?;
    let rows = state
        .store
        .evaluations(EvaluationQuery {
            environment_id,
            feature_id: None,
            from_hour: first_hour(days),
            to_hour: SUMMARY_HOUR,
        })
        .await?;
    let mut in_window: BTreeMap<u32, EvaluationRecord> = BTreeMap::new();
    let mut totals: BTreeMap<u32, EvaluationRecord> = BTreeMap::new();
    for ((_, feature, hour), record) in rows {
        if hour == SUMMARY_HOUR {
            totals.insert(feature, record);
        } else {
            let sum = in_window.entry(feature).or_default();
            sum.reported = sum.reported.saturating_add(record.reported);
            sum.served = sum.served.saturating_add(record.served);
        }
    }
    let features: Vec<Value> = catalog
        .project_features(environment.project_id)
        .map(|feature| {
            let window = in_window.remove(&feature.id).unwrap_or_default();
            let total = totals.remove(&feature.id).unwrap_or_default();
            json!({
                "id": feature.id,
                "name": feature.name,
                "evaluations": {"reported": window.reported, "served": window.served},
                "total": {"reported": total.reported, "served": total.served},
                "last_evaluated_at": time(total.last_evaluated_at()),
                "last_reported_at": time(total.last_reported_at),
                "last_served_at": time(total.last_served_at),
            })
        })
        .collect();
    Ok(Json(json!({
        "environment_id": environment_id,
        "days": days,
        "features": features,
    })))
}

#[derive(Deserialize, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Bucket {
    Hour,
    #[default]
    Day,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeriesQuery {
    days: Option<u32>,
    #[serde(default)]
    bucket: Bucket,
}

/// `GET …/features/{feature_id}/evaluations?days=7&bucket=day`: one feature's counts in
/// every hour or day of the window (zeros included), oldest first.
async fn series(
    State(state): State<AppState>,
    _caller: Caller,
    Path((environment_id, feature_id)): Path<(u32, u32)>,
    Query(query): Query<SeriesQuery>,
) -> Result<Json<Value>, ApiError> {
    let days = days(query.days, 7)?;
    let catalog = state.store.catalog();
    find(&catalog.environments, "environment", environment_id)?;
    if !catalog.feature_of_environment(environment_id, feature_id) {
        return Err(ApiError::not_found("feature", feature_id));
    }
    let from_hour = first_hour(days);
    let to_hour = hour_of(crate::clock::now_millis());
    let rows = state
        .store
        .evaluations(EvaluationQuery {
            environment_id,
            feature_id: Some(feature_id),
            from_hour,
            to_hour,
        })
        .await?;
    let width = if query.bucket == Bucket::Hour { 1 } else { 24 };
    // Days start at midnight UTC.
    let first = from_hour - from_hour % width;
    let mut buckets: Vec<(u64, u64)> = vec![(0, 0); ((to_hour - first) / width + 1) as usize];
    for ((_, _, hour), record) in rows {
        if let Some(bucket) = buckets.get_mut(((hour - first) / width) as usize) {
            bucket.0 = bucket.0.saturating_add(record.reported);
            bucket.1 = bucket.1.saturating_add(record.served);
        }
    }
    let series: Vec<Value> = buckets
        .iter()
        .enumerate()
        .map(|(position, (reported, served))| {
            let start = i64::from(first + position as u32 * width) * HOUR_MS;
            json!({"start": iso_timestamp(start), "reported": reported, "served": served})
        })
        .collect();
    Ok(Json(json!({
        "environment_id": environment_id,
        "feature_id": feature_id,
        "bucket": if width == 1 { "hour" } else { "day" },
        "series": series,
    })))
}

#[derive(Deserialize, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Source {
    /// Any evaluation counts: reported by the application or served by the server.
    #[default]
    Any,
    /// Only evaluations the application reported: a flag its code reads.
    Reported,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StaleQuery {
    days: Option<u32>,
    #[serde(default)]
    source: Source,
}

/// `GET /admin/v1/projects/{id}/stale-features?days=30&source=any`: features older than
/// the window that no environment evaluated within it, with each environment's last
/// evaluation (of the environments the caller may see).
async fn stale(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<u32>,
    Query(query): Query<StaleQuery>,
) -> Result<Json<Value>, ApiError> {
    let days = days(query.days, 30)?;
    let catalog = state.store.catalog();
    find(&catalog.projects, "project", project_id)?;
    let since = crate::clock::now_millis() - i64::from(days) * 24 * HOUR_MS;
    let mut last: BTreeMap<(u32, u32), i64> = BTreeMap::new();
    let environments: Vec<_> = catalog.project_environments(project_id).collect();
    for environment in &environments {
        let summaries = state
            .store
            .evaluations(EvaluationQuery {
                environment_id: environment.id,
                feature_id: None,
                from_hour: SUMMARY_HOUR,
                to_hour: SUMMARY_HOUR,
            })
            .await?;
        for ((_, feature, _), record) in summaries {
            let at = match query.source {
                Source::Any => record.last_evaluated_at(),
                Source::Reported => record.last_reported_at,
            };
            if let Some(at) = at {
                last.insert((environment.id, feature), at);
            }
        }
    }
    let visible: Vec<_> = environments
        .iter()
        .filter(|e| {
            caller.can(
                &catalog,
                Permission::ViewEnvironment,
                Target::Environment(e.id),
            )
        })
        .collect();
    let mut features: Vec<Value> = Vec::new();
    for feature in catalog.project_features(project_id) {
        let latest = environments
            .iter()
            .filter_map(|e| last.get(&(e.id, feature.id)).copied())
            .max();
        if feature.created_at >= since || latest.is_some_and(|at| at >= since) {
            continue;
        }
        let per_environment: Vec<Value> = visible
            .iter()
            .map(|e| {
                json!({
                    "id": e.id,
                    "name": e.name,
                    "last_evaluated_at": time(last.get(&(e.id, feature.id)).copied()),
                })
            })
            .collect();
        features.push(json!({
            "id": feature.id,
            "name": feature.name,
            "created_at": iso_timestamp(feature.created_at),
            "last_evaluated_at": time(latest),
            "environments": per_environment,
        }));
    }
    Ok(Json(json!({
        "project_id": project_id,
        "days": days,
        "source": if query.source == Source::Any { "any" } else { "reported" },
        "features": features,
    })))
}
