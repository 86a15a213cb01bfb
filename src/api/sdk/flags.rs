//! `GET /api/v1/flags/`: environment defaults, served from precomputed bodies.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::api::AppState;
use crate::cache::KeyKind;

use super::conditional::{Modified, respond};
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
            let flag = snapshot
                .flag_by_name
                .get(name)
                .and_then(|flag| flag.for_key(server))
                .ok_or(SdkError::FeatureNotFound)?;
            flag.as_ref()
        }
        None if server => &snapshot.flags_for_server_keys,
        None => &snapshot.flags_for_client_keys,
    };
    let response = respond(
        &headers,
        body,
        &snapshot.updated_at_header,
        Some(Modified::of(&snapshot)),
    );
    super::count_evaluation(super::Evaluation::Environment);
    Ok(response)
}

/// A JSON body with Flagsmith's `X-Flagsmith-Document-Updated-At`.
pub fn json_response(body: bytes::Bytes, updated_at: &HeaderValue) -> Response {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                axum::http::HeaderName::from_static("x-flagsmith-document-updated-at"),
                updated_at.clone(),
            ),
        ],
        body,
    )
        .into_response()
}
