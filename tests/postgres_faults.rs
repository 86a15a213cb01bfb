//! Faults of the servers the PostgreSQL store depends on, on private PostgreSQL and Redis
//! instances (the machine's shared ones are never restarted): PostgreSQL restarted under
//! load, and Redis killed and brought back.

#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)] // test helpers fail loudly

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::postgres::Schema;
use common::private::{PrivatePostgres, PrivateRedis};
use common::server::{Admin, Server, TOKEN, client, serves_banner, set_banner};

/// How long a change may take to be served.
const WAIT: Duration = Duration::from_secs(15);
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn postgres_restarted_under_load_loses_no_acknowledged_write() {
    let Some(postgres) = PrivatePostgres::start() else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let url = postgres.url();
    let server = Server::start_in(
        &temp.path().join("replica"),
        &[
            "--store",
            "postgres",
            "--postgres-url",
            &url,
            "--bootstrap-token",
            TOKEN,
        ],
    );
    let key = Admin::new(&server).web_production_banner().await;
    let stop = Arc::new(AtomicBool::new(false));
    // Writers: features created one after another by four clients, every answer kept.
    let mut writers = Vec::new();
    for w in 0..4 {
        let (base, stop) = (server.base.clone(), Arc::clone(&stop));
        writers.push(tokio::spawn(async move {
            let mut answers: Vec<(String, u16, Value)> = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let name = format!("w{w}-{i}");
                i += 1;
                let response = client()
                    .post(format!("{base}/admin/v1/projects/1/features"))
                    .bearer_auth(TOKEN)
                    .json(&json!({"name": name}))
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                answers.push((name, status, body));
            }
            answers
        }));
    }
    // A reader: the SDK API is served from memory and never fails meanwhile.
    let reader = {
        let (base, stop, key) = (server.base.clone(), Arc::clone(&stop), key.clone());
        tokio::spawn(async move {
            let mut reads = 0u32;
            while !stop.load(Ordering::SeqCst) {
                let response = client()
                    .get(format!("{base}/api/v1/flags/"))
                    .header("X-Environment-Key", &key)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status().as_u16(), 200, "the SDK API failed");
                reads += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            reads
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    postgres.stop();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let readiness = client()
        .get(server.url("/health/readiness"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        readiness.status().as_u16(),
        503,
        "not ready without PostgreSQL"
    );
    postgres.resume();
    // Writes succeed again by themselves.
    let started = Instant::now();
    loop {
        let response = client()
            .post(server.url("/admin/v1/projects/1/features"))
            .bearer_auth(TOKEN)
            .json(&json!({"name": format!("after-{}", started.elapsed().as_millis())}))
            .send()
            .await
            .unwrap();
        if response.status().as_u16() == 201 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "writes did not recover"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let mut answers = Vec::new();
    for writer in writers {
        answers.extend(writer.await.unwrap());
    }
    assert!(reader.await.unwrap() > 0);
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for (_, status, body) in &answers {
        *by_status.entry(*status).or_default() += 1;
        assert!(
            *status == 201 || *status == 503,
            "a write answered {status} {body}: a storage fault is never a refusal"
        );
        if *status == 503 {
            assert!(
                body["error"]["code"].is_string(),
                "503 without a JSON error: {body}"
            );
        }
    }
    assert!(
        by_status.get(&503).copied().unwrap_or(0) > 0,
        "no write met the outage: {by_status:?}"
    );
    let stored: Vec<String> = Admin::new(&server)
        .all("/admin/v1/projects/1/features")
        .await
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect();
    for (name, status, _) in &answers {
        if *status == 201 {
            assert!(stored.contains(name), "acknowledged {name} is lost");
        }
    }
    // A replica started afresh on the database holds the same.
    let fresh = Server::start_in(
        &temp.path().join("fresh"),
        &["--store", "postgres", "--postgres-url", &url],
    );
    let again = Admin::new(&fresh)
        .all("/admin/v1/projects/1/features")
        .await;
    assert_eq!(again.len(), stored.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn losing_redis_delays_changes_and_they_arrive_once_it_is_back() {
    let (Some(schema), Some(mut redis)) = (Schema::create(), PrivateRedis::start()) else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let (url, redis_url) = (schema.url(), redis.url());
    let args = [
        "--store",
        "postgres",
        "--postgres-url",
        &url,
        "--cache",
        "redis",
        "--redis-url",
        &redis_url,
        "--bootstrap-token",
        TOKEN,
    ];
    // Polling off: a change reaches another replica through Redis, or not at all.
    let quiet = [("BURGEE_PG_POLL_SECONDS", "3600")];
    let a = Server::start_with(&temp.path().join("a"), &args, &quiet);
    let b = Server::start_with(&temp.path().join("b"), &args, &quiet);
    let key = Admin::new(&a).web_production_banner().await;
    set_banner(&a, "one").await;
    serves_banner(&b, &key, "one", WAIT).await;
    redis.kill();
    // Writes do not depend on Redis.
    set_banner(&a, "two").await;
    serves_banner(&a, &key, "two", WAIT).await;
    redis.resume();
    // B subscribes again by itself and catches up with what it missed.
    serves_banner(&b, &key, "two", WAIT).await;
    set_banner(&a, "three").await;
    serves_banner(&b, &key, "three", WAIT).await;
}
