//! `burgee evaluate`, run as the real binary.

#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)] // test helpers fail loudly

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn burgee(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_burgee"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let text = stdin.to_owned();
    let writer = std::thread::spawn(move || input.write_all(text.as_bytes()));
    let output = child.wait_with_output().unwrap();
    // A process that exits before reading its input (bad arguments) closes the pipe early.
    if let Err(error) = writer.join().unwrap() {
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
    }
    output
}

fn lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn context(identifier: &str, plan: &str) -> Value {
    json!({
        "environment": {"key": "env", "name": "Production"},
        "identity": {"identifier": identifier, "traits": {"plan": plan}},
        "features": {
            "banner": {"key": "10", "name": "banner", "enabled": false, "value": "off", "metadata": {"id": 1}},
            "theme": {"key": "11", "name": "theme", "enabled": true, "value": "light",
                      "variants": [{"value": "dark", "weight": 50, "priority": 1, "key": "dark"}]}
        },
        "segments": {"3": {"key": "3", "name": "pro users", "rules": [
            {"type": "ALL", "conditions": [{"property": "plan", "operator": "EQUAL", "value": "pro"}]}
        ], "overrides": [{"key": "12", "name": "banner", "enabled": true, "value": "on", "priority": 0}]}}
    })
}

#[test]
fn one_document_gives_one_result_line() {
    let output = burgee(
        &["evaluate", "--context", "-"],
        &serde_json::to_string_pretty(&context("u1", "pro")).unwrap(),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results = lines(&output);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["flags"]["banner"]["value"], "on");
    assert_eq!(
        results[0]["flags"]["banner"]["reason"],
        "TARGETING_MATCH; segment=pro users"
    );
    assert_eq!(
        results[0]["flags"]["banner"]["metadata"],
        Value::Null,
        "the override has no metadata"
    );
    assert_eq!(results[0]["segments"], json!([{"name": "pro users"}]));
}

#[test]
fn json_lines_give_one_line_each_and_errors_in_place() {
    let mut input = String::new();
    for i in 0..10_000 {
        input.push_str(
            &serde_json::to_string(&context(
                &format!("user-{i}"),
                if i % 2 == 0 { "pro" } else { "free" },
            ))
            .unwrap(),
        );
        input.push('\n');
        if i == 5_000 {
            input.push_str("{not json\n");
            input.push_str("{\"environment\": {\"key\": 1}}\n");
        }
    }
    let started = std::time::Instant::now();
    let output = burgee(&["evaluate", "--context", "-"], &input);
    eprintln!("10 002 contexts evaluated in {:?}", started.elapsed());
    assert_eq!(
        output.status.code(),
        Some(1),
        "a failed context makes the exit status 1"
    );
    let results = lines(&output);
    assert_eq!(results.len(), 10_002);
    assert_eq!(results[5_001]["error"]["code"], "invalid_json");
    assert_eq!(results[5_002]["error"]["code"], "invalid_context");
    assert_eq!(results[0]["flags"]["banner"]["value"], "on");
    assert_eq!(results[1]["flags"]["banner"]["value"], "off");
    let dark = results
        .iter()
        .filter(|r| r["flags"]["theme"]["variant"] == "dark")
        .count();
    assert!(
        (4_500..5_500).contains(&dark),
        "about half in the 50% variant: {dark}"
    );
}

#[test]
fn engine_errors_are_reported_as_json() {
    let mut bad = context("u1", "pro");
    bad["segments"]["3"]["rules"][0]["conditions"][0] =
        json!({"property": "plan", "operator": "REGEX", "value": "(?!x)"});
    let output = burgee(&["evaluate", "--context", "-"], &bad.to_string());
    assert_eq!(output.status.code(), Some(1));
    let error = &lines(&output)[0]["error"];
    assert_eq!(error["code"], "invalid_regex");
    assert_eq!(error["details"]["segment"]["name"], "pro users");
    assert_eq!(error["details"]["rule"], "rules[0]");
    assert_eq!(error["details"]["condition"], 0);
}

#[test]
fn explain_says_what_matched() {
    let output = burgee(
        &["evaluate", "--context", "-", "--explain"],
        &context("u1", "pro").to_string(),
    );
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("segment \"pro users\" (key 3):"), "{text}");
    assert!(
        text.contains("[yes] plan EQUAL \"pro\"   (context value: \"pro\")"),
        "{text}"
    );
    assert!(text.contains("=> segment MATCHED"), "{text}");
    assert!(text.contains("banner: enabled=true value=\"on\""), "{text}");
}

