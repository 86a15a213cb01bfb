//! The primitive values carried by feature states and traits.

use std::fmt;

use super::big_integer::BigInteger;

/// A primitive JSON value: what a feature state's value or a trait's value can be.
///
/// Integers and floats stay distinct (`1` is not `1.0`), as in Flagsmith, and integers of any
/// length stay exact, as Python keeps them.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Scalar {
    #[default]
    Null,
    Bool(bool),
    Integer(i64),
    /// An integer outside the `i64` range.
    BigInteger(BigInteger),
    Float(f64),
    String(String),
}

impl Scalar {
    /// Reads a JSON value; `None` for arrays and objects, which are not scalars.
    pub fn from_json(value: &serde_json::Value) -> Option<Self> {
        Some(match value {
            serde_json::Value::Null => Self::Null,
            serde_json::Value::Bool(b) => Self::Bool(*b),
            serde_json::Value::Number(n) => Self::from_number(n),
            serde_json::Value::String(s) => Self::String(s.clone()),
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => return None,
        })
    }

    /// Reads a JSON number. Integers stay integers; `serde_json` has already rounded those
    /// beyond `u64` to floats, so read exact text with [`Self::from_json_text`] instead.
    pub fn from_number(n: &serde_json::Number) -> Self {
        match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Self::Integer(i),
            (None, Some(u)) => Self::BigInteger(BigInteger::from(u)),
            (None, None) => Self::Float(n.as_f64().unwrap_or(f64::NAN)),
        }
    }

    /// An integer literal (`-?[0-9]+`, leading zeros allowed) as an exact integer; `None` for
    /// any other text.
    pub fn integer_from_text(text: &str) -> Option<Self> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if let Ok(small) = text.parse::<i64>() {
            return Some(Self::Integer(small));
        }
        let digits = digits.trim_start_matches('0');
        // Past the trim the value has at least 19 digits, so it cannot be zero.
        Some(Self::BigInteger(BigInteger::from_canonical(
            negative, digits,
        )))
    }

    /// Reads one JSON value from its text without losing precision: integers of any length
    /// stay exact and floats are rounded correctly (`1e400` is infinite, as Python reads it).
    pub fn from_json_text(text: &str) -> Result<Self, serde_json::Error> {
        let text = text.trim_matches([' ', '\t', '\n', '\r']);
        if let Some(integer) = Self::integer_from_text(text) {
            return Ok(integer);
        }
        let is_number = text.starts_with(|c: char| c == '-' || c.is_ascii_digit());
        match text.parse::<f64>() {
            Ok(float) if is_number => Ok(Self::Float(float)),
            _ => serde_json::from_str(text),
        }
    }

    /// The JSON form of this value.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Null => serde_json::Value::Null,
            Self::Bool(b) => serde_json::Value::Bool(*b),
            Self::Integer(i) => serde_json::Value::from(*i),
            // A JSON value cannot hold more than a u64 or a float: the nearest one.
            Self::BigInteger(b) => match b.as_str().parse::<u64>() {
                Ok(u) => serde_json::Value::from(u),
                Err(_) => serde_json::Number::from_f64(b.to_f64_lossy())
                    .map_or(serde_json::Value::Null, serde_json::Value::Number),
            },
            Self::Float(f) => serde_json::Number::from_f64(*f)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Self::String(s) => serde_json::Value::String(s.clone()),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }
}

impl fmt::Display for Scalar {
    /// Displays the value as JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BigInteger(b) => write!(f, "{b}"),
            other => write!(f, "{}", other.to_json()),
        }
    }
}

impl serde::Serialize for Scalar {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Bool(b) => serializer.serialize_bool(*b),
            Self::Integer(i) => serializer.serialize_i64(*i),
            Self::BigInteger(b) => b.serialize(serializer),
            Self::Float(f) if f.is_finite() => serializer.serialize_f64(*f),
            // JSON has no NaN or infinity.
            Self::Null | Self::Float(_) => serializer.serialize_none(),
            Self::String(s) => serializer.serialize_str(s),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;

        impl serde::de::Visitor<'_> for ScalarVisitor {
            type Value = Scalar;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number, boolean or null")
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Integer(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(i64::try_from(v)
                    .map_or_else(|_| Scalar::BigInteger(BigInteger::from(v)), Scalar::Integer))
            }
            fn visit_i128<E>(self, v: i128) -> Result<Scalar, E> {
                Ok(Scalar::integer_from_text(&v.to_string()).unwrap_or_default())
            }
            fn visit_u128<E>(self, v: u128) -> Result<Scalar, E> {
                Ok(Scalar::integer_from_text(&v.to_string()).unwrap_or_default())
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::String(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar::String(v))
            }
        }

        deserializer.deserialize_any(ScalarVisitor)
    }
}
