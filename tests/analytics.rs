//! Evaluation analytics against the real server: counts from SDK analytics (v1 and v2),
//! identify calls and OFREP reach the admin API through the write path, survive a restart
//! (the last counts are written on a clean stop), and drive stale-feature detection and
//! retention when the server's clock has moved on.

#![allow(clippy::unwrap_used)] // test helpers fail loudly

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::server::{Admin, Server, client, identify};
use serde_json::{Value, json};

const FLUSH: &[&str] = &["--analytics-flush-interval", "1s"];
const DAY_MS: i64 = 86_400_000;

/// Web / Production with `banner`, `theme` and server-key-only `secret` (ids 1–3); the
/// client key and a server key.
async fn setup(admin: &Admin) -> (String, String) {
    let client_key = admin.web_production().await;
    for feature in [
        json!({"name": "banner", "initial_value": "hello", "default_enabled": true}),
        json!({"name": "theme", "initial_value": "light", "default_enabled": true}),
        json!({"name": "secret", "initial_value": 42, "default_enabled": true, "server_key_only": true}),
    ] {
        admin.post("/admin/v1/projects/1/features", feature).await;
    }
    let key = admin
        .post(
            "/admin/v1/environments/1/server-keys",
            json!({"name": "backend"}),
        )
        .await;
    (client_key, key["key"].as_str().unwrap().to_owned())
}

