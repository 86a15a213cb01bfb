//! Flags as code with the real binary: export → apply on an empty server → export is the
//! same file, and both servers give every identity the same flags and variants; `plan`
//! shows drift and what the file does not mention; `apply` is atomic and guarded by the
//! plan's ETag; bad files get their line and column.

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use reqwest::Method;
use serde_json::{Value, json};

use common::server::{Admin, Server, cli, identify};

async fn ok(admin: &Admin, method: Method, path: &str, body: Value) -> Value {
    let (code, answer) = admin.call(method, path, Some(body)).await;
    assert!((200..300).contains(&code), "{path}: {code} {answer}");
    answer
}

/// Web with Production and Staging: a standard and a multivariate feature (tagged), an
/// archived one, a percentage-split segment overriding in Staging, moved weights.
async fn configured(admin: &Admin) {
    admin.web_production().await;
    admin
        .post(
            "/admin/v1/projects/1/environments",
            json!({"name": "Staging"}),
        )
        .await;
    admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "banner", "initial_value": "hello", "tags": ["team:web"]}),
        )
        .await;
    let checkout = admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "checkout", "type": "MULTIVARIATE", "initial_value": "old",
                   "options": [{"value": "new", "default_weight": 30}, {"value": 7, "default_weight": 20}]}),
        )
        .await;
    let (new, seven) = (&checkout["options"][0]["id"], &checkout["options"][1]["id"]);
    admin
        .post("/admin/v1/projects/1/features", json!({"name": "retired"}))
        .await;
    ok(
        admin,
        Method::PATCH,
        "/admin/v1/features/3",
        json!({"archived": true}),
    )
    .await;
    admin
        .post(
            "/admin/v1/projects/1/segments",
            json!({"name": "half", "rules": [{"type": "ALL", "conditions": [
                {"property": "", "operator": "PERCENTAGE_SPLIT", "value": "50"}]}]}),
        )
        .await;
    ok(
        admin,
        Method::PATCH,
        "/admin/v1/environments/2/features/2/state",
        json!({"enabled": true, "variants": [{"option_id": new, "weight": 45}, {"option_id": seven, "weight": 25}]}),
    )
    .await;
    ok(
        admin,
        Method::PUT,
        "/admin/v1/environments/2/features/1/segment-overrides/1",
        json!({"enabled": true, "value": "for half"}),
    )
    .await;
}

fn export(server: &Server) -> String {
    let (code, out, err) = cli(server, &["export", "yaml", "--project", "Web"]);
    assert_eq!(code, 0, "{err}");
    out
}

/// What `identifier` gets in environment `name`: (feature, enabled, value) of each flag.
async fn flags_of(server: &Server, name: &str, identifier: &str) -> Vec<(Value, Value, Value)> {
    let admin = Admin::new(server);
    let environments = admin.all("/admin/v1/projects/1/environments").await;
    let key = environments.iter().find(|e| e["name"] == name).unwrap()["client_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, answer) = identify(server, &key, identifier, json!([])).await;
    assert_eq!(code, 200, "{answer}");
    let mut flags: Vec<_> = answer["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["feature"]["name"].clone(),
                f["enabled"].clone(),
                f["feature_state_value"].clone(),
            )
        })
        .collect();
    flags.sort_by_key(|f| f.0.to_string());
    flags
}

#[tokio::test]
async fn an_exported_project_applied_elsewhere_exports_the_same_and_buckets_the_same() {
    let source = Server::start();
    configured(&Admin::new(&source)).await;
    let file = tempfile::NamedTempFile::new().unwrap();
    let path = file.path().to_str().unwrap();
    let (code, _, err) = cli(&source, &["export", "yaml", "--project", "Web", "-f", path]);
    assert_eq!(code, 0, "{err}");
    let exported = std::fs::read_to_string(path).unwrap();
    assert!(
        exported.contains("PERCENTAGE_SPLIT") && exported.contains("seed:"),
        "{exported}"
    );
    assert!(
        !exported.contains("ser."),
        "no server-side keys in the file: {exported}"
    );

    let target = Server::start();
    let (code, out, err) = cli(&target, &["apply", "-f", path]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("applied"), "{out}");
    assert_eq!(export(&target), exported, "the round trip changes nothing");

    // Every identity gets the same flags and variants from both servers.
    for environment in ["Production", "Staging"] {
        for n in 0..40 {
            let identifier = format!("user-{n}");
            assert_eq!(
                flags_of(&source, environment, &identifier).await,
                flags_of(&target, environment, &identifier).await,
                "{environment} {identifier}"
            );
        }
    }
    // The archived feature is archived there too, and served nowhere.
    let retired = Admin::new(&target)
        .get("/admin/v1/projects/1/features?archived=true")
        .await;
    assert_eq!(retired["items"][0]["name"], "retired");

    // Applying the same file again changes nothing.
    let (code, out, err) = cli(&target, &["apply", "-f", path]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("no changes"), "{out}");
}

