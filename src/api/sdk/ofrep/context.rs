//! An OFREP request's evaluation context: `targetingKey` becomes the identity's identifier,
//! every other attribute a trait for this one evaluation.

use serde_json::Value;

use crate::model::{Scalar, Traits};

use super::error::{Code, OfrepError};

/// Flagsmith's limits on identifiers, trait keys and trait text.
const MAX_IDENTIFIER: usize = 2000;
const MAX_TRAIT_KEY: usize = 200;
const MAX_TRAIT_TEXT: usize = 2000;

/// What an evaluation is asked for.
pub struct Context {
    /// `None`: no `targetingKey`, so environment defaults.
    pub identifier: Option<String>,
    /// Attributes as traits, in the order given; `Null` removes a stored trait.
    pub traits: Vec<(String, Scalar)>,
}

fn invalid(details: String) -> OfrepError {
    OfrepError::new(Code::InvalidContext, details)
}

/// Reads `{"context": {...}}`. `max_traits` bounds the attributes, as it bounds an identity's
/// stored traits.
pub fn parse(body: &[u8], max_traits: u32) -> Result<Context, OfrepError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| OfrepError::new(Code::ParseError, format!("The body is not JSON: {e}")))?;
    let Value::Object(mut request) = value else {
        return Err(OfrepError::new(
            Code::ParseError,
            "The body must be a JSON object: {\"context\": {...}}.".into(),
        ));
    };
    let context = match request.remove("context") {
        Some(Value::Object(context)) => context,
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(_) => return Err(invalid("`context` must be an object.".into())),
    };
    let mut identifier = None;
    let mut traits = Vec::with_capacity(context.len());
    for (key, value) in context {
        if key == "targetingKey" {
            identifier = match value {
                Value::Null => None,
                Value::String(s) if s.trim().is_empty() => None,
                Value::String(s) if s.chars().count() > MAX_IDENTIFIER => {
                    return Err(invalid(format!(
                        "`targetingKey` is longer than {MAX_IDENTIFIER} characters."
                    )));
                }
                Value::String(s) => Some(s),
                _ => return Err(invalid("`targetingKey` must be a string.".into())),
            };
            continue;
        }
        if key.is_empty() || key.chars().count() > MAX_TRAIT_KEY {
            return Err(invalid(format!(
                "Attribute names must have 1 to {MAX_TRAIT_KEY} characters."
            )));
        }
        let scalar = match &value {
            Value::String(s) if s.chars().count() > MAX_TRAIT_TEXT => {
                return Err(invalid(format!(
                    "Attribute `{key}` is longer than {MAX_TRAIT_TEXT} characters."
                )));
            }
            Value::Array(_) | Value::Object(_) => {
                return Err(invalid(format!(
                    "Attribute `{key}` is a list or an object; traits are strings, numbers or booleans."
                )));
            }
            other => Scalar::from_json(other).unwrap_or(Scalar::Null),
        };
        traits.push((key, scalar));
    }
    if traits.len() > max_traits as usize {
        return Err(invalid(format!(
            "The context has {} attributes; at most {max_traits} are allowed.",
            traits.len()
        )));
    }
    if identifier.is_none() && traits.iter().any(|(_, v)| *v != Scalar::Null) {
        return Err(OfrepError::new(
            Code::TargetingKeyMissing,
            "Attributes are traits of an identity: send a `targetingKey` with them.".into(),
        ));
    }
    Ok(Context { identifier, traits })
}

impl Context {
    /// The identity's traits for this evaluation: stored ones, then the context's on top.
    pub fn traits_over(&self, mut stored: Traits) -> Traits {
        for (key, value) in &self.traits {
            if *value == Scalar::Null {
                stored.shift_remove(key);
            } else {
                stored.insert(key.clone(), value.clone());
            }
        }
        stored
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> Code {
        match parse(body.as_bytes(), 3) {
            Ok(_) => panic!("{body} was accepted"),
            Err(e) => e.code,
        }
    }

    #[test]
    fn contexts_become_an_identifier_and_traits() {
        let context = parse(
            br#"{"context": {"targetingKey": "alice", "plan": "pro", "age": 42, "beta": true}}"#,
            3,
        )
        .expect("valid");
        assert_eq!(context.identifier.as_deref(), Some("alice"));
        assert_eq!(context.traits.len(), 3);
        assert_eq!(context.traits[1], ("age".into(), Scalar::Integer(42)));
        let empty = parse(br#"{"context": {}}"#, 3).expect("valid");
        assert!(empty.identifier.is_none() && empty.traits.is_empty());
        assert!(parse(b"{}", 3).expect("valid").identifier.is_none());
    }

    #[test]
    fn bad_contexts_name_their_problem() {
        assert_eq!(code("not json"), Code::ParseError);
        assert_eq!(code("[1]"), Code::ParseError);
        assert_eq!(code(r#"{"context": 1}"#), Code::InvalidContext);
        assert_eq!(
            code(r#"{"context": {"targetingKey": 7}}"#),
            Code::InvalidContext
        );
        assert_eq!(
            code(r#"{"context": {"targetingKey": "a", "tags": ["x"]}}"#),
            Code::InvalidContext
        );
        assert_eq!(
            code(r#"{"context": {"targetingKey": "a", "": 1}}"#),
            Code::InvalidContext
        );
        assert_eq!(
            code(r#"{"context": {"targetingKey": "a", "a": 1, "b": 2, "c": 3, "d": 4}}"#),
            Code::InvalidContext
        );
        assert_eq!(
            code(r#"{"context": {"plan": "pro"}}"#),
            Code::TargetingKeyMissing
        );
        let long = "x".repeat(2001);
        assert_eq!(
            code(&format!(r#"{{"context": {{"targetingKey": "{long}"}}}}"#)),
            Code::InvalidContext
        );
    }
}
