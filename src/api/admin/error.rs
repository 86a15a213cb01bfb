//! Admin API errors: `{"error": {"code", "message", "details"}}` with a stable code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::store::{CommandError, ErrorKind, StoreError};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// A 400 listing validation issues; the message is the first one's.
    pub fn invalid(
        code: &'static str,
        issues: &[crate::engine::validate::ValidationIssue],
    ) -> Self {
        let details: Vec<Value> = issues
            .iter()
            .map(|i| json!({"code": i.code, "path": i.path, "message": i.message}))
            .collect();
        let message = issues
            .first()
            .map_or_else(|| "invalid".to_owned(), ToString::to_string);
        Self::new(StatusCode::BAD_REQUEST, code, message).with_details(json!(details))
    }

    pub fn not_found(what: &str, id: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} {id} does not exist"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "admin request failed");
        }
        let body =
            json!({"error": {"code": self.code, "message": self.message, "details": self.details}});
        (self.status, axum::Json(body)).into_response()
    }
}

/// Rewrites the plain-text errors that come from outside the handlers (path and query
/// rejections, unknown routes, wrong methods) into the admin API's JSON error shape.
pub async fn json_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let admin = request.uri().path().starts_with("/admin/");
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !admin || is_json || !status.is_client_error() {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "invalid_request",
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_owned()
    } else {
        text
    };
    ApiError::new(status, code, message).into_response()
}

impl From<CommandError> for ApiError {
    fn from(error: CommandError) -> Self {
        let (status, code) = match &error {
            CommandError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            CommandError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            CommandError::RevisionMismatch { .. } | CommandError::EnvironmentsChanged(_) => {
                (StatusCode::PRECONDITION_FAILED, "revision_mismatch")
            }
            CommandError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            CommandError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            CommandError::LimitExceeded(_) => (StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded"),
            CommandError::NotInitialized => (StatusCode::SERVICE_UNAVAILABLE, "not_initialised"),
            CommandError::UpgradeInProgress { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "upgrade_in_progress")
            }
            CommandError::Failed(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let details = match &error {
            CommandError::RevisionMismatch { expected, actual } => {
                json!({"expected": expected, "actual": actual})
            }
            CommandError::EnvironmentsChanged(stale) => json!({"changed": stale}),
            CommandError::UpgradeInProgress { needed, active } => {
                json!({"needed_command_format": needed, "active_command_format": active})
            }
            _ => Value::Null,
        };
        Self::new(status, code, error.to_string()).with_details(details)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        let (status, code) = match error.kind() {
            ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable"),
            ErrorKind::Closed => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
            ErrorKind::NoQuorum => (StatusCode::SERVICE_UNAVAILABLE, "no_quorum"),
            ErrorKind::Corrupt => (StatusCode::INTERNAL_SERVER_ERROR, "storage_corrupt"),
            ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        metrics::counter!("burgee_storage_errors_total", "code" => code).increment(1);
        Self::new(status, code, error.to_string())
    }
}
