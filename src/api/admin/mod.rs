//! The admin REST API under `/admin/v1/`: Burgee's own design, JSON in and out, cursor
//! pagination, `{"error": {...}}` errors with stable codes, optimistic concurrency on
//! environments (`If-Match: "<revision>"`).

mod environments;
mod error;
mod features;
mod identities;
mod import;
mod keys;
mod organisation;
pub mod pagination;
mod projects;
mod segments;
pub mod values;
mod views;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

pub use error::{ApiError, json_errors};
pub use pagination::{Page, by_id};

use super::AppState;
use super::auth::Caller;
use crate::store::Applied;
use crate::store::command::{COMMAND_FORMAT, Command, Envelope};

pub fn router(state: &AppState) -> Router<AppState> {
    let imports = import::router(state.settings.max_import_bytes);
    Router::new()
        .merge(projects::router())
        .merge(environments::router())
        .merge(features::router())
        .merge(segments::router())
        .merge(identities::router())
        .merge(keys::router())
        .merge(organisation::router())
        .layer(DefaultBodyLimit::max(state.settings.max_body_bytes))
        .merge(imports)
}

/// The item with `id`, or a 404 naming it.
pub fn find<'a, T>(
    items: &'a std::collections::BTreeMap<u32, T>,
    kind: &str,
    id: u32,
) -> Result<&'a T, ApiError> {
    items.get(&id).ok_or_else(|| ApiError::not_found(kind, id))
}

/// A JSON request body, with errors in the admin API's shape.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = bytes::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        "the request body is too large",
                    )
                } else {
                    ApiError::bad_request(rejection.body_text())
                }
            })?;
        serde_json::from_slice(&bytes).map(Body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("invalid request body: {e}"),
            )
        })
    }
}

/// Runs a command for the caller.
pub async fn execute(
    state: &AppState,
    caller: &Caller,
    command: Command,
) -> Result<Applied, ApiError> {
    let envelope = Envelope {
        format: COMMAND_FORMAT,
        actor: caller.actor.clone(),
        request_id: caller.request_id.clone(),
        timestamp: crate::clock::now_millis(),
        command,
    };
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

/// `If-Match: "<revision>"` (quotes optional).
pub fn expected_revision(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    match headers.get(axum::http::header::IF_MATCH) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
            .and_then(|v| v.parse().ok())
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request("If-Match must hold an environment revision, e.g. \"12\"")
            }),
    }
}

/// `Created` with a JSON body.
pub fn created(body: serde_json::Value) -> (StatusCode, axum::Json<serde_json::Value>) {
    (StatusCode::CREATED, axum::Json(body))
}
