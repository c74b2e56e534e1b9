//! Retry timing for work after the answer: exponential backoff with full jitter.
//!
//! Pure: the random source is injected, so the worker passes a real generator and tests pass a
//! seeded one. The delay before retry `n` (1-based attempt that just failed) is uniform in
//! `[0, min(max, base * 2^(n-1)))` ("full jitter"); after `max_attempts` failed attempts the work
//! is dead.

use thiserror::Error;

/// A policy that cannot work (reported when the configuration is loaded).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BackoffError {
    /// `max_attempts` must be at least 1.
    #[error("max_attempts must be at least 1")]
    NoAttempts,
    /// The base delay must not exceed the maximum delay.
    #[error("base delay {base_ms} ms exceeds max delay {max_ms} ms")]
    BaseAboveMax {
        /// Base delay in milliseconds.
        base_ms: u64,
        /// Maximum delay in milliseconds.
        max_ms: u64,
    },
}

/// Exponential backoff with full jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base_ms: u64,
    max_ms: u64,
    max_attempts: u32,
}

/// What to do with work whose attempt just failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Run again at this time (milliseconds since the Unix epoch).
    At(i64),
    /// No attempts left: dead letter.
    Dead,
}

impl Default for Backoff {
    /// 1 s base, 10 min cap, 8 attempts (the `worker` defaults in docs/configuration.md).
    fn default() -> Self {
        Self {
            base_ms: 1_000,
            max_ms: 600_000,
            max_attempts: 8,
        }
    }
}

impl Backoff {
    /// A checked policy.
    pub fn new(base_ms: u64, max_ms: u64, max_attempts: u32) -> Result<Self, BackoffError> {
        if max_attempts == 0 {
            return Err(BackoffError::NoAttempts);
        }
        if base_ms > max_ms {
            return Err(BackoffError::BaseAboveMax { base_ms, max_ms });
        }
        Ok(Self {
            base_ms,
            max_ms,
            max_attempts,
        })
    }

    /// Attempts allowed in total (the first one included).
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Upper bound of the delay after failed attempt `attempt` (1-based): `min(max, base*2^(attempt-1))`.
    pub fn ceiling_ms(&self, attempt: u32) -> u64 {
        let shift = attempt.saturating_sub(1).min(63);
        self.base_ms
            .checked_mul(1u64 << shift)
            .map_or(self.max_ms, |d| d.min(self.max_ms))
    }

    /// The delay after failed attempt `attempt`, given `unit` drawn uniformly from `[0, 1)`.
    pub fn delay_ms(&self, attempt: u32, unit: f64) -> u64 {
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let d = (self.ceiling_ms(attempt) as f64 * unit) as u64;
        d.min(self.ceiling_ms(attempt))
    }

    /// Decide after failed attempt `attempt` (1-based) at `now_ms`; `unit` draws from `[0, 1)`.
    pub fn decide(&self, attempt: u32, now_ms: i64, unit: &mut impl FnMut() -> f64) -> Retry {
        if attempt >= self.max_attempts {
            return Retry::Dead;
        }
        let delay = i64::try_from(self.delay_ms(attempt, unit())).unwrap_or(i64::MAX);
        Retry::At(now_ms.saturating_add(delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny seeded generator (xorshift64*) so the tests are reproducible without real randomness.
    fn seeded(mut s: u64) -> impl FnMut() -> f64 {
        move || {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn rejects_bad_policies() {
        assert_eq!(Backoff::new(10, 100, 0), Err(BackoffError::NoAttempts));
        assert_eq!(
            Backoff::new(200, 100, 3),
            Err(BackoffError::BaseAboveMax {
                base_ms: 200,
                max_ms: 100
            })
        );
    }

    #[test]
    fn ceiling_doubles_then_caps() -> Result<(), BackoffError> {
        let b = Backoff::new(100, 1_000, 10)?;
        let got: Vec<u64> = (1..=6).map(|a| b.ceiling_ms(a)).collect();
        assert_eq!(got, vec![100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(
            b.ceiling_ms(500),
            1_000,
            "no overflow on huge attempt numbers"
        );
        Ok(())
    }

    #[test]
    fn full_jitter_stays_in_range_and_spreads() -> Result<(), BackoffError> {
        let b = Backoff::new(100, 10_000, 100)?;
        let mut rng = seeded(42);
        for attempt in 1..8 {
            let ceil = b.ceiling_ms(attempt);
            let draws: Vec<u64> = (0..200).map(|_| b.delay_ms(attempt, rng())).collect();
            assert!(draws.iter().all(|d| *d <= ceil));
            let lo = draws.iter().filter(|d| **d < ceil / 2).count();
            assert!(
                lo > 50 && lo < 150,
                "jitter spread over [0, ceil): {lo} of 200 in lower half"
            );
        }
        assert_eq!(b.delay_ms(3, 0.0), 0);
        assert_eq!(b.delay_ms(3, 0.5), 200);
        assert_eq!(b.delay_ms(3, f64::NAN), 0);
        Ok(())
    }

    #[test]
    fn dead_after_max_attempts() -> Result<(), BackoffError> {
        let b = Backoff::new(1_000, 60_000, 3)?;
        let mut half = || 0.5;
        assert_eq!(b.decide(1, 10_000, &mut half), Retry::At(10_500));
        assert_eq!(b.decide(2, 10_000, &mut half), Retry::At(11_000));
        assert_eq!(b.decide(3, 10_000, &mut half), Retry::Dead);
        assert_eq!(b.decide(4, 10_000, &mut half), Retry::Dead);
        Ok(())
    }

    #[test]
    fn same_seed_same_schedule() -> Result<(), BackoffError> {
        let b = Backoff::new(50, 5_000, 20)?;
        let (mut r1, mut r2) = (seeded(7), seeded(7));
        let a: Vec<Retry> = (1..20).map(|n| b.decide(n, 0, &mut r1)).collect();
        let c: Vec<Retry> = (1..20).map(|n| b.decide(n, 0, &mut r2)).collect();
        assert_eq!(a, c);
        Ok(())
    }
}
