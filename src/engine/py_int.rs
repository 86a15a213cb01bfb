//! Python's `int`: unbounded integers, and `int()` of text with CPython's limit on digits.

use std::cmp::Ordering;
use std::fmt::{self, Write as _};

use crate::model::BigInteger;

use super::python::{ascii_digits, digit_part};

/// CPython's default `sys.get_int_max_str_digits()`: `int()` of text with more digits raises
/// `ValueError` (Python 3.11 and later, and the security releases before).
pub const MAX_STR_DIGITS: usize = 4300;

/// A Python `int`: unbounded. Values that fit an `i128` stay small; others keep their digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PyInt {
    Small(i128),
    /// Outside the `i128` range: sign and decimal digits without leading zeros.
    Big {
        negative: bool,
        digits: Box<str>,
    },
}

impl PyInt {
    /// The exact value of a model integer beyond `i64`.
    pub fn from_big_integer(value: &BigInteger) -> Self {
        Self::from_digits(value.is_negative(), value.magnitude_digits())
    }

    /// Builds from a sign and ASCII digits (leading zeros allowed).
    fn from_digits(negative: bool, digits: &str) -> Self {
        let digits = digits.trim_start_matches('0');
        if digits.is_empty() {
            return Self::Small(0);
        }
        let parsed = digits
            .parse::<i128>()
            .ok()
            .map(|v| if negative { -v } else { v });
        match parsed {
            Some(v) => Self::Small(v),
            None => Self::Big {
                negative,
                digits: digits.into(),
            },
        }
    }

    /// The value as a float, as Python converts it; `None` where Python raises
    /// `OverflowError` (beyond the float range).
    pub fn to_f64(&self) -> Option<f64> {
        match self {
            // i64 converts in hardware; wider values go through the slower 128-bit path.
            Self::Small(v) => Some(i64::try_from(*v).map_or(*v as f64, |v| v as f64)),
            Self::Big { negative, digits } => {
                let magnitude: f64 = digits.parse().ok()?;
                magnitude
                    .is_finite()
                    .then_some(if *negative { -magnitude } else { magnitude })
            }
        }
    }

    /// The value as a Python `str()` would print it, written into `out`.
    pub fn write_to(&self, out: &mut String) {
        match self {
            Self::Small(v) => {
                let _ = write!(out, "{v}");
            }
            Self::Big { negative, digits } => {
                if *negative {
                    out.push('-');
                }
                out.push_str(digits);
            }
        }
    }

    /// Small integers as `i128`, for fast set lookups.
    pub fn as_small(&self) -> Option<i128> {
        match self {
            Self::Small(v) => Some(*v),
            Self::Big { .. } => None,
        }
    }
}

impl fmt::Display for PyInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.write_to(&mut s);
        f.write_str(&s)
    }
}

impl Ord for PyInt {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Small(a), Self::Small(b)) => a.cmp(b),
            // A big value lies beyond every small one on its side of zero.
            (Self::Big { negative, .. }, Self::Small(_)) => {
                if *negative {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (Self::Small(_), Self::Big { .. }) => other.cmp(self).reverse(),
            (
                Self::Big {
                    negative: na,
                    digits: da,
                },
                Self::Big {
                    negative: nb,
                    digits: db,
                },
            ) => match (na, nb) {
                (false, true) => Ordering::Greater,
                (true, false) => Ordering::Less,
                _ => {
                    let magnitude = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
                    if *na { magnitude.reverse() } else { magnitude }
                }
            },
        }
    }
}

impl PartialOrd for PyInt {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Python's `int(text)` in base 10; `None` where Python raises `ValueError` (which includes
/// text of more than [`MAX_STR_DIGITS`] digits).
pub fn py_int(text: &str) -> Option<PyInt> {
    // Fast path: plain ASCII digits with an optional sign, as stored traits mostly are.
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if !unsigned.is_empty() && unsigned.len() <= 38 && unsigned.bytes().all(|b| b.is_ascii_digit())
    {
        // At most 38 digits: always within i128.
        let magnitude = unsigned
            .bytes()
            .fold(0i128, |n, b| n * 10 + i128::from(b - b'0'));
        return Some(PyInt::Small(if negative { -magnitude } else { magnitude }));
    }
    let text = ascii_digits(text);
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, &text[..]),
    };
    let digits = digit_part(rest)?;
    if digits.len() > MAX_STR_DIGITS {
        return None;
    }
    Some(PyInt::from_digits(negative, &digits))
}
