//! The wall clock, read in one place: commands carry the time their proposer chose.

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis()),
    )
    .unwrap_or(i64::MAX);
    #[cfg(feature = "fault-injection")]
    let now = now.saturating_add(fault_offset());
    now
}

/// Test builds only: `BURGEE_FAULT_CLOCK_OFFSET_MS` moves this process's clock, so tests
/// can see what a server does weeks later (retention, stale features).
#[cfg(feature = "fault-injection")]
fn fault_offset() -> i64 {
    static OFFSET: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *OFFSET.get_or_init(|| {
        std::env::var("BURGEE_FAULT_CLOCK_OFFSET_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    })
}
