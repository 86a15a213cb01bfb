//! Durability before acknowledgement, observed from outside: the real server runs under
//! `strace`, and every acknowledged write must be preceded by a completed fsync/fdatasync of
//! the file that makes it durable (the Raft log). `kill -9` cannot show a missing fsync (the
//! page cache survives it); the system calls can.

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::server::{Admin, Server, client};
use serde_json::json;

/// Events of the trace in order: a completed sync of the database, or the start of an HTTP
/// response with its status line.
#[derive(Debug, PartialEq)]
enum Event {
    Synced,
    Response(String),
}

fn events(trace: &str, database: &str) -> Vec<Event> {
    let mut pending_sync: HashMap<&str, bool> = HashMap::new();
    let mut out = Vec::new();
    for line in trace.lines() {
        let pid = line.split_whitespace().next().unwrap_or_default();
        let is_sync = line.contains("fsync(") || line.contains("fdatasync(");
        if is_sync && line.contains(database) {
            if line.ends_with("<unfinished ...>") {
                pending_sync.insert(pid, true);
            } else if line.ends_with("= 0") {
                out.push(Event::Synced);
            }
        } else if line.contains("resumed>")
            && (line.contains("fsync") || line.contains("fdatasync"))
        {
            if pending_sync.remove(pid).is_some() && line.ends_with("= 0") {
                out.push(Event::Synced);
            }
        } else if let Some(at) = line.find("\"HTTP/1.1 ") {
            let status = line[at + 1..].chars().take(12).collect();
            out.push(Event::Response(status));
        }
    }
    out
}

#[tokio::test]
async fn every_acknowledged_write_follows_an_fsync_of_the_database() {
    if !common::strace_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let trace_path = dir.path().join("trace.txt");
    let server = Server::start_traced(
        &trace_path,
        "fsync,fdatasync,write,writev,sendto,sendmsg",
        &[],
    );
    let admin = Admin::new(&server);
    // Admin writes of several kinds, then SDK identify calls that store traits.
    let key = admin.web_production().await;
    for i in 0..10 {
        admin
            .post(
                "/admin/v1/projects/1/features",
                json!({"name": format!("flag{i}"), "initial_value": i}),
            )
            .await;
    }
    let http = client();
    for i in 0..10 {
        let response = http
            .post(server.url("/api/v1/identities/"))
            .header("X-Environment-Key", &key)
            .json(&json!({"identifier": format!("user{i}"), "traits": [{"trait_key": "n", "trait_value": i}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let acknowledged = 22;

    // Stop the server (the traced process, not strace) and read the whole trace.
    let trace_text = std::fs::read_to_string(&trace_path).unwrap();
    let tracee = trace_text.split_whitespace().next().unwrap().to_owned();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &tracee])
        .status();
    let mut server = server;
    for _ in 0..200 {
        if server.child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let trace_text = std::fs::read_to_string(&trace_path).unwrap();
    // The Raft log is the durable point of a write (the state file is synced at checkpoints;
    // after a crash the log is applied again from there).
    // Its segment files are `raft/log/<first index, 20 digits>.seg`.
    let segments = server.data_dir.join("raft").join("log").join("000");
    assert_synced_before_each_response(&trace_text, &segments, acknowledged);
}

fn assert_synced_before_each_response(
    trace: &str,
    database: &std::path::Path,
    acknowledged: usize,
) {
    let events = events(trace, &database.display().to_string());
    let responses: Vec<&String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Response(status) => Some(status),
            Event::Synced => None,
        })
        .collect();
    assert_eq!(
        responses.len(),
        acknowledged,
        "every request was answered once (the trace saw {responses:?})"
    );
    // Before each acknowledgement: a completed sync since the previous one.
    let mut synced_since_last = false;
    for (position, event) in events.iter().enumerate() {
        match event {
            Event::Synced => synced_since_last = true,
            Event::Response(status) => {
                assert!(
                    synced_since_last,
                    "response {status:?} (event {position}) was sent with no fsync of {} since the previous one",
                    database.display()
                );
                synced_since_last = false;
            }
        }
    }
}

#[test]
fn the_trace_reader_sees_unfinished_syncs_and_responses() {
    let trace = "\
10 08:00:00.000001 fdatasync(7</d/state.redb> <unfinished ...>
11 08:00:00.000002 write(9<TCP:[1]>, \"x\", 1) = 1
10 08:00:00.000003 <... fdatasync resumed>) = 0
11 08:00:00.000004 writev(9<TCP:[1]>, [{iov_base=\"HTTP/1.1 201 Created\\r\\n\"...}], 2) = 300
10 08:00:00.000005 fsync(8</d/other.redb>) = 0
11 08:00:00.000006 writev(9<TCP:[1]>, [{iov_base=\"HTTP/1.1 200 OK\\r\\n\"...}], 2) = 300";
    assert_eq!(
        events(trace, "/d/state.redb"),
        vec![
            Event::Synced,
            Event::Response("HTTP/1.1 201".into()),
            Event::Response("HTTP/1.1 200".into()),
        ]
    );
}
