//! TLS on the API listener with the real binary: https with a private CA, plain http refused
//! on that port, a renewed certificate served without a restart, a broken renewal ignored
//! (the old certificate stays), unusable files refused at start; and the CLI over https
//! with `--ca-file`, refusing to send a token over plain http to another host.

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::certs::{TestCa, replace, served_serial};
use common::server::{Server, TOKEN};

fn https_client(ca: &Path) -> reqwest::Client {
    let config = burgee::cli::https::client_config(Some(ca)).unwrap();
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn burgee(args: &[&str]) -> (i32, String) {
    let (code, _, stderr) = common::server::run_cli(args, &[("BURGEE_TOKEN", TOKEN)]);
    (code, stderr)
}

#[tokio::test]
async fn the_api_speaks_tls_and_takes_a_renewed_certificate_without_a_restart() {
    let temp = tempfile::tempdir().unwrap();
    let ca = TestCa::new(temp.path());
    let (first_cert, first_key) = ca.server("first");
    let (renewed_cert, renewed_key) = ca.server("renewed");
    let (cert, key) = (temp.path().join("tls.pem"), temp.path().join("tls.key"));
    replace(&first_cert, &cert);
    replace(&first_key, &key);

    let server = Server::start_fresh(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(
        server.base.starts_with("https://127.0.0.1:"),
        "{}",
        server.base
    );
    let address = server.base.trim_start_matches("https://").to_owned();
    let http = https_client(&ca.cert);
    let live = http
        .get(server.url("/health/liveness"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let projects = http
        .get(server.url("/admin/v1/projects"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(projects.status(), 200);
    // Plain http on the TLS port gets nothing it can read as HTTP.
    let plain = common::server::client()
        .get(format!("http://{address}/health/liveness"))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");
    // A client without the private CA refuses the certificate.
    let (code, stderr) = burgee(&["projects", "list", "--url", &server.base]);
    assert_ne!(code, 0);
    assert!(
        stderr.to_lowercase().contains("certificate") || stderr.contains("cannot reach"),
        "{stderr}"
    );
    let (code, stderr) = burgee(&[
        "projects",
        "list",
        "--url",
        &server.base,
        "--ca-file",
        ca.cert.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");

    // The probe command works against the TLS port (it checks the port, not the name).
    let probe = Command::new(env!("CARGO_BIN_EXE_burgee"))
        .args(["health", "--url", &server.base])
        .output()
        .unwrap();
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let first = served_serial(&address, &[]);
    assert!(first.starts_with("serial="), "{first}");
    // A broken renewal: the old certificate stays in service.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nnot base64\n").unwrap();
    tokio::time::sleep(burgee::tls::RELOAD_CHECK + Duration::from_secs(2)).await;
    assert_eq!(
        served_serial(&address, &[]),
        first,
        "a broken file is not served"
    );
    assert_eq!(
        http.get(server.url("/health/liveness"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // A real renewal is served without a restart; open clients keep working.
    replace(&renewed_key, &key);
    replace(&renewed_cert, &cert);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = served_serial(&address, &[]);
        if now != first && now.starts_with("serial=") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the renewed certificate is not served"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        http.get(server.url("/health/liveness"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Metrics are behind TLS too.
    let metrics = http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("burgee_tls_reloads_total{outcome=\"loaded\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("burgee_tls_reloads_total{outcome=\"refused\"}"));
}

#[test]
fn unusable_certificate_files_stop_the_server_at_start() {
    let temp = tempfile::tempdir().unwrap();
    let ca = TestCa::new(temp.path());
    let (cert, _key) = ca.server("one");
    let (_other_cert, other_key) = ca.server("two");
    let garbage = temp.path().join("garbage.pem");
    std::fs::write(&garbage, "hello").unwrap();
    let data = temp.path().join("data");
    for (cert, key, says) in [
        (&cert, &other_key, "does not belong to the certificate"),
        (&garbage, &other_key, "holds no PEM certificate"),
        (&cert, &garbage, "no usable PEM private key"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_burgee"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(says), "{says}: {stderr}");
    }
    let output = Command::new(env!("CARGO_BIN_EXE_burgee"))
        .args(["serve", "--tls-cert"])
        .arg(&cert)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "--tls-cert needs --tls-key");
}

#[test]
fn the_cli_sends_no_token_over_plain_http_to_another_host() {
    let (code, stderr) = burgee(&["projects", "list", "--url", "http://flags.example.com"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("refusing to send a credential over plain http to flags.example.com"),
        "{stderr}"
    );
    let (code, stderr) = burgee(&["login", "ada@example.com", "--url", "http://10.1.2.3:8000"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("refusing to send a credential"), "{stderr}");
    // Told so, it tries (and here finds no such host).
    let (code, stderr) = burgee(&[
        "projects",
        "list",
        "--url",
        "http://flags.invalid:8000",
        "--insecure-http",
    ]);
    assert_eq!(code, 2);
    assert!(!stderr.contains("refusing"), "{stderr}");
    assert!(stderr.contains("cannot reach"), "{stderr}");
}
