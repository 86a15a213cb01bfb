//! The reference environments of the benchmarks, as Flagsmith evaluation contexts (JSON), so
//! that Burgee and Flagsmith's own engine read exactly the same input.

use serde_json::{Value, json};

/// `features` features (every fifth multivariate), `segments` segments of 3–5 conditions
/// mixing EQUAL, GREATER_THAN, REGEX, semver, IN, PERCENTAGE_SPLIT, CONTAINS, MODULO and
/// IS_SET, each overriding two features; and an identity with ten traits.
pub fn context(features: usize, segments: usize) -> Value {
    let mut feature_map = serde_json::Map::new();
    for i in 0..features {
        let name = format!("feature_{i}");
        let mut feature = json!({
            "key": (1000 + i).to_string(),
            "name": name,
            "enabled": !i.is_multiple_of(3),
            "value": format!("value-{i}"),
            "metadata": {"id": i + 1},
        });
        if i.is_multiple_of(5) {
            feature["variants"] = json!([
                {"value": "a", "weight": 30, "priority": 1, "key": "a"},
                {"value": "b", "weight": 30, "priority": 2, "key": "b"},
                {"value": "c", "weight": 20.5, "priority": 3}
            ]);
        }
        feature_map.insert(name, feature);
    }
    let mut segment_map = serde_json::Map::new();
    for s in 0..segments {
        let conditions = conditions_for(s);
        let (outer, inner) = conditions.split_at(2);
        let key = (500 + s).to_string();
        let overridden = [s % features, (s * 7 + 3) % features];
        segment_map.insert(
            key.clone(),
            json!({
                "key": key,
                "name": format!("segment_{s}"),
                "rules": [{"type": "ALL", "conditions": outer, "rules": [{"type": "ANY", "conditions": inner}]}],
                "overrides": overridden.iter().enumerate().map(|(n, f)| json!({
                    "key": (90_000 + s * 2 + n).to_string(),
                    "name": format!("feature_{f}"),
                    "enabled": true,
                    "value": format!("segment-{s}-value"),
                    "priority": s,
                })).collect::<Vec<_>>(),
                "metadata": {"id": 500 + s, "source": "api"},
            }),
        );
    }
    json!({
        "environment": {"key": "bench_env_key", "name": "Production"},
        "identity": {"identifier": "user-12345", "traits": traits()},
        "features": feature_map,
        "segments": segment_map,
    })
}

/// The identity's ten traits.
pub fn traits() -> Value {
    json!({
        "plan": "pro",
        "age": 34,
        "email": "someone@example.com",
        "app_version": "2.4.1",
        "country": "de",
        "company_id": "9876",
        "beta": true,
        "score": 72.5,
        "device": "ios",
        "locale": "de-DE"
    })
}

/// 3 to 5 conditions of mixed operators; about a third of the segments match.
fn conditions_for(s: usize) -> Vec<Value> {
    let pool = [
        json!({"property": "plan", "operator": "EQUAL", "value": if s.is_multiple_of(3) { "pro" } else { "free" }}),
        json!({"property": "age", "operator": "GREATER_THAN", "value": (18 + s % 30).to_string()}),
        json!({"property": "email", "operator": "REGEX", "value": format!(r".*@(example|corp{s})\.com$")}),
        json!({"property": "app_version", "operator": "GREATER_THAN_INCLUSIVE", "value": format!("2.{}.0:semver", s % 6)}),
        json!({"property": "country", "operator": "IN", "value": "gb,us,de,fr,es,it,nl,se,no,dk"}),
        json!({"property": "", "operator": "PERCENTAGE_SPLIT", "value": (10 + (s * 13) % 90).to_string()}),
        json!({"property": "locale", "operator": "CONTAINS", "value": "DE"}),
        json!({"property": "company_id", "operator": "MODULO", "value": format!("{}|0", 2 + s % 5)}),
        json!({"property": "device", "operator": "IS_SET", "value": ""}),
        json!({"property": "score", "operator": "LESS_THAN_INCLUSIVE", "value": "80.5"}),
    ];
    let count = 3 + s % 3;
    (0..count)
        .map(|i| pool[(s + i * 3) % pool.len()].clone())
        .collect()
}
