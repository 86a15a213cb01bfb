//! `GET /api/v1/environment-document/`: server-side keys only; never paginated.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::api::AppState;

use super::flags::json_response;
use super::key::{SdkError, environment};

pub async fn environment_document(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, SdkError> {
    let (snapshot, _) = environment(&state.snapshots, &headers, true)?;
    // Conditional GET at second precision, as Django's `condition` decorator does.
    let since = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()
        });
    if let Some(since) = since
        && snapshot.updated_at_ms.div_euclid(1000) <= since.unix_timestamp()
    {
        return Ok(StatusCode::NOT_MODIFIED.into_response());
    }
    let mut response = json_response(snapshot.document.clone(), &snapshot.updated_at_header);
    if let Ok(value) = HeaderValue::from_str(&snapshot.last_modified) {
        response.headers_mut().insert(header::LAST_MODIFIED, value);
    }
    if let Ok(value) = HeaderValue::from_str(&format!(
        "\"{}-{}\"",
        snapshot.environment_id, snapshot.revision
    )) {
        response.headers_mut().insert(header::ETAG, value);
    }
    Ok(response)
}
