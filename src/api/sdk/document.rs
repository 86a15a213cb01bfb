//! `GET /api/v1/environment-document/`: server-side keys only; never paginated.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use crate::api::AppState;

use super::conditional::{Modified, respond};
use super::key::{SdkError, environment};

pub async fn environment_document(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, SdkError> {
    let (snapshot, _) = environment(&state.snapshots, &headers, true)?;
    Ok(respond(
        &headers,
        &snapshot.document,
        &snapshot.updated_at_header,
        Some(Modified::of(&snapshot)),
    ))
}
