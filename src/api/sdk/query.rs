//! Query strings of SDK calls, decoded strictly: invalid UTF-8 (`?identifier=%FF`) is a 400,
//! never text with U+FFFD in it (which would create an identity nobody asked for).

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde_json::json;

use super::key::SdkError;

/// The query's parameters; the last of a repeated name wins.
pub struct StrictQuery(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for StrictQuery {
    type Rejection = SdkError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parse(parts.uri.query().unwrap_or_default())
            .map(StrictQuery)
            .map_err(|name| {
                SdkError::Invalid(json!({ name: ["The value is not valid UTF-8 text."] }))
            })
    }
}

/// Decodes `a=1&b=x+y`; on invalid UTF-8, the name of the parameter that holds it.
pub fn parse(query: &str) -> Result<HashMap<String, String>, String> {
    let mut pairs = HashMap::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let name = decode(name).ok_or_else(|| "query".to_owned())?;
        let value = decode(value).ok_or_else(|| name.clone())?;
        pairs.insert(name, value);
    }
    Ok(pairs)
}

fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match hex_byte(bytes.get(i + 1..i + 3)) {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                    continue;
                }
                None => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex_byte(pair: Option<&[u8]>) -> Option<u8> {
    let digit = |b: u8| char::from(b).to_digit(16);
    match pair? {
        [high, low] => u8::try_from(digit(*high)? * 16 + digit(*low)?).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn decodes_strictly() {
        let q = parse("identifier=a%2Fb+c&feature=x&empty").unwrap();
        assert_eq!(q["identifier"], "a/b c");
        assert_eq!(q["feature"], "x");
        assert_eq!(q["empty"], "");
        assert_eq!(parse("identifier=%C3%BC").unwrap()["identifier"], "ü");
        assert_eq!(parse("identifier=%FF").unwrap_err(), "identifier");
        assert_eq!(parse("x=100%").unwrap()["x"], "100%", "a stray % stays");
        assert_eq!(parse("x=%4").unwrap()["x"], "%4");
    }
}
