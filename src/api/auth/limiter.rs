//! Failed-login counters per account and per source address, held by each node (so a
//! cluster of N nodes allows at most N times the attempts; a lockout an account reaches is
//! replicated through the write path by the caller). Unknown accounts are counted and
//! locked exactly like real ones, so the answers never tell whether an account exists.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Most keys tracked; beyond it the oldest quiet entries go first.
const MAX_KEYS: usize = 100_000;
/// A source address may fail this many times more than one account (people share NAT).
pub const ADDRESS_FACTOR: u32 = 4;

/// The key a source address is limited by: an IPv4 address, or the /64 network of an IPv6
/// one (a single host usually holds a whole /64, so addresses within it are one source).
pub fn address_key(address: std::net::IpAddr) -> String {
    match address {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Counter {
    failures: u32,
    last_at: i64,
    locked_until: Option<i64>,
}

#[derive(Debug)]
pub struct Limiter {
    max_failures: u32,
    lockout_ms: i64,
    counters: Mutex<HashMap<String, Counter>>,
}

impl Limiter {
    pub fn new(max_failures: u32, lockout: Duration) -> Self {
        Self {
            max_failures: max_failures.max(1),
            lockout_ms: i64::try_from(lockout.as_millis()).unwrap_or(i64::MAX),
            counters: Mutex::default(),
        }
    }

    fn keys(account: &str, address: Option<&str>) -> (String, Option<String>) {
        (
            format!("account:{account}"),
            address.map(|a| format!("address:{a}")),
        )
    }

    /// Until when the account or the address is locked, if it is.
    pub fn locked(&self, account: &str, address: Option<&str>, now: i64) -> Option<i64> {
        let counters = self
            .counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (account, address) = Self::keys(account, address);
        [Some(account), address]
            .into_iter()
            .flatten()
            .filter_map(|k| counters.get(&k).and_then(|c| c.locked_until))
            .filter(|until| *until > now)
            .max()
    }

    /// Counts a failure; returns when the account becomes locked, if this failure locks it.
    pub fn failed(&self, account: &str, address: Option<&str>, now: i64) -> Option<i64> {
        let mut counters = self
            .counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if counters.len() >= MAX_KEYS {
            let horizon = now - self.lockout_ms.max(60_000);
            counters.retain(|_, c| c.last_at > horizon || c.locked_until.is_some_and(|u| u > now));
            if counters.len() >= MAX_KEYS {
                // Still full of recent entries: the oldest half goes, never a lockout.
                let mut ages: Vec<i64> = counters
                    .values()
                    .filter(|c| c.locked_until.is_none())
                    .map(|c| c.last_at)
                    .collect();
                ages.sort_unstable();
                if let Some(cutoff) = ages.get(ages.len() / 2).copied() {
                    counters.retain(|_, c| c.locked_until.is_some() || c.last_at > cutoff);
                }
            }
        }
        let (account, address) = Self::keys(account, address);
        let mut account_locked = None;
        for (key, limit) in [
            (Some(account), self.max_failures),
            (address, self.max_failures * ADDRESS_FACTOR),
        ] {
            let Some(key) = key else { continue };
            let is_account = key.starts_with("account:");
            let counter = counters.entry(key).or_default();
            if counter.locked_until.is_some_and(|u| u <= now) {
                *counter = Counter::default();
            }
            counter.failures += 1;
            counter.last_at = now;
            if counter.failures >= limit && counter.locked_until.is_none() {
                let until = now.saturating_add(self.lockout_ms);
                counter.locked_until = Some(until);
                if is_account {
                    account_locked = Some(until);
                }
            }
        }
        account_locked
    }

    /// A successful login clears the account's count.
    pub fn succeeded(&self, account: &str) {
        let mut counters = self
            .counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        counters.remove(&Self::keys(account, None).0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_sources_count_by_their_64_bit_network() {
        let key = |text: &str| address_key(text.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:ffff:1:2:3"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(key("192.0.2.7"), "192.0.2.7");
    }

    #[test]
    fn locks_after_the_limit_and_expires() {
        let limiter = Limiter::new(3, Duration::from_secs(60));
        assert_eq!(limiter.failed("a@x", Some("1.2.3.4"), 0), None);
        assert_eq!(limiter.failed("a@x", Some("1.2.3.4"), 1), None);
        assert_eq!(limiter.failed("a@x", Some("1.2.3.4"), 2), Some(60_002));
        assert_eq!(limiter.locked("a@x", None, 10), Some(60_002));
        assert_eq!(limiter.locked("a@x", None, 60_003), None);
        // The address has its own, larger budget.
        assert_eq!(limiter.locked("b@x", Some("1.2.3.4"), 10), None);
        for n in 0..9 {
            limiter.failed(&format!("c{n}@x"), Some("1.2.3.4"), 20);
        }
        assert!(limiter.locked("new@x", Some("1.2.3.4"), 30).is_some());
        limiter.succeeded("a@x");
        assert_eq!(limiter.locked("a@x", None, 10), None);
    }
}
