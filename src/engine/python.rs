//! Python's number coercions and formatting, reproduced exactly where Flagsmith's engine
//! depends on them: `int()`, `float()`, float `repr`, floored modulo and `str()` of values.

use std::cmp::Ordering;
use std::fmt::{self, Write as _};
use std::sync::LazyLock;

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

/// Python's `str.isspace()`: Unicode whitespace plus the ASCII separators 0x1C–0x1F.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

static UNICODE_DIGIT: LazyLock<regex::Regex> = LazyLock::new(|| {
    #[allow(clippy::unwrap_used)] // a constant pattern
    regex::Regex::new(r"^\p{Nd}$").unwrap()
});

/// The value of a Unicode decimal digit (category Nd), as Python's `int()` reads it.
///
/// Unicode guarantees Nd digits come in contiguous runs of ten from zero to nine, so the
/// value is the distance from the start of the run, modulo ten.
fn unicode_digit_value(c: char) -> Option<u32> {
    if c.is_ascii_digit() {
        return c.to_digit(10);
    }
    if c.is_ascii() || !is_nd(c) {
        return None;
    }
    let mut offset = 0u32;
    let mut code = u32::from(c);
    while offset < 10 {
        match code.checked_sub(1).and_then(char::from_u32) {
            Some(prev) if is_nd(prev) => {
                offset += 1;
                code -= 1;
            }
            _ => break,
        }
    }
    Some(offset % 10)
}

fn is_nd(c: char) -> bool {
    let mut buf = [0u8; 4];
    UNICODE_DIGIT.is_match(c.encode_utf8(&mut buf))
}

/// Rewrites Unicode digits to ASCII and trims Python whitespace, as `int()`/`float()` do
/// before parsing. Borrows when the text is plain ASCII already.
fn ascii_digits(text: &str) -> std::borrow::Cow<'_, str> {
    let trimmed = text.trim_matches(is_py_space);
    if trimmed.is_ascii() {
        return std::borrow::Cow::Borrowed(trimmed);
    }
    std::borrow::Cow::Owned(
        trimmed
            .chars()
            .map(|c| match unicode_digit_value(c) {
                Some(d) if !c.is_ascii() => char::from_digit(d, 10).unwrap_or(c),
                _ => c,
            })
            .collect(),
    )
}

/// Checks `digit ("_"? digit)*` and returns the digits without underscores.
fn digit_part(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || !bytes[0].is_ascii_digit() || !bytes[bytes.len() - 1].is_ascii_digit() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut previous_underscore = false;
    for &b in bytes {
        match b {
            b'0'..=b'9' => {
                out.push(char::from(b));
                previous_underscore = false;
            }
            b'_' if !previous_underscore => previous_underscore = true,
            _ => return None,
        }
    }
    Some(out)
}

/// Python's `int(text)` in base 10; `None` where Python raises `ValueError`.
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
    Some(PyInt::from_digits(negative, &digits))
}

/// Python's `float(text)`; `None` where Python raises `ValueError`.
pub fn py_float(text: &str) -> Option<f64> {
    let text = ascii_digits(text);
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'-') => (-1.0, &text[1..]),
        Some(b'+') => (1.0, &text[1..]),
        _ => (1.0, &text[..]),
    };
    let lower = rest.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "infinity" => return Some(sign * f64::INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(at) => (&rest[..at], Some(&rest[at + 1..])),
        None => (rest, None),
    };
    let mut literal = String::with_capacity(rest.len() + 1);
    match mantissa.split_once('.') {
        Some((int_part, frac_part)) => {
            if int_part.is_empty() && frac_part.is_empty() {
                return None;
            }
            if !int_part.is_empty() {
                literal.push_str(&digit_part(int_part)?);
            }
            literal.push('.');
            if !frac_part.is_empty() {
                literal.push_str(&digit_part(frac_part)?);
            }
        }
        None => literal.push_str(&digit_part(mantissa)?),
    }
    if let Some(exponent) = exponent {
        let (exp_sign, exp_digits) = match exponent.as_bytes().first() {
            Some(b'-') => ("-", &exponent[1..]),
            Some(b'+') => ("", &exponent[1..]),
            _ => ("", exponent),
        };
        literal.push('e');
        literal.push_str(exp_sign);
        literal.push_str(&digit_part(exp_digits)?);
    }
    literal.parse::<f64>().ok().map(|v| sign * v)
}

