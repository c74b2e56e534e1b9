//! Replay windows: how old (and how far in the future) a signed timestamp may be.
//!
//! Each sender publishes its own rule; [`Window`] holds it, `tolerance_seconds` overrides it.

use super::VerifyError;

/// Allowed distance between a delivery's signed timestamp and now, in seconds.
/// `None` on a side means that side is not checked (e.g. Stripe accepts future timestamps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) past: Option<u64>,
    pub(crate) future: Option<u64>,
}

impl Window {
    /// No timestamp check at all (schemes that sign no timestamp, or `tolerance_seconds: 0`).
    pub(crate) const NONE: Window = Window {
        past: None,
        future: None,
    };

    /// Rejects timestamps older than `past` seconds only.
    pub(crate) const fn past(past: u64) -> Window {
        Window {
            past: Some(past),
            future: None,
        }
    }

    /// Rejects timestamps more than `secs` seconds away from now, either way.
    pub(crate) const fn both(secs: u64) -> Window {
        Window {
            past: Some(secs),
            future: Some(secs),
        }
    }

    /// Applies a `tolerance_seconds` override: 0 turns the check off, any other value replaces
    /// the window length on the sides this sender checks.
    pub(crate) fn with_tolerance(self, tolerance: Option<u64>) -> Window {
        match tolerance {
            None => self,
            Some(0) => Window::NONE,
            Some(n) => Window {
                past: Some(n),
                future: self.future.map(|_| n),
            },
        }
    }

    /// Checks a timestamp (unix seconds) against `now`.
    pub(crate) fn check(&self, ts: i64, now: u64) -> Result<(), VerifyError> {
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let age = now.saturating_sub(ts);
        if let Some(past) = self.past {
            if age > i64::try_from(past).unwrap_or(i64::MAX) {
                return Err(VerifyError::TimestampOutOfTolerance {
                    tolerance_seconds: past,
                });
            }
        }
        if let Some(future) = self.future {
            if age.saturating_neg() > i64::try_from(future).unwrap_or(i64::MAX) {
                return Err(VerifyError::TimestampOutOfTolerance {
                    tolerance_seconds: future,
                });
            }
        }
        Ok(())
    }
}

/// Parses a decimal unix timestamp in seconds (as sent by Stripe, Slack, Standard Webhooks...).
pub(crate) fn parse_unix(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses an RFC 3339 timestamp (`2023-07-19T14:56:51.634234626Z`, Twitch) to unix seconds.
pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = s.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = frac.get(n..)?;
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let t = rest.get(1..)?;
            if t.len() != 5 || t.as_bytes()[2] != b':' {
                return None;
            }
            let oh: i64 = t.get(0..2)?.parse().ok()?;
            let om: i64 = t.get(3..5)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats unix seconds as RFC 3339 UTC (for signing Twitch deliveries).
pub(crate) fn format_rfc3339(ts: u64) -> String {
    let secs = i64::try_from(ts).unwrap_or(0);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // civil_from_days (Howard Hinnant).
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        let w = Window::past(300);
        assert!(w.check(1000, 1300).is_ok());
        assert!(w.check(1000, 1301).is_err());
        assert!(
            w.check(999_999, 1000).is_ok(),
            "past-only accepts the future"
        );
        let w = Window::both(300);
        assert!(w.check(1300, 1000).is_ok());
        assert!(w.check(1301, 1000).is_err());
        assert!(Window::both(300)
            .with_tolerance(Some(0))
            .check(0, 1_000_000)
            .is_ok());
        assert_eq!(Window::past(300).with_tolerance(Some(10)), Window::past(10));
    }

    #[test]
    fn rfc3339_round_trip() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        // `date -u -d 2023-07-19T14:56:51Z +%s` = 1689778611
        assert_eq!(
            parse_rfc3339("2023-07-19T14:56:51.634234626Z"),
            Some(1_689_778_611)
        );
        assert_eq!(
            parse_rfc3339("2023-07-19T16:56:51+02:00"),
            Some(1_689_778_611)
        );
        assert_eq!(format_rfc3339(1_689_778_611), "2023-07-19T14:56:51Z");
        assert_eq!(parse_rfc3339("2023-13-19T14:56:51Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_unix("12a"), None);
        assert_eq!(parse_unix("1531420618"), Some(1_531_420_618));
    }
}
