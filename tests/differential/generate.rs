//! Random evaluation contexts, deterministic for a seed: every operator, operands Python casts
//! in surprising ways, integers beyond 64 bits, special floats, booleans and nulls, invalid
//! regular expressions, `MODULO` by zero and nested `ALL`/`ANY`/`NONE` rules.
//!
//! Regular expressions use only syntax both engines read alike; Python-only syntax
//! (look-around, back-references) is refused when written (compat §7.4), so it is not made.

use serde_json::{Map, Value, json};

use super::values::scalar;

/// SplitMix64: small, fast and the same on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with the given chance in percent.
    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub(super) fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    pub(super) fn digits(&mut self, count: usize) -> String {
        let mut out = String::with_capacity(count);
        out.push(char::from(b'1' + self.below(9) as u8));
        for _ in 1..count {
            out.push(char::from(b'0' + self.below(10) as u8));
        }
        out
    }
}

/// Marks an integer literal inside a string until [`to_json_text`] writes it as a bare number
/// (a `serde_json::Value` cannot hold integers beyond `u64`).
const BIG_MARK: &str = "\u{1}big:";

pub(super) fn big(digits: &str) -> Value {
    Value::String(format!("{BIG_MARK}{digits}"))
}

/// The JSON text of a generated context, with marked integers written out digit for digit.
pub fn to_json_text(value: &Value) -> String {
    let text = value.to_string();
    let marker = "\"\\u0001big:";
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find(marker) {
        out.push_str(&rest[..at]);
        let after = &rest[at + marker.len()..];
        let end = after.find('"').unwrap_or(after.len());
        out.push_str(&after[..end]);
        rest = after.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

const TRAIT_NAMES: &[&str] = &["a", "b", "n", "s", "t"];
const FEATURE_NAMES: &[&str] = &["f1", "f2", "f3"];

/// One random evaluation context.
pub fn context(rng: &mut Rng) -> Value {
    let mut context = Map::new();
    context.insert(
        "environment".into(),
        json!({"key": rng.pick(&["env-key", "k1"]), "name": rng.pick(&["Production", "prod", "123", "1.5"])}),
    );
    if rng.chance(92) {
        context.insert("identity".into(), identity(rng));
    }
    let feature_count = 1 + rng.below(FEATURE_NAMES.len());
    let features: Map<String, Value> = FEATURE_NAMES[..feature_count]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            (
                (*name).to_owned(),
                feature(rng, name, &format!("{}", 101 + i)),
            )
        })
        .collect();
    context.insert("features".into(), Value::Object(features));
    if rng.chance(95) {
        let segments: Map<String, Value> = (1..=rng.below(5))
            .map(|i| {
                (
                    i.to_string(),
                    segment(rng, i, &FEATURE_NAMES[..feature_count]),
                )
            })
            .collect();
        context.insert("segments".into(), Value::Object(segments));
    }
    Value::Object(context)
}

fn identity(rng: &mut Rng) -> Value {
    let mut identity = Map::new();
    let identifier = rng.pick(&[
        "user-1",
        "007",
        "42",
        "alice",
        "99999999999999999999",
        "1.5",
        "",
    ]);
    identity.insert("identifier".into(), json!(identifier));
    if rng.chance(40) {
        identity.insert(
            "key".into(),
            json!(rng.pick(&["1", "key-x", "32103813", ""])),
        );
    }
    match rng.below(10) {
        0 => {}
        1 => {
            identity.insert("traits".into(), Value::Null);
        }
        _ => {
            let mut traits = Map::new();
            for name in TRAIT_NAMES {
                if rng.chance(70) {
                    traits.insert((*name).to_owned(), scalar(rng));
                }
            }
            if rng.chance(5) {
                traits.insert("$.identity.identifier".into(), scalar(rng));
            }
            identity.insert("traits".into(), Value::Object(traits));
        }
    }
    Value::Object(identity)
}

fn feature(rng: &mut Rng, name: &str, key: &str) -> Value {
    let mut feature = Map::new();
    feature.insert("key".into(), json!(key));
    feature.insert("name".into(), json!(name));
    feature.insert("enabled".into(), json!(rng.chance(50)));
    feature.insert("value".into(), scalar(rng));
    if rng.chance(25) {
        feature.insert("variants".into(), variants(rng));
    }
    if rng.chance(50) {
        feature.insert("metadata".into(), json!({"id": rng.below(100)}));
    }
    Value::Object(feature)
}

