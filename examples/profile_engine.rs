//! Runs the reference evaluation in a loop, for profilers (`perf record`, callgrind).
//!
//! `cargo run --release --example profile_engine -- [features] [segments] [iterations]`

#![allow(clippy::unwrap_used)] // fixed inputs

#[path = "../benches/support/reference_environment.rs"]
mod reference_environment;

use burgee::engine::CompiledEnvironment;
use burgee::flagsmith::context::EvaluationContext;

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().unwrap());
    let features = args.next().unwrap_or(50);
    let segments = args.next().unwrap_or(20);
    let iterations = args.next().unwrap_or(200_000);
    let context: EvaluationContext =
        serde_json::from_value(reference_environment::context(features, segments)).unwrap();
    let (environment, identity) = context.into_domain();
    let identity = identity.unwrap();
    let compiled = CompiledEnvironment::compile(&environment);
    let started = std::time::Instant::now();
    let mut matched = 0;
    for _ in 0..iterations {
        matched += compiled.evaluate(Some(&identity)).unwrap().segments.len();
    }
    let per = started.elapsed() / u32::try_from(iterations).unwrap();
    println!("{per:?} per evaluation ({matched} segment matches)");
}
