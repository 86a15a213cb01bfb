//! Request ids without a system call per request: a random 64-bit prefix drawn once per
//! process and a counter, shaped as a UUID (version 8, RFC 9562's custom layout). Unique
//! within a process and, by the prefix, across processes; they are not secrets.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

static PREFIX: OnceLock<u64> = OnceLock::new();
static COUNTER: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Copy, Default)]
pub struct Sequential;

impl Sequential {
    pub fn new() -> Self {
        Self
    }

    fn next() -> uuid::Uuid {
        let prefix = *PREFIX.get_or_init(|| {
            let mut bytes = [0u8; 8];
            // Without the OS's randomness, the clock still tells processes apart.
            if getrandom::fill(&mut bytes).is_err() {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
                bytes = (nanos ^ u64::from(std::process::id())).to_le_bytes();
            }
            u64::from_le_bytes(bytes)
        });
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&prefix.to_be_bytes());
        bytes[8..].copy_from_slice(&count.to_be_bytes());
        bytes[6] = (bytes[6] & 0x0f) | 0x80; // version 8
        bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 9562 variant
        uuid::Uuid::from_bytes(bytes)
    }
}

impl MakeRequestId for Sequential {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let id = Self::next().hyphenated().encode_lower(&mut text);
        HeaderValue::from_str(id).ok().map(RequestId::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_uuids() {
        let a = Sequential::next();
        let b = Sequential::next();
        assert_ne!(a, b);
        assert_eq!(a.get_version_num(), 8);
        assert_eq!(
            a.as_bytes()[..6],
            b.as_bytes()[..6],
            "one process, one prefix"
        );
    }
}
