//! `POST /admin/v1/projects/{id}/bulk-edit`: sets enabled and/or the value of many features
//! in many environments of a project in one atomic change, with the same dry run and
//! revision guard as a promotion.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::compare::{configs, require};
use super::edit_plan::{Plan, chosen_features, environments_of, respond};
use super::values::{json_value, stored_value};
use super::{ApiError, Body, find};
use crate::access::Permission;
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::store::Catalog;
use crate::store::command::{EditKind, FeatureEdit, StatePatch};
use crate::store::records::StoredValue;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkEdit {
    /// The environments to edit, by id.
    environments: Vec<u32>,
    /// The features to edit, by name.
    #[serde(default)]
    features: Vec<String>,
    /// Every feature carrying all of these tags, too.
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default, deserialize_with = "super::body::given")]
    enabled: Option<bool>,
    /// The value to set (`null` clears it); absent keeps each feature's own.
    #[serde(default, deserialize_with = "super::body::given")]
    value: Option<Value>,
    #[serde(default)]
    dry_run: bool,
}

pub async fn handler(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<u32>,
    headers: HeaderMap,
    Body(body): Body<BulkEdit>,
) -> Result<Response, ApiError> {
    let catalog = state.store.catalog();
    let plan = plan(&catalog, &caller, project_id, &body)?;
    respond(
        &state,
        &caller,
        &headers,
        &catalog,
        (EditKind::BulkEdit, plan),
        body.dry_run,
    )
    .await
}

fn plan(
    catalog: &Catalog,
    caller: &Caller,
    project_id: u32,
    body: &BulkEdit,
) -> Result<Plan, ApiError> {
    find(&catalog.projects, "project", project_id)?;
    if body.enabled.is_none() && body.value.is_none() {
        return Err(ApiError::bad_request(
            "say what to set: \"enabled\", \"value\" or both",
        ));
    }
    let value: Option<StoredValue> = body.value.as_ref().map(stored_value).transpose()?;
    environments_of(catalog, project_id, &body.environments, "environments")?;
    let features = chosen_features(catalog, project_id, &body.features, &body.tags)?;
    let (permission, doing) = if body.dry_run {
        (Permission::ViewEnvironment, "previewing a bulk edit")
    } else {
        (Permission::UpdateFeatureState, "a bulk edit")
    };
    let mut plan = Plan::default();
    for environment_id in &body.environments {
        require(caller, catalog, permission, *environment_id, doing)?;
        plan.involve(catalog, *environment_id);
        let current = configs(catalog, *environment_id, project_id);
        for feature in &features {
            let Some((_, config)) = current.get(&feature.name.to_lowercase()) else {
                continue;
            };
            let mut changes = Map::new();
            if let Some(enabled) = body.enabled.filter(|e| *e != config.enabled) {
                changes.insert(
                    "enabled".into(),
                    json!({"from": config.enabled, "to": enabled}),
                );
            }
            if let Some(value) = value.as_ref().map(json_value)
                && value != config.value
            {
                changes.insert("value".into(), json!({"from": config.value, "to": value}));
            }
            if changes.is_empty() {
                continue;
            }
            let edit = FeatureEdit {
                environment_id: *environment_id,
                feature_id: feature.id,
                default: StatePatch {
                    enabled: body.enabled,
                    value: value.clone(),
                    variants: None,
                },
                segment_overrides: None,
            };
            plan.add(edit, &feature.name, changes);
        }
    }
    Ok(plan)
}
