//! Feature values in the admin API: typed as Flagsmith types them.

use serde_json::Value;

use crate::store::StoredValue;

use super::ApiError;

/// A JSON value as a stored feature value: integers (32-bit) and booleans keep their type;
/// strings stay strings; other numbers become strings, as Flagsmith stores them.
pub fn stored_value(value: &Value) -> Result<StoredValue, ApiError> {
    Ok(match value {
        Value::Null => StoredValue::Null,
        Value::Bool(b) => StoredValue::Bool(*b),
        Value::Number(n) => match n.as_i64().and_then(|i| i32::try_from(i).ok()) {
            Some(i) => StoredValue::Integer(i64::from(i)),
            None => StoredValue::String(n.to_string()),
        },
        Value::String(s) => StoredValue::String(s.clone()),
        Value::Array(_) | Value::Object(_) => {
            return Err(ApiError::bad_request(
                "a value must be a string, an integer, a boolean or null",
            ));
        }
    })
}

/// Types text as Flagsmith does: an integer or `true`/`false` when it reads as one,
/// otherwise a string.
pub fn typed_text(text: &str) -> StoredValue {
    match text {
        "true" => StoredValue::Bool(true),
        "false" => StoredValue::Bool(false),
        _ => match text.parse::<i32>() {
            Ok(i) if i.to_string() == text => StoredValue::Integer(i64::from(i)),
            _ => StoredValue::String(text.to_owned()),
        },
    }
}

pub fn json_value(value: &StoredValue) -> Value {
    crate::model::Scalar::from(value).to_json()
}
