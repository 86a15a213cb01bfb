//! Random trait and feature values: integers of every width (beyond 64 bits and beyond the
//! float range included), special and random floats, booleans, nulls and strings that
//! Flagsmith's normalisation reads as numbers, versions or text.

use serde_json::{Value, json};

use super::generate::{Rng, big};

/// A trait or feature value.
pub fn scalar(rng: &mut Rng) -> Value {
    match rng.below(20) {
        0..=2 => json!(rng.below(41) as i64 - 20),
        3 => json!(rng.pick(&[i64::MAX, i64::MIN, 1 << 53, (1 << 53) + 1, 0])),
        4 => json!(rng.pick(&[1u64 << 63, u64::MAX, 10_000_000_000_000_000_000])),
        5 | 6 => {
            let digits = match rng.below(8) {
                0 => "99999999999999999999".to_owned(),
                1 => "18446744073709551616".to_owned(),
                2 => "9".repeat(310),
                n => rng.digits(19 + n * 6),
            };
            let sign = if rng.chance(30) { "-" } else { "" };
            big(&format!("{sign}{digits}"))
        }
        7..=9 => json!(float(rng)),
        10 => json!(rng.chance(50)),
        11 => Value::Null,
        _ => json!(string(rng)),
    }
}

fn float(rng: &mut Rng) -> f64 {
    let specials = [
        -0.0,
        0.0,
        1e16,
        1e-5,
        1.5,
        0.1,
        0.1 + 0.2,
        123_456_789.125,
        1e300,
        -2.5e-7,
        9_007_199_254_740_993.0,
        1e20,
        5.0,
        -3.0,
    ];
    if rng.chance(70) {
        return rng.pick(&specials);
    }
    // Any finite float: random bits, exponent kept finite.
    loop {
        let value = f64::from_bits(rng.next());
        if value.is_finite() {
            return value;
        }
    }
}

fn string(rng: &mut Rng) -> String {
    if rng.chance(2) {
        // Around Python's 4 300-digit limit for int().
        return "1".repeat(rng.pick(&[4300, 4301]));
    }
    rng.pick(&[
        "007",
        "-3",
        "1.50",
        "30",
        "99999999999999999999",
        "-99999999999999999999",
        "-0",
        "0.0",
        "1.5.0",
        "+3",
        "1e3",
        " 3",
        "١",
        "1.2.3",
        "1.2.3-beta.1",
        "2.0.0+build",
        "1.10.0",
        "1.0",
        "hello",
        "Hello",
        "hello\n",
        "ell",
        "a,b",
        "b",
        " b",
        "True",
        "true",
        "False",
        "false",
        "",
        "yes",
        "None",
        "nan",
        "inf",
        "é",
        "٣",
        "x y",
        "[1]",
        "1e+16",
    ])
    .to_owned()
}
