//! A scalable Bloom filter: answers "certainly absent" or "maybe present" for a set that
//! only grows, in about 10 bits per member. When a layer fills, a larger one with a tighter
//! false-positive rate is added, so the overall rate stays under [`FALSE_POSITIVES`] however
//! many members arrive after the filter was sized.

use std::hash::{BuildHasher, Hash};

use foldhash::quality::FixedState;

/// The false-positive rate the layers add up to at most.
const FALSE_POSITIVES: f64 = 0.01;
/// The smallest layer (members): a few hundred bytes for an environment with few identities.
const MIN_CAPACITY: usize = 1024;

/// Two independent 64-bit hashes of a member; every bit index derives from them.
#[derive(Clone, Copy)]
pub struct Hashes(u64, u64);

impl Hashes {
    pub fn of(member: &(impl Hash + ?Sized)) -> Self {
        // Fixed seeds: the same member hashes alike in every layer and every build.
        let first = FixedState::with_seed(0x6275_7267_6565_0001).hash_one(member);
        let second = FixedState::with_seed(0x6275_7267_6565_0002).hash_one(member);
        // An odd step visits distinct bits for every probe.
        Self(first, second | 1)
    }
}

struct Layer {
    bits: Vec<u64>,
    /// Number of bits (`bits.len() * 64`).
    width: u64,
    probes: u32,
    capacity: usize,
    members: usize,
}

impl Layer {
    fn new(capacity: usize, false_positives: f64) -> Self {
        let ln2 = std::f64::consts::LN_2;
        #[allow(clippy::cast_precision_loss)]
        let wanted = -(capacity as f64) * false_positives.ln() / (ln2 * ln2);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let words = ((wanted / 64.0).ceil() as usize).max(1);
        #[allow(clippy::cast_precision_loss)]
        let per_member = (words * 64) as f64 / capacity as f64;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let probes = ((per_member * ln2).round() as u32).clamp(1, 16);
        Self {
            bits: vec![0; words],
            width: words as u64 * 64,
            probes,
            capacity,
            members: 0,
        }
    }

    /// The word and bit of probe `probe` for `hashes`.
    fn position(&self, hashes: Hashes, probe: u64) -> (usize, u64) {
        let mixed = hashes.0.wrapping_add(probe.wrapping_mul(hashes.1));
        // Maps the 64-bit value onto 0..width without a division.
        #[allow(clippy::cast_possible_truncation)]
        let bit = ((u128::from(mixed) * u128::from(self.width)) >> 64) as u64;
        #[allow(clippy::cast_possible_truncation)]
        ((bit / 64) as usize, 1u64 << (bit % 64))
    }

    fn contains(&self, hashes: Hashes) -> bool {
        (0..u64::from(self.probes)).all(|probe| {
            let (word, mask) = self.position(hashes, probe);
            self.bits[word] & mask != 0
        })
    }

    fn insert(&mut self, hashes: Hashes) {
        for probe in 0..u64::from(self.probes) {
            let (word, mask) = self.position(hashes, probe);
            self.bits[word] |= mask;
        }
        self.members += 1;
    }
}

pub struct Bloom {
    layers: Vec<Layer>,
}

impl Bloom {
    /// A filter sized for `expected` members (more may be added).
    pub fn with_capacity(expected: usize) -> Self {
        let capacity = expected.saturating_add(expected / 2).max(MIN_CAPACITY);
        Self {
            layers: vec![Layer::new(capacity, FALSE_POSITIVES / 2.0)],
        }
    }

    /// `false` only when `hashes` was certainly never inserted.
    pub fn may_contain(&self, hashes: Hashes) -> bool {
        self.layers.iter().any(|layer| layer.contains(hashes))
    }

    pub fn insert(&mut self, hashes: Hashes) {
        if self.may_contain(hashes) {
            return;
        }
        let full = self
            .layers
            .last()
            .is_none_or(|layer| layer.members >= layer.capacity);
        if full {
            // Rates 1/2, 1/4, 1/8 … of the target: the sum stays under it.
            let depth = i32::try_from(self.layers.len()).unwrap_or(i32::MAX);
            let capacity = self
                .layers
                .last()
                .map_or(MIN_CAPACITY, |layer| layer.capacity.saturating_mul(2));
            self.layers.push(Layer::new(
                capacity,
                FALSE_POSITIVES / 2f64.powi(depth.saturating_add(1)),
            ));
        }
        if let Some(layer) = self.layers.last_mut() {
            layer.insert(hashes);
        }
    }

    /// Bytes of bit arrays held.
    pub fn bytes(&self) -> usize {
        self.layers.iter().map(|layer| layer.bits.len() * 8).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(filter: &Bloom, probes: usize) -> f64 {
        let hits = (0..probes)
            .filter(|i| filter.may_contain(Hashes::of(&format!("absent-{i}"))))
            .count();
        #[allow(clippy::cast_precision_loss)]
        let rate = hits as f64 / probes as f64;
        rate
    }

    #[test]
    fn members_are_always_found_and_strangers_rarely() {
        let mut filter = Bloom::with_capacity(10_000);
        for i in 0..10_000 {
            filter.insert(Hashes::of(&format!("user-{i}")));
        }
        assert!((0..10_000).all(|i| filter.may_contain(Hashes::of(&format!("user-{i}")))));
        let rate = rate(&filter, 100_000);
        assert!(rate < FALSE_POSITIVES, "false-positive rate {rate}");
        // About 10 bits per member at this rate (sized with half again as headroom).
        assert!(filter.bytes() < 10_000 * 3, "{} bytes", filter.bytes());
    }

    #[test]
    fn growing_far_past_the_size_keeps_the_rate() {
        let mut filter = Bloom::with_capacity(0);
        for i in 0..50_000 {
            filter.insert(Hashes::of(&format!("user-{i}")));
        }
        assert!(filter.layers.len() > 3, "the filter grew by layers");
        assert!((0..50_000).all(|i| filter.may_contain(Hashes::of(&format!("user-{i}")))));
        let rate = rate(&filter, 100_000);
        assert!(rate < FALSE_POSITIVES, "false-positive rate {rate}");
    }

    #[test]
    fn an_empty_filter_holds_nothing() {
        let filter = Bloom::with_capacity(5);
        assert!(!filter.may_contain(Hashes::of("anyone")));
    }
}
