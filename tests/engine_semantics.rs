//! Operator-by-operator and quirk-by-quirk checks of the engine against Flagsmith's Python
//! semantics (flagsmith-flag-engine 10.2.0), including edges the shared test data misses.

#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)] // test helpers fail loudly

use burgee::engine::{CompiledEnvironment, EvaluationError};
use burgee::flagsmith::context::EvaluationContext;
use burgee::flagsmith::result::EvaluationResult;
use serde_json::{Value, json};

/// Evaluates a context given as JSON; returns the result JSON or the error.
fn evaluate(context: Value) -> Result<Value, EvaluationError> {
    let context: EvaluationContext = serde_json::from_value(context).expect("valid context");
    let (environment, identity) = context.into_domain();
    let compiled = CompiledEnvironment::compile(&environment);
    let evaluation = compiled.evaluate(identity.as_ref())?;
    Ok(serde_json::to_value(EvaluationResult::from(&evaluation)).unwrap())
}

/// Does a one-condition segment match an identity with these traits?
fn matches_with(condition: Value, traits: Value) -> Result<bool, EvaluationError> {
    let context = json!({
        "environment": {"key": "env", "name": "Production"},
        "identity": {"identifier": "user-1", "traits": traits},
        "features": {},
        "segments": {"1": {"key": "1", "name": "s", "rules": [
            {"type": "ALL", "conditions": [condition]}
        ]}}
    });
    Ok(!evaluate(context)?["segments"]
        .as_array()
        .unwrap()
        .is_empty())
}

fn check(operator: &str, trait_value: Value, value: &str) -> bool {
    matches_with(
        json!({"property": "t", "operator": operator, "value": value}),
        json!({ "t": trait_value }),
    )
    .unwrap()
}

#[test]
fn equal_casts_the_condition_value_to_the_trait_type() {
    assert!(check("EQUAL", json!("beta"), "beta"));
    assert!(!check("EQUAL", json!("Beta"), "beta"));
    assert!(check("EQUAL", json!(30), "30"));
    assert!(
        check("EQUAL", json!("30"), "30"),
        "numeric strings are numbers"
    );
    assert!(check("EQUAL", json!("007"), "7"), "\"007\" normalises to 7");
    assert!(check("EQUAL", json!(7), " 7 "), "int() strips whitespace");
    assert!(check("EQUAL", json!(10), "1_0"), "int() reads underscores");
    assert!(!check("EQUAL", json!(5), "5.0"), "int('5.0') raises");
    assert!(check("EQUAL", json!(1.5), "1.50"));
    assert!(check("EQUAL", json!("1.50"), "1.5"));
    assert!(
        check("EQUAL", json!(1.5), "15e-1"),
        "float() reads exponents"
    );
    assert!(
        check("EQUAL", json!(true), "yes"),
        "any string but False/false is truthy"
    );
    assert!(check("EQUAL", json!(true), "0"));
    assert!(!check("EQUAL", json!(false), "yes"));
    assert!(check("EQUAL", json!(false), "false"));
    assert!(check(
        "EQUAL",
        json!("99999999999999999999999999999999999999999"),
        "99999999999999999999999999999999999999999"
    ));
    assert!(!check(
        "EQUAL",
        json!("99999999999999999999999999999999999999999"),
        "99999999999999999999999999999999999999998"
    ));
}

#[test]
fn not_equal_and_nan() {
    assert!(check("NOT_EQUAL", json!("a"), "b"));
    assert!(!check("NOT_EQUAL", json!("a"), "a"));
    assert!(
        check("NOT_EQUAL", json!(1.0), "nan"),
        "NaN is unequal to everything"
    );
    assert!(!check("EQUAL", json!(1.0), "nan"));
    assert!(
        !check("NOT_EQUAL", json!(5), "five"),
        "a failed cast never matches"
    );
}

#[test]
fn ordering_operators() {
    assert!(
        check("GREATER_THAN", json!("10"), "9"),
        "numeric, not lexicographic"
    );
    assert!(check("GREATER_THAN", json!("b"), "a"));
    assert!(!check("GREATER_THAN", json!("abc"), "abd"));
    assert!(check("GREATER_THAN_INCLUSIVE", json!(5), "5"));
    assert!(check("LESS_THAN", json!(-2.5), "-2"));
    assert!(check("LESS_THAN_INCLUSIVE", json!(2.0), "2"));
    assert!(check("LESS_THAN", json!(false), "true"), "False < True");
    assert!(check(
        "GREATER_THAN",
        json!("99999999999999999999999999999999999999999"),
        "1"
    ));
    assert!(check(
        "LESS_THAN",
        json!("-99999999999999999999999999999999999999999"),
        "-1"
    ));
}

