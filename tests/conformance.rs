//! Conformance with Flagsmith's engine: every case of its shared test data, compared whole,
//! and the 101 identities of the legacy v1.0.0 environment.

#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)] // test helpers fail loudly

mod common;

use burgee::engine::CompiledEnvironment;
use burgee::flagsmith::context::EvaluationContext;
use burgee::flagsmith::document::EnvironmentDocument;
use burgee::model::{Identity, Scalar, Traits};
use serde_json::Value;

#[test]
fn every_engine_test_case_gives_flagsmiths_result() {
    let Some(data) = common::engine_test_data() else {
        return;
    };
    let mut paths: Vec<_> = std::fs::read_dir(data.join("test_cases"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json" || e == "jsonc"))
        .collect();
    paths.sort();
    let mut failures = Vec::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).unwrap();
        let case: Value = serde_json::from_str(&common::strip_json_comments(&text))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let context: EvaluationContext = serde_json::from_value(case["context"].clone())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let actual = common::engine::evaluate_with(context, common::engine::result_json)
            .unwrap_or_else(|e| Value::String(format!("error: {e}")));
        if actual != case["result"] {
            failures.push(format!(
                "{}\n  expected {}\n  actual   {}",
                path.file_name().unwrap().to_string_lossy(),
                case["result"],
                actual
            ));
        }
    }
    assert_eq!(paths.len(), 199, "the test data should hold 199 cases");
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n")
    );
}

#[test]
fn legacy_environment_gives_flagsmiths_flags_for_101_identities() {
    let Some(data) = common::engine_test_data() else {
        return;
    };
    let path = data.join("v1.0.0/data/environment_n9fbf9h3v4fFgH3U3ngWhb.json");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let document: EnvironmentDocument =
        serde_json::from_value(file["environment"].clone()).unwrap();
    let compiled = CompiledEnvironment::compile(&document.to_environment());
    let cases = file["identities_and_responses"].as_array().unwrap();
    assert_eq!(cases.len(), 101);
    let mut failures = Vec::new();
    for case in cases {
        let identity_record = &case["identity"];
        let traits: Traits = identity_record["identity_traits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let value = Scalar::from_json(&t["trait_value"]).unwrap();
                (t["trait_key"].as_str().unwrap().to_owned(), value)
            })
            .collect();
        // These responses were bucketed on the identity's database id (compat §4.3).
        let identity = Identity {
            identifier: identity_record["identifier"].as_str().unwrap().to_owned(),
            key: Some(identity_record["django_id"].to_string()),
            traits,
        };
        let evaluation = compiled.evaluate(Some(&identity)).unwrap();
        let expected = case["response"]["flags"].as_array().unwrap();
        assert_eq!(
            expected.len(),
            evaluation.flags.len(),
            "{}",
            identity.identifier
        );
        for expected_flag in expected {
            let name = expected_flag["feature"]["name"].as_str().unwrap();
            let flag = evaluation
                .flags
                .iter()
                .find(|f| f.feature.name == name)
                .unwrap();
            let actual = (Value::Bool(flag.enabled), flag.value.to_json());
            let wanted = (
                expected_flag["enabled"].clone(),
                expected_flag["feature_state_value"].clone(),
            );
            if actual != wanted {
                failures.push(format!(
                    "{} / {name}: expected {wanted:?}, got {actual:?}",
                    identity.identifier
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} flags differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
