//! `GET /api/v1/flags/`: environment defaults, served from precomputed bodies.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use crate::api::AppState;
use crate::cache::KeyKind;

use super::key::{SdkError, environment};

pub async fn environment_flags(
    State(state): State<AppState>,
    headers: HeaderMap,
    super::query::StrictQuery(query): super::query::StrictQuery,
) -> Result<Response, SdkError> {
    let (snapshot, kind) = environment(&state.snapshots, &headers, false)?;
    let server = kind == KeyKind::Server;
    let body = match query.get("feature") {
        Some(name) => {
            let bodies = snapshot
                .flag_by_name
                .get(name)
                .ok_or(SdkError::FeatureNotFound)?;
            let body = if server { &bodies.1 } else { &bodies.0 };
            body.clone().ok_or(SdkError::FeatureNotFound)?
        }
        None if server => snapshot.flags_for_server_keys.clone(),
        None => snapshot.flags_for_client_keys.clone(),
    };
    metrics::counter!("burgee_evaluations_total", "kind" => "environment").increment(1);
    Ok(json_response(body, &snapshot.updated_at_header))
}

/// A JSON body with Flagsmith's `X-Flagsmith-Document-Updated-At`.
pub fn json_response(body: bytes::Bytes, updated_at: &str) -> Response {
    (
        [
            (axum::http::header::CONTENT_TYPE, "application/json"),
            (
                axum::http::HeaderName::from_static("x-flagsmith-document-updated-at"),
                updated_at,
            ),
        ],
        body,
    )
        .into_response()
}
