//! Which command formats the members of a cluster read, told on all cluster traffic. Every
//! request and answer carries the sender's newest readable format and the format its
//! cluster has switched on. The leader learns each member's format from their answers and
//! switches a newer one on only once every member reads it; a node refuses traffic from a
//! cluster that has switched on a format newer than it reads (it is an older version, and
//! must be upgraded before it takes part).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

/// The sender's newest readable command format.
pub const FORMAT_HEADER: &str = "x-burgee-command-format";
/// The command format the sender's cluster has switched on.
pub const CLUSTER_FORMAT_HEADER: &str = "x-burgee-cluster-format";

/// What a version that does not say reads: the first format.
const UNTOLD: u16 = 1;
/// A peer's format counts only if it answered this recently: a member that stopped may come
/// back as another version.
const FRESH: Duration = Duration::from_secs(3);

/// This node's formats and what it heard of its peers'.
#[derive(Debug, Clone)]
pub struct Formats {
    own: u16,
    active: Arc<AtomicU16>,
    peers: Arc<Mutex<BTreeMap<u64, (u16, Instant)>>>,
}

impl Formats {
    /// A node that reads up to `own`; its cluster's active format is 1 until told.
    pub fn new(own: u16) -> Self {
        Self {
            own,
            active: Arc::new(AtomicU16::new(1)),
            peers: Arc::default(),
        }
    }

    /// The newest format this node reads.
    pub fn own(&self) -> u16 {
        self.own
    }

    /// The format this node's cluster has switched on (as far as this node applied).
    pub fn active(&self) -> u16 {
        self.active.load(Ordering::Relaxed)
    }

    pub fn set_active(&self, format: u16) {
        self.active.store(format, Ordering::Relaxed);
    }

    /// Each peer's newest readable format, as its last answer told, for the peers that
    /// answered in the last few seconds.
    pub fn peers(&self) -> BTreeMap<u64, u16> {
        let Ok(peers) = self.peers.lock() else {
            return BTreeMap::new();
        };
        peers
            .iter()
            .filter(|(_, (_, heard))| heard.elapsed() < FRESH)
            .map(|(id, (format, _))| (*id, *format))
            .collect()
    }

    /// The headers every request and answer carries.
    pub(crate) fn headers(&self) -> [(&'static str, String); 2] {
        [
            (FORMAT_HEADER, self.own.to_string()),
            (CLUSTER_FORMAT_HEADER, self.active().to_string()),
        ]
    }

    /// Notes peer `node`'s format from the headers of its answer.
    pub(crate) fn record(&self, node: u64, headers: &HeaderMap) {
        let format = told(headers, FORMAT_HEADER).unwrap_or(UNTOLD);
        if let Ok(mut peers) = self.peers.lock()
            && peers
                .insert(node, (format, Instant::now()))
                .is_none_or(|(before, _)| before != format)
        {
            tracing::info!(
                peer = node,
                format,
                "peer {node} reads command format {format}"
            );
        }
    }

    /// Refuses traffic of a cluster that switched on a format this node cannot read.
    pub(crate) fn check_incoming(&self, headers: &HeaderMap) -> Result<(), String> {
        match told(headers, CLUSTER_FORMAT_HEADER) {
            Some(theirs) if theirs > self.own => Err(format!(
                "the cluster runs command format {theirs}; this node reads up to {}: upgrade \
                 Burgee on this node before it takes part",
                self.own
            )),
            _ => Ok(()),
        }
    }
}

/// A format header's value, if present and readable.
pub(crate) fn told(headers: &HeaderMap, name: &str) -> Option<u16> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().expect("a header value"));
        }
        map
    }

    #[test]
    fn peers_are_recorded_and_a_silent_one_reads_the_first_format() {
        let formats = Formats::new(2);
        formats.record(2, &headers(&[(FORMAT_HEADER, "2")]));
        formats.record(3, &headers(&[]));
        assert_eq!(formats.peers(), BTreeMap::from([(2, 2), (3, 1)]));
        formats.record(3, &headers(&[(FORMAT_HEADER, "2")]));
        assert_eq!(formats.peers()[&3], 2);
    }

    #[test]
    fn a_cluster_of_a_newer_format_is_refused() {
        let formats = Formats::new(2);
        assert!(formats.check_incoming(&headers(&[])).is_ok());
        assert!(
            formats
                .check_incoming(&headers(&[(CLUSTER_FORMAT_HEADER, "2")]))
                .is_ok()
        );
        let refused = formats
            .check_incoming(&headers(&[(CLUSTER_FORMAT_HEADER, "3")]))
            .expect_err("newer");
        assert!(refused.contains("upgrade"), "{refused}");
    }
}
