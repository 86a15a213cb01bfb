//! Property test of the one rule conversion: random segments created through the admin API,
//! read back from `/api/v1/environment-document/` and evaluated by the official Python SDK's
//! local engine, give the same flags as Burgee's own `/api/v1/identities/` answers for random
//! identities. (The SDK is installed by `scripts/test-all.sh`; `BURGEE_SDK_PYTHON` names it.)

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::path::Path;
use std::process::Command;

use common::server::{Admin, Server, client};
use reqwest::Method;
use serde_json::{Value, json};

/// A small deterministic generator (xorshift64*); `BURGEE_PROPERTY_SEED` picks another run.
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        usize::try_from(self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1) as u64).unwrap()
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const PROPERTIES: [&str; 6] = ["plan", "age", "score", "email", "version", "beta"];

/// A trait value for a property, of the kinds real SDK users send.
fn trait_value(r: &mut Random, property: &str) -> Value {
    match property {
        "plan" => json!(r.pick(&["free", "pro", "enterprise", "Pro"])),
        "age" => json!(r.below(90)),
        "score" => json!(*r.pick(&[0.5, 1.0, 2.25, 10.0, -3.5])),
        "email" => json!(r.pick(&["a@example.com", "b@test.org", "root@example.com"])),
        "version" => json!(r.pick(&["1.0.0", "1.2.3", "2.0.0", "1.10.1"])),
        _ => json!(r.below(2) == 0),
    }
}

/// A condition that passes write-time validation.
fn condition(r: &mut Random) -> Value {
    let property = *r.pick(&PROPERTIES);
    let (operator, value) = match r.below(14) {
        0 => (
            "EQUAL",
            r.pick(&["pro", "free", "18", "true", "2.25"]).to_string(),
        ),
        1 => ("NOT_EQUAL", r.pick(&["pro", "30", "false"]).to_string()),
        2 => (
            "GREATER_THAN",
            r.pick(&["18", "1.5", "1.2.0:semver"]).to_string(),
        ),
        3 => (
            "GREATER_THAN_INCLUSIVE",
            r.pick(&["21", "0.5", "1.2.3:semver"]).to_string(),
        ),
        4 => (
            "LESS_THAN",
            r.pick(&["40", "2.0", "2.0.0:semver"]).to_string(),
        ),
        5 => (
            "LESS_THAN_INCLUSIVE",
            r.pick(&["65", "10", "1.10.1:semver"]).to_string(),
        ),
        6 => ("CONTAINS", r.pick(&["example", "pro", "1"]).to_string()),
        7 => ("NOT_CONTAINS", r.pick(&["test", "ee", "0"]).to_string()),
        8 => (
            "REGEX",
            r.pick(&["^[a-z]+@example\\.com$", "^p", "[0-9]+", ".*"])
                .to_string(),
        ),
        9 => (
            "PERCENTAGE_SPLIT",
            r.pick(&["10", "50", "85.5"]).to_string(),
        ),
        10 => ("MODULO", r.pick(&["2|0", "3|1", "5|4"]).to_string()),
        11 => (
            "IN",
            r.pick(&["pro,enterprise", "18,21,30", "true"]).to_string(),
        ),
        12 => return json!({"property": property, "operator": "IS_SET", "value": null}),
        _ => return json!({"property": property, "operator": "IS_NOT_SET", "value": null}),
    };
    let property = if operator == "PERCENTAGE_SPLIT" {
        ""
    } else {
        property
    };
    json!({"property": property, "operator": operator, "value": value})
}

fn rule(r: &mut Random, depth: usize) -> Value {
    let kind = *r.pick(&["ALL", "ANY", "NONE"]);
    let conditions: Vec<Value> = (0..r.below(3) + usize::from(depth > 1))
        .map(|_| condition(r))
        .collect();
    let rules: Vec<Value> = if depth < 3 {
        (0..r.below(3)).map(|_| rule(r, depth + 1)).collect()
    } else {
        Vec::new()
    };
    json!({"type": kind, "conditions": conditions, "rules": rules})
}

