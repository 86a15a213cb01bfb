//! Importing Flagsmith environment documents: every identity keeps its flags.

#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)] // test helpers fail loudly

mod common;

use burgee::engine::CompiledEnvironment;
use burgee::flagsmith::document::EnvironmentDocument;
use burgee::model::{Identity, Scalar, Traits};
use common::server::{Admin, Server, TOKEN, client};
use serde_json::{Value, json};

async fn import(server: &Server, document: &Value, query: &str) -> (u16, Value) {
    let response = client()
        .post(server.url(&format!("/admin/v1/import/flagsmith{query}")))
        .bearer_auth(TOKEN)
        .json(document)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn legacy() -> Option<Value> {
    let data = common::engine_test_data()?;
    let text =
        std::fs::read_to_string(data.join("v1.0.0/data/environment_n9fbf9h3v4fFgH3U3ngWhb.json"))
            .unwrap();
    Some(serde_json::from_str(&text).unwrap())
}

fn traits_of(record: &Value) -> Traits {
    record["identity_traits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["trait_key"].as_str().unwrap().to_owned(),
                Scalar::from_json(&t["trait_value"]).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_legacy_environment_round_trips_with_every_bucket() {
    let Some(file) = legacy() else { return };
    let server = Server::start();
    let admin = Admin::new(&server);
    let mut document = file["environment"].clone();
    document["name"] = json!("Legacy");
    let (status, env) = import(&server, &document, "").await;
    assert_eq!(status, 201, "{env}");
    assert_eq!(env["client_key"], document["api_key"]);
    let exported = admin
        .get(&format!("/admin/v1/environments/{}/document", env["id"]))
        .await;
    // Segments keep their ids and their (unsorted) document order.
    let ids = |d: &Value| {
        d["project"]["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&exported), ids(&document));
    let exported: EnvironmentDocument = serde_json::from_value(exported).unwrap();
    let compiled = CompiledEnvironment::compile(&exported.to_environment());
    for case in file["identities_and_responses"].as_array().unwrap() {
        let record = &case["identity"];
        let identity = Identity {
            identifier: record["identifier"].as_str().unwrap().to_owned(),
            key: Some(record["django_id"].to_string()),
            traits: traits_of(record),
        };
        let evaluation = compiled.evaluate(Some(&identity)).unwrap();
        for expected in case["response"]["flags"].as_array().unwrap() {
            let name = expected["feature"]["name"].as_str().unwrap();
            let flag = evaluation
                .flags
                .iter()
                .find(|f| f.feature.name == name)
                .unwrap();
            assert_eq!(
                json!(flag.enabled),
                expected["enabled"],
                "{} {name}",
                identity.identifier
            );
            assert_eq!(
                flag.value.to_json(),
                expected["feature_state_value"],
                "{} {name}",
                identity.identifier
            );
        }
    }
}

#[tokio::test]
async fn served_flags_equal_the_original_documents_local_evaluation() {
    let Some(file) = legacy() else { return };
    let server = Server::start();
    let mut document = file["environment"].clone();
    document["name"] = json!("Legacy");
    let (status, _) = import(&server, &document, "?project=Imported").await;
    assert_eq!(status, 201);
    let original: EnvironmentDocument = serde_json::from_value(document.clone()).unwrap();
    let compiled = CompiledEnvironment::compile(&original.to_environment());
    let key = document["api_key"].as_str().unwrap();
    for case in file["identities_and_responses"]
        .as_array()
        .unwrap()
        .iter()
        .take(40)
    {
        let record = &case["identity"];
        let identifier = record["identifier"].as_str().unwrap();
        let traits: Vec<Value> = record["identity_traits"].as_array().unwrap().clone();
        let served: Value = client()
            .post(server.url("/api/v1/identities/"))
            .header("X-Environment-Key", key)
            .json(&json!({"identifier": identifier, "traits": traits, "transient": true}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let identity = Identity {
            identifier: identifier.to_owned(),
            key: None,
            traits: traits_of(record),
        };
        let local = compiled.evaluate(Some(&identity)).unwrap();
        for flag in served["flags"].as_array().unwrap() {
            let name = flag["feature"]["name"].as_str().unwrap();
            let mine = local.flags.iter().find(|f| f.feature.name == name).unwrap();
            assert_eq!(
                flag["feature_state_value"],
                mine.value.to_json(),
                "{identifier} {name}"
            );
            assert_eq!(flag["enabled"], mine.enabled, "{identifier} {name}");
        }
    }
}

#[tokio::test]
async fn conflicts_are_named_and_replace_is_explicit() {
    let Some(file) = legacy() else { return };
    let server = Server::start();
    let admin = Admin::new(&server);
    let mut document = file["environment"].clone();
    document["name"] = json!("Legacy");
    assert_eq!(import(&server, &document, "").await.0, 201);
    let (status, body) = import(&server, &document, "").await;
    assert_eq!(status, 409);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("client key"),
        "{body}"
    );
    let (status, _) = import(&server, &document, "?replace=true").await;
    assert_eq!(status, 201);
    assert_eq!(
        admin.get("/admin/v1/environments").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The same segment ids in another project are a conflict.
    document["api_key"] = json!("anotherClientKey123");
    let (status, body) = import(&server, &document, "?project=Other").await;
    assert_eq!(status, 409);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("segment id"),
        "{body}"
    );
}

#[tokio::test]
async fn documents_burgee_cannot_evaluate_are_refused_naming_the_segment() {
    let server = Server::start();
    let document = json!({
        "id": 1, "api_key": "someClientKey123", "name": "Prod",
        "project": {"id": 1, "name": "Web", "organisation": {"id": 1, "name": "Acme"}, "hide_disabled_flags": false,
            "segments": [{"id": 9, "name": "lookbehind", "feature_states": [], "rules": [{"type": "ALL", "rules": [], "conditions": [
                {"operator": "REGEX", "property_": "email", "value": "(?<=@)example"}]}]}]},
        "feature_states": []
    });
    let (status, body) = import(&server, &document, "").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_document");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("lookbehind"),
        "{body}"
    );
    let (status, _) = import(&server, &json!({"not": "a document"}), "").await;
    assert_eq!(status, 400);
}
