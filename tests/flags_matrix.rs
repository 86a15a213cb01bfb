//! `burgee flags matrix` and `flags set --from-matrix` with the real binary: every
//! combination of states (a multivariate flag's variants included), a pairwise set that holds
//! every pair, the same output each run, and a row pinned so that SDKs see exactly it.

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use serde_json::{Value, json};

use common::server::{Admin, Server, cli, identify};

fn matrix(server: &Server, key: &str, features: &str, pairwise: bool) -> Value {
    let mut args = vec![
        "flags",
        "matrix",
        "--environment",
        key,
        "--features",
        features,
        "--output",
        "json",
    ];
    if pairwise {
        args.push("--pairwise");
    }
    let (code, out, err) = cli(server, &args);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

#[tokio::test]
async fn a_matrix_lists_the_states_and_a_row_is_pinned_for_every_sdk_call() {
    let server = Server::start();
    let admin = Admin::new(&server);
    let key = admin.web_production().await;
    admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "banner", "initial_value": "hello"}),
        )
        .await;
    admin
        .post("/admin/v1/projects/1/features", json!({"name": "search"}))
        .await;
    admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "checkout", "type": "MULTIVARIATE", "initial_value": "old",
                   "options": [{"value": "new", "default_weight": 30}, {"value": "beta", "default_weight": 20}]}),
        )
        .await;

    // All combinations: 2 × 2 × (off, on, on:new, on:beta).
    let all = matrix(&server, &key, "banner,search,checkout", false);
    let rows = all["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 16, "{all}");
    let distinct: std::collections::BTreeSet<String> =
        rows.iter().map(|r| r["flags"].to_string()).collect();
    assert_eq!(distinct.len(), 16, "every row differs");
    assert!(
        rows.iter()
            .any(|r| r["flags"]["checkout"] == json!({"enabled": true, "variant": "beta"}))
    );
    assert_eq!(
        matrix(&server, &key, "banner,search,checkout", false),
        all,
        "deterministic"
    );
    let (code, table, err) = cli(
        &server,
        &[
            "flags",
            "matrix",
            "--environment",
            &key,
            "--features",
            "banner,checkout",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(table.contains("on:new") && table.contains("off"), "{table}");

    // Pairwise: fewer rows, every pair of states of every two flags still there.
    for n in 0..8 {
        admin
            .post(
                "/admin/v1/projects/1/features",
                json!({"name": format!("f{n}")}),
            )
            .await;
    }
    let names = "banner,search,checkout,f0,f1,f2,f3,f4,f5,f6,f7";
    let pairwise = matrix(&server, &key, names, true);
    let rows = pairwise["rows"].as_array().unwrap();
    assert!(
        rows.len() <= 16,
        "{} rows for 2^10 × 4 combinations",
        rows.len()
    );
    let features: Vec<&str> = names.split(',').collect();
    let states = |f: &str| -> Vec<Value> {
        if f == "checkout" {
            vec![
                json!({"enabled": false}),
                json!({"enabled": true}),
                json!({"enabled": true, "variant": "new"}),
                json!({"enabled": true, "variant": "beta"}),
            ]
        } else {
            vec![json!({"enabled": false}), json!({"enabled": true})]
        }
    };
    for (i, a) in features.iter().enumerate() {
        for b in &features[i + 1..] {
            for x in states(a) {
                for y in states(b) {
                    assert!(
                        rows.iter()
                            .any(|r| r["flags"][a] == x && r["flags"][b] == y),
                        "no row has {a}={x} and {b}={y}"
                    );
                }
            }
        }
    }
    let (code, _, err) = cli(
        &server,
        &[
            "flags",
            "matrix",
            "--environment",
            &key,
            "--features",
            names,
        ],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("--pairwise"),
        "more than 1 024 combinations are refused: {err}"
    );

    // Pin a row: banner off, checkout forced to "beta" for everyone.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), all.to_string()).unwrap();
    let row = all["rows"]
        .as_array()
        .unwrap()
        .iter()
        .position(|r| {
            r["flags"]["banner"]["enabled"] == false
                && r["flags"]["checkout"] == json!({"enabled": true, "variant": "beta"})
        })
        .unwrap()
        .to_string();
    let path = file.path().to_str().unwrap();
    let (code, out, err) = cli(
        &server,
        &[
            "flags",
            "set",
            "--environment",
            &key,
            "--from-matrix",
            path,
            "--row",
            &row,
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("row {row} pinned")), "{out}");
    for identifier in ["alice", "bob", "carol", "dave"] {
        let (code, answer) = identify(&server, &key, identifier, json!([])).await;
        assert_eq!(code, 200, "{answer}");
        let flag = |name: &str| {
            answer["flags"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["feature"]["name"] == name)
                .unwrap()
                .clone()
        };
        assert_eq!(flag("banner")["enabled"], false);
        assert_eq!(
            flag("banner")["feature_state_value"],
            "hello",
            "values are kept"
        );
        assert_eq!(flag("checkout")["enabled"], true);
        assert_eq!(
            flag("checkout")["feature_state_value"],
            "beta",
            "{identifier}"
        );
    }
    let (code, _, err) = cli(
        &server,
        &[
            "flags",
            "set",
            "--environment",
            &key,
            "--from-matrix",
            path,
            "--row",
            "99",
        ],
    );
    assert_ne!(code, 0);
    assert!(err.contains("no row 99"), "{err}");

    // The example CI job: the suite runs once per row, under that row's states.
    let out = tempfile::NamedTempFile::new().unwrap();
    let binary = env!("CARGO_BIN_EXE_burgee");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/flag-matrix.sh");
    let status = std::process::Command::new("bash")
        .args([script, &key, "banner,search", "--", "sh", "-c"])
        .arg(r#""$BURGEE_BIN" flags list --environment "$KEY" --output json >> "$OUT""#)
        .env("BURGEE_BIN", binary)
        .env("BURGEE_URL", &server.base)
        .env("BURGEE_TOKEN", common::server::TOKEN)
        .env("KEY", &key)
        .env("OUT", out.path())
        .status()
        .unwrap();
    assert!(status.success());
    let runs: Vec<Vec<(String, bool)>> = std::fs::read_to_string(out.path())
        .unwrap()
        .lines()
        .map(|line| {
            let flags: Vec<Value> = serde_json::from_str(line).unwrap();
            flags
                .iter()
                .filter(|f| f["name"] == "banner" || f["name"] == "search")
                .map(|f| (f["name"].as_str().unwrap().to_owned(), f["enabled"] == true))
                .collect()
        })
        .collect();
    assert_eq!(runs.len(), 4, "one run per row");
    let distinct: std::collections::BTreeSet<_> = runs.iter().collect();
    assert_eq!(distinct.len(), 4, "each run saw its own row: {runs:?}");
}
