//! OFREP's error answers: `{"key", "errorCode", "errorDetails"}` for a flag's evaluation
//! (400, 404), `{"errorCode", "errorDetails"}` for a bulk request, and 401/403/5xx with
//! `errorDetails` alone.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::api::sdk::SdkError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    ParseError,
    TargetingKeyMissing,
    InvalidContext,
    FlagNotFound,
    General,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::ParseError => "PARSE_ERROR",
            Code::TargetingKeyMissing => "TARGETING_KEY_MISSING",
            Code::InvalidContext => "INVALID_CONTEXT",
            Code::FlagNotFound => "FLAG_NOT_FOUND",
            Code::General => "GENERAL",
        }
    }
}

/// One evaluation's failure (the caller's input or an unknown flag).
#[derive(Debug)]
pub struct OfrepError {
    pub code: Code,
    pub details: String,
}

impl OfrepError {
    pub fn new(code: Code, details: String) -> Self {
        Self { code, details }
    }

    /// The element of a bulk answer, or the body of a single one.
    pub fn body(&self, key: Option<&str>) -> serde_json::Value {
        let mut body = json!({"errorCode": self.code.as_str(), "errorDetails": self.details});
        if let Some(key) = key {
            body["key"] = json!(key);
        }
        body
    }
}

/// Why a request was not evaluated.
#[derive(Debug)]
pub enum Failure {
    /// No key at all: 401.
    Unauthorized,
    /// A key that opens nothing, or an organisation that stopped serving flags: 403.
    Forbidden(&'static str),
    Evaluation(OfrepError),
    /// Storage cannot answer now: 503, retry.
    Unavailable(String),
    Internal(String),
}

impl From<OfrepError> for Failure {
    fn from(error: OfrepError) -> Self {
        Self::Evaluation(error)
    }
}

impl From<SdkError> for Failure {
    fn from(error: SdkError) -> Self {
        match error {
            SdkError::MissingKey => Self::Unauthorized,
            SdkError::UnknownKey => Self::Forbidden("The environment key opens nothing."),
            SdkError::FlagsDisabled => {
                Self::Forbidden("The organisation is disabled from serving flags.")
            }
            SdkError::FeatureNotFound => Self::Evaluation(OfrepError::new(
                Code::FlagNotFound,
                "No such flag in this environment.".into(),
            )),
            SdkError::Invalid(details) => {
                Self::Evaluation(OfrepError::new(Code::InvalidContext, details.to_string()))
            }
            SdkError::Unavailable(message) => Self::Unavailable(message),
            SdkError::Internal(message) => Self::Internal(message),
        }
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(error: crate::store::StoreError) -> Self {
        SdkError::from(error).into()
    }
}

impl Failure {
    /// The answer, for flag `key` or (`None`) for a bulk request.
    pub fn respond(self, key: Option<&str>) -> Response {
        let (status, body) = match self {
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                json!({"errorDetails": "Send an environment key: `Authorization: Bearer <key>`, `X-API-Key` or `X-Environment-Key`."}),
            ),
            Self::Forbidden(details) => (StatusCode::FORBIDDEN, json!({"errorDetails": details})),
            Self::Evaluation(error) => {
                let status = if error.code == Code::FlagNotFound {
                    StatusCode::NOT_FOUND
                } else {
                    StatusCode::BAD_REQUEST
                };
                (status, error.body(key))
            }
            Self::Unavailable(message) => {
                tracing::error!(%message, "OFREP request failed: storage unavailable");
                metrics::counter!("burgee_storage_errors_total", "code" => "storage_unavailable")
                    .increment(1);
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    OfrepError::new(
                        Code::General,
                        "The service is temporarily unavailable; retry.".into(),
                    )
                    .body(key),
                )
            }
            Self::Internal(message) => {
                tracing::error!(%message, "OFREP request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    OfrepError::new(Code::General, "A server error occurred.".into()).body(key),
                )
            }
        };
        (status, axum::Json(body)).into_response()
    }
}