#[test]
fn semver_comparisons_use_precedence() {
    assert!(check("GREATER_THAN", json!("1.10.0"), "1.9.0:semver"));
    assert!(check("LESS_THAN", json!("1.0.0-rc.1"), "1.0.0:semver"));
    assert!(
        check("EQUAL", json!("1.0.0+build.1"), "1.0.0+build.2:semver"),
        "build ignored"
    );
    assert!(
        !check("EQUAL", json!("1.0"), "1.0.0:semver"),
        "1.0 is a float, not a version"
    );
    assert!(!check("GREATER_THAN", json!("banana"), "1.0.0:semver"));
    assert!(!check("CONTAINS", json!("1.0.0"), "1.0.0:semver"));
}

#[test]
fn contains_and_not_contains_need_strings() {
    assert!(check("CONTAINS", json!("hello world"), "lo w"));
    assert!(!check("CONTAINS", json!("hello"), "xyz"));
    assert!(
        !check("CONTAINS", json!(12345), "23"),
        "ints do not contain"
    );
    assert!(check("NOT_CONTAINS", json!("hello"), "xyz"));
    assert!(!check("NOT_CONTAINS", json!("hello"), "ell"));
    assert!(
        !check("NOT_CONTAINS", json!(12345), "9"),
        "non-strings never match"
    );
    assert!(
        !matches_with(
            json!({"property": "missing", "operator": "NOT_CONTAINS", "value": "x"}),
            json!({})
        )
        .unwrap()
    );
}

#[test]
fn regex_is_python_re_match() {
    assert!(check("REGEX", json!("hello"), "h.l"));
    assert!(
        !check("REGEX", json!("hello"), "ell"),
        "anchored at the start"
    );
    assert!(
        check("REGEX", json!("hello\n"), "hello$"),
        "$ before a final newline"
    );
    assert!(
        check("REGEX", json!(true), "True"),
        "bools print as True/False"
    );
    assert!(
        check("REGEX", json!(1e16), r"1e\+16"),
        "floats print in repr"
    );
    assert!(
        check("REGEX", json!("007"), "7"),
        "\"007\" is the int 7 first"
    );
    assert!(!check("REGEX", json!("007"), "0"));
    let error = matches_with(
        json!({"property": "t", "operator": "REGEX", "value": "(?<=a)b"}),
        json!({"t": "ab"}),
    )
    .unwrap_err();
    assert_eq!(error.code(), "invalid_regex");
    assert!(error.to_string().contains("segment \"s\""), "{error}");
    // Flagsmith only compiles the pattern when there is a value to match.
    assert!(
        !matches_with(
            json!({"property": "t", "operator": "REGEX", "value": "(?<=a)b"}),
            json!({})
        )
        .unwrap()
    );
}

#[test]
fn modulo_is_floored_and_raises_on_zero() {
    assert!(check("MODULO", json!(-1), "3|2"));
    assert!(check("MODULO", json!(4), "-3|-2"));
    assert!(check("MODULO", json!(5.5), "2|1.5"));
    assert!(check("MODULO", json!(true), "2|1"), "bool counts as int");
    assert!(check("MODULO", json!("10"), "5|0"));
    assert!(!check("MODULO", json!("ten"), "5|0"));
    assert!(!check("MODULO", json!(10), "5"));
    assert!(!check("MODULO", json!(10), "5|0|1"));
    assert!(!check("MODULO", json!(10), ""));
    let error = matches_with(
        json!({"property": "t", "operator": "MODULO", "value": "0|0"}),
        json!({"t": 4}),
    )
    .unwrap_err();
    assert_eq!(error.code(), "modulo_by_zero");
    assert!(
        !check("MODULO", json!("x"), "0|0"),
        "non-numbers never reach the division"
    );
}

