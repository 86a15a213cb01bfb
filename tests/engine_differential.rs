//! Differential test against Flagsmith's Python reference engine (`flagsmith-flag-engine`
//! 10.2.0, the version Flagsmith Core pins): random evaluation contexts, evaluated by Burgee
//! and by `sdk-tests/engine/reference.py` (all of them in one Python process), must give the
//! same result, or the same error, every time.
//!
//! `BURGEE_ENGINE_PYTHON` names a Python with that engine installed (`scripts/test-all.sh`
//! installs one under `target/sdk/engine-venv`). `BURGEE_DIFFERENTIAL_SEED` and
//! `BURGEE_DIFFERENTIAL_CASES` change the contexts drawn (default: a fixed seed, 10 000).

#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)] // test helpers fail loudly

mod common;
mod differential;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use differential::answer::{burgee_answer, normalise};
use differential::generate::{Rng, context, has_failing_condition, to_json_text};
use serde_json::Value;

const DEFAULT_SEED: u64 = 0x00B0_46EE;
const DEFAULT_CASES: usize = 10_000;
const SHOWN_MISMATCHES: usize = 5;

#[test]
fn burgee_answers_as_flagsmiths_reference_engine_on_random_contexts() {
    let Some(python) = reference_python() else {
        return;
    };
    let seed = env_number("BURGEE_DIFFERENTIAL_SEED").unwrap_or(DEFAULT_SEED);
    let cases = env_number("BURGEE_DIFFERENTIAL_CASES").map_or(DEFAULT_CASES, |n| n as usize);
    let mut rng = Rng::new(seed);
    let contexts: Vec<Value> = (0..cases).map(|_| context(&mut rng)).collect();
    let texts: Vec<String> = contexts.iter().map(to_json_text).collect();

    let started = Instant::now();
    let reference = run_reference(&python, &texts);
    let reference_time = started.elapsed();
    let started = Instant::now();
    let burgee: Vec<Value> = texts.iter().map(|text| burgee_answer(text)).collect();
    let burgee_time = started.elapsed();

    let mut mismatches = Vec::new();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut survived_failing_conditions = 0;
    for (i, (expected, actual)) in reference.into_iter().zip(&burgee).enumerate() {
        let expected = normalise(expected);
        let outcome = match expected["error"].as_str() {
            Some(class) => format!("raised {class}"),
            None => "answered".to_owned(),
        };
        if expected["error"].is_null() && has_failing_condition(&contexts[i]) {
            survived_failing_conditions += 1;
        }
        *outcomes.entry(outcome).or_default() += 1;
        if &expected != actual {
            mismatches.push(format!(
                "context #{i}: {}\n  reference: {expected}\n  burgee:    {actual}",
                texts[i]
            ));
        }
    }
    eprintln!(
        "{cases} contexts (seed {seed}): reference engine {reference_time:.1?}, Burgee \
         {burgee_time:.1?}; {outcomes:?}; {survived_failing_conditions} answered despite an \
         invalid pattern or zero divisor that evaluation never reached"
    );
    assert!(
        mismatches.is_empty(),
        "{} of {cases} contexts differ (seed {seed}); the first {}:\n{}",
        mismatches.len(),
        SHOWN_MISMATCHES.min(mismatches.len()),
        mismatches[..SHOWN_MISMATCHES.min(mismatches.len())].join("\n\n")
    );
    if cases >= DEFAULT_CASES {
        // The contexts must keep exercising every way Flagsmith raises, and the cases where
        // it does not because evaluation stops first.
        for class in [
            "error",
            "ZeroDivisionError",
            "OverflowError",
            "ValueError",
            "TypeError",
        ] {
            let seen = outcomes.get(&format!("raised {class}")).copied();
            assert!(seen.unwrap_or(0) > 0, "no context raised {class}");
        }
        assert!(
            survived_failing_conditions >= cases / 100,
            "too few contexts answer despite an unreached failing condition"
        );
    }
}

/// The Python that runs the reference engine, from `BURGEE_ENGINE_PYTHON`. Without it the
/// test is skipped, except in CI or with `BURGEE_REQUIRE_ALL_TESTS`, where it fails.
fn reference_python() -> Option<PathBuf> {
    if let Some(python) = std::env::var_os("BURGEE_ENGINE_PYTHON").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(python));
    }
    let reason = "BURGEE_ENGINE_PYTHON is not set to a Python with flagsmith-flag-engine==10.2.0 \
                  (scripts/test-all.sh installs one under target/sdk/engine-venv)";
    assert!(
        !common::required(),
        "{reason}; CI and BURGEE_REQUIRE_ALL_TESTS need this test"
    );
    eprintln!("SKIPPED: {reason}");
    None
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name}={text:?}: {e}")),
    )
}

/// Runs the driver on every context at once; its answers, in order.
fn run_reference(python: &Path, contexts: &[String]) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk-tests/engine/reference.py");
    let mut child = Command::new(python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
    let mut stdin = child.stdin.take().unwrap();
    let input = contexts.join("\n");
    // Written from another thread so neither side blocks on a full pipe.
    let writer = std::thread::spawn(move || {
        stdin.write_all(input.as_bytes()).unwrap();
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        output.status.success(),
        "the reference driver failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let mut lines = stdout.lines();
    let versions: Value = serde_json::from_str(lines.next().unwrap_or("null")).unwrap();
    assert_eq!(
        versions["engine"], "10.2.0",
        "the reference must be flagsmith-flag-engine 10.2.0: {versions}"
    );
    let answers: Vec<Value> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(answers.len(), contexts.len(), "one answer per context");
    answers
}