fn variants(rng: &mut Rng) -> Value {
    let count = 1 + rng.below(3);
    let variants: Vec<Value> = (0..count)
        .map(|i| {
            let mut variant = Map::new();
            variant.insert("value".into(), scalar(rng));
            variant.insert(
                "weight".into(),
                rng.pick(&[
                    json!(0),
                    json!(10),
                    json!(25),
                    json!(30),
                    json!(33.3),
                    json!(50),
                    json!(50.5),
                    json!(100),
                ]),
            );
            variant.insert(
                "priority".into(),
                rng.pick(&[json!(0), json!(1), json!(2), json!(0.5), json!(i)]),
            );
            if rng.chance(70) {
                variant.insert("key".into(), json!(format!("v{i}")));
            }
            Value::Object(variant)
        })
        .collect();
    Value::Array(variants)
}

fn segment(rng: &mut Rng, index: usize, features: &[&str]) -> Value {
    let mut segment = Map::new();
    segment.insert("key".into(), json!(index.to_string()));
    segment.insert("name".into(), json!(format!("segment-{index}")));
    let rule_count = if rng.chance(10) { 0 } else { 1 + rng.below(2) };
    segment.insert(
        "rules".into(),
        Value::Array((0..rule_count).map(|_| rule(rng, 0)).collect()),
    );
    if rng.chance(70) {
        let mut overrides = Vec::new();
        for name in features {
            if rng.chance(50) {
                overrides.push(segment_override(rng, name, index));
            }
        }
        segment.insert("overrides".into(), Value::Array(overrides));
    }
    if rng.chance(50) {
        segment.insert("metadata".into(), json!({"id": index, "source": "api"}));
    }
    Value::Object(segment)
}

fn segment_override(rng: &mut Rng, name: &str, segment: usize) -> Value {
    let mut state = Map::new();
    state.insert("key".into(), json!(format!("{segment}0{}", rng.below(10))));
    state.insert("name".into(), json!(name));
    state.insert("enabled".into(), json!(rng.chance(50)));
    state.insert("value".into(), scalar(rng));
    match rng.below(10) {
        0..=2 => {}
        3 => {
            // Null priorities raise in Flagsmith once two overrides of a feature compete.
            if rng.chance(30) {
                state.insert("priority".into(), Value::Null);
            }
        }
        _ => {
            state.insert(
                "priority".into(),
                rng.pick(&[json!(-1), json!(0), json!(1), json!(2), json!(0.5)]),
            );
        }
    }
    if rng.chance(15) {
        state.insert("variants".into(), variants(rng));
    }
    Value::Object(state)
}

fn rule(rng: &mut Rng, depth: usize) -> Value {
    let mut node = Map::new();
    node.insert("type".into(), json!(rng.pick(&["ALL", "ANY", "NONE"])));
    if rng.chance(90) {
        let conditions: Vec<Value> = (0..rng.below(4)).map(|_| condition(rng)).collect();
        node.insert("conditions".into(), Value::Array(conditions));
    }
    let sub_rule_chance = [45, 30, 15][depth.min(2)];
    if depth < 3 && rng.chance(sub_rule_chance) {
        let rules: Vec<Value> = (0..1 + rng.below(2))
            .map(|_| rule(rng, depth + 1))
            .collect();
        node.insert("rules".into(), Value::Array(rules));
    }
    Value::Object(node)
}

const PROPERTIES: &[&str] = &[
    "a",
    "b",
    "n",
    "s",
    "t",
    "a",
    "b",
    "n",
    "s",
    "t",
    "missing",
    "$.identity.identifier",
    "$.identity.key",
    "$.environment.name",
    "$.identity.traits.a",
    "$.identity.traits['b']",
];

const OPERATORS: &[&str] = &[
    "EQUAL",
    "NOT_EQUAL",
    "GREATER_THAN",
    "GREATER_THAN_INCLUSIVE",
    "LESS_THAN",
    "LESS_THAN_INCLUSIVE",
    "CONTAINS",
    "NOT_CONTAINS",
    "REGEX",
    "MODULO",
    "IN",
    "PERCENTAGE_SPLIT",
    "IS_SET",
    "IS_NOT_SET",
];

