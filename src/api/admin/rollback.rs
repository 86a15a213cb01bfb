//! `POST /admin/v1/environments/{id}/features/{feature_id}/rollback`: restores a feature's
//! configuration in an environment (enabled, value, weights, segment overrides in order) as
//! it was right after audit entry `to`, as a new audited change with the dry run and revision
//! guard of promotions.
//!
//! The earlier state is found by walking back from the current one: every later audit entry
//! that changed the feature's states there is undone, newest first, from its `before`. So it
//! works as far back as the audit log reaches (a pruned log ends where it was pruned).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use super::audit::page;
use super::compare::{FeatureStates, changes, config, require, states_by_feature};
use super::edit_plan::{Plan, copying, respond};
use super::history::touches;
use super::{ApiError, Body, find};
use crate::access::Permission;
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::store::audit::AuditRecord;
use crate::store::command::EditKind;
use crate::store::records::{FeatureStateRecord, StateTarget};
use crate::store::{Catalog, Store};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollback {
    /// The audit entry (its `seq`) right after which the configuration is wanted.
    to: u64,
    #[serde(default)]
    dry_run: bool,
}

pub async fn handler(
    State(state): State<AppState>,
    caller: Caller,
    Path((environment_id, feature_id)): Path<(u32, u32)>,
    headers: HeaderMap,
    Body(body): Body<Rollback>,
) -> Result<Response, ApiError> {
    let catalog = state.store.catalog();
    let feature = find(&catalog.features, "feature", feature_id)?;
    if find(&catalog.environments, "environment", environment_id)?.project_id != feature.project_id
    {
        return Err(ApiError::bad_request(format!(
            "feature {feature_id} belongs to another project than environment {environment_id}"
        )));
    }
    let head = catalog.meta.audit.seq;
    if body.to > head {
        return Err(ApiError::bad_request(format!(
            "the audit log ends at entry {head}"
        )));
    }
    if body.to < catalog.meta.audit.base_seq {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "history_pruned",
            format!(
                "the audit log was pruned through entry {}: earlier states cannot be restored",
                catalog.meta.audit.base_seq
            ),
        ));
    }
    let later = later_entries(&state.store, body.to, head, feature_id, environment_id).await?;
    let restored = restore(&catalog, environment_id, feature_id, &later)?;
    let plan = plan(&catalog, &caller, environment_id, feature_id, &restored)?;
    respond(
        &state,
        &caller,
        &headers,
        &catalog,
        (EditKind::Rollback { to_seq: body.to }, plan),
        body.dry_run,
    )
    .await
}

/// The entries after `to`, up to `head` (the catalog's), that changed the feature's states
/// in the environment, oldest first.
async fn later_entries(
    store: &Store,
    to: u64,
    head: u64,
    feature_id: u32,
    environment_id: u32,
) -> Result<Vec<AuditRecord>, ApiError> {
    let mut entries = Vec::new();
    let mut from = to + 1;
    loop {
        let (found, next) = page(store, from, 500, move |e| {
            e.seq <= head && touches(e, feature_id, Some(environment_id))
        })
        .await?;
        entries.extend(found);
        match next {
            Some(next) if next <= head => from = next,
            _ => return Ok(entries),
        }
    }
}

/// The feature's default state and segment overrides in the environment as they were
/// before `later` (newest undone first), by state id.
fn restore(
    catalog: &Catalog,
    environment_id: u32,
    feature_id: u32,
    later: &[AuditRecord],
) -> Result<BTreeMap<u32, FeatureStateRecord>, ApiError> {
    let mut states: BTreeMap<u32, FeatureStateRecord> = catalog
        .environment_states(environment_id)
        .filter(|s| s.feature_id == feature_id)
        .map(|s| (s.id, s.clone()))
        .collect();
    for entry in later.iter().rev() {
        for change in entry.changes.iter().rev() {
            if change.kind != "feature_state" {
                continue;
            }
            let Ok(id) = change.id.parse::<u32>() else {
                continue;
            };
            match change.before.as_deref().map(state_from_audit).transpose()? {
                Some(state)
                    if state.feature_id == feature_id && state.environment_id == environment_id =>
                {
                    states.insert(id, state);
                }
                Some(_) => {}
                None => {
                    states.remove(&id);
                }
            }
        }
    }
    states.retain(|_, s| !matches!(s.target, StateTarget::Identity { .. }));
    Ok(states)
}

/// A state as the audit log recorded it (without its bookkeeping fields).
fn state_from_audit(text: &str) -> Result<FeatureStateRecord, ApiError> {
    let mut value: Value = serde_json::from_str(text).map_err(|e| unreadable(&e))?;
    if let Value::Object(map) = &mut value {
        map.entry("updated_at").or_insert(Value::from(0));
    }
    serde_json::from_value(value).map_err(|e| unreadable(&e))
}

fn unreadable(error: &serde_json::Error) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        format!("an audit entry's state cannot be read: {error}"),
    )
}

fn plan(
    catalog: &Catalog,
    caller: &Caller,
    environment_id: u32,
    feature_id: u32,
    restored: &BTreeMap<u32, FeatureStateRecord>,
) -> Result<Plan, ApiError> {
    let feature = find(&catalog.features, "feature", feature_id)?;
    let gone = |what: String| ApiError::new(StatusCode::CONFLICT, "cannot_restore", what);
    let mut wanted = FeatureStates::default();
    for state in restored.values() {
        match state.target {
            StateTarget::Environment => wanted.default = Some(state),
            StateTarget::Segment {
                segment_id,
                priority,
            } => {
                if !catalog.segments.contains_key(&segment_id) {
                    return Err(gone(format!(
                        "segment {segment_id} overrode the feature then and was deleted since"
                    )));
                }
                wanted.overrides.push((priority, segment_id, state));
            }
            StateTarget::Identity { .. } => {}
        }
    }
    if wanted.default.is_none() {
        return Err(gone(format!(
            "feature {feature_id} had no state in environment {environment_id} then"
        )));
    }
    let edit = copying(environment_id, feature_id, &mut wanted);
    let now = states_by_feature(catalog, environment_id)
        .remove(&feature_id)
        .unwrap_or_default();
    let (current, target) = (
        config(catalog, feature, now),
        config(catalog, feature, wanted),
    );
    let mut plan = Plan::default();
    plan.involve(catalog, environment_id);
    if current != target {
        if current.segment_overrides != target.segment_overrides {
            require(
                caller,
                catalog,
                Permission::ManageSegmentOverrides,
                environment_id,
                "restoring segment overrides",
            )?;
        }
        plan.add(edit, &feature.name, changes(&current, &target));
    }
    Ok(plan)
}
