//! The wall clock, read in one place: commands carry the time their proposer chose.

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis()),
    )
    .unwrap_or(i64::MAX)
}
