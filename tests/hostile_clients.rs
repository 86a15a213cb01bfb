//! Clients that hold connections without using them, against the real server with short
//! timeouts: idle and slow-header connections are dropped within their timeouts while the
//! server keeps answering, a keep-alive connection is idle (not slow) between requests,
//! real-time streams outlive the idle timeout, and past the connection cap new connections
//! are refused at once while the ops listener still answers.

#![allow(clippy::unwrap_used)] // test helpers fail loudly

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::server::{Admin, Server, client, metric, set_banner};
use common::sse::EventStream;

/// Far beyond every timeout here: only a server that never closes runs into it.
const WAIT: Duration = Duration::from_secs(60);

fn address(server: &Server) -> SocketAddr {
    server
        .base
        .strip_prefix("http://")
        .unwrap()
        .parse()
        .unwrap()
}

/// Whether the server has closed `socket` (a read sees the end, or a reset).
fn closed(socket: &mut TcpStream) -> bool {
    socket.set_nonblocking(true).unwrap();
    let mut buffer = [0u8; 512];
    loop {
        match socket.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => {} // a response or refusal before the close: read on
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// Waits until every socket is closed by the server.
async fn all_closed(mut sockets: Vec<TcpStream>, what: &str) {
    let started = Instant::now();
    while !sockets.is_empty() {
        sockets.retain_mut(|s| !closed(s));
        assert!(
            started.elapsed() < WAIT,
            "{} {what} connections still open after {WAIT:?}",
            sockets.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn open_connections(server: &Server) -> f64 {
    metric(server, "burgee_open_connections{listener=\"sdk\"}")
        .await
        .unwrap_or(0.0)
}

async fn serves(server: &Server, key: &str) {
    let liveness = client()
        .get(server.url("/health/liveness"))
        .send()
        .await
        .unwrap();
    assert_eq!(liveness.status().as_u16(), 200);
    let flags = client()
        .get(server.url("/api/v1/flags/"))
        .header("X-Environment-Key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(flags.status().as_u16(), 200);
}

#[tokio::test]
async fn idle_and_slow_header_connections_are_dropped_while_the_server_answers() {
    let server = Server::start_fresh(&["--header-read-timeout", "2s", "--idle-timeout", "4s"]);
    let key = Admin::new(&server).web_production_banner().await;
    let target = address(&server);
    let (idle, slow) = tokio::task::spawn_blocking(move || {
        let idle: Vec<TcpStream> = (0..5000)
            .map(|_| TcpStream::connect(target).unwrap())
            .collect();
        let slow: Vec<TcpStream> = (0..1000)
            .map(|_| {
                let mut socket = TcpStream::connect(target).unwrap();
                socket
                    .write_all(b"GET /api/v1/flags/ HTTP/1.1\r\nHost: burgee\r\n")
                    .unwrap();
                socket
            })
            .collect();
        (idle, slow)
    })
    .await
    .unwrap();
    // A trickle of header lines does not buy a slow client more time.
    let drip = tokio::task::spawn_blocking(move || {
        let mut slow = slow;
        for _ in 0..6 {
            std::thread::sleep(Duration::from_millis(500));
            for socket in &mut slow {
                let _ = socket.write_all(b"X-Slow: yes\r\n");
            }
        }
        slow
    });
    // While they are held, the server answers.
    for _ in 0..5 {
        serves(&server, &key).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let slow = drip.await.unwrap();
    all_closed(slow, "slow-header").await;
    all_closed(idle, "idle").await;
    serves(&server, &key).await;
    let text = common::server::metrics_text(&server).await;
    for reason in ["idle", "header_timeout"] {
        let closed: f64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!(
                    "burgee_connections_closed_total{{listener=\"sdk\",reason=\"{reason}\"}} "
                ))?
                .parse()
                .ok()
            })
            .unwrap_or(0.0);
        let least = if reason == "idle" { 5000.0 } else { 1000.0 };
        assert!(closed >= least, "{reason}: {closed}");
    }
    assert!(open_connections(&server).await < 10.0);
}

#[tokio::test]
async fn keep_alive_connections_are_idle_between_requests_and_streams_outlive_the_idle_timeout() {
    let server = Server::start_fresh(&[
        "--header-read-timeout",
        "2s",
        "--idle-timeout",
        "8s",
        "--sse-ping-interval",
        "60s",
    ]);
    let key = Admin::new(&server).web_production_banner().await;
    let target = address(&server);
    let request =
        format!("GET /api/v1/flags/ HTTP/1.1\r\nHost: burgee\r\nX-Environment-Key: {key}\r\n\r\n");
    let answers = tokio::task::spawn_blocking(move || {
        let mut socket = TcpStream::connect(target).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut statuses = Vec::new();
        for pause in [Duration::ZERO, Duration::from_millis(3500)] {
            std::thread::sleep(pause);
            socket.write_all(request.as_bytes()).unwrap();
            let mut buffer = [0u8; 4096];
            let read = socket.read(&mut buffer).unwrap();
            statuses.push(
                String::from_utf8_lossy(&buffer[..read])
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned(),
            );
        }
        statuses
    })
    .await
    .unwrap();
    assert_eq!(
        answers,
        ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"],
        "waiting longer than the header timeout between requests is idle, not slow"
    );

    // A stream with no ping for a minute outlives an idle timeout of 2 s.
    let server = Server::start_fresh(&["--idle-timeout", "2s", "--sse-ping-interval", "60s"]);
    let key = Admin::new(&server).web_production_banner().await;
    let mut stream = EventStream::open(
        &server.url("/api/v1/flags/stream"),
        &[("X-Environment-Key", &key)],
    )
    .await;
    assert!(stream.next_any(WAIT).await.is_some(), "the complete set");
    tokio::time::sleep(Duration::from_secs(5)).await;
    set_banner(&server, "still streaming").await;
    let event = stream.next_any(WAIT).await.expect("the stream is open");
    assert!(event.data.contains("still streaming"), "{event:?}");
}

#[tokio::test]
async fn past_the_cap_connections_are_refused_and_the_ops_port_answers() {
    let server = Server::start_fresh(&["--max-connections", "50", "--ops-listen", "127.0.0.1:0"]);
    let ops = server.ops_base.clone().expect("the ops listener's address");
    let target = address(&server);
    let held = tokio::task::spawn_blocking(move || {
        (0..50)
            .map(|_| TcpStream::connect(target).unwrap())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    let ops_metric = |name: &'static str| {
        let ops = ops.clone();
        async move {
            let text = client()
                .get(format!("{ops}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
                .unwrap_or(0.0)
        }
    };
    let started = Instant::now();
    while ops_metric("burgee_open_connections{listener=\"sdk\"}").await < 50.0 {
        assert!(
            started.elapsed() < WAIT,
            "the server never held 50 connections"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The 51st is answered at once, with a 503 or by a closed connection, never served.
    let refused = tokio::time::timeout(
        Duration::from_secs(20),
        client()
            .get(format!("{}/health/liveness", server.base))
            .send(),
    )
    .await
    .expect("a refusal, not a wait");
    if let Ok(response) = refused {
        assert_eq!(response.status().as_u16(), 503);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "too_many_connections");
    }
    assert!(ops_metric("burgee_connections_refused_total{listener=\"sdk\"}").await >= 1.0);
    let liveness = client()
        .get(format!("{ops}/health/liveness"))
        .send()
        .await
        .unwrap();
    assert_eq!(liveness.status().as_u16(), 200);
    // The ops listener serves probes and metrics only.
    let sdk = client()
        .get(format!("{ops}/api/v1/flags/"))
        .send()
        .await
        .unwrap();
    assert_eq!(sdk.status().as_u16(), 404);
    drop(held);
    let started = Instant::now();
    loop {
        if let Ok(response) = client().get(server.url("/health/liveness")).send().await
            && response.status().as_u16() == 200
        {
            break;
        }
        assert!(
            started.elapsed() < WAIT,
            "the server never took connections again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
