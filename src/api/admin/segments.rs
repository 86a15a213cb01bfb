//! `/admin/v1/projects/{id}/segments`, `/admin/v1/segments/{id}` and segment overrides.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::AppState;
use crate::api::auth::Caller;
use crate::rules::{self, RuleJson};
use crate::store::command::{Command, SegmentOverrideChange};
use crate::store::records::RuleRecord;

use super::environments::StateBody;
use super::{ApiError, Body, Page, created, created_id, execute, expected_revision, find, views};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/projects/{id}/segments", get(list).post(create))
        .route(
            "/admin/v1/segments/{id}",
            get(read).patch(update).delete(remove),
        )
        .route(
            "/admin/v1/environments/{id}/features/{feature_id}/segment-overrides",
            get(list_overrides).put(reorder),
        )
        .route(
            "/admin/v1/environments/{id}/features/{feature_id}/segment-overrides/{segment_id}",
            put(set_override).delete(remove_override),
        )
}

/// Rules checked strictly, in the form the engine evaluates, before they are stored.
pub fn checked_rules(name: &str, rules: &[RuleJson]) -> Result<Vec<RuleRecord>, ApiError> {
    let records = rules::from_json(rules).map_err(ApiError::bad_request)?;
    let issues = rules::validate(name, &records);
    if !issues.is_empty() {
        return Err(ApiError::invalid("invalid_rules", &issues));
    }
    Ok(records)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSegment {
    name: String,
    description: Option<String>,
    rules: Vec<RuleJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentChanges {
    #[serde(default, deserialize_with = "super::body::given")]
    name: Option<String>,
    #[serde(default, deserialize_with = "super::body::given")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::body::given")]
    rules: Option<Vec<RuleJson>>,
}

async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    Path(project_id): Path<u32>,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.store.catalog();
    find(&catalog.projects, "project", project_id)?;
    Ok(Json(page.of(catalog.project_segments(project_id).map(
        |s| ((s.position, u64::from(s.id)), views::segment(s)),
    ))?))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<u32>,
    Body(body): Body<NewSegment>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let rules = checked_rules(&body.name, &body.rules)?;
    let command = Command::CreateSegment {
        project_id,
        name: body.name,
        description: body.description,
        rules,
    };
    let id = created_id(&execute(&state, &caller, command).await?)?;
    let catalog = state.store.catalog();
    let segment = find(&catalog.segments, "segment", id)?;
    Ok(created(views::segment(segment)))
}

async fn read(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<u32>,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.store.catalog();
    let segment = find(&catalog.segments, "segment", id)?;
    Ok(Json(views::segment(segment)))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u32>,
    Body(body): Body<SegmentChanges>,
) -> Result<Json<Value>, ApiError> {
    let name = match &body.name {
        Some(name) => name.clone(),
        None => state
            .store
            .catalog()
            .segments
            .get(&id)
            .map(|s| s.name.clone())
            .ok_or_else(|| ApiError::not_found("segment", id))?,
    };
    let rules = body
        .rules
        .as_ref()
        .map(|r| checked_rules(&name, r))
        .transpose()?;
    execute(
        &state,
        &caller,
        Command::UpdateSegment {
            id,
            name: body.name,
            description: body.description,
            rules,
        },
    )
    .await?;
    read(State(state), caller, Path(id)).await
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u32>,
) -> Result<StatusCode, ApiError> {
    execute(&state, &caller, Command::DeleteSegment { id }).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn overrides_view(state: &AppState, environment_id: u32, feature_id: u32) -> Value {
    let catalog = state.store.catalog();
    let mut items: Vec<_> = catalog
        .environment_states(environment_id)
        .filter(|s| {
            s.feature_id == feature_id
                && matches!(s.target, crate::store::records::StateTarget::Segment { .. })
        })
        .collect();
    items.sort_by_key(|s| match s.target {
        crate::store::records::StateTarget::Segment { priority, .. } => priority,
        _ => u32::MAX,
    });
    json!({"items": items.into_iter().map(views::state).collect::<Vec<_>>()})
}

async fn list_overrides(
    State(state): State<AppState>,
    _caller: Caller,
    Path((id, feature_id)): Path<(u32, u32)>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(overrides_view(&state, id, feature_id)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideBody {
    #[serde(default, deserialize_with = "super::body::given")]
    priority: Option<u32>,
    #[serde(default, deserialize_with = "super::body::given")]
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "super::body::given")]
    value: Option<Value>,
    #[serde(default, deserialize_with = "super::body::given")]
    variants: Option<Vec<super::body::Object<super::environments::VariantBody>>>,
}

async fn set_override(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, feature_id, segment_id)): Path<(u32, u32, u32)>,
    headers: HeaderMap,
    Body(body): Body<OverrideBody>,
) -> Result<Json<Value>, ApiError> {
    let command = Command::SetSegmentOverride(SegmentOverrideChange {
        environment_id: id,
        feature_id,
        segment_id,
        priority: body.priority,
        expected_revision: expected_revision(&headers)?,
        patch: StateBody {
            enabled: body.enabled,
            value: body.value,
            variants: body.variants,
        }
        .patch()?,
    });
    execute(&state, &caller, command).await?;
    Ok(Json(overrides_view(&state, id, feature_id)))
}

async fn remove_override(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, feature_id, segment_id)): Path<(u32, u32, u32)>,
) -> Result<StatusCode, ApiError> {
    execute(
        &state,
        &caller,
        Command::DeleteSegmentOverride {
            environment_id: id,
            feature_id,
            segment_id,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Order {
    segment_ids: Vec<u32>,
}

async fn reorder(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, feature_id)): Path<(u32, u32)>,
    Body(body): Body<Order>,
) -> Result<Json<Value>, ApiError> {
    execute(
        &state,
        &caller,
        Command::ReorderSegmentOverrides {
            environment_id: id,
            feature_id,
            segment_ids: body.segment_ids,
        },
    )
    .await?;
    Ok(Json(overrides_view(&state, id, feature_id)))
}