async fn post(server: &Server, path: &str, key: &str, body: Value) -> u16 {
    client()
        .post(server.url(path))
        .header("X-Environment-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn ofrep(server: &Server, path: &str, key: &str) -> u16 {
    client()
        .post(server.url(path))
        .bearer_auth(key)
        .json(&json!({"context": {"targetingKey": "ofrep-user"}}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// (reported, served) in the window, per feature name.
fn counts(usage: &Value) -> Vec<(String, u64, u64)> {
    usage["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["evaluations"]["reported"].as_u64().unwrap(),
                f["evaluations"]["served"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Waits until `path` answers something `check` accepts; the last answer.
async fn eventually(admin: &Admin, path: &str, check: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let answer = admin.get(path).await;
        if check(&answer) {
            return answer;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{path} still answers {answer}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn expect(names: &[(&str, u64, u64)]) -> Vec<(String, u64, u64)> {
    names
        .iter()
        .map(|(n, r, s)| ((*n).to_owned(), *r, *s))
        .collect()
}

#[tokio::test]
async fn sdk_traffic_is_counted_per_feature_and_kept_across_a_restart() {
    let server = Server::start_fresh(FLUSH);
    let admin = Admin::new(&server);
    let (client_key, server_key) = setup(&admin).await;

    // SDK analytics: unknown names and counts that are not counts are dropped.
    let v1 = json!({"banner": 3, "ghost": 1000, "theme": "x", "secret": -1});
    assert_eq!(
        post(&server, "/api/v1/analytics/flags/", &client_key, v1).await,
        200
    );
    let v2 = json!({"evaluations": [
        {"feature_name": "theme", "count": 2, "enabled_when_evaluated": true, "identity_identifier": "u"},
        {"feature_name": "ghost", "count": 7, "enabled_when_evaluated": true},
    ]});
    assert_eq!(
        post(&server, "/api/v2/analytics/flags/", &client_key, v2).await,
        204
    );
    // A v2 body with a bad item is refused whole: its good item is not counted either.
    let bad = json!({"evaluations": [{"feature_name": "banner", "count": 50}, {"feature_name": "theme"}]});
    assert_eq!(
        post(&server, "/api/v2/analytics/flags/", &client_key, bad).await,
        400
    );
    assert_eq!(
        post(&server, "/api/v2/analytics/flags/", &client_key, json!([])).await,
        400
    );
    assert_eq!(
        post(&server, "/api/v1/analytics/flags/", "nope", json!({})).await,
        403
    );

    // Server-side evaluations: every flag an identify call returns (a client key does
    // not get `secret`), and OFREP's single and bulk evaluations.
    for user in ["u1", "u2"] {
        assert_eq!(identify(&server, &client_key, user, json!([])).await.0, 200);
    }
    assert_eq!(identify(&server, &server_key, "u3", json!([])).await.0, 200);
    assert_eq!(
        ofrep(&server, "/ofrep/v1/evaluate/flags/banner", &server_key).await,
        200
    );
    assert_eq!(
        ofrep(&server, "/ofrep/v1/evaluate/flags", &client_key).await,
        200
    );
    // `/flags/` reads the environment's defaults: not an evaluation.
    let response = client()
        .get(server.url("/api/v1/flags/"))
        .header("X-Environment-Key", &client_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let wanted = expect(&[("banner", 3, 5), ("theme", 2, 4), ("secret", 0, 1)]);
    let usage = eventually(&admin, "/admin/v1/environments/1/feature-usage", |u| {
        counts(u) == wanted
    })
    .await;
    for feature in usage["features"].as_array().unwrap() {
        assert!(feature["last_evaluated_at"].is_string(), "{feature}");
        assert_eq!(feature["total"]["served"], feature["evaluations"]["served"]);
    }
    assert!(usage["features"][2]["last_reported_at"].is_null());

    // Counted just before a clean stop: written on the way out.
    let late = json!({"banner": 10});
    assert_eq!(
        post(&server, "/api/v1/analytics/flags/", &client_key, late).await,
        200
    );
    let data_dir = server.data_dir.clone();
    let (status, temp) = server.terminate();
    assert!(status.success());
    let server = Server::start_in(&data_dir, FLUSH);
    let admin = Admin::new(&server);
    let usage = admin.get("/admin/v1/environments/1/feature-usage").await;
    assert_eq!(
        counts(&usage),
        expect(&[("banner", 13, 5), ("theme", 2, 4), ("secret", 0, 1)])
    );

    // One feature's series: every hour of the last day, or every day of the last week.
    let hourly = admin
        .get("/admin/v1/environments/1/features/1/evaluations?days=1&bucket=hour")
        .await;
    let series = hourly["series"].as_array().unwrap();
    assert_eq!(series.len(), 24);
    let sum = |series: &[Value], field: &str| -> u64 {
        series.iter().map(|b| b[field].as_u64().unwrap()).sum()
    };
    assert_eq!((sum(series, "reported"), sum(series, "served")), (13, 5));
    let daily = admin
        .get("/admin/v1/environments/1/features/1/evaluations?days=7")
        .await;
    let series = daily["series"].as_array().unwrap();
    assert!((7..=8).contains(&series.len()), "{daily}");
    assert!(
        series[0]["start"].as_str().unwrap().contains("T00:00:00."),
        "{daily}"
    );
    assert_eq!(sum(series, "reported"), 13);

    // Confused requests get clear errors.
    for (path, status) in [
        ("/admin/v1/environments/1/feature-usage?days=0", 400),
        ("/admin/v1/environments/1/feature-usage?days=400", 400),
        ("/admin/v1/environments/1/feature-usage?weeks=1", 400),
        (
            "/admin/v1/environments/1/features/1/evaluations?bucket=week",
            400,
        ),
        ("/admin/v1/environments/1/features/99/evaluations", 404),
        ("/admin/v1/environments/9/feature-usage", 404),
        ("/admin/v1/projects/9/stale-features", 404),
    ] {
        let (got, body) = admin.call(reqwest::Method::GET, path, None).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body["error"]["code"].is_string(), "{path}: {body}");
    }
    // Reading counts needs the environment's view permission.
    let anonymous = client()
        .get(server.url("/admin/v1/environments/1/feature-usage"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    drop(server);
    drop(temp);
}

fn burgee_cli(server: &Server, args: &[&str]) -> String {
    let (code, stdout, stderr) = common::server::cli(server, args);
    assert_eq!(code, 0, "{args:?}: {stderr}");
    stdout
}

fn stale_names(answer: &Value) -> Vec<&str> {
    answer["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect()
}

/// A server on `data_dir` whose clock runs `days` ahead.
fn later(data_dir: &Path, days: i64) -> Server {
    let offset = (days * DAY_MS).to_string();
    Server::start_with(
        data_dir,
        FLUSH,
        &[("BURGEE_FAULT_CLOCK_OFFSET_MS", offset.as_str())],
    )
}

#[tokio::test]
async fn stale_features_and_retention_follow_the_clock() {
    let server = Server::start_fresh(FLUSH);
    let admin = Admin::new(&server);
    let (client_key, server_key) = setup(&admin).await;
    // New features are not stale, evaluated or not.
    let fresh = admin
        .get("/admin/v1/projects/1/stale-features?days=1")
        .await;
    assert_eq!(stale_names(&fresh), Vec::<&str>::new());
    let report = json!({"banner": 4});
    assert_eq!(
        post(&server, "/api/v1/analytics/flags/", &client_key, report).await,
        200
    );
    eventually(&admin, "/admin/v1/environments/1/feature-usage", |u| {
        u["features"][0]["total"]["reported"] == 4
    })
    .await;
    let data_dir = server.data_dir.clone();
    let (_, temp) = server.terminate();

    // Forty days later nothing was evaluated within the last thirty.
    let server = later(&data_dir, 40);
    let admin = Admin::new(&server);
    let stale = admin
        .get("/admin/v1/projects/1/stale-features?days=30")
        .await;
    assert_eq!(stale_names(&stale), vec!["banner", "theme", "secret"]);
    assert!(stale["features"][0]["last_evaluated_at"].is_string());
    assert!(stale["features"][1]["last_evaluated_at"].is_null());
    assert_eq!(
        stale["features"][0]["environments"][0]["name"],
        "Production"
    );
    let table = burgee_cli(
        &server,
        &["features", "stale", "--project", "Web", "--days", "30"],
    );
    assert!(
        table.contains("banner") && table.contains("secret"),
        "{table}"
    );

    // The hourly counts of forty days ago are past the default retention of thirty days:
    // the prune at start removes them; the totals and the last evaluation stay.
    eventually(
        &admin,
        "/admin/v1/environments/1/features/1/evaluations?days=45",
        |series| {
            series["series"]
                .as_array()
                .unwrap()
                .iter()
                .all(|b| b["reported"] == 0)
        },
    )
    .await;
    let usage = admin.get("/admin/v1/environments/1/feature-usage").await;
    assert_eq!(usage["features"][0]["total"]["reported"], 4);
    assert!(usage["features"][0]["last_reported_at"].is_string());

    // A server-side evaluation of every flag makes none stale; only reported evaluations
    // tell which flags the code still reads.
    assert_eq!(identify(&server, &server_key, "u", json!([])).await.0, 200);
    eventually(&admin, "/admin/v1/projects/1/stale-features?days=30", |s| {
        stale_names(s).is_empty()
    })
    .await;
    let reported = admin
        .get("/admin/v1/projects/1/stale-features?days=30&source=reported")
        .await;
    assert_eq!(stale_names(&reported), vec!["banner", "theme", "secret"]);
    let usage = burgee_cli(
        &server,
        &[
            "features",
            "usage",
            "--environment",
            &client_key,
            "--output",
            "json",
        ],
    );
    let usage: Value = serde_json::from_str(usage.trim()).unwrap();
    assert_eq!(
        counts(&usage),
        expect(&[("banner", 0, 1), ("theme", 0, 1), ("secret", 0, 1)])
    );
    drop(server);
    drop(temp);
}