#[test]
fn in_follows_python_membership() {
    assert!(check("IN", json!("b"), "a,b,c"));
    assert!(!check("IN", json!("b"), "a, b, c"), "no trimming");
    assert!(check("IN", json!(" b"), "a, b, c"));
    assert!(check("IN", json!(2), "1,2,3"));
    assert!(
        check("IN", json!("2"), "[1, 2, 3]"),
        "JSON lists, elements str()-ed"
    );
    assert!(check("IN", json!("True"), "[true]"));
    assert!(!check("IN", json!(true), "True,true"), "bools never match");
    assert!(!check("IN", json!(1.5), "1.5"), "floats never match");
    assert!(
        !check("IN", json!("007"), "007"),
        "\"007\" becomes 7, printed \"7\""
    );
    assert!(
        check("IN", json!("[a"), "[a,b"),
        "bad JSON falls back to CSV"
    );
    assert!(
        matches_with(
            json!({"property": "t", "operator": "IN", "value": ["x", "y"]}),
            json!({"t": "y"})
        )
        .unwrap()
    );
    assert!(
        !matches_with(
            json!({"property": "t", "operator": "IN", "value": "x"}),
            json!({})
        )
        .unwrap()
    );
}

#[test]
fn is_set_and_is_not_set() {
    assert!(check("IS_SET", json!("x"), ""));
    assert!(!check("IS_SET", json!(null), ""), "a null trait is not set");
    assert!(check("IS_NOT_SET", json!(null), ""));
    assert!(
        matches_with(
            json!({"property": "other", "operator": "IS_NOT_SET", "value": ""}),
            json!({"t": 1})
        )
        .unwrap()
    );
}

#[test]
fn unknown_operators_never_match() {
    assert!(!check("LIKE", json!("x"), "x"));
}

fn split_matches(condition: Value, identity: Value) -> bool {
    let context = json!({
        "environment": {"key": "env", "name": "Production"},
        "identity": identity,
        "segments": {"7": {"key": "7", "name": "split", "rules": [
            {"type": "ALL", "conditions": [condition]}
        ]}}
    });
    !evaluate(context).unwrap()["segments"]
        .as_array()
        .unwrap()
        .is_empty()
}

#[test]
fn percentage_split_hashes_segment_key_and_identity_key() {
    for identifier in ["a", "b", "c", "d", "e", "f"] {
        let key = format!("env_{identifier}");
        let percentage = burgee::engine::hashed_percentage(&["7", &key]);
        for threshold in [0.0, 25.0, 50.0, 75.0, 100.0] {
            let matched = split_matches(
                json!({"property": "", "operator": "PERCENTAGE_SPLIT", "value": threshold.to_string()}),
                json!({"identifier": identifier}),
            );
            assert_eq!(
                matched,
                percentage <= threshold,
                "{identifier} at {threshold}"
            );
        }
    }
    // A property splits on that value instead; a missing one never matches.
    let percentage = burgee::engine::hashed_percentage(&["7", "42"]);
    assert_eq!(
        split_matches(
            json!({"property": "org", "operator": "PERCENTAGE_SPLIT", "value": "50"}),
            json!({"identifier": "x", "traits": {"org": "42"}})
        ),
        percentage <= 50.0
    );
    assert!(!split_matches(
        json!({"property": "org", "operator": "PERCENTAGE_SPLIT", "value": "100"}),
        json!({"identifier": "x", "traits": {}})
    ));
    assert!(!split_matches(
        json!({"property": "", "operator": "PERCENTAGE_SPLIT", "value": "abc"}),
        json!({"identifier": "x"})
    ));
}

fn jsonpath_matches(property: &str, value: &str, identity: Value) -> bool {
    let context = json!({
        "environment": {"key": "env", "name": "Production"},
        "identity": identity,
        "features": {"banner": {"key": "1", "name": "banner", "enabled": true, "value": "blue"}},
        "segments": {"1": {"key": "1", "name": "s", "rules": [
            {"type": "ALL", "conditions": [{"property": property, "operator": "EQUAL", "value": value}]}
        ]}}
    });
    !evaluate(context).unwrap()["segments"]
        .as_array()
        .unwrap()
        .is_empty()
}

