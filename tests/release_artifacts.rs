//! The release build's supply-chain artifacts (`scripts/release.sh`, in `target/dist` or
//! `BURGEE_DIST`): the dependency list cargo auditable embeds in the binary is there for image
//! scanners to read, the CycloneDX SBOM names every crate the binary holds, and the checksums
//! match.

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn dist() -> Option<PathBuf> {
    let dir = std::env::var_os("BURGEE_DIST").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/dist"),
        PathBuf::from,
    );
    if dir.join("burgee").is_file() && dir.join("burgee.cdx.json").is_file() {
        return Some(dir);
    }
    common::skip_or_fail(&format!(
        "no release build in {} (scripts/release.sh makes it)",
        dir.display()
    ));
    None
}

/// The embedded list: section `.dep-v0`, zlib-compressed JSON.
fn embedded_dependencies(binary: &std::path::Path) -> Value {
    let temp = tempfile::tempdir().unwrap();
    let section = temp.path().join("dep-v0");
    let status = Command::new("objcopy")
        .arg(format!("--dump-section=.dep-v0={}", section.display()))
        .arg(binary)
        .arg(temp.path().join("copy"))
        .status()
        .expect("objcopy (binutils) runs");
    assert!(status.success(), "the binary has a .dep-v0 section");
    let compressed = std::fs::read(&section).unwrap();
    let mut json = String::new();
    flate2::read::ZlibDecoder::new(&compressed[..])
        .read_to_string(&mut json)
        .expect("the section is zlib-compressed JSON");
    serde_json::from_str(&json).unwrap()
}

#[test]
fn the_binary_carries_its_dependency_list_and_the_sbom_names_every_crate_in_it() {
    let Some(dist) = dist() else {
        return;
    };
    let audit = embedded_dependencies(&dist.join("burgee"));
    let packages = audit["packages"].as_array().unwrap();
    let root: Vec<&Value> = packages.iter().filter(|p| p["root"] == true).collect();
    assert_eq!(root.len(), 1);
    assert_eq!(root[0]["name"], "burgee");
    assert_eq!(root[0]["version"], env!("CARGO_PKG_VERSION"));
    // What the binary runs on, not only what it was built with.
    let runtime: BTreeSet<(String, String)> = packages
        .iter()
        .filter(|p| p["kind"] != "build" && p["root"] != true)
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for name in ["redb", "openraft", "axum", "rustls", "tokio"] {
        assert!(
            runtime.iter().any(|(n, _)| n == name),
            "{name} is in the embedded list"
        );
    }

    let sbom: Value =
        serde_json::from_str(&std::fs::read_to_string(dist.join("burgee.cdx.json")).unwrap())
            .unwrap();
    assert_eq!(sbom["bomFormat"], "CycloneDX");
    assert_eq!(sbom["metadata"]["component"]["name"], "burgee");
    let listed: BTreeSet<(String, String)> = sbom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let missing: Vec<_> = runtime.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "in the binary, not in the SBOM: {missing:?}"
    );
    for component in sbom["components"].as_array().unwrap() {
        if component["name"] != "burgee-raft" {
            assert!(
                component["purl"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("pkg:cargo/")),
                "a scanner can match {component}"
            );
        }
    }

    let checked = Command::new("sha256sum")
        .args(["--check", "--strict", "SHA256SUMS"])
        .current_dir(&dist)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
}
