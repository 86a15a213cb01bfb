//! TLS between nodes with the real binary: a three-node cluster whose cluster ports speak
//! mutual TLS forms, replicates and survives a restart; its ports refuse plain http, a
//! client without a certificate and one whose certificate another CA issued, while a node's
//! own certificate is let in; a renewed certificate is served without a restart and the
//! cluster goes on; settings that cannot work are refused at start with a clear message.

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::certs::{TestCa, replace, served_serial};
use common::cluster::{Cluster, Formation, SECRET, project_names};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Node `id`'s certificate and key, where the node reads them.
fn node_files(root: &Path, id: usize) -> (PathBuf, PathBuf) {
    (
        root.join(format!("cluster{id}.pem")),
        root.join(format!("cluster{id}.key")),
    )
}

/// A client of cluster ports trusting `ca`, showing `certificate` (`[cert, key]`) if given.
fn cluster_client(ca: &Path, certificate: Option<(&Path, &Path)>) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder =
        rustls::ClientConfig::builder().with_root_certificates(burgee::tls::roots(ca).unwrap());
    let mut config = match certificate {
        Some((cert, key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            builder
                .with_client_auth_cert(chain, PrivateKeyDer::from_pem_file(key).unwrap())
                .unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Asks the cluster port at `url` which cluster it belongs to: the status, or the error.
async fn hello(client: &reqwest::Client, url: &str) -> Result<u16, String> {
    let answer = client
        .post(format!("{url}/raft/hello"))
        .header(burgee_raft::network::SECRET_HEADER, SECRET)
        .header("content-type", "application/octet-stream")
        .body(postcard::to_stdvec(&()).unwrap())
        .send()
        .await;
    match answer {
        Ok(response) => Ok(response.status().as_u16()),
        Err(error) => Err(format!("{error:?}")),
    }
}

#[tokio::test]
async fn a_cluster_speaks_mutual_tls_and_takes_a_renewed_certificate() {
    let temp = tempfile::tempdir().unwrap();
    let ca = TestCa::new(temp.path());
    let other_dir = temp.path().join("other");
    std::fs::create_dir(&other_dir).unwrap();
    let other_ca = TestCa::new(&other_dir);
    let ca_path = ca.cert.to_str().unwrap().to_owned();
    let mut cluster = Cluster::prepared(3, Formation::Initial, &["--tls-client-ca", &ca_path]);
    cluster.use_https();
    for id in 1..=3 {
        let (issued_cert, issued_key) = ca.server(&format!("issued{id}"));
        let (cert, key) = node_files(temp.path(), id);
        replace(&issued_cert, &cert);
        replace(&issued_key, &key);
        let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
        cluster.node_args(id, &["--cluster-tls-cert", cert, "--cluster-tls-key", key]);
    }
    cluster.start_all();
    let leader = cluster.ready(Duration::from_secs(60)).await;
    let status = cluster.status(leader).await;
    let urls: Vec<&str> = status["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["url"].as_str().unwrap())
        .collect();
    assert!(
        urls.len() == 3 && urls.iter().all(|u| u.starts_with("https://127.0.0.1:")),
        "{status}"
    );
    let (code, body) = cluster.create_project(1, "over-tls").await;
    assert_eq!(code, 201, "{body}");
    for id in 1..=3 {
        cluster
            .eventually(id, "the project replicated over TLS", |admin| async move {
                project_names(&admin).await.contains(&"over-tls".to_owned())
            })
            .await;
    }

    // Who the cluster port lets in: a node's own certificate, nobody else.
    let port = cluster.cluster_url(2);
    let (node_cert, node_key) = node_files(temp.path(), 1);
    let member = cluster_client(&ca.cert, Some((&node_cert, &node_key)));
    assert_eq!(hello(&member, &port).await, Ok(200));
    let anonymous = cluster_client(&ca.cert, None);
    let refused = hello(&anonymous, &port).await;
    assert!(refused.is_err(), "no client certificate: {refused:?}");
    let (stranger_cert, stranger_key) = other_ca.server("stranger");
    let stranger = cluster_client(&ca.cert, Some((&stranger_cert, &stranger_key)));
    let refused = hello(&stranger, &port).await;
    assert!(refused.is_err(), "another CA's certificate: {refused:?}");
    let plain = common::server::client()
        .post(format!("http://{}/raft/hello", cluster.cluster_address(2)))
        .header(burgee_raft::network::SECRET_HEADER, SECRET)
        .send()
        .await;
    assert!(
        plain.is_err() || !plain.as_ref().unwrap().status().is_success(),
        "plain http to a TLS cluster port: {plain:?}"
    );

    // A renewed certificate is served without a restart, and the cluster goes on with it.
    let address = cluster.cluster_address(2);
    let shown = [node_cert.as_path(), node_key.as_path()];
    let before = served_serial(&address, &shown);
    assert!(before.starts_with("serial="), "{before:?}");
    let (renewed_cert, renewed_key) = ca.server("renewed2");
    let (cert, key) = node_files(temp.path(), 2);
    replace(&renewed_key, &key);
    replace(&renewed_cert, &cert);
    let started = std::time::Instant::now();
    loop {
        let now = served_serial(&address, &shown);
        if now != before && now.starts_with("serial=") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "node 2 still serves {before} after its certificate was renewed"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Node 2 restarts on the renewed certificate and catches up over TLS.
    cluster.kill(2);
    let (code, body) = cluster.create_project(1, "while-2-was-down").await;
    assert!(code == 201 || code == 503, "{code} {body}");
    cluster.start_node(2);
    cluster.ready(Duration::from_secs(60)).await;
    let (code, body) = cluster.create_project(1, "after-renewal").await;
    assert_eq!(code, 201, "{body}");
    cluster
        .eventually(
            2,
            "node 2 caught up after its restart",
            |admin| async move {
                project_names(&admin)
                    .await
                    .contains(&"after-renewal".to_owned())
            },
        )
        .await;
}

#[test]
fn cluster_tls_settings_that_cannot_work_are_refused_at_start() {
    let temp = tempfile::tempdir().unwrap();
    let ca = TestCa::new(temp.path());
    let (cert, key) = ca.server("node");
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let data = temp.path().join("data");
    let data = data.to_str().unwrap();
    let listen = format!("127.0.0.1:{}", common::cluster::free_port());
    let serve = |extra: &[&str]| {
        let mut args = vec![
            "serve",
            "--data-dir",
            data,
            "--listen",
            "127.0.0.1:0",
            "--cluster-listen",
            &listen,
            "--cluster-secret",
            SECRET,
        ];
        args.extend(extra);
        common::server::run_cli(&args, &[])
    };
    let cases: [(&[&str], &str); 4] = [
        (
            &["--cluster-tls-cert", cert, "--cluster-tls-key", key],
            "--cluster-ca",
        ),
        (
            &["--tls-client-ca", ca.cert.to_str().unwrap()],
            "--cluster-tls-cert",
        ),
        (
            &[
                "--cluster-tls-cert",
                cert,
                "--cluster-tls-key",
                key,
                "--cluster-ca",
                ca.cert.to_str().unwrap(),
                "--advertise-cluster-url",
                "http://127.0.0.1:7946",
            ],
            "https://",
        ),
        (
            &[
                "--cluster-tls-cert",
                key,
                "--cluster-tls-key",
                key,
                "--cluster-ca",
                ca.cert.to_str().unwrap(),
            ],
            "no PEM certificate",
        ),
    ];
    for (extra, said) in cases {
        let (code, _, stderr) = serve(extra);
        assert_ne!(code, 0, "{extra:?} started");
        assert!(stderr.contains(said), "{extra:?}: {stderr}");
    }
}
