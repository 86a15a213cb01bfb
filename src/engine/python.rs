//! Python's number coercions and formatting, reproduced exactly where Flagsmith's engine
//! depends on them: `int()`, `float()`, float `repr`, floored modulo and `str()` of values.

use std::fmt::Write as _;
use std::sync::LazyLock;

pub use super::py_int::{PyInt, py_int};
pub use super::py_json::json_str;

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
pub(super) fn ascii_digits(text: &str) -> std::borrow::Cow<'_, str> {
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
pub(super) fn digit_part(text: &str) -> Option<String> {
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
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    prefer_even_digit_on_a_tie(value, &mut digits, exponent);
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

/// Where the float lies exactly halfway between two shortest round-trip candidates, Rust
/// takes the larger magnitude and Python (David Gay's `dtoa`) the one with an even last
/// digit: `686460214833676.25` prints `686460214833676.2` there.
fn prefer_even_digit_on_a_tie(value: f64, digits: &mut String, exponent: i32) {
    let Some(last) = digits.bytes().last().filter(|d| d % 2 == 1) else {
        return;
    };
    let mut lower = digits.clone();
    lower.pop();
    lower.push(char::from(last - 1));
    let candidate: Option<f64> = format!("{lower}e{}", exponent + 1 - lower.len() as i32)
        .parse()
        .ok();
    if candidate != Some(value.abs()) {
        return;
    }
    // A tie only when the float is exactly the midpoint `lower` + 5: compare its exact
    // decimal expansion (at most 767 significant digits).
    let exact = format!("{:.1100e}", value.abs());
    let (exact_mantissa, exact_exponent) = exact.split_once('e').unwrap_or((&exact, "0"));
    let exact_digits: String = exact_mantissa
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let midpoint = format!("{lower}5");
    if exact_exponent.parse() == Ok(exponent) && exact_digits.trim_end_matches('0') == midpoint {
        *digits = lower;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::excessive_precision)] // exact midpoints between two shortest reprs
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
            (686_460_214_833_676.25, "686460214833676.2"),
            (-1_798_053_756_197_171.25, "-1798053756197171.2"),
            (1_733_958_987_590_418.25, "1733958987590418.2"),
            (0.125, "0.125"),
            (5e-324, "5e-324"),
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
}
