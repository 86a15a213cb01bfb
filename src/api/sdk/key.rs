//! Environment keys on SDK calls, and Flagsmith's error bodies (`403 {"detail": ...}`).

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::cache::{EnvironmentSnapshot, KeyKind, Snapshots};

/// An SDK-API error, answered as Flagsmith does.
#[derive(Debug)]
pub enum SdkError {
    /// Missing key, or a client key where a server key is required.
    MissingKey,
    UnknownKey,
    FlagsDisabled,
    FeatureNotFound,
    /// DRF-style validation errors: `{"field": ["message"]}`.
    Invalid(serde_json::Value),
    Internal(String),
    /// Storage cannot take the write now; the client may retry.
    Unavailable(String),
}

impl From<crate::store::StoreError> for SdkError {
    fn from(error: crate::store::StoreError) -> Self {
        use crate::store::ErrorKind;
        match error.kind() {
            ErrorKind::Unavailable | ErrorKind::Closed | ErrorKind::NoQuorum => {
                Self::Unavailable(error.to_string())
            }
            ErrorKind::Corrupt | ErrorKind::Internal => Self::Internal(error.to_string()),
        }
    }
}

impl IntoResponse for SdkError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            Self::MissingKey => (
                StatusCode::FORBIDDEN,
                json!({"detail": "Invalid or missing Environment key"}),
            ),
            Self::UnknownKey => (
                StatusCode::FORBIDDEN,
                json!({"detail": "Invalid or missing Environment Key"}),
            ),
            Self::FlagsDisabled => (
                StatusCode::FORBIDDEN,
                json!({"detail": "Organisation is disabled from serving flags."}),
            ),
            Self::FeatureNotFound => (
                StatusCode::NOT_FOUND,
                json!({"detail": "Given feature not found"}),
            ),
            Self::Invalid(body) => (StatusCode::BAD_REQUEST, body),
            Self::Unavailable(message) => {
                tracing::error!(%message, "SDK request failed: storage unavailable");
                metrics::counter!("burgee_storage_errors_total", "code" => "storage_unavailable")
                    .increment(1);
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"detail": "The service is temporarily unavailable.", "code": "storage_unavailable"}),
                )
            }
            Self::Internal(message) => {
                tracing::error!(%message, "SDK request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"detail": "A server error occurred."}),
                )
            }
        };
        (status, axum::Json(body)).into_response()
    }
}

/// The environment opened by the request's `X-Environment-Key`.
pub fn environment(
    snapshots: &Snapshots,
    headers: &HeaderMap,
    server_only: bool,
) -> Result<(Arc<EnvironmentSnapshot>, KeyKind), SdkError> {
    let key = headers
        .get("x-environment-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty())
        .ok_or(SdkError::MissingKey)?;
    environment_of_key(snapshots, key, server_only)
}

/// The environment `key` opens.
pub fn environment_of_key(
    snapshots: &Snapshots,
    key: &str,
    server_only: bool,
) -> Result<(Arc<EnvironmentSnapshot>, KeyKind), SdkError> {
    if server_only && !key.starts_with("ser.") {
        return Err(SdkError::MissingKey);
    }
    let (snapshot, kind) = snapshots.by_key(key).ok_or(SdkError::UnknownKey)?;
    if snapshot.stop_serving_flags {
        return Err(SdkError::FlagsDisabled);
    }
    Ok((snapshot, kind))
}