#[test]
fn jsonpath_properties() {
    let user = json!({"identifier": "u1", "traits": {"plan": "pro", "my-trait": "x"}});
    assert!(jsonpath_matches(
        "$.identity.identifier",
        "u1",
        user.clone()
    ));
    assert!(
        jsonpath_matches("$.identity.key", "env_u1", user.clone()),
        "composite key"
    );
    assert!(jsonpath_matches(
        "$.environment.name",
        "Production",
        user.clone()
    ));
    assert!(jsonpath_matches(
        "$.identity.traits.plan",
        "pro",
        user.clone()
    ));
    assert!(jsonpath_matches(
        "$.identity.traits['plan']",
        "pro",
        user.clone()
    ));
    assert!(jsonpath_matches(
        "$.features.banner.value",
        "blue",
        user.clone()
    ));
    assert!(
        jsonpath_matches("$..plan", "pro", user.clone()),
        "a general query"
    );
    assert!(
        !jsonpath_matches("$.identity.traits", "pro", user.clone()),
        "objects are no value"
    );
    // Not valid JSONPath: only a trait with that literal name counts.
    assert!(!jsonpath_matches("$.identity.traits.my-trait", "x", user));
    assert!(jsonpath_matches(
        "$.identity.traits.my-trait",
        "x",
        json!({"identifier": "u1", "traits": {"$.identity.traits.my-trait": "x"}})
    ));
    // Without an identity, identity paths are unset.
    let context = json!({
        "environment": {"key": "env", "name": "Production"},
        "segments": {"1": {"key": "1", "name": "s", "rules": [{"type": "ALL", "conditions": [
            {"property": "$.identity.identifier", "operator": "IS_NOT_SET", "value": ""},
            {"property": "$.environment.name", "operator": "EQUAL", "value": "Production"}
        ]}]}}
    });
    assert_eq!(
        evaluate(context).unwrap()["segments"],
        json!([{"name": "s"}]),
        "segments apply without identity"
    );
}

fn overrides_context(first: Value, second: Value) -> Value {
    let rule = json!([{"type": "ALL", "conditions": [{"property": "t", "operator": "IS_SET", "value": ""}]}]);
    json!({
        "environment": {"key": "env", "name": "Production"},
        "identity": {"identifier": "u", "traits": {"t": 1}},
        "features": {"f": {"key": "1", "name": "f", "enabled": false, "value": "default"}},
        "segments": {
            "1": {"key": "1", "name": "first", "rules": rule, "overrides": [first]},
            "2": {"key": "2", "name": "second", "rules": rule, "overrides": [second]}
        }
    })
}

fn override_state(value: &str, priority: Option<Value>) -> Value {
    let mut state = json!({"key": "9", "name": "f", "enabled": true, "value": value});
    if let Some(priority) = priority {
        state["priority"] = priority;
    }
    state
}

