//! The admin REST API under `/admin/v1/`: Burgee's own design, JSON in and out, cursor
//! pagination, `{"error": {...}}` errors with stable codes, optimistic concurrency on
//! environments (`If-Match: "<revision>"`).

mod audit;
mod backup;
pub mod body;
mod bulk_edit;
mod cluster;
mod compare;
mod consistency;
mod edit_plan;
mod environments;
mod error;
mod evaluations;
mod explain;
mod features;
mod history;
mod identities;
mod import;
mod keys;
mod manifest;
mod organisation;
pub mod pagination;
mod people_views;
mod projects;
mod promote;
mod roles;
mod rollback;
mod segments;
mod signin;
mod teams;
mod tokens;
mod users;
pub mod values;
mod views;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, StatusCode};

pub use body::Body;
pub use error::{ApiError, json_errors};
pub use pagination::{Page, by_id};

use super::AppState;
use super::auth::Caller;
use crate::store::Applied;
use crate::store::command::{Command, Envelope};

pub fn router(state: &AppState) -> Router<AppState> {
    let imports = import::router(state.settings.max_import_bytes);
    Router::new()
        .merge(projects::router())
        .merge(environments::router())
        .merge(features::router())
        .merge(evaluations::router())
        .merge(segments::router())
        .merge(identities::router())
        .merge(keys::router())
        .merge(organisation::router())
        .merge(signin::router())
        .merge(users::router())
        .merge(teams::router())
        .merge(roles::router())
        .merge(tokens::router())
        .merge(audit::router())
        .merge(cluster::router())
        .merge(backup::router())
        .route(
            "/admin/v1/environments/{id}/promote",
            axum::routing::post(promote::handler),
        )
        .route(
            "/admin/v1/projects/{id}/bulk-edit",
            axum::routing::post(bulk_edit::handler),
        )
        .route(
            "/admin/v1/projects/{id}/manifest",
            axum::routing::get(manifest::export),
        )
        .route("/admin/v1/manifest", axum::routing::post(manifest::apply))
        .route(
            "/admin/v1/environments/{id}/explain",
            axum::routing::post(explain::handler),
        )
        .route(
            "/admin/v1/features/{id}/history",
            axum::routing::get(history::handler),
        )
        .route(
            "/admin/v1/environments/{id}/features/{feature_id}/rollback",
            axum::routing::post(rollback::handler),
        )
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .merge(imports)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::api::auth::routes::authorize,
        ))
        // Outermost: the permission check too reads state at least as new as the leader's.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            consistency::linearizable_reads,
        ))
}

/// The item with `id`, or a 404 naming it.
pub fn find<'a, T>(
    items: &'a std::collections::BTreeMap<u32, T>,
    kind: &str,
    id: u32,
) -> Result<&'a T, ApiError> {
    items.get(&id).ok_or_else(|| ApiError::not_found(kind, id))
}

/// Runs a command for the caller.
pub async fn execute(
    state: &AppState,
    caller: &Caller,
    command: Command,
) -> Result<Applied, ApiError> {
    // Checks that need no state run here, so such a refusal never takes a log index.
    crate::store::state_machine::precheck(&command)?;
    let envelope = Envelope::now(caller.actor.clone(), caller.request_id.clone(), command)
        .from_origin(caller.origin.clone());
    Ok(state.store.execute(envelope).await??)
}

/// The id of a created entity.
pub fn created_id(applied: &Applied) -> Result<u32, ApiError> {
    match applied {
        Applied::Created { id } => Ok(*id),
        other => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("unexpected outcome {other:?}"),
        )),
    }
}

/// `If-Match: "<revision>"` (quotes optional); `*` asks for no particular revision.
pub fn expected_revision(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map(Some)
        .map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_if_match",
                "If-Match must hold an environment revision as its ETag gives it, e.g. \"12\", or *",
            )
        })
}

/// `Created` with a JSON body.
pub fn created(body: serde_json::Value) -> (StatusCode, axum::Json<serde_json::Value>) {
    (StatusCode::CREATED, axum::Json(body))
}
