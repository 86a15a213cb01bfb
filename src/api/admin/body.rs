//! Admin request bodies: JSON objects only, declared as JSON, with numbers kept exact.
//!
//! serde's derive would accept a JSON array for a struct (`["Web"]` as `{"name": "Web"}`)
//! and serde_json would turn an integer beyond 64 bits into a rounded float; both are
//! refused here, before anything is deserialised.

use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::ApiError;

/// A JSON request body, with errors in the admin API's shape.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the request body must be JSON, sent with Content-Type: application/json",
            ));
        }
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
        check_shape(&bytes)?;
        serde_json::from_slice(&bytes).map(Body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("invalid request body: {e}"),
            )
        })
    }
}

/// `application/json`, with or without parameters (`; charset=utf-8`).
fn is_json(value: Option<&axum::http::HeaderValue>) -> bool {
    value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// Refuses a body that is not a JSON object, or that holds an integer no 64-bit type keeps.
fn check_shape(bytes: &[u8]) -> Result<(), ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the request body must be a JSON object",
        ));
    }
    if let Some(number) = oversized_integer(bytes) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "number_out_of_range",
            format!(
                "the number {number} does not fit in a signed 64-bit integer and would not be \
                 kept exactly; send it as a string"
            ),
        ));
    }
    Ok(())
}

/// The first integer literal (outside strings) that a signed 64-bit integer cannot hold.
fn oversized_integer(bytes: &[u8]) -> Option<String> {
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        if b == b'-' || b.is_ascii_digit() {
            let start = i;
            while i < bytes.len()
                && matches!(bytes[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
            {
                i += 1;
            }
            let token = std::str::from_utf8(&bytes[start..i]).unwrap_or_default();
            let integer = !token.contains(['.', 'e', 'E']);
            if integer && token.parse::<i64>().is_err() {
                return Some(token.to_owned());
            }
            continue;
        }
        i += 1;
    }
    None
}

pub use crate::json::Object;

/// For `#[serde(default, deserialize_with = "given")]`: a field that may be absent (`None`)
/// but, when present, is a `T` — so `null` is refused for plain fields, and kept as a value
/// (`Some(None)`) for fields whose `T` is itself an `Option` ("clear this").
pub fn given<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::{is_json, oversized_integer};

    #[test]
    fn integers_beyond_64_bits_are_found_outside_strings_only() {
        assert_eq!(
            oversized_integer(br#"{"value": 123456789012345678901234567890}"#).as_deref(),
            Some("123456789012345678901234567890")
        );
        assert_eq!(
            oversized_integer(br#"{"v": -99999999999999999999}"#).as_deref(),
            Some("-99999999999999999999")
        );
        assert_eq!(
            oversized_integer(br#"{"v": "123456789012345678901234567890"}"#),
            None
        );
        assert_eq!(
            oversized_integer(br#"{"v": "a\"123456789012345678901234567890"}"#),
            None
        );
        assert_eq!(
            oversized_integer(br#"{"v": 9223372036854775807, "w": -9223372036854775808}"#),
            None
        );
        assert_eq!(
            oversized_integer(br#"{"v": 9223372036854775808}"#).as_deref(),
            Some("9223372036854775808")
        );
        assert_eq!(
            oversized_integer(br#"{"v": 1.5e300, "w": 1234567890123456789012.5}"#),
            None
        );
    }

    #[test]
    fn only_json_media_types_are_json() {
        let value = |v: &'static str| axum::http::HeaderValue::from_static(v);
        assert!(is_json(Some(&value("application/json"))));
        assert!(is_json(Some(&value("Application/JSON; charset=utf-8"))));
        assert!(!is_json(Some(&value("text/plain"))));
        assert!(!is_json(Some(&value("application/x-www-form-urlencoded"))));
        assert!(!is_json(None));
    }
}
