//! Reaching PostgreSQL over verified TLS with a password from a file, on a private server
//! that requires SCRAM passwords and speaks TLS with a certificate from a CA of its own.

#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)] // test helpers fail loudly

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::private::PrivatePostgres;
use common::server::{Admin, Server, TOKEN};
use serde_json::json;

const PASSWORD: &str = "a-postgres-password-0123";

/// `burgee serve` with `args` that must fail to start: its stderr.
fn refused(data_dir: &std::path::Path, args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_burgee"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .env("BURGEE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..300 {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success());
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            return stderr;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("the server started although it should not have");
}

#[tokio::test(flavor = "multi_thread")]
async fn verified_tls_and_a_password_file() {
    let Some(postgres) = PrivatePostgres::start_with(Some(PASSWORD), true) else {
        return;
    };
    let temp = tempfile::tempdir().unwrap();
    let password_file = temp.path().join("pg-password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    let ca = postgres.ca_file.clone().unwrap();
    let url = format!("{}?sslmode=require", postgres.url());
    let pw = password_file.to_str().unwrap();
    let server = Server::start_in(
        &temp.path().join("replica"),
        &[
            "--store",
            "postgres",
            "--postgres-url",
            &url,
            "--postgres-password-file",
            pw,
            "--postgres-ca-file",
            ca.to_str().unwrap(),
            "--bootstrap-token",
            TOKEN,
        ],
    );
    let admin = Admin::new(&server);
    admin
        .post("/admin/v1/projects", json!({"name": "Web"}))
        .await;
    // Every session Burgee holds is encrypted.
    let check_url = format!(
        "postgres://postgres:{PASSWORD}@127.0.0.1:{}/postgres",
        postgres.port
    );
    let rows = std::thread::spawn(move || {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let (client, connection) = tokio_postgres::connect(&check_url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            client
                .query(
                    "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                     WHERE a.application_name = 'burgee'",
                    &[],
                )
                .await
                .unwrap()
                .iter()
                .map(|row| row.get::<_, bool>(0))
                .collect::<Vec<bool>>()
        })
    })
    .join()
    .unwrap();
    assert!(
        rows.len() >= 2,
        "the writer and the listener at least: {rows:?}"
    );
    assert!(
        rows.iter().all(|ssl| *ssl),
        "a session without TLS: {rows:?}"
    );
    drop(server.kill());

    // Without the private CA the certificate is not trusted.
    let stderr = refused(
        &temp.path().join("untrusted"),
        &[
            "--store",
            "postgres",
            "--postgres-url",
            &url,
            "--postgres-password-file",
            pw,
        ],
    );
    assert!(stderr.to_lowercase().contains("certificate"), "{stderr}");
    // A wrong password is refused, and said so.
    let wrong = temp.path().join("wrong");
    std::fs::write(&wrong, "not-the-password").unwrap();
    let stderr = refused(
        &temp.path().join("wrong-password"),
        &[
            "--store",
            "postgres",
            "--postgres-url",
            &url,
            "--postgres-password-file",
            wrong.to_str().unwrap(),
            "--postgres-ca-file",
            ca.to_str().unwrap(),
        ],
    );
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );
}
