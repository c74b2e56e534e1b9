//! Which dedup keys the store may hold, in memory: a Bloom filter that lets the request path skip
//! the store lookup for a delivery it has certainly not seen (nearly every delivery).
//!
//! Measured on the shipped GitHub flow (BENCHMARKS.md): the lookup, one indexed read on a reader
//! connection, was about a tenth of a delivery's CPU time. The filter answers "certainly not" or
//! "maybe"; "maybe" goes to the store as before, so a false positive costs one lookup and a false
//! negative cannot happen for a key this process wrote or loaded:
//!
//! - at open, every dedup key in the store is added;
//! - every key is added **before** its delivery is handed to the store (a concurrent repeat sees
//!   "maybe" from then on).
//!
//! This holds because one `serve` owns a state directory (its lock file), and the only other
//! writer, `hookflow deliveries replay`, stores replays under keys of their own that no sender
//! key equals. A store shared by several servers (a future PostgreSQL backend) must not use it.
//!
//! Pruned keys stay set: after many times the retained number of deliveries have gone through
//! one process the filter fills up and more lookups go to the store, which stays correct.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

/// 2^21 bits (256 KiB): with the default retention (100,000 deliveries) and 4 hashes, about one
/// lookup in a thousand is a false positive.
const BITS: usize = 1 << 21;
const HASHES: u64 = 4;

/// A fixed-size Bloom filter of dedup keys, safe to share between threads.
pub struct SeenKeys {
    words: Vec<AtomicU64>,
    hasher: RandomState,
}

impl Default for SeenKeys {
    fn default() -> Self {
        SeenKeys {
            words: (0..BITS / 64).map(|_| AtomicU64::new(0)).collect(),
            hasher: RandomState::new(),
        }
    }
}

impl SeenKeys {
    /// The bit positions of `key`: double hashing from two halves of one 64-bit hash and a
    /// second one.
    fn positions(&self, key: &str) -> impl Iterator<Item = usize> {
        let h1 = self.hasher.hash_one(key);
        let h2 = self.hasher.hash_one((key, 0x9e37_79b9_u32)) | 1;
        (0..HASHES).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) as usize) % BITS)
    }

    /// Remembers `key`.
    pub fn insert(&self, key: &str) {
        for p in self.positions(key) {
            self.words[p / 64].fetch_or(1 << (p % 64), Ordering::Release);
        }
    }

    /// `false`: `key` was never inserted. `true`: it may have been.
    pub fn may_contain(&self, key: &str) -> bool {
        self.positions(key)
            .all(|p| self.words[p / 64].load(Ordering::Acquire) & (1 << (p % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let seen = SeenKeys::default();
        for i in 0..100_000 {
            seen.insert(&format!("acme/github/id:{i}"));
        }
        for i in 0..100_000 {
            assert!(seen.may_contain(&format!("acme/github/id:{i}")), "{i}");
        }
        let false_positives = (100_000..200_000)
            .filter(|i| seen.may_contain(&format!("acme/github/id:{i}")))
            .count();
        // Expected ~0.1% at this load; 1% would mean the hashing is broken.
        assert!(false_positives < 1_000, "{false_positives} in 100000");
    }

    #[test]
    fn an_empty_filter_has_seen_nothing() {
        let seen = SeenKeys::default();
        assert!(!seen.may_contain("acme/github/id:1"));
        assert!(!seen.may_contain(""));
    }
}
