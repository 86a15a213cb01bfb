//! Exports stream: 100 000 audit entries (`BURGEE_AUDIT_EXPORT_ENTRIES` to change it) go out
//! as JSON Lines and as CSV while the server's memory stays flat.

#![allow(clippy::unwrap_used)] // test helpers fail loudly

mod common;

use common::access::{Auth, call};
use common::server::{Server, TOKEN, client};
use reqwest::Method;
use serde_json::{Value, json};

fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap()
}

/// Reads an export as it streams; returns its lines' count, its last line, and the largest
/// resident size the server reached meanwhile.
async fn export(server: &Server, format: &str) -> (usize, String, u64, usize) {
    let mut response = client()
        .get(server.url(&format!("/admin/v1/audit/export?format={format}")))
        .bearer_auth(TOKEN)
        .timeout(std::time::Duration::from_secs(600))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let pid = server.child.id();
    let mut lines = 0;
    let mut bytes = 0;
    let mut tail = String::new();
    let mut last = String::new();
    let mut peak = 0;
    let mut previous_seq = 0u64;
    while let Some(chunk) = response.chunk().await.unwrap() {
        bytes += chunk.len();
        peak = peak.max(resident_kib(pid));
        tail.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = tail.find('\n') {
            let line: String = tail.drain(..=end).collect();
            lines += 1;
            if format == "jsonl" && !line.starts_with("{\"chain_head\"") {
                let entry: Value = serde_json::from_str(&line).unwrap();
                let seq = entry["seq"].as_u64().unwrap();
                assert_eq!(seq, previous_seq + 1, "every entry once, in order");
                previous_seq = seq;
            }
            // The last line carries the chain head.
            line.trim_end().clone_into(&mut last);
        }
    }
    (lines, last, peak, bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_entries_stream_out_in_both_formats() {
    let total: usize = std::env::var("BURGEE_AUDIT_EXPORT_ENTRIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let server = Server::start();
    // A viewer token: each refused request is one audit entry.
    let (_, _, viewer) = call(
        &server,
        &Auth::admin(),
        Method::POST,
        "/admin/v1/tokens",
        Some(&json!({"name": "viewer", "role": "viewer"})),
    )
    .await;
    let viewer = viewer["token"].as_str().unwrap().to_owned();
    let http = client();
    let url = server.url("/admin/v1/projects");
    let workers = 64;
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let (http, url, viewer) = (http.clone(), url.clone(), viewer.clone());
        tasks.push(tokio::spawn(async move {
            for _ in (worker..total).step_by(workers) {
                let status = http
                    .post(&url)
                    .bearer_auth(&viewer)
                    .json(&json!({"name": "x"}))
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(status.as_u16(), 403);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let (_, _, verified) = call(
        &server,
        &Auth::admin(),
        Method::GET,
        "/admin/v1/audit/verify",
        None,
    )
    .await;
    let entries = verified["verification"]["entries"].as_u64().unwrap() as usize;
    assert!(entries > total, "{verified}");
    let head = verified["verification"]["head"]
        .as_str()
        .unwrap()
        .to_owned();
    let baseline = resident_kib(server.child.id());

    let (lines, last, peak, bytes) = export(&server, "jsonl").await;
    assert_eq!(lines, entries + 1, "every entry, then the chain head");
    let trailer: Value = serde_json::from_str(&last).unwrap();
    assert_eq!(trailer["chain_head"]["hash"], head);
    let growth = peak.saturating_sub(baseline);
    eprintln!("server resident before the exports: {} MiB", baseline >> 10);
    eprintln!(
        "jsonl: {entries} entries, {} MiB, server memory +{} MiB at most",
        bytes >> 20,
        growth >> 10
    );
    // Held whole, the export alone would take more than its size.
    assert!(bytes > 20 << 20 || total < 100_000, "{bytes}");
    assert!(
        growth < 48 * 1024,
        "the export is streamed: resident memory grew by {growth} KiB"
    );

    let (lines, last, peak, bytes) = export(&server, "csv").await;
    assert_eq!(
        lines,
        entries + 2,
        "a header, every entry, then the chain head"
    );
    assert_eq!(last, format!("#chain_head,{entries},{head}"));
    let growth = peak.saturating_sub(baseline);
    eprintln!(
        "csv: {} MiB, server memory +{} MiB at most",
        bytes >> 20,
        growth >> 10
    );
    assert!(growth < 48 * 1024, "resident memory grew by {growth} KiB");
}
