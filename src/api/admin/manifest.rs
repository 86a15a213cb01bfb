//! Flags as code over the admin API: `GET /admin/v1/projects/{id}/manifest` exports a project
//! as a flags file; `POST /admin/v1/manifest` plans (`dry_run`) or applies one, in one
//! command guarded by the revisions of the project's environments.
//!
//! The plan is the command applied to a copy of the catalog (the state machine's own dry
//! run), so it lists exactly what applying changes, record by record, as the audit entry
//! will. The permissions asked for follow from those changes.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::compare::require;
use super::{ApiError, Body, execute};
use crate::access::{Permission, Target};
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::manifest::Manifest;
use crate::store::Catalog;
use crate::store::audit::AuditChange;
use crate::store::command::{Command, Envelope, RevisionGuard};

mod export;
mod resolve;

pub use export::handler as export;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplyBody {
    manifest: Manifest,
    #[serde(default)]
    dry_run: bool,
}

pub async fn apply(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Body(body): Body<ApplyBody>,
) -> Result<Response, ApiError> {
    let catalog = state.store.catalog();
    let (project, guards) = project_guards(&catalog, &body.manifest.project.name);
    let etag = etag_of(&guards);
    if let Some(given) = if_match(&headers)?
        && given != etag
    {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "revision_mismatch",
            format!(
                "the project changed since the plan (it was {given}, it is {etag}): plan again"
            ),
        ));
    }
    let change = resolve::change(&body.manifest, guards)?;
    let command = Command::ApplyManifest(Box::new(change));
    crate::store::state_machine::precheck(&command)?;
    let envelope = Envelope::now(caller.actor.clone(), caller.request_id.clone(), command);
    let changes = crate::store::state_machine::preview(&catalog, &envelope)?;
    check_permissions(&caller, &catalog, project, &changes, body.dry_run)?;
    let unmanaged = project.map_or_else(|| json!({}), |id| unmanaged(&catalog, id, &body.manifest));
    let applied = !body.dry_run && !changes.is_empty();
    if applied {
        execute(&state, &caller, envelope.command).await?;
    }
    let shown_etag = if applied {
        etag_of(&project_guards(&state.store.catalog(), &body.manifest.project.name).1)
    } else {
        etag
    };
    let body = json!({
        "dry_run": body.dry_run,
        "applied": applied,
        "changes": changes.iter().map(|c| view(&catalog, c)).collect::<Vec<_>>(),
        "unmanaged": unmanaged,
        "etag": shown_etag,
    });
    let mut response = (StatusCode::OK, Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&shown_etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    Ok(response)
}

/// The project named `name`, and its environments at their revisions.
fn project_guards(catalog: &Catalog, name: &str) -> (Option<u32>, Vec<RevisionGuard>) {
    let project = catalog
        .projects
        .values()
        .find(|p| p.name == name)
        .map(|p| p.id);
    let guards = project
        .map(|id| {
            catalog
                .project_environments(id)
                .map(|e| RevisionGuard {
                    environment_id: e.id,
                    revision: e.revision,
                })
                .collect()
        })
        .unwrap_or_default();
    (project, guards)
}

/// The revisions a plan of the project was made against, e.g. `"m-1.4-2.9"`.
fn etag_of(guards: &[RevisionGuard]) -> String {
    let parts: Vec<String> = guards
        .iter()
        .map(|g| format!("{}.{}", g.environment_id, g.revision))
        .collect();
    format!("\"m-{}\"", parts.join("-"))
}

/// `If-Match` as a quoted entity tag; `None` when absent or `*`.
fn if_match(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    Ok(super::edit_plan::if_match(headers)?.map(|tag| format!("\"{tag}\"")))
}

