//! Integers beyond 64 bits and Python's `int()` digit limit, in traits, feature values and
//! `IN` lists read as Python's `json` reads them.

use burgee::engine::CompiledEnvironment;
use burgee::flagsmith::context::EvaluationContext;
use burgee::flagsmith::result::EvaluationResult;

use super::text_context::{check_raw, evaluate_text, rules_context};

#[test]
fn json_integers_beyond_64_bits_stay_exact() {
    let big = "99999999999999999999";
    let holds = |operator, value| check_raw(operator, big, value).unwrap();
    assert!(holds("EQUAL", big));
    assert!(
        !holds("EQUAL", "100000000000000000000"),
        "equal as floats, not as integers"
    );
    assert!(holds("NOT_EQUAL", "100000000000000000000"));
    assert!(holds("GREATER_THAN", "99999999999999999998"));
    assert!(holds("LESS_THAN_INCLUSIVE", big));
    assert!(!holds("GREATER_THAN", big));
    assert!(
        holds("IN", "1,99999999999999999999"),
        "str() gives every digit"
    );
    assert!(!holds("IN", "1e+20"));
    assert!(holds("REGEX", "^9{20}$"));
    assert!(!holds("REGEX", "1e"));
    assert!(!holds("CONTAINS", "99"), "an integer, not a string");
    assert!(holds("MODULO", "2|0"), "float(int) % 2.0");
    for threshold in ["10", "50", "90"] {
        assert_eq!(
            holds("PERCENTAGE_SPLIT", threshold),
            check_raw("PERCENTAGE_SPLIT", &format!("\"{big}\""), threshold).unwrap(),
            "hashes str(int), as for the numeric string"
        );
    }
    let negative = "-99999999999999999999";
    assert!(check_raw("LESS_THAN", negative, "-99999999999999999998").unwrap());
    assert!(check_raw("IN", negative, negative).unwrap());
    // Between i64::MAX and u64::MAX.
    let u64_max = "18446744073709551615";
    assert!(check_raw("EQUAL", u64_max, u64_max).unwrap());
    assert!(!check_raw("EQUAL", u64_max, "18446744073709551616").unwrap());
    assert!(check_raw("IN", "9223372036854775808", "9223372036854775808").unwrap());
}

#[test]
fn integers_too_large_for_a_float_raise_only_in_modulo() {
    let huge = "9".repeat(400);
    assert!(check_raw("EQUAL", &huge, &huge).unwrap());
    let error = check_raw("MODULO", &huge, "2|0").unwrap_err();
    assert_eq!(error.code(), "integer_overflow");
    assert!(
        !check_raw("MODULO", &huge, "2").unwrap(),
        "a malformed operand never reaches the division"
    );
    let error = check_raw("MODULO", &huge, "0|0").unwrap_err();
    assert!(
        error.to_string().contains("too large"),
        "OverflowError comes before ZeroDivisionError: {error}"
    );
}

#[test]
fn feature_values_beyond_64_bits_are_served_exactly() {
    let context = r#"{"environment": {"key": "env", "name": "Production"},
        "features": {"f": {"key": "1", "name": "f", "enabled": true, "value": 99999999999999999999}}}"#;
    let context: EvaluationContext = serde_json::from_str(context).unwrap();
    let (environment, identity) = context.into_domain();
    let compiled = CompiledEnvironment::compile(&environment);
    let evaluation = compiled.evaluate(identity.as_ref()).unwrap();
    let text = serde_json::to_string(&EvaluationResult::from(&evaluation)).unwrap();
    assert!(text.contains(r#""value":99999999999999999999"#), "{text}");
}

#[test]
fn integer_strings_longer_than_python_reads_raise_when_read() {
    let too_long = format!("\"{}\"", "1".repeat(4301));
    let at_limit = format!("\"{}\"", "1".repeat(4300));
    assert!(check_raw("EQUAL", &at_limit, &"1".repeat(4300)).unwrap());
    let error = check_raw("IS_SET", &too_long, "").unwrap_err();
    assert_eq!(error.code(), "integer_overflow");
    assert!(error.to_string().contains("4301 digits"), "{error}");
    // Flagsmith reads a trait only when a condition on it is evaluated.
    let unread = rules_context(
        r#"[{"type": "ALL", "conditions": [
            {"property": "other", "operator": "IS_SET", "value": ""},
            {"property": "t", "operator": "IS_SET", "value": ""}]}]"#,
        &format!(r#"{{"t": {too_long}}}"#),
    );
    assert!(evaluate_text(&unread).is_ok());
    let in_sub_rule = rules_context(
        r#"[{"type": "ALL",
            "conditions": [{"property": "other", "operator": "IS_SET", "value": ""}],
            "rules": [{"type": "ALL", "conditions": [{"property": "t", "operator": "IS_SET", "value": ""}]}]}]"#,
        &format!(r#"{{"t": {too_long}}}"#),
    );
    assert_eq!(
        evaluate_text(&in_sub_rule).unwrap_err().code(),
        "integer_overflow",
        "sub-rules are evaluated even when the conditions failed"
    );
}

#[test]
fn in_reads_json_lists_as_python_json_does() {
    assert!(check_raw("IN", "99999999999999999999", "[99999999999999999999]").unwrap());
    assert!(check_raw("IN", "\"nan\"", "[NaN]").unwrap(), "NaN literal");
    assert!(check_raw("IN", "\"-inf\"", "[-Infinity]").unwrap());
    assert!(
        check_raw("IN", "\"inf\"", "[1e400]").unwrap(),
        "out of range: inf"
    );
    assert!(check_raw("IN", "0", "[-0]").unwrap());
    assert!(
        check_raw("IN", "\" [1]\"", " [1]").unwrap(),
        "only text starting with [ is JSON"
    );
    assert!(!check_raw("IN", "1", " [1]").unwrap());
}
