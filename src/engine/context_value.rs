//! Context values: a trait or context field after Flagsmith's normalisation, where a string
//! that reads as an integer or a decimal becomes a number.

use crate::model::Scalar;

use super::error::ConditionError;
use super::py_int::MAX_STR_DIGITS;
use super::python::{PyInt, py_float, py_int, write_float_repr};

/// A normalised value, or the error Flagsmith raises when normalising it (evaluation fails
/// when, and only when, a condition reads it).
pub type Normalised<T> = Result<T, ConditionError>;

/// A normalised, non-null context value, borrowing its text where it can.
#[derive(Debug, Clone, PartialEq)]
pub enum ContextValue<'a> {
    Bool(bool),
    Int(PyInt),
    Float(f64),
    Str(&'a str),
}

impl<'a> ContextValue<'a> {
    /// Normalises a scalar; `None` for null.
    pub fn from_scalar(value: &'a Scalar) -> Option<Normalised<Self>> {
        Some(Ok(match value {
            Scalar::Null => return None,
            Scalar::Bool(b) => Self::Bool(*b),
            Scalar::Integer(i) => Self::Int(PyInt::Small(i128::from(*i))),
            Scalar::BigInteger(b) => Self::Int(PyInt::from_big_integer(b)),
            Scalar::Float(f) => Self::Float(*f),
            Scalar::String(s) => return Some(Self::from_text(s)),
        }))
    }

    /// A string fully matching `-?[0-9]+` becomes an integer, one matching `-?[0-9]+\.[0-9]+`
    /// a float; anything else stays text (ASCII digits only, no `+`, exponent or spaces).
    /// An integer string of more digits than Python's `int()` reads is an error, as there.
    pub fn from_text(text: &'a str) -> Normalised<Self> {
        let unsigned = text.strip_prefix('-').unwrap_or(text);
        let (int_part, frac_part) = match unsigned.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (unsigned, None),
        };
        let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int_part) {
            return Ok(Self::Str(text));
        }
        Ok(match frac_part {
            None if int_part.len() > MAX_STR_DIGITS => {
                return Err(ConditionError::IntegerStringTooLong {
                    digits: int_part.len(),
                });
            }
            None => py_int(text).map_or(Self::Str(text), Self::Int),
            Some(f) if all_digits(f) => py_float(text).map_or(Self::Str(text), Self::Float),
            Some(_) => Self::Str(text),
        })
    }

    /// Writes Python's `str()` of the value.
    pub fn write_str(&self, out: &mut String) {
        match self {
            Self::Bool(true) => out.push_str("True"),
            Self::Bool(false) => out.push_str("False"),
            Self::Int(i) => i.write_to(out),
            Self::Float(f) => write_float_repr(*f, out),
            Self::Str(s) => out.push_str(s),
        }
    }

    /// Copies the value out of its borrow.
    pub fn to_owned_value(&self) -> OwnedContextValue {
        match self {
            Self::Bool(b) => OwnedContextValue::Bool(*b),
            Self::Int(i) => OwnedContextValue::Int(i.clone()),
            Self::Float(f) => OwnedContextValue::Float(*f),
            Self::Str(s) => OwnedContextValue::Str((*s).to_owned()),
        }
    }
}

/// A context value that owns its text: for values fixed at compile time.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedContextValue {
    Bool(bool),
    Int(PyInt),
    Float(f64),
    Str(String),
}

impl OwnedContextValue {
    pub fn as_borrowed(&self) -> ContextValue<'_> {
        match self {
            Self::Bool(b) => ContextValue::Bool(*b),
            Self::Int(i) => ContextValue::Int(i.clone()),
            Self::Float(f) => ContextValue::Float(*f),
            Self::Str(s) => ContextValue::Str(s),
        }
    }

    /// Normalises a JSON value; `None` for null, arrays and objects (not context values).
    pub fn from_json(value: &serde_json::Value) -> Option<Normalised<Self>> {
        let scalar = Scalar::from_json(value)?;
        ContextValue::from_scalar(&scalar).map(|v| v.map(|v| v.to_owned_value()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_strings_become_numbers() {
        let read = |text| ContextValue::from_text(text).unwrap();
        assert_eq!(read("30"), ContextValue::Int(PyInt::Small(30)));
        assert_eq!(read("007"), ContextValue::Int(PyInt::Small(7)));
        assert_eq!(read("-3"), ContextValue::Int(PyInt::Small(-3)));
        assert_eq!(read("1.50"), ContextValue::Float(1.5));
        for text in [
            "+3", "1e3", " 3", "3 ", "1.", ".5", "-", "", "1.2.3", "٣", "1_000",
        ] {
            assert_eq!(read(text), ContextValue::Str(text), "{text:?}");
        }
    }

    #[test]
    fn integer_strings_past_pythons_digit_limit_are_errors() {
        let at_limit = "9".repeat(MAX_STR_DIGITS);
        assert!(matches!(
            ContextValue::from_text(&at_limit),
            Ok(ContextValue::Int(PyInt::Big { .. }))
        ));
        let negative = format!("-{at_limit}");
        assert!(
            ContextValue::from_text(&negative).is_ok(),
            "the sign is no digit"
        );
        let over = "0".repeat(MAX_STR_DIGITS + 1);
        assert_eq!(
            ContextValue::from_text(&over),
            Err(ConditionError::IntegerStringTooLong {
                digits: MAX_STR_DIGITS + 1
            }),
            "leading zeros count"
        );
        let decimal = format!("{over}.5");
        assert!(
            ContextValue::from_text(&decimal).is_ok(),
            "float() has no limit"
        );
    }
}
