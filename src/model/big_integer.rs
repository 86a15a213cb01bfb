//! Integers beyond `i64`. JSON allows integers of any length and Flagsmith's engine (Python)
//! keeps them exact, so Burgee keeps their decimal digits rather than rounding to a float.

use std::fmt;

/// An integer outside the `i64` range, held as canonical decimal text: an optional `-`, then
/// digits without leading zeros. Values that fit an `i64` are never built as this type (see
/// [`super::Scalar::integer_from_text`]), so each integer has one representation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BigInteger(Box<str>);

impl BigInteger {
    /// Builds from a sign and ASCII digits already known to be canonical and beyond `i64`.
    pub(super) fn from_canonical(negative: bool, digits: &str) -> Self {
        let mut text = String::with_capacity(digits.len() + 1);
        if negative {
            text.push('-');
        }
        text.push_str(digits);
        Self(text.into_boxed_str())
    }

    pub fn is_negative(&self) -> bool {
        self.0.starts_with('-')
    }

    /// The decimal digits of the magnitude.
    pub fn magnitude_digits(&self) -> &str {
        self.0.trim_start_matches('-')
    }

    /// The decimal text with its sign, as Python's `str(int)` prints it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The nearest float (infinite beyond the float range), for lossy JSON forms.
    pub fn to_f64_lossy(&self) -> f64 {
        self.0.parse().unwrap_or(f64::NAN)
    }
}

impl From<u64> for BigInteger {
    /// Only meant for values above `i64::MAX`; smaller ones are still exact, just not canonical
    /// in the sense of [`super::Scalar`] (which keeps them as `Integer`).
    fn from(value: u64) -> Self {
        Self(value.to_string().into_boxed_str())
    }
}

impl fmt::Display for BigInteger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for BigInteger {
    /// A JSON number with every digit; other formats get the decimal text.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if !serializer.is_human_readable() {
            return serializer.serialize_str(&self.0);
        }
        match serde_json::value::RawValue::from_string(self.0.to_string()) {
            Ok(raw) => raw.serialize(serializer),
            Err(e) => Err(serde::ser::Error::custom(e)),
        }
    }
}