fn condition(rng: &mut Rng) -> Value {
    let operator = if rng.chance(1) {
        rng.pick(&["LIKE", "equal"])
    } else {
        rng.pick(OPERATORS)
    };
    let property = if operator == "PERCENTAGE_SPLIT" && rng.chance(50) {
        ""
    } else {
        rng.pick(PROPERTIES)
    };
    let value = match operator {
        "REGEX" => json!(regex(rng)),
        "MODULO" => json!(rng.pick(&[
            "2|0", "2|1", "3|1", "3|2", "-3|-2", "-3|1", "2|1.5", "10|5", "0.5|0", "1e300|0",
            "inf|5", "nan|0", "0|0", "0|1", "0.0|0", "-0|0", "5", "", "5|0|1", "x|1", "2|x",
            " 2 | 0 ", "1_0|0",
        ])),
        "IN" => in_value(rng),
        "PERCENTAGE_SPLIT" => json!(rng.pick(&[
            "0", "10", "50", "99.9", "100", "33.3", "x", "1e2", "-5", "", " 50 "
        ])),
        "CONTAINS" | "NOT_CONTAINS" => {
            json!(rng.pick(&["ell", "a", "1", "9", "", "hello", "e", "True", "."]))
        }
        "IS_SET" | "IS_NOT_SET" => json!(rng.pick(&["", "x"])),
        _ => json!(rng.pick(&[
            "0",
            "1",
            "-1",
            "2",
            "30",
            "007",
            " 7 ",
            "1_0",
            "+7",
            "5.0",
            "1.5",
            "1.50",
            "15e-1",
            "1e1",
            "1e16",
            "inf",
            "-inf",
            "nan",
            "99999999999999999999",
            "99999999999999999998",
            "100000000000000000000",
            "-99999999999999999999",
            "18446744073709551615",
            "18446744073709551616",
            "9223372036854775807",
            "9223372036854775808",
            "hello",
            "Hello",
            "ell",
            "b",
            "a,b",
            "True",
            "False",
            "false",
            "yes",
            "",
            "None",
            "1.2.3:semver",
            "1.2.4-beta:semver",
            "1.0.0:semver",
            "2.0.0+build:semver",
            "banana:semver",
            "é",
            "١٢",
            "Production",
            "user-1",
            "-0.0",
            "1e+16",
        ])),
    };
    json!({"property": property, "operator": operator, "value": value})
}

/// Patterns neither dialect compiles.
pub const INVALID_REGEXES: &[&str] = &[
    "(",
    "[",
    "a)",
    "*a",
    "+",
    "?",
    "\\",
    "[z-a]",
    "a{2,1}",
    "(?P<n>a)(?P<n>b)",
];

/// Whether some condition of the context can raise: an invalid pattern or a zero divisor.
pub fn has_failing_condition(context: &Value) -> bool {
    match context {
        Value::Object(map) => {
            let failing = match (map.get("operator"), map.get("value")) {
                (Some(Value::String(op)), Some(Value::String(value))) => {
                    (op == "REGEX" && INVALID_REGEXES.contains(&value.as_str()))
                        || (op == "MODULO" && value.split('|').next().is_some_and(is_zero))
                }
                _ => false,
            };
            failing || map.values().any(has_failing_condition)
        }
        Value::Array(items) => items.iter().any(has_failing_condition),
        _ => false,
    }
}

fn is_zero(text: &str) -> bool {
    text.trim().parse::<f64>() == Ok(0.0)
}

fn regex(rng: &mut Rng) -> &'static str {
    if rng.chance(20) {
        return rng.pick(INVALID_REGEXES);
    }
    rng.pick(&[
        "h.l",
        "ell",
        "^h",
        "hello$",
        "[0-9]+",
        "\\d+",
        "-?\\d+$",
        "9{20}",
        "^9{20}$",
        "True",
        "1e\\+16",
        "a|b",
        "(ab)+",
        ".*",
        "[a-z]*\\.?",
        "^$",
        "\\w+",
        "[^0-9]",
        "(?i)HELLO",
        "x*",
        "0\\.30000000000000004",
        "-?0\\.0",
        "[]a]",
        "[[]",
        "\\Aa",
        "b\\Z",
        "\\s",
        "1\\.2\\.\\d",
        "(?P<name>u)ser",
        "é|٣",
        "inf|nan",
        "\\bb",
    ])
}

fn in_value(rng: &mut Rng) -> Value {
    if rng.chance(15) {
        let items = rng.pick(&[
            &["a", "b"][..],
            &["1", "99999999999999999999"],
            &["True", "None", "1.5"],
            &["user-1", "007"],
            &[],
        ]);
        return json!(items);
    }
    json!(rng.pick(&[
        "a,b,c",
        "1,2,3",
        "007",
        "7",
        "True,true",
        "1.5",
        " b",
        "b",
        "",
        "-0",
        "0",
        "99999999999999999999",
        "-99999999999999999999,1",
        "[1, 2, 3]",
        "[\"a\", \"b\"]",
        "[true, null]",
        "[99999999999999999999]",
        "[1.0, 1e16]",
        "[NaN, Infinity, -Infinity]",
        "[1e400]",
        "[\"x\"",
        "[1,]",
        "[[1], {\"k\": 2}]",
        " [1]",
        "[-0]",
        "user-1,alice",
        "[\"user-1\"]",
        "hello\n,hello",
    ]))
}
