//! Real-time streams against the real binary: Flagsmith's SSE protocol (proven with the
//! official Python SDK's real-time mode), Burgee's versioned stream with resumption, and
//! streams on every node of a cluster.

#![allow(clippy::unwrap_used)] // test helpers fail loudly

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::server::{Admin, Server, client, set_banner};
use common::sse::EventStream;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

/// A server with one-second keep-alives, feature 1 "banner", a server-only feature
/// "secret", and a server key: (server, client key, server key).
async fn fixture() -> (Server, String, String) {
    let server = Server::start_fresh(&["--sse-ping-interval", "1s"]);
    let admin = Admin::new(&server);
    let client_key = admin.web_production_banner().await;
    admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "secret", "initial_value": 42, "server_key_only": true}),
        )
        .await;
    let key = admin
        .post(
            "/admin/v1/environments/1/server-keys",
            json!({"name": "backend"}),
        )
        .await;
    (server, client_key, key["key"].as_str().unwrap().to_owned())
}

fn names(flags: &Value) -> Vec<&str> {
    flags
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["feature"]["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn flagsmith_stream_sends_the_time_on_subscribe_on_every_change_and_pings() {
    let (server, client_key, server_key) = fixture().await;
    let url = server.url(&format!("/sse/environments/{client_key}/stream"));
    let mut stream = EventStream::open(&url, &[]).await;
    let first = stream.next(WAIT).await;
    assert_eq!(first.event, "environment_updated");
    let before = first.json()["updated_at"].as_f64().unwrap();
    assert!(
        first.data.contains('.'),
        "seconds as a float: {}",
        first.data
    );
    // Seconds, not milliseconds (Python's SDK overflows on milliseconds).
    assert!(before > 1.6e9 && before < 1e10, "{before}");
    let document = Admin::new(&server)
        .get("/admin/v1/environments/1/document")
        .await;
    assert!(document["updated_at"].is_string());
    tokio::time::sleep(Duration::from_millis(20)).await;
    set_banner(&server, "changed").await;
    let next = stream.next(WAIT).await;
    assert_eq!(next.event, "environment_updated");
    assert!(
        next.json()["updated_at"].as_f64().unwrap() > before,
        "{next:?}"
    );
    // Idle: a keep-alive comment within the interval (one second here).
    let ping = stream.next_any(Duration::from_secs(5)).await.unwrap();
    assert_eq!(ping.comment.as_deref(), Some("ping"), "{ping:?}");
    // A server key has no place in a URL; an unknown key is refused as the SDK API does.
    let refused = client()
        .get(server.url(&format!("/sse/environments/{server_key}/stream")))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "server_key_in_url");
    let unknown = client()
        .get(server.url("/sse/environments/nope/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 403);
    // Shutting down ends open streams instead of waiting on them forever.
    let (status, _) = server.terminate();
    assert!(status.success(), "{status}");
    assert!(stream.next_any(WAIT).await.is_none());
}

#[tokio::test]
async fn native_stream_sends_what_flags_shows_each_key_and_resumes() {
    let (server, client_key, server_key) = fixture().await;
    let admin = Admin::new(&server);
    let url = server.url("/api/v1/flags/stream");
    let mut browser = EventStream::open(
        &server.url(&format!(
            "/api/v1/flags/stream?environment_key={client_key}"
        )),
        &[],
    )
    .await;
    let mut backend = EventStream::open(
        &format!("{url}?document=true"),
        &[("X-Environment-Key", &server_key)],
    )
    .await;
    // On subscribe: the complete set, as /api/v1/flags/ shows it to the same key.
    let first = browser.next(WAIT).await;
    assert_eq!(first.event, "flags");
    let body = first.json();
    assert_eq!(body["complete"], true);
    let flags = client()
        .get(server.url("/api/v1/flags/"))
        .header("X-Environment-Key", &client_key)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(body["flags"], flags);
    assert_eq!(
        names(&body["flags"]),
        ["banner"],
        "client keys never see secret"
    );
    let revision = body["revision"].as_u64().unwrap();
    assert_eq!(first.id.as_deref(), Some(revision.to_string().as_str()));
    let server_first = backend.next(WAIT).await;
    assert_eq!(names(&server_first.json()["flags"]), ["banner", "secret"]);
    let document = backend.next(WAIT).await;
    assert_eq!(document.event, "document");
    assert_eq!(document.json()["api_key"], client_key.as_str());

    // A change: only the changed flag, with the next revision.
    set_banner(&server, "v2").await;
    let change = browser.next(WAIT).await;
    let body = change.json();
    assert_eq!(body["complete"], false);
    assert_eq!(names(&body["flags"]), ["banner"]);
    assert_eq!(body["flags"][0]["feature_state_value"], "v2");
    assert_eq!(body["removed"], json!([]));
    let changed = body["revision"].as_u64().unwrap();
    assert!(changed > revision);
    let server_change = backend.next(WAIT).await;
    assert_eq!(names(&server_change.json()["flags"]), ["banner"]);
    let document = backend.next(WAIT).await;
    assert_eq!(document.event, "document");
    assert_eq!(document.id.as_deref(), Some(changed.to_string().as_str()));

    // A change the client key cannot see reaches only the server key's stream.
    let (status, _) = admin
        .call(
            reqwest::Method::PATCH,
            "/admin/v1/environments/1/features/2/state",
            Some(json!({"enabled": true, "value": 43})),
        )
        .await;
    assert_eq!(status, 200);
    let secret = backend.next(WAIT).await;
    assert_eq!(names(&secret.json()["flags"]), ["secret"]);
    assert_eq!(backend.next(WAIT).await.event, "document");
    let ping = browser.next_any(Duration::from_secs(5)).await.unwrap();
    assert_eq!(ping.comment.as_deref(), Some("ping"), "{ping:?}");

    // A removed feature is named.
    let (status, _) = admin
        .call(reqwest::Method::DELETE, "/admin/v1/features/2", None)
        .await;
    assert_eq!(status, 204);
    let removed = backend.next(WAIT).await;
    assert_eq!(removed.json()["removed"], json!(["secret"]), "{removed:?}");
    assert_eq!(backend.next(WAIT).await.event, "document");

    // Resuming from the first revision: exactly what changed since, at the newest revision.
    let mut resumed = EventStream::open(
        &url,
        &[
            ("X-Environment-Key", &client_key),
            ("Last-Event-ID", &revision.to_string()),
        ],
    )
    .await;
    let missed = resumed.next(WAIT).await;
    let body = missed.json();
    assert_eq!(missed.event, "flags");
    assert_eq!(body["complete"], false);
    assert_eq!(body["flags"][0]["feature_state_value"], "v2");
    let newest = body["revision"].as_u64().unwrap();
    // Up to date: nothing but keep-alives.
    let mut current = EventStream::open(
        &url,
        &[
            ("X-Environment-Key", &client_key),
            ("Last-Event-ID", &newest.to_string()),
        ],
    )
    .await;
    let ping = current.next_any(Duration::from_secs(5)).await.unwrap();
    assert_eq!(ping.comment.as_deref(), Some("ping"), "{ping:?}");
    // A revision it does not remember: told to refetch, with the complete set.
    for unknown in ["999999", "not-a-number"] {
        let mut lost = EventStream::open(
            &url,
            &[
                ("X-Environment-Key", &client_key),
                ("Last-Event-ID", unknown),
            ],
        )
        .await;
        let refetch = lost.next(WAIT).await;
        assert_eq!(refetch.event, "refetch");
        assert_eq!(refetch.json()["complete"], true);
        assert_eq!(
            refetch.json()["flags"],
            flags_now(&server, &client_key).await
        );
    }

    // Revoking the server key ends its stream.
    let keys = admin.get("/admin/v1/environments/1/server-keys").await;
    let id = keys["items"][0]["id"].as_u64().unwrap();
    let (status, _) = admin
        .call(
            reqwest::Method::DELETE,
            &format!("/admin/v1/server-keys/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    loop {
        match backend.next_any(WAIT).await {
            None => break,
            Some(event) => assert!(event.comment.is_some(), "{event:?}"),
        }
    }
}

async fn flags_now(server: &Server, key: &str) -> Value {
    client()
        .get(server.url("/api/v1/flags/"))
        .header("X-Environment-Key", key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn native_stream_refuses_what_it_cannot_serve() {
    let (server, client_key, server_key) = fixture().await;
    for (query, headers, status, needle) in [
        (String::new(), vec![], 403, "Invalid or missing"),
        (
            format!("?environment_key={server_key}"),
            vec![],
            400,
            "server_key_in_url",
        ),
        (
            "?document=true".to_owned(),
            vec![("X-Environment-Key", client_key.as_str())],
            400,
            "server-side key",
        ),
        (
            "?document=yes".to_owned(),
            vec![("X-Environment-Key", server_key.as_str())],
            400,
            "true or false",
        ),
        (
            String::new(),
            vec![("X-Environment-Key", "unknown-key")],
            403,
            "Invalid or missing",
        ),
    ] {
        let mut request = client().get(server.url(&format!("/api/v1/flags/stream{query}")));
        for (name, value) in &headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{query} {headers:?}");
        let body = response.text().await.unwrap();
        assert!(body.contains(needle), "{query}: {body}");
    }
}

/// The official Python SDK in real-time mode (local evaluation, polling off) picks up a
/// change through Burgee's Flagsmith-compatible stream.
#[tokio::test]
async fn python_sdk_realtime_mode_picks_up_a_change() {
    let Some(python) = std::env::var_os("BURGEE_SDK_PYTHON").filter(|p| Path::new(p).exists())
    else {
        common::skip_or_fail("BURGEE_SDK_PYTHON is not set (scripts/test-all.sh installs it)");
        return;
    };
    let (server, _, server_key) = fixture().await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk-tests/python/realtime.py");
    let mut child = Command::new(python)
        .arg(script)
        .arg(server.url("/api/v1/"))
        .arg(server.url("/"))
        .arg(&server_key)
        .arg("banner")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, values) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let next = || values.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(next(), "\"hello\"");
    // The stream is open once the server counts a subscriber.
    let started = std::time::Instant::now();
    while common::server::metric(&server, "burgee_sse_subscribers{stream=\"flagsmith\"}").await
        != Some(1.0)
    {
        assert!(started.elapsed() < WAIT, "the SDK never subscribed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    set_banner(&server, "pushed").await;
    assert_eq!(next(), "\"pushed\"");
    let _ = child.kill();
    let _ = child.wait();
}

/// Every node of a cluster streams the changes it applies, whichever node took the write.
#[tokio::test]
async fn every_cluster_node_streams_changes() {
    let cluster = common::cluster::Cluster::start(3);
    let leader = cluster.ready(Duration::from_secs(30)).await;
    let key = cluster.admin(leader).web_production_banner().await;
    let mut streams = Vec::new();
    for id in 1..=3 {
        let node = cluster.node(id);
        common::server::serves_banner(node, &key, "hello", WAIT).await;
        let mut stream = EventStream::open(
            &node.url("/api/v1/flags/stream"),
            &[("X-Environment-Key", &key)],
        )
        .await;
        assert_eq!(stream.next(WAIT).await.json()["complete"], true);
        streams.push(stream);
    }
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    set_banner(cluster.node(follower), "everywhere").await;
    let mut revisions = Vec::new();
    for stream in &mut streams {
        let change = stream.next(WAIT).await.json();
        assert_eq!(change["flags"][0]["feature_state_value"], "everywhere");
        revisions.push(change["revision"].clone());
    }
    // The same revision on every node: a client may resume on another one.
    assert!(revisions.windows(2).all(|w| w[0] == w[1]), "{revisions:?}");
}