/// Python's `repr()` of a float: the shortest digits that round-trip, positional for decimal
/// exponents in `-4..16`, scientific otherwise (`1e+16`, `1e-05`), integral values with `.0`.
pub fn float_repr(value: f64) -> String {
    let mut out = String::new();
    write_float_repr(value, &mut out);
    out
}

/// [`float_repr`] into an existing buffer.
pub fn write_float_repr(value: f64, out: &mut String) {
    if value.is_nan() {
        out.push_str("nan");
        return;
    }
    if value.is_infinite() {
        out.push_str(if value > 0.0 { "inf" } else { "-inf" });
        return;
    }
    // `{:e}` prints the shortest round-trip digits: "-1.2345e17", "1e16", "0e0".
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if negative {
        out.push('-');
    }
    if (-4..16).contains(&exponent) {
        if exponent < 0 {
            out.push_str("0.");
            for _ in 0..(-exponent - 1) {
                out.push('0');
            }
            out.push_str(&digits);
        } else {
            let point = exponent as usize + 1;
            if digits.len() <= point {
                out.push_str(&digits);
                for _ in digits.len()..point {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..point]);
                out.push('.');
                out.push_str(&digits[point..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.abs()
        );
    }
}

/// Python's float `%`: the result takes the divisor's sign. `None` for a zero divisor
/// (Python raises `ZeroDivisionError`).
pub fn float_mod(x: f64, y: f64) -> Option<f64> {
    if y == 0.0 {
        return None;
    }
    // Integral operands (the common `user_id % 10`) take an exact integer path: fmod is a
    // slow library call and gives the same result for them.
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if x.fract() == 0.0 && y.fract() == 0.0 && x.abs() < EXACT && y.abs() < EXACT {
        let (a, b) = (x as i64, y as i64);
        let r = a % b;
        let floored = if r != 0 && ((r < 0) != (b < 0)) {
            r + b
        } else {
            r
        };
        return Some(if floored == 0 {
            0.0f64.copysign(y)
        } else {
            floored as f64
        });
    }
    let m = x % y; // fmod
    Some(if m != 0.0 {
        if (y < 0.0) != (m < 0.0) { m + y } else { m }
    } else {
        0.0f64.copysign(y)
    })
}

/// Python's `str()` of a JSON value, as `str(json.loads(...))` elements print: strings as is,
/// `True`/`False`/`None`, floats in `repr`, containers in Python's own `repr`.
pub fn json_str(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => {
            let mut out = String::new();
            write_json_repr(other, &mut out);
            out
        }
    }
}

fn write_json_repr(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Null => out.push_str("None"),
        serde_json::Value::Bool(true) => out.push_str("True"),
        serde_json::Value::Bool(false) => out.push_str("False"),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => {
                let _ = write!(out, "{i}");
            }
            (None, Some(u)) => {
                let _ = write!(out, "{u}");
            }
            _ => write_float_repr(n.as_f64().unwrap_or(f64::NAN), out),
        },
        serde_json::Value::String(s) => write_str_repr(s, out),
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json_repr(item, out);
            }
            out.push(']');
        }
        serde_json::Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str_repr(key, out);
                out.push_str(": ");
                write_json_repr(item, out);
            }
            out.push('}');
        }
    }
}

