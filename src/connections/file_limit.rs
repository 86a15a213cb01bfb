//! The process's open-file limit, raised to its hard maximum at start (as most servers do),
//! and the connection cap derived from it.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Raises the soft open-file limit to the hard one; returns the limit now in force (`None`:
/// unlimited).
pub fn raise() -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current?;
    match limit.maximum {
        Some(maximum) if maximum > current => {
            let raised = Rlimit {
                current: Some(maximum),
                maximum: Some(maximum),
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => Some(maximum),
                Err(_) => Some(current),
            }
        }
        None => {
            let raised = Rlimit {
                current: None,
                maximum: None,
            };
            setrlimit(Resource::Nofile, raised)
                .ok()
                .map_or(Some(current), |()| None)
        }
        Some(_) => Some(current),
    }
}

/// Client connections allowed under a file limit: a tenth (at least 64 descriptors) is kept
/// for storage files, cluster peers, database connections and the ops listener.
pub fn default_max_connections(limit: Option<u64>) -> usize {
    let limit = limit.unwrap_or(1 << 16).min(1 << 20);
    let reserve = (limit / 10).max(64);
    usize::try_from(limit.saturating_sub(reserve).max(16)).unwrap_or(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_below_the_limit() {
        assert_eq!(default_max_connections(Some(20_000)), 18_000);
        assert_eq!(default_max_connections(Some(1024)), 922);
        assert_eq!(default_max_connections(Some(50)), 16);
        assert_eq!(default_max_connections(None), 58_983);
    }
}
