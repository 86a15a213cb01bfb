use std::process::ExitCode;

/// jemalloc with its background thread returns the memory of closed connections to the
/// system, where glibc's per-thread arenas keep most of it (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    burgee::cli::run()
}
