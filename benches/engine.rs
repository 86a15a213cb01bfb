//! Engine benchmarks: compile and full identity evaluation, on (a) 50 features / 20 segments
//! and (b) 1 000 features / 200 segments. With `--features flagsmith-reference`, the same
//! contexts are also evaluated by Flagsmith's own Rust engine for a side-by-side ratio.
//!
//! `cargo bench --bench engine [--features flagsmith-reference]`

#![allow(clippy::unwrap_used)] // fixed inputs

#[path = "support/reference_environment.rs"]
mod reference_environment;

use std::hint::black_box;

use burgee::engine::CompiledEnvironment;
use burgee::flagsmith::context::EvaluationContext;
use criterion::{Criterion, criterion_group, criterion_main};

fn engine(c: &mut Criterion) {
    for (label, features, segments) in [("a_50f_20s", 50, 20), ("b_1000f_200s", 1000, 200)] {
        let context_json = reference_environment::context(features, segments);
        let context: EvaluationContext = serde_json::from_value(context_json.clone()).unwrap();
        let (environment, identity) = context.into_domain();
        let identity = identity.unwrap();
        let compiled = CompiledEnvironment::compile(&environment);
        let evaluation = compiled.evaluate(Some(&identity)).unwrap();
        eprintln!(
            "{label}: {} flags, {} matched segments",
            evaluation.flags.len(),
            evaluation.segments.len()
        );

        let mut group = c.benchmark_group(label);
        group.bench_function("burgee_evaluate_identity", |b| {
            b.iter(|| black_box(compiled.evaluate(Some(black_box(&identity))).unwrap()));
        });
        group.bench_function("burgee_compile", |b| {
            b.iter(|| black_box(CompiledEnvironment::compile(black_box(&environment))));
        });
        #[cfg(feature = "flagsmith-reference")]
        {
            use flagsmith_flag_engine::engine::get_evaluation_result;
            use flagsmith_flag_engine::engine_eval::EngineEvaluationContext;
            let reference: EngineEvaluationContext = serde_json::from_value(context_json).unwrap();
            group.bench_function("flagsmith_rust_engine_evaluate_identity", |b| {
                b.iter(|| black_box(get_evaluation_result(black_box(&reference))));
            });
        }
        #[cfg(not(feature = "flagsmith-reference"))]
        drop(context_json);
        group.finish();
    }
}

criterion_group!(benches, engine);
criterion_main!(benches);
