#![allow(dead_code)] // each test binary uses a part of these helpers
//! Shared helpers for integration tests.

use std::path::PathBuf;

/// Flagsmith's engine test data: `BURGEE_ENGINE_TEST_DATA`, or `../shared/...` beside the
/// checkout. `None` (after saying so) when it is absent.
pub fn engine_test_data() -> Option<PathBuf> {
    let dir = std::env::var_os("BURGEE_ENGINE_TEST_DATA").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/flagsmith-engine-test-data"),
        PathBuf::from,
    );
    if dir.join("test_cases").is_dir() {
        return Some(dir);
    }
    skip_or_fail(&format!(
        "Flagsmith engine test data not found at {} (set BURGEE_ENGINE_TEST_DATA to the folder \
         holding test_cases/ and v1.0.0/)",
        dir.display()
    ));
    None
}

/// Says why a test cannot run: a failure when [`required`], a skip (with the reason)
/// otherwise.
pub fn skip_or_fail(why: &str) {
    assert!(!required(), "{why}");
    eprintln!("SKIPPED: {why}");
}

/// Whether strace is here; when not, says so (a failure under CI, else a skip).
pub fn strace_available() -> bool {
    let found = std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        skip_or_fail("strace is not installed (scripts/test-all.sh installs it)");
    }
    found
}

/// Removes `//` comments (outside strings) so `.jsonc` files parse as JSON.
pub fn strip_json_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '/' && chars.peek() == Some(&'/') {
            for skipped in chars.by_ref() {
                if skipped == '\n' {
                    out.push('\n');
                    break;
                }
            }
        } else {
            if c == '"' {
                in_string = true;
            }
            out.push(c);
        }
    }
    out
}

#[allow(dead_code)] // not every test binary starts servers
pub mod access;
#[allow(dead_code)] // not every test binary makes certificates
pub mod certs;
pub mod cluster;
#[allow(dead_code)] // not every test binary evaluates contexts
pub mod engine;
pub mod fixture;
#[allow(dead_code)] // not every test binary runs PostgreSQL replicas
pub mod postgres;
#[allow(dead_code)] // not every test binary stops servers
pub mod private;
#[allow(dead_code)] // not every test binary partitions a cluster
pub mod proxy;
pub mod server;
#[allow(dead_code)] // not every test binary reads event streams
pub mod sse;

/// Whether a test whose tool, data or SDK is missing must fail rather than skip: under CI
/// (`CI` set) and under `scripts/test-all.sh` (`BURGEE_REQUIRE_ALL_TESTS` set).
pub fn required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("BURGEE_REQUIRE_ALL_TESTS").is_some()
}
