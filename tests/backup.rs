//! Backups with the real binary: `burgee backup` from a running server under write load,
//! `burgee restore` into a new data directory, a server on it holding every write
//! acknowledged before the backup began (as a new cluster of one); damaged, truncated and
//! foreign files refused with a clear message; only `TAKE_BACKUPS` may take one, and each is
//! audited.

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::access::{Auth, audit, call};
use common::server::{Admin, Server, cli, client};
use reqwest::Method;
use serde_json::{Value, json};

fn burgee_offline(args: &[&str]) -> (i32, String, String) {
    common::server::run_cli(args, &[])
}

async fn identify(base: &str, key: &str, identifier: &str, plan: &str) -> u16 {
    client()
        .post(format!("{base}/api/v1/identities/"))
        .header("X-Environment-Key", key)
        .json(&json!({"identifier": identifier, "traits": [{"trait_key": "plan", "trait_value": plan}]}))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

async fn feature_names(admin: &Admin) -> Vec<String> {
    admin
        .all("/admin/v1/projects/1/features")
        .await
        .iter()
        .filter_map(|f| f["name"].as_str().map(str::to_owned))
        .collect()
}

async fn cluster_id(server: &Server) -> Value {
    let (_, status) = common::server::get_json(server, "/health/cluster").await;
    status["cluster_id"].clone()
}

fn take_backup(server: &Server, out: &Path) -> (i32, String, String) {
    cli(
        server,
        &["backup", "--out", out.to_str().unwrap(), "--output", "json"],
    )
}

#[tokio::test]
async fn a_backup_under_write_load_restores_every_write_acknowledged_before_it() {
    let server = Server::start();
    let admin = Admin::new(&server);
    let key = admin.web_production().await;
    for i in 0..20 {
        admin
            .post(
                "/admin/v1/projects/1/features",
                json!({"name": format!("before-{i}"), "initial_value": i}),
            )
            .await;
        assert_eq!(
            identify(&server.base, &key, &format!("user-{i}"), "pro").await,
            200
        );
    }

    // Writers keep going while the backup streams.
    let running = Arc::new(AtomicBool::new(true));
    let acknowledged: Arc<[AtomicUsize; 2]> = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let mut writers = Vec::new();
    for w in 0..2 {
        let running = Arc::clone(&running);
        let acknowledged = Arc::clone(&acknowledged);
        let base = server.base.clone();
        let key = key.clone();
        writers.push(tokio::spawn(async move {
            let admin = Admin::at(&base);
            let mut n = 0;
            while running.load(Ordering::Relaxed) {
                let (status, _) = admin
                    .call(
                        Method::POST,
                        "/admin/v1/projects/1/features",
                        Some(json!({"name": format!("during-{w}-{n}")})),
                    )
                    .await;
                assert_eq!(status, 201);
                acknowledged[w].store(n + 1, Ordering::SeqCst);
                assert_eq!(
                    identify(&base, &key, &format!("load-{w}-{n}"), "free").await,
                    200
                );
                n += 1;
            }
            n
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Every write acknowledged by now must be in the backup.
    let before_backup: Vec<usize> = acknowledged
        .iter()
        .map(|a| a.load(Ordering::SeqCst))
        .collect();
    assert!(
        before_backup.iter().all(|n| *n > 0),
        "the load runs: {before_backup:?}"
    );
    let temp = tempfile::tempdir().unwrap();
    let file = temp.path().join("flags.backup");
    let (code, stdout, stderr) = {
        let server_base = server.base.clone();
        let file = file.clone();
        tokio::task::spawn_blocking(move || {
            common::server::run_cli(
                &[
                    "backup",
                    "--out",
                    file.to_str().unwrap(),
                    "--output",
                    "json",
                ],
                &[
                    ("BURGEE_URL", &server_base),
                    ("BURGEE_TOKEN", common::server::TOKEN),
                ],
            )
        })
        .await
        .unwrap()
    };
    running.store(false, Ordering::Relaxed);
    let mut during = 0;
    for writer in writers {
        during += writer.await.unwrap();
    }
    let before: usize = before_backup.iter().sum();
    assert!(during > before, "writes went on during the backup");
    assert_eq!(code, 0, "{stderr}");
    let taken: Value = serde_json::from_str(&stdout).unwrap();
    assert!(taken["rows"].as_u64().unwrap() > 40, "{taken}");
    assert_eq!(taken["header"]["burgee_version"], env!("CARGO_PKG_VERSION"));
    assert!(!temp.path().join("flags.backup.partial").exists());

    let (code, stdout, stderr) = burgee_offline(&[
        "backup",
        "verify",
        file.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let verified: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(verified["sha256"], taken["sha256"]);
    assert_eq!(verified["rows"], taken["rows"]);

    let restored_dir = temp.path().join("restored");
    let (code, _, stderr) = burgee_offline(&[
        "restore",
        file.to_str().unwrap(),
        "--data-dir",
        restored_dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    // Restoring over data is refused.
    let (code, _, stderr) = burgee_offline(&[
        "restore",
        file.to_str().unwrap(),
        "--data-dir",
        restored_dir.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(stderr.contains("not empty"), "{stderr}");

    let original_cluster = cluster_id(&server).await;
    let restored = Server::start_in(&restored_dir, &[]);
    let restored_admin = Admin::at(&restored.base);
    let names = feature_names(&restored_admin).await;
    for i in 0..20 {
        assert!(
            names.contains(&format!("before-{i}")),
            "before-{i} is restored"
        );
    }
    for (w, acked) in before_backup.iter().enumerate() {
        for n in 0..*acked {
            let name = format!("during-{w}-{n}");
            assert!(
                names.contains(&name),
                "{name}, acknowledged before the backup, is restored"
            );
        }
    }
    let identity = restored_admin
        .get("/admin/v1/environments/1/identities/user-7")
        .await;
    assert_eq!(identity["traits"]["plan"], "pro", "{identity}");
    // The same bootstrap token signs in (credential hashes are restored too), and the SDK
    // key still serves.
    let flags = client()
        .get(restored.url("/api/v1/flags/"))
        .header("X-Environment-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(flags.status(), 200);
    // A new cluster of one, not a copy of the old one's identity.
    let restored_cluster = cluster_id(&restored).await;
    assert!(restored_cluster.is_string(), "{restored_cluster}");
    assert_ne!(restored_cluster, original_cluster);
    // It takes writes.
    restored_admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "after-restore"}),
        )
        .await;
}

#[tokio::test]
async fn damaged_truncated_and_foreign_files_are_refused_with_a_clear_message() {
    let server = Server::start();
    let admin = Admin::new(&server);
    admin.web_production().await;
    let temp = tempfile::tempdir().unwrap();
    let file = temp.path().join("good.backup");
    let (code, _, stderr) = take_backup(&server, &file);
    assert_eq!(code, 0, "{stderr}");
    let bytes = std::fs::read(&file).unwrap();

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "flipped",
            {
                let mut b = bytes.clone();
                let middle = b.len() / 2;
                b[middle] ^= 0x40;
                b
            },
            "backup",
        ),
        ("truncated", bytes[..bytes.len() - 100].to_vec(), "backup"),
        (
            "no-trailer",
            bytes[..bytes.len() - 40].to_vec(),
            "truncated",
        ),
        (
            "extended",
            [bytes.clone(), b"more".to_vec()].concat(),
            "follow the closing checksum",
        ),
        (
            "foreign",
            b"{\"not\": \"a backup\"}".to_vec(),
            "not a Burgee backup",
        ),
        ("empty", Vec::new(), "too short"),
    ];
    for (name, content, says) in cases {
        let path = temp.path().join(format!("{name}.backup"));
        std::fs::write(&path, &content).unwrap();
        let (code, _, stderr) = burgee_offline(&["backup", "verify", path.to_str().unwrap()]);
        assert_eq!(code, 2, "{name}: refused");
        assert!(stderr.contains(says), "{name}: {stderr}");
        let dir = temp.path().join(format!("restore-{name}"));
        let (code, _, stderr) = burgee_offline(&[
            "restore",
            path.to_str().unwrap(),
            "--data-dir",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(code, 2, "{name}: not restored");
        assert!(stderr.contains(says), "{name}: {stderr}");
        assert!(
            !dir.join("state.redb").exists(),
            "{name}: nothing half-restored"
        );
    }
    // The good one still verifies.
    let (code, _, stderr) = burgee_offline(&["backup", "verify", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
}

#[tokio::test]
async fn only_take_backups_may_take_one_and_each_is_audited() {
    let server = Server::start();
    let admin = Admin::new(&server);
    admin.web_production().await;
    for role in ["editor", "viewer"] {
        let (status, _, token) = call(
            &server,
            &Auth::admin(),
            Method::POST,
            "/admin/v1/tokens",
            Some(&json!({"name": role, "role": role})),
        )
        .await;
        assert_eq!(status, 201, "{token}");
        let secret = token["token"].as_str().or(token["key"].as_str()).unwrap();
        let (status, _, body) = call(
            &server,
            &Auth::Bearer(secret.to_owned()),
            Method::GET,
            "/admin/v1/backup",
            None,
        )
        .await;
        assert_eq!(status, 403, "{role}: {body}");
    }
    let response = client()
        .get(server.url("/admin/v1/backup"))
        .bearer_auth(common::server::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.burgee.backup"
    );
    let body = response.bytes().await.unwrap();
    assert!(body.starts_with(b"burgee-backup\n"));
    let entries = audit(&server).await;
    let taken: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "backup.taken")
        .collect();
    assert_eq!(taken.len(), 1, "{entries:#?}");
    assert_eq!(taken[0]["actor"]["name"], "bootstrap", "{}", taken[0]);
}

#[tokio::test]
async fn an_encrypted_backup_is_unreadable_without_its_key_and_restores_with_it() {
    let server = Server::start();
    let admin = Admin::new(&server);
    admin.web_production().await;
    admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "launch-codes-feature", "initial_value": "plaintext-marker-value"}),
        )
        .await;
    let temp = tempfile::tempdir().unwrap();
    let key = temp.path().join("backup.key");
    let other = temp.path().join("other.key");
    for file in [&key, &other] {
        let (code, _, stderr) =
            burgee_offline(&["backup", "keygen", "--out", file.to_str().unwrap()]);
        assert_eq!(code, 0, "{stderr}");
    }
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (code, _, stderr) = burgee_offline(&["backup", "keygen", "--out", key.to_str().unwrap()]);
    assert_ne!(code, 0, "a key is never overwritten");
    assert!(stderr.contains("never replaced"), "{stderr}");

    let file = temp.path().join("sealed.backup");
    let (code, _, stderr) = cli(
        &server,
        &[
            "backup",
            "--out",
            file.to_str().unwrap(),
            "--key-file",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let bytes = std::fs::read(&file).unwrap();
    let shows = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(!shows(b"plaintext-marker-value") && !shows(b"launch-codes-feature"));
    assert!(
        !shows(b"burgee-snapshot"),
        "nothing of the plain stream shows"
    );

    let path = file.to_str().unwrap();
    let (code, _, stderr) = burgee_offline(&["backup", "verify", path]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("encrypted: give its --key-file"),
        "{stderr}"
    );
    let (code, _, stderr) = burgee_offline(&[
        "backup",
        "verify",
        path,
        "--key-file",
        other.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("another key"), "{stderr}");
    let mut altered = bytes.clone();
    let middle = altered.len() / 2;
    altered[middle] ^= 1;
    let altered_path = temp.path().join("altered.backup");
    std::fs::write(&altered_path, altered).unwrap();
    let (code, _, stderr) = burgee_offline(&[
        "backup",
        "verify",
        altered_path.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("altered or damaged"), "{stderr}");
    let (code, _, stderr) = burgee_offline(&[
        "backup",
        "verify",
        path,
        "--key-file",
        key.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");

    let dir = temp.path().join("restored");
    let (code, _, stderr) = burgee_offline(&[
        "restore",
        path,
        "--data-dir",
        dir.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let restored = Server::start_in(&dir, &[]);
    let names = feature_names(&Admin::at(&restored.base)).await;
    assert_eq!(names, ["launch-codes-feature"]);
}

#[tokio::test]
async fn scheduled_backups_are_taken_encrypted_and_only_the_newest_are_kept() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("backups");
    std::fs::create_dir_all(&dir).unwrap();
    // Three old backups (by name and by time) and a file that is not one.
    for n in 1..=3 {
        let old = dir.join(format!("burgee-{n:015}-node1.backup"));
        std::fs::write(&old, b"old").unwrap();
        let touched = std::process::Command::new("touch")
            .args(["-d", "2 days ago"])
            .arg(&old)
            .status()
            .unwrap();
        assert!(touched.success());
    }
    std::fs::write(dir.join("notes.txt"), b"keep me").unwrap();
    let key = temp.path().join("backup.key");
    let (code, _, stderr) = burgee_offline(&["backup", "keygen", "--out", key.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");

    let server = Server::start_fresh(&[
        "--backup-dir",
        dir.to_str().unwrap(),
        "--backup-every",
        "1h",
        "--backup-keep",
        "2",
        "--backup-key-file",
        key.to_str().unwrap(),
    ]);
    let listing = || {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while listing().len() != 3 || listing().iter().any(|n| n.ends_with(".partial")) {
        assert!(
            std::time::Instant::now() < deadline,
            "no scheduled backup: {:?}",
            listing()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let names = listing();
    assert_eq!(names[0], "burgee-000000000000003-node1.backup", "{names:?}");
    assert!(names[1].ends_with("-node1.backup"), "{names:?}");
    assert_eq!(names[2], "notes.txt", "other files are left alone");
    let taken = dir.join(&names[1]);
    let (code, stdout, stderr) = burgee_offline(&[
        "backup",
        "verify",
        taken.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let verified: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(verified["header"]["node_id"], 1);
    let (code, _, _) = burgee_offline(&["backup", "verify", taken.to_str().unwrap()]);
    assert_eq!(code, 2, "it is encrypted");
    let entries = audit(&server).await;
    let backups: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "backup.taken")
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(backups[0]["actor"]["kind"], "system", "{}", backups[0]);
}

#[test]
fn a_schedule_with_a_bad_key_file_is_refused_at_start() {
    let temp = tempfile::tempdir().unwrap();
    let key = temp.path().join("bad.key");
    std::fs::write(&key, "not a key").unwrap();
    let (code, _, stderr) = burgee_offline(&[
        "serve",
        "--data-dir",
        temp.path().join("data").to_str().unwrap(),
        "--backup-dir",
        temp.path().join("b").to_str().unwrap(),
        "--backup-key-file",
        key.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("64 hexadecimal characters"), "{stderr}");
}