/// One planned record change, named for people, with its field-by-field diff.
fn view(catalog: &Catalog, change: &AuditChange) -> Value {
    let parse = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .unwrap_or(Value::Null)
    };
    let (before, after) = (parse(&change.before), parse(&change.after));
    let mut diff = Vec::new();
    super::audit::view::differences("", &before, &after, &mut diff);
    let side = if after.is_null() { &before } else { &after };
    let action = match (&change.before, &change.after) {
        (None, Some(_)) => "create",
        (Some(_), None) => "delete",
        _ => "update",
    };
    let name_of = |map: &str, id: &Value| -> Value {
        let id = id.as_u64().and_then(|i| u32::try_from(i).ok());
        match (map, id) {
            ("feature", Some(id)) => catalog.features.get(&id).map(|f| json!(f.name)),
            ("environment", Some(id)) => catalog.environments.get(&id).map(|e| json!(e.name)),
            _ => None,
        }
        .unwrap_or(Value::Null)
    };
    json!({
        "kind": change.kind,
        "action": action,
        "name": side.get("name").cloned().unwrap_or(Value::Null),
        "feature": side.get("feature_id").map(|id| name_of("feature", id)),
        "environment": side.get("environment_id").map(|id| name_of("environment", id)),
        "diff": diff,
    })
}

/// What the project has that the file does not mention: left as it is, and shown.
fn unmanaged(catalog: &Catalog, project_id: u32, manifest: &Manifest) -> Value {
    let lower = |names: Vec<&str>| -> BTreeSet<String> {
        names.into_iter().map(str::to_lowercase).collect()
    };
    let features = lower(manifest.features.iter().map(|f| f.name.as_str()).collect());
    let segments = lower(manifest.segments.iter().map(|s| s.name.as_str()).collect());
    let environments: BTreeSet<&str> = manifest
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    json!({
        "features": catalog.project_features(project_id)
            .filter(|f| !features.contains(&f.name.to_lowercase()))
            .map(|f| &f.name).collect::<Vec<_>>(),
        "segments": catalog.project_segments(project_id)
            .filter(|s| !segments.contains(&s.name.to_lowercase()))
            .map(|s| &s.name).collect::<Vec<_>>(),
        "environments": catalog.project_environments(project_id)
            .filter(|e| !environments.contains(e.name.as_str()))
            .map(|e| &e.name).collect::<Vec<_>>(),
    })
}

/// What a caller needs for these changes (seeing them, for a dry run).
fn check_permissions(
    caller: &Caller,
    catalog: &Catalog,
    project: Option<u32>,
    changes: &[AuditChange],
    dry_run: bool,
) -> Result<(), ApiError> {
    let Some(project_id) = project else {
        if !caller.can(catalog, Permission::CreateProject, Target::Organisation) {
            return Err(forbidden("applying a new project needs CREATE_PROJECT"));
        }
        return Ok(());
    };
    let on_project = |p: Permission| -> Result<(), ApiError> {
        if caller.can(catalog, p, Target::Project(project_id)) {
            Ok(())
        } else {
            Err(forbidden(&format!(
                "applying this file needs {} on project {project_id}",
                p.key()
            )))
        }
    };
    on_project(Permission::ViewProject)?;
    let mut environments: BTreeMap<u32, Vec<Permission>> = BTreeMap::new();
    for change in changes {
        let after: Value = change
            .after
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or(Value::Null);
        let environment = after["environment_id"]
            .as_u64()
            .and_then(|i| u32::try_from(i).ok());
        let needed = match (change.kind.as_str(), change.before.is_some()) {
            ("project", _) => Some(Permission::ManageProject),
            ("feature", false) => Some(Permission::CreateFeature),
            ("feature" | "feature_labels", _) => Some(Permission::EditFeature),
            ("segment", _) => Some(Permission::ManageSegments),
            ("environment", false) => Some(Permission::CreateEnvironment),
            _ => None,
        };
        if let Some(p) = needed.filter(|_| !dry_run) {
            on_project(p)?;
        }
        if let Some(id) = environment.filter(|id| catalog.environments.contains_key(id)) {
            let per = environments.entry(id).or_default();
            match change.kind.as_str() {
                "environment" => per.push(Permission::ManageEnvironment),
                "feature_state" if after["target"].get("Segment").is_some() => {
                    per.push(Permission::ManageSegmentOverrides);
                }
                "feature_state" => per.push(Permission::UpdateFeatureState),
                _ => {}
            }
        }
    }
    for (id, needs) in &environments {
        require(
            caller,
            catalog,
            Permission::ViewEnvironment,
            *id,
            "planning",
        )?;
        if !dry_run {
            for p in needs {
                require(caller, catalog, *p, *id, "applying")?;
            }
        }
    }
    Ok(())
}

fn forbidden(message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}
