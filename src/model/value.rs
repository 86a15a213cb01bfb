//! The primitive values carried by feature states and traits.

use std::fmt;

/// A primitive JSON value: what a feature state's value or a trait's value can be.
///
/// Integers and floats stay distinct (`1` is not `1.0`), as in Flagsmith.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Scalar {
    #[default]
    Null,
    Bool(bool),
    Integer(i64),
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

    /// Reads a JSON number, keeping integers as integers where they fit in an `i64`.
    pub fn from_number(n: &serde_json::Number) -> Self {
        if let Some(i) = n.as_i64() {
            Self::Integer(i)
        } else {
            // u64 beyond i64::MAX and true floats both land here.
            Self::Float(n.as_f64().unwrap_or(f64::NAN))
        }
    }

    /// The JSON form of this value.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Null => serde_json::Value::Null,
            Self::Bool(b) => serde_json::Value::Bool(*b),
            Self::Integer(i) => serde_json::Value::from(*i),
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
        write!(f, "{}", self.to_json())
    }
}

impl serde::Serialize for Scalar {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Bool(b) => serializer.serialize_bool(*b),
            Self::Integer(i) => serializer.serialize_i64(*i),
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
                Ok(i64::try_from(v).map_or(Scalar::Float(v as f64), Scalar::Integer))
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