#[tokio::test]
async fn python_local_evaluation_of_random_segments_agrees_with_burgee() {
    let Some(python) = std::env::var_os("BURGEE_SDK_PYTHON").filter(|p| Path::new(p).exists())
    else {
        common::skip_or_fail("BURGEE_SDK_PYTHON is not set to a Python with the Flagsmith SDK");
        return;
    };
    let seed = std::env::var("BURGEE_PROPERTY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00C0_FFEE_u64);
    let mut r = Random(seed | 1);
    let server = Server::start();
    let admin = Admin::new(&server);
    let client_key = admin.web_production().await;
    let features = 8;
    for i in 0..features {
        admin
            .post(
                "/admin/v1/projects/1/features",
                json!({"name": format!("flag{i}"), "initial_value": format!("default-{i}"), "default_enabled": i % 2 == 0}),
            )
            .await;
    }
    let segments = 30;
    for i in 0..segments {
        let rules: Vec<Value> = (0..1 + r.below(2)).map(|_| rule(&mut r, 1)).collect();
        admin
            .post(
                "/admin/v1/projects/1/segments",
                json!({"name": format!("segment{i}"), "rules": rules}),
            )
            .await;
    }
    // Each feature gets overrides from a few segments, in a random order of priority.
    for feature in 1..=features {
        for _ in 0..3 {
            let segment = 1 + r.below(segments);
            let (status, body) = admin
                .call(
                    Method::PUT,
                    &format!("/admin/v1/environments/1/features/{feature}/segment-overrides/{segment}"),
                    Some(json!({"enabled": r.below(2) == 0, "value": format!("s{segment}"), "priority": r.below(3)})),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
    }
    let server_key = admin
        .post(
            "/admin/v1/environments/1/server-keys",
            json!({"name": "sdk"}),
        )
        .await["key"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut identities = Vec::new();
    for i in 0..300 {
        let mut traits = serde_json::Map::new();
        for property in PROPERTIES {
            if r.below(4) != 0 {
                traits.insert(property.to_owned(), trait_value(&mut r, property));
            }
        }
        identities
            .push(json!({"identifier": format!("user-{i}-{}", r.below(1000)), "traits": traits}));
    }
    let temp = tempfile::tempdir().unwrap();
    let identities_file = temp.path().join("identities.json");
    std::fs::write(
        &identities_file,
        Value::Array(identities.clone()).to_string(),
    )
    .unwrap();

    // Burgee's answers, transient so that nothing stored changes the next call.
    let mut expected = serde_json::Map::new();
    for identity in &identities {
        let traits: Vec<Value> = identity["traits"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| json!({"trait_key": k, "trait_value": v}))
            .collect();
        let answer: Value = client()
            .post(server.url("/api/v1/identities/"))
            .header("X-Environment-Key", &client_key)
            .json(
                &json!({"identifier": identity["identifier"], "traits": traits, "transient": true}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let flags: serde_json::Map<String, Value> = answer["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["feature"]["name"].as_str().unwrap().to_owned(),
                    json!([f["enabled"], f["feature_state_value"]]),
                )
            })
            .collect();
        expected.insert(
            identity["identifier"].as_str().unwrap().to_owned(),
            Value::Object(flags),
        );
    }

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk-tests/python/flags.py");
    let output = Command::new(&python)
        .arg(&script)
        .args(["local", &format!("{}/api/v1/", server.base), &server_key])
        .arg(&identities_file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let got: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut mismatches = Vec::new();
    let mut matched_overrides = 0;
    for (identifier, flags) in &expected {
        for (name, want) in flags.as_object().unwrap() {
            let have = &got["identities"][identifier][name];
            let have = json!([have[0], have[1]]);
            if want[1].as_str().is_some_and(|v| v.starts_with('s')) {
                matched_overrides += 1;
            }
            if have != *want {
                mismatches.push(format!(
                    "{identifier} {name}: Burgee {want}, Python SDK {have}"
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} flags differ (seed {seed}); first: {:#?}",
        mismatches.len(),
        expected.len() * features,
        &mismatches[..mismatches.len().min(10)]
    );
    assert!(
        matched_overrides > 100,
        "the segments matched too rarely to test much: {matched_overrides}"
    );
}