#[tokio::test]
async fn plan_shows_drift_and_apply_is_guarded_and_atomic() {
    let server = Server::start();
    let admin = Admin::new(&server);
    configured(&admin).await;
    let file = tempfile::NamedTempFile::new().unwrap();
    let path = file.path().to_str().unwrap();
    std::fs::write(path, export(&server)).unwrap();

    // Someone changes a flag by hand and adds a feature the file does not know.
    ok(
        &admin,
        Method::PATCH,
        "/admin/v1/environments/1/features/1/state",
        json!({"value": "changed by hand"}),
    )
    .await;
    admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "experiment"}),
        )
        .await;
    let (code, out, err) = cli(&server, &["plan", "-f", path]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines().any(|l| l.contains("banner")
            && l.contains("Production")
            && l.contains("changed by hand")
            && l.contains("hello")),
        "{out}"
    );
    assert!(
        out.contains("not in the file (left as they are): features experiment"),
        "{out}"
    );
    let etag = out
        .split("--if-match '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap()
        .to_owned();

    // A change after the plan: the plan's ETag is refused and nothing is applied.
    ok(
        &admin,
        Method::PATCH,
        "/admin/v1/environments/2/features/1/state",
        json!({"enabled": true}),
    )
    .await;
    let (code, _, err) = cli(&server, &["apply", "-f", path, "--if-match", &etag]);
    assert_ne!(code, 0);
    assert!(err.contains("412"), "{err}");
    let (_, plan) = admin
        .call(
            Method::POST,
            "/admin/v1/manifest",
            Some(json!({"manifest": serde_json::from_str::<Value>(&yaml_as_json(path)).unwrap(), "dry_run": true})),
        )
        .await;
    assert!(
        plan["changes"].as_array().unwrap().len() >= 2,
        "still to do: {plan}"
    );

    // A file whose last environment is wrong applies nothing at all.
    let mut broken: Value = serde_json::from_str(&yaml_as_json(path)).unwrap();
    broken["features"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "brand-new"}));
    broken["environments"][1]["flags"]["checkout"]["variants"] =
        json!([{"option": "no such option", "weight": 10}]);
    let (code, answer) = admin
        .call(
            Method::POST,
            "/admin/v1/manifest",
            Some(json!({"manifest": broken})),
        )
        .await;
    assert_eq!(code, 400, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no such option"),
        "{answer}"
    );
    let features = admin.all("/admin/v1/projects/1/features").await;
    assert!(
        features.iter().all(|f| f["name"] != "brand-new"),
        "nothing applied"
    );

    // Names twice, segment id 0 and empty seeds are refused, naming them.
    for (bad, why) in [
        (
            json!({"version": 1, "project": {"name": "Web"}, "features": [{"name": "a"}, {"name": "A"}]}),
            "twice",
        ),
        (
            json!({"version": 1, "project": {"name": "Web"}, "segments": [{"name": "s", "id": 0}]}),
            "start at 1",
        ),
        (
            json!({"version": 1, "project": {"name": "Web"}, "environments": [{"name": "Production",
            "flags": {"banner": {"enabled": true, "seed": ""}}}]}),
            "seed",
        ),
    ] {
        let (code, answer) = admin
            .call(
                Method::POST,
                "/admin/v1/manifest",
                Some(json!({"manifest": bad, "dry_run": true})),
            )
            .await;
        assert_eq!(code, 400, "{answer}");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(why),
            "{answer}"
        );
    }

    // Applied: the drift is gone, the unmanaged feature stays.
    let (code, out, err) = cli(&server, &["apply", "-f", path]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("applied"), "{out}");
    let (_, out, _) = cli(&server, &["plan", "-f", path]);
    assert!(out.contains("no changes"), "{out}");
    assert!(out.contains("experiment"), "{out}");
    let audit = common::access::audit(&server).await;
    assert!(audit.iter().any(|e| e["action"] == "project.applied"));
}

/// The file as JSON (for API calls), through the binary's own reader.
fn yaml_as_json(path: &str) -> String {
    let manifest = burgee::manifest::from_yaml(&std::fs::read_to_string(path).unwrap()).unwrap();
    serde_json::to_string(&manifest).unwrap()
}

#[test]
fn bad_files_get_their_line_and_column() {
    let cases = [
        (
            "version: 1\nproject:\n  name: Web\nfeatures:\n  - name: banner\n    colour: red\n",
            "line 6, column 5",
            "unknown field `colour`",
        ),
        (
            "version: 1\nproject:\n  name: Web\nenvironments:\n  - name: Production\n    flags:\n      banner:\n        enabled: maybe\n",
            "line 8, column 18",
            "invalid type",
        ),
        (
            "version: 1\nproject:\n  name: 'unterminated\n",
            "line 4, column 1",
            "found unexpected end of stream",
        ),
        ("version: 2\nproject:\n  name: Web\n", "", "version 2"),
    ];
    for (text, place, why) in cases {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        let path = file.path().to_str().unwrap();
        let (code, _, err) = common::server::run_cli(&["validate", "-f", path], &[]);
        assert_ne!(code, 0, "{text}");
        assert!(err.contains(place) && err.contains(why), "{text}: {err}");
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "version: 1\nproject:\n  name: Web\n").unwrap();
    let (code, out, err) =
        common::server::run_cli(&["validate", "-f", file.path().to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("a valid flags file"), "{out}");
}
