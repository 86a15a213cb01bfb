//! `POST /admin/v1/environments/{id}/promote`: copies chosen features' configuration —
//! enabled, value, multivariate weights, and segment overrides in their order — from
//! environment `id` to other environments of its project, all of them or none. A dry run
//! shows the exact diff; the apply is guarded by the revisions it was planned against.
//!
//! A target keeps its own hash seeds (of its default state, and of a segment override it
//! already has), so an identity whose variant the promotion does not move keeps it.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::compare::{Config, changes, configs, require, states_by_feature};
use super::edit_plan::{Plan, chosen_features, copying, environments_of, respond};
use super::{ApiError, Body, find};
use crate::access::Permission;
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::store::Catalog;
use crate::store::command::EditKind;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Promotion {
    /// The environments to copy to, by id.
    to: Vec<u32>,
    /// The features to copy, by name.
    #[serde(default)]
    features: Vec<String>,
    /// Every feature carrying all of these tags, too.
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    dry_run: bool,
}

pub async fn handler(
    State(state): State<AppState>,
    caller: Caller,
    Path(from): Path<u32>,
    headers: HeaderMap,
    Body(body): Body<Promotion>,
) -> Result<Response, ApiError> {
    let catalog = state.store.catalog();
    let plan = plan(&catalog, &caller, from, &body)?;
    respond(
        &state,
        &caller,
        &headers,
        &catalog,
        (
            EditKind::Promotion {
                from_environment_id: from,
            },
            plan,
        ),
        body.dry_run,
    )
    .await
}

fn plan(catalog: &Catalog, caller: &Caller, from: u32, body: &Promotion) -> Result<Plan, ApiError> {
    let project_id = find(&catalog.environments, "environment", from)?.project_id;
    environments_of(catalog, project_id, &body.to, "to")?;
    if body.to.contains(&from) {
        return Err(ApiError::bad_request(format!(
            "environment {from} is the source: promote to other environments"
        )));
    }
    for target in &body.to {
        require(
            caller,
            catalog,
            Permission::ViewEnvironment,
            *target,
            "promoting",
        )?;
    }
    let features = chosen_features(catalog, project_id, &body.features, &body.tags)?;
    let mut source_states = states_by_feature(catalog, from);
    let source_configs = configs(catalog, from, project_id);
    let mut plan = Plan::default();
    plan.involve(catalog, from);
    for target in &body.to {
        plan.involve(catalog, *target);
        let target_configs = configs(catalog, *target, project_id);
        for feature in &features {
            let key = feature.name.to_lowercase();
            let (Some((_, wanted)), Some((_, current))) =
                (source_configs.get(&key), target_configs.get(&key))
            else {
                continue;
            };
            if wanted == current {
                continue;
            }
            if !body.dry_run {
                require_write(caller, catalog, *target, current, wanted)?;
            }
            let source = source_states.entry(feature.id).or_default();
            let edit = copying(*target, feature.id, source);
            plan.add(edit, &feature.name, changes(current, wanted));
        }
    }
    Ok(plan)
}

/// Changing a target's states needs UPDATE_FEATURE_STATE there, and changing its segment
/// overrides MANAGE_SEGMENT_OVERRIDES too.
fn require_write(
    caller: &Caller,
    catalog: &Catalog,
    target: u32,
    current: &Config,
    wanted: &Config,
) -> Result<(), ApiError> {
    require(
        caller,
        catalog,
        Permission::UpdateFeatureState,
        target,
        "promoting",
    )?;
    if current.segment_overrides != wanted.segment_overrides {
        require(
            caller,
            catalog,
            Permission::ManageSegmentOverrides,
            target,
            "promoting segment overrides",
        )?;
    }
    Ok(())
}