/// Python's `repr()` of a string: single quotes unless the text has one and no double quote.
fn write_str_repr(text: &str, out: &mut String) {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        let cases = [
            (1e16, "1e+16"),
            (1e-5, "1e-05"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (1.0, "1.0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-0.0, "-0.0"),
            (0.0001, "0.0001"),
            (123456789012345.6, "123456789012345.6"),
            (9999999999999998.0, "9999999999999998.0"),
            (54.54, "54.54"),
            (30.0, "30.0"),
            (-2.5e-7, "-2.5e-07"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (1e300, "1e+300"),
        ];
        for (value, expected) in cases {
            assert_eq!(float_repr(value), expected, "repr of {value:e}");
        }
    }

    #[test]
    fn py_int_accepts_what_python_accepts() {
        assert_eq!(py_int(" 12 "), Some(PyInt::Small(12)));
        assert_eq!(py_int("1_0"), Some(PyInt::Small(10)));
        assert_eq!(py_int("+7"), Some(PyInt::Small(7)));
        assert_eq!(py_int("-007"), Some(PyInt::Small(-7)));
        assert_eq!(
            py_int("٣"),
            Some(PyInt::Small(3)),
            "Arabic-Indic digit three"
        );
        assert_eq!(py_int("１２"), Some(PyInt::Small(12)), "full-width digits");
        for bad in ["", "1__0", "_1", "1_", "5.0", "1e3", "0x10", "- 1", "١a"] {
            assert_eq!(py_int(bad), None, "int({bad:?}) raises");
        }
        let big = py_int("99999999999999999999999999999999999999999").unwrap();
        assert!(matches!(
            big,
            PyInt::Big {
                negative: false,
                ..
            }
        ));
        assert!(big > PyInt::Small(i128::MAX));
        assert!(
            py_int("-99999999999999999999999999999999999999999").unwrap() < PyInt::Small(i128::MIN)
        );
        assert_eq!(big.to_string(), "99999999999999999999999999999999999999999");
    }

    #[test]
    fn py_float_accepts_what_python_accepts() {
        assert_eq!(py_float("1e1"), Some(10.0));
        assert_eq!(py_float(" 1.5 "), Some(1.5));
        assert_eq!(py_float("1_000.5"), Some(1000.5));
        assert_eq!(py_float("1."), Some(1.0));
        assert_eq!(py_float(".5"), Some(0.5));
        assert_eq!(py_float("-Infinity"), Some(f64::NEG_INFINITY));
        assert!(py_float("NaN").unwrap().is_nan());
        for bad in ["", ".", "e5", "1e", "1_.5", "1.5.5", "0x1p3", "in f", "1 0"] {
            assert_eq!(py_float(bad), None, "float({bad:?}) raises");
        }
    }

    #[test]
    fn float_mod_is_floored() {
        assert_eq!(float_mod(-1.0, 3.0), Some(2.0));
        assert_eq!(float_mod(4.0, -3.0), Some(-2.0));
        assert_eq!(float_mod(5.5, 2.0), Some(1.5));
        assert_eq!(float_mod(1.0, 0.0), None);
        assert_eq!(float_mod(-3.0, 3.0).map(f64::is_sign_positive), Some(true));
        assert_eq!(float_mod(3.0, -3.0).map(f64::is_sign_negative), Some(true));
        assert_eq!(float_mod(-7.0, -3.0), Some(-1.0));
        assert_eq!(float_mod(7.0, -3.0), Some(-2.0));
        assert_eq!(
            float_mod(1e300, 7.0),
            Some(1e300 % 7.0),
            "beyond 2^53: the float path"
        );
        assert_eq!(float_mod(5.0, f64::INFINITY), Some(5.0));
        assert_eq!(float_mod(-5.0, f64::INFINITY), Some(f64::INFINITY));
    }

    #[test]
    fn json_str_matches_python_str() {
        let value: serde_json::Value =
            serde_json::from_str(r#"[1, 1.0, true, null, "a", ["x", 2], {"k": "it's"}]"#).unwrap();
        let items: Vec<String> = value.as_array().unwrap().iter().map(json_str).collect();
        assert_eq!(
            items,
            [
                "1",
                "1.0",
                "True",
                "None",
                "a",
                "['x', 2]",
                "{'k': \"it's\"}"
            ]
        );
    }
}