#[test]
fn override_priorities() {
    let winner = |a: Option<Value>, b: Option<Value>| -> Result<String, EvaluationError> {
        let result = evaluate(overrides_context(
            override_state("first", a),
            override_state("second", b),
        ))?;
        Ok(result["flags"]["f"]["value"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        winner(Some(json!(1)), Some(json!(0))).unwrap(),
        "second",
        "lower wins"
    );
    assert_eq!(
        winner(Some(json!(0)), Some(json!(0))).unwrap(),
        "first",
        "ties go to the first"
    );
    assert_eq!(
        winner(None, Some(json!(5))).unwrap(),
        "second",
        "absent is +infinity"
    );
    assert_eq!(winner(None, None).unwrap(), "first");
    let error = winner(Some(Value::Null), Some(json!(1))).unwrap_err();
    assert_eq!(error.code(), "null_priority");
    let result = evaluate(overrides_context(
        override_state("first", Some(json!(0))),
        override_state("second", None),
    ))
    .unwrap();
    assert_eq!(
        result["flags"]["f"]["reason"],
        "TARGETING_MATCH; segment=first"
    );
    assert_eq!(
        result["segments"],
        json!([{"name": "first"}, {"name": "second"}])
    );
}

#[test]
fn multivariate_selection() {
    let context = |identity: Value, variants: Value| {
        json!({
            "environment": {"key": "env", "name": "Production"},
            "identity": identity,
            "features": {"mv": {"key": "100", "name": "mv", "enabled": true, "value": "control-value", "variants": variants}}
        })
    };
    let percentage = burgee::engine::hashed_percentage(&["100", "env_u"]);
    let variants = json!([
        {"value": "b", "weight": 100.0 - percentage.floor(), "priority": 2, "key": "variant_b"},
        {"value": "a", "weight": percentage.floor(), "priority": 1}
    ]);
    // Walked by priority: "a" covers [0, floor(p)), so "b" (keyed) is chosen.
    let result = evaluate(context(json!({"identifier": "u"}), variants)).unwrap();
    assert_eq!(result["flags"]["mv"]["value"], "b");
    assert_eq!(result["flags"]["mv"]["variant"], "variant_b");
    // Weights that cover nothing: the control value and variant "control".
    let result = evaluate(context(
        json!({"identifier": "u"}),
        json!([{"value": "a", "weight": 0, "priority": 1}]),
    ))
    .unwrap();
    assert_eq!(result["flags"]["mv"]["value"], "control-value");
    assert_eq!(result["flags"]["mv"]["variant"], "control");
    assert_eq!(result["flags"]["mv"]["reason"], "DEFAULT");
    // Without an identity there is no split.
    let no_identity = json!({
        "environment": {"key": "env", "name": "Production"},
        "features": {"mv": {"key": "100", "name": "mv", "enabled": true, "value": "c", "variants": [{"value": "a", "weight": 100, "priority": 1}]}}
    });
    let result = evaluate(no_identity).unwrap();
    assert_eq!(result["flags"]["mv"]["variant"], Value::Null);
    assert_eq!(result["flags"]["mv"]["value"], "c");
}

fn rule_tree_matches(rules: Value, traits: Value) -> bool {
    let context = json!({
        "environment": {"key": "env", "name": "Production"},
        "identity": {"identifier": "u", "traits": traits},
        "segments": {"1": {"key": "1", "name": "s", "rules": rules}}
    });
    !evaluate(context).unwrap()["segments"]
        .as_array()
        .unwrap()
        .is_empty()
}

#[test]
fn rule_quantifiers_and_nesting() {
    let a = json!({"property": "a", "operator": "EQUAL", "value": "1"});
    let b = json!({"property": "b", "operator": "EQUAL", "value": "1"});
    let traits = json!({"a": 1, "b": 2});
    assert!(!rule_tree_matches(
        json!([{"type": "ALL", "conditions": [a, b]}]),
        traits.clone()
    ));
    assert!(rule_tree_matches(
        json!([{"type": "ANY", "conditions": [a, b]}]),
        traits.clone()
    ));
    assert!(!rule_tree_matches(
        json!([{"type": "NONE", "conditions": [a, b]}]),
        traits.clone()
    ));
    assert!(rule_tree_matches(
        json!([{"type": "NONE", "conditions": [b]}]),
        traits.clone()
    ));
    assert!(
        rule_tree_matches(json!([{"type": "ALL", "conditions": []}]), traits.clone()),
        "empty is true"
    );
    assert!(
        !rule_tree_matches(json!([]), traits.clone()),
        "no rules never matches"
    );
    assert!(rule_tree_matches(
        json!([{"type": "ALL", "rules": [{"type": "ANY", "conditions": [a, b]}, {"type": "NONE", "conditions": [b]}]}]),
        traits.clone()
    ));
    assert!(
        rule_tree_matches(
            json!([{"type": "ANY", "rules": [{"type": "ALL", "conditions": [b]}, {"type": "ALL", "conditions": [a]}]}]),
            traits.clone()
        ),
        "sub-rules use the rule's quantifier"
    );
    // A deep tree.
    let mut rule = json!({"type": "ALL", "conditions": [a]});
    for _ in 0..50 {
        rule = json!({"type": "ALL", "rules": [rule]});
    }
    assert!(rule_tree_matches(json!([rule]), traits));
}

#[test]
fn composite_identity_key_when_the_context_gives_none() {
    let context = json!({
        "environment": {"key": "envkey", "name": "Production"},
        "identity": {"identifier": "alice"},
        "segments": {"1": {"key": "1", "name": "s", "rules": [{"type": "ALL", "conditions": [
            {"property": "$.identity.key", "operator": "EQUAL", "value": "envkey_alice"}
        ]}]}}
    });
    assert_eq!(
        evaluate(context).unwrap()["segments"],
        json!([{"name": "s"}])
    );
}

// Cases written as JSON text (integers beyond 64 bits), and the order in which evaluation
// reaches failing conditions.
#[path = "engine_semantics/exact_numbers.rs"]
mod exact_numbers;
#[path = "engine_semantics/reached_errors.rs"]
mod reached_errors;
#[path = "engine_semantics/text_context.rs"]
mod text_context;