fn document() -> Value {
    json!({
        "id": 1, "api_key": "client-key", "name": "Production",
        "project": {
            "id": 2, "name": "Web", "hide_disabled_flags": false,
            "organisation": {"id": 3, "name": "Acme", "feature_analytics": false, "stop_serving_flags": false, "persist_trait_data": true},
            "segments": [{"id": 7, "name": "adults", "feature_states": [
                {"feature": {"id": 10, "name": "beer", "type": "STANDARD"}, "enabled": true, "feature_state_value": "cold",
                 "django_id": 101, "featurestate_uuid": "00000000-0000-0000-0000-000000000001", "feature_segment": {"priority": 0},
                 "multivariate_feature_state_values": []}],
                "rules": [{"type": "ALL", "conditions": [], "rules": [{"type": "ANY", "rules": [], "conditions": [
                    {"operator": "GREATER_THAN_INCLUSIVE", "property_": "age", "value": "18"}]}]}]}]
        },
        "feature_states": [
            {"feature": {"id": 10, "name": "beer", "type": "STANDARD"}, "enabled": false, "feature_state_value": null,
             "django_id": 100, "featurestate_uuid": "00000000-0000-0000-0000-000000000002", "feature_segment": null,
             "multivariate_feature_state_values": []}
        ],
        "identity_overrides": [{"identifier": "vip", "identity_features": [
            {"feature": {"id": 10, "name": "beer", "type": "STANDARD"}, "enabled": true, "feature_state_value": "free",
             "django_id": null, "featurestate_uuid": "00000000-0000-0000-0000-000000000003", "feature_segment": null,
             "multivariate_feature_state_values": []}]}]
    })
}

#[test]
fn documents_evaluate_with_identity_and_typed_traits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("env.json");
    std::fs::write(&path, document().to_string()).unwrap();
    let path = path.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["evaluate", "--document", path];
        args.extend_from_slice(extra);
        let output = burgee(&args, "");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        lines(&output).remove(0)
    };
    assert_eq!(
        run(&["--identity", "kid", "--trait", "age=12"])["flags"]["beer"]["enabled"],
        false
    );
    let adult = run(&["--identity", "adult", "--trait", "age=21"]);
    assert_eq!(adult["flags"]["beer"]["value"], "cold");
    assert_eq!(
        adult["segments"][0]["metadata"],
        json!({"id": 7, "source": "api"})
    );
    // '"21"' is a JSON string: still numeric for Flagsmith, which normalises numeric strings.
    assert_eq!(
        run(&["--identity", "adult", "--trait", "age=\"21\""])["flags"]["beer"]["value"],
        "cold"
    );
    // A non-numeric string compares as text, as in Flagsmith: "abc" >= "18".
    assert_eq!(
        run(&["--identity", "odd", "--trait", "age=abc"])["flags"]["beer"]["enabled"],
        true
    );
    assert_eq!(
        run(&["--identity", "odd", "--trait", "age=1.5"])["flags"]["beer"]["enabled"],
        false
    );
    let vip = run(&["--identity", "vip"]);
    assert_eq!(vip["flags"]["beer"]["value"], "free");
    assert_eq!(
        vip["flags"]["beer"]["reason"],
        "TARGETING_MATCH; segment=identity_overrides"
    );
    // No identity: environment defaults only.
    let defaults = run(&[]);
    assert_eq!(defaults["flags"]["beer"]["enabled"], false);
    assert_eq!(defaults["segments"], json!([]));
}

#[test]
fn conformance_case_files_are_accepted_as_input() {
    let Some(data) = common::engine_test_data() else {
        return;
    };
    let path =
        data.join("test_cases/test_multivariate__segment_override__expected_allocation.jsonc");
    let text = common::strip_json_comments(&std::fs::read_to_string(path).unwrap());
    let case: Value = serde_json::from_str(&text).unwrap();
    let output = burgee(&["evaluate", "--context", "-"], &text);
    assert!(output.status.success());
    assert_eq!(lines(&output)[0], case["result"]);
}

#[test]
fn bad_arguments_are_refused_clearly() {
    let output = burgee(
        &[
            "evaluate",
            "--document",
            "/nonexistent/env.json",
            "--identity",
            "x",
        ],
        "",
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("reading /nonexistent/env.json"));
    let output = burgee(&["evaluate", "--context", "-", "--identity", "x"], "{}");
    assert_eq!(output.status.code(), Some(2), "--identity needs --document");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("env.json");
    std::fs::write(&path, document().to_string()).unwrap();
    let output = burgee(
        &[
            "evaluate",
            "--document",
            path.to_str().unwrap(),
            "--identity",
            "x",
            "--trait",
            "noequals",
        ],
        "",
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not NAME=VALUE"));
}
