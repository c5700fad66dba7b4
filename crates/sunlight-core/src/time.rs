//! Event time: instants as nanoseconds since the Unix epoch, RFC 3339 parsing and
//! formatting, and human durations (`30s`, `24h`, `7d`).
//!
//! Windows compare instants, never text: `2026-01-01T08:00:00+08:00` and
//! `2026-01-01T00:00:00Z` are the same instant and therefore peers.

use std::fmt;

/// Nanoseconds in one second.
pub const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// An instant in event time, as nanoseconds since 1970-01-01T00:00:00Z.
///
/// The representable range is roughly the years 1678 to 2262; timestamps outside it
/// are rejected at decode time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The earliest representable instant.
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    /// The latest representable instant.
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    /// Parses an RFC 3339 timestamp with an offset (`Z` or `+08:00`).
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, String> {
        check_rfc3339_shape(text)?;
        let ts: jiff::Timestamp = text
            .parse()
            .map_err(|e: jiff::Error| format!("not an RFC 3339 timestamp with offset: {e}"))?;
        Self::from_jiff(ts)
    }

    /// Converts from jiff, failing outside the i64-nanosecond range.
    pub fn from_jiff(ts: jiff::Timestamp) -> Result<Timestamp, String> {
        i64::try_from(ts.as_nanosecond())
            .map(Timestamp)
            .map_err(|_| "timestamp outside the years 1678..2262".to_string())
    }

    /// Builds a timestamp from seconds and nanoseconds (protobuf's representation).
    pub fn from_parts(seconds: i64, nanos: i32) -> Result<Timestamp, String> {
        if !(0..NANOS_PER_SECOND as i32).contains(&nanos) {
            return Err(format!("nanos {nanos} outside 0..999999999"));
        }
        let total = i128::from(seconds) * i128::from(NANOS_PER_SECOND) + i128::from(nanos);
        i64::try_from(total)
            .map(Timestamp)
            .map_err(|_| "timestamp outside the years 1678..2262".to_string())
    }

    /// Seconds and nanoseconds (protobuf's representation).
    pub fn to_parts(self) -> (i64, i32) {
        (
            self.0.div_euclid(NANOS_PER_SECOND),
            self.0.rem_euclid(NANOS_PER_SECOND) as i32,
        )
    }

    /// As a jiff timestamp (always representable).
    pub fn to_jiff(self) -> jiff::Timestamp {
        jiff::Timestamp::from_nanosecond(i128::from(self.0)).expect("i64 nanos fit jiff's range")
    }

    /// `self - duration`, saturating at the representable range.
    pub fn saturating_sub(self, duration: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(duration.0))
    }

    /// `self + duration`, saturating at the representable range.
    pub fn saturating_add(self, duration: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(duration.0))
    }

    /// The current wall-clock time.
    pub fn now() -> Timestamp {
        Timestamp::from_jiff(jiff::Timestamp::now()).unwrap_or(Timestamp::MAX)
    }
}

/// Checks the RFC 3339 `date-time` shape (jiff's parser alone also accepts ISO 8601
/// variants such as basic format, `+08` offsets and bracketed zone annotations):
/// `YYYY-MM-DD` `T`|`t`|space `HH:MM:SS` optional `.fraction`, then `Z`|`z`|`±HH:MM`.
fn check_rfc3339_shape(text: &str) -> Result<(), String> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let shape_ok = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't' | b' ')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape_ok {
        return Err(
            "not an RFC 3339 timestamp (expected YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM))".into(),
        );
    }
    let mut rest = &b[19..];
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return Err("the fraction of a second needs 1 to 9 digits".into());
        }
        rest = &rest[1 + n..];
    }
    let offset_ok = matches!(rest, [b'Z' | b'z'])
        || matches!(rest, [b'+' | b'-', h1, h2, b':', m1, m2]
            if [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
                && (*h1 - b'0') * 10 + (*h2 - b'0') < 24
                && (*m1 - b'0') * 10 + (*m2 - b'0') < 60);
    if !offset_ok {
        return Err("the offset must be Z or ±HH:MM".into());
    }
    Ok(())
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC, with as many fractional digits as needed (none for whole seconds).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_jiff(), f)
    }
}

/// A span of event time in nanoseconds (never negative once parsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub i64);

impl Duration {
    /// Zero length.
    pub const ZERO: Duration = Duration(0);

    /// From whole seconds.
    pub const fn from_secs(secs: i64) -> Duration {
        Duration(secs * NANOS_PER_SECOND)
    }

    /// Parses `<integer><unit>` terms, e.g. `30s`, `1h30m`, `7d`, `500ms`.
    ///
    /// Units: `ns`, `us`, `ms`, `s`, `m`, `h`, `d`, `w`. Calendar months and years are
    /// not accepted because their length varies; write `30d` or `365d`.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty duration; write e.g. 30s, 15m, 24h or 7d".into());
        }
        if text == "0" {
            return Ok(Duration::ZERO);
        }
        let mut total: i64 = 0;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(format!("`{text}`: expected a number before a unit"));
            }
            let number: i64 = rest[..digits]
                .parse()
                .map_err(|_| format!("`{text}`: number too large"))?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let nanos_per_unit: i64 = match unit {
                "ns" => 1,
                "us" | "µs" => 1_000,
                "ms" => 1_000_000,
                "s" => NANOS_PER_SECOND,
                "m" => 60 * NANOS_PER_SECOND,
                "h" => 3_600 * NANOS_PER_SECOND,
                "d" => 86_400 * NANOS_PER_SECOND,
                "w" => 7 * 86_400 * NANOS_PER_SECOND,
                "" => {
                    return Err(format!(
                        "`{text}`: missing unit (ns, us, ms, s, m, h, d, w)"
                    ));
                }
                other => {
                    return Err(format!(
                        "`{text}`: unknown unit `{other}` (use ns, us, ms, s, m, h, d, w)"
                    ));
                }
            };
            total = number
                .checked_mul(nanos_per_unit)
                .and_then(|n| total.checked_add(n))
                .ok_or_else(|| format!("`{text}`: duration too large"))?;
        }
        Ok(Duration(total))
    }
}

impl fmt::Display for Duration {
    /// The largest exact unit: `24h` prints as `1d`, `90m` as `90m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, i64); 7] = [
            ("d", 86_400 * NANOS_PER_SECOND),
            ("h", 3_600 * NANOS_PER_SECOND),
            ("m", 60 * NANOS_PER_SECOND),
            ("s", NANOS_PER_SECOND),
            ("ms", 1_000_000),
            ("us", 1_000),
            ("ns", 1),
        ];
        if self.0 == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in UNITS {
            if self.0 % size == 0 {
                return write!(f, "{}{unit}", self.0 / size);
            }
        }
        unreachable!("every duration is a whole number of nanoseconds")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offsets_to_the_same_instant() {
        let a = Timestamp::parse_rfc3339("2026-01-01T08:00:00+08:00").unwrap();
        let b = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(b.0, 1_767_225_600 * NANOS_PER_SECOND);
        assert_eq!(a.to_string(), "2026-01-01T00:00:00Z");
    }

    #[test]
    fn keeps_fractions() {
        let a = Timestamp::parse_rfc3339("2026-01-01T00:00:00.123456789Z").unwrap();
        assert_eq!(a.0 % NANOS_PER_SECOND, 123_456_789);
        assert_eq!(a.to_string(), "2026-01-01T00:00:00.123456789Z");
    }

    #[test]
    fn rejects_timestamps_without_offset_or_out_of_range() {
        assert!(Timestamp::parse_rfc3339("2026-01-01T00:00:00").is_err());
        for not_rfc3339 in [
            "2026-01-01T00:00:00+25:59",
            "2026-01-01T00:00:00+0800",
            "2026-01-01T00:00:00+08",
            "2026-01-01T00:00:00+08:00:30",
            "20260101T000000Z",
            "2026-01-01T00:00Z",
            "2026-01-01T00:00:00,5Z",
            "+002026-01-01T00:00:00Z",
            "2026-01-01T00:00:00+08:00[America/New_York]",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00.1234567891Z",
        ] {
            assert!(
                Timestamp::parse_rfc3339(not_rfc3339).is_err(),
                "{not_rfc3339}"
            );
        }
        for ok in [
            "2026-01-01t00:00:00z",
            "2026-01-01 00:00:00-05:30",
            "2026-01-01T00:00:00.5+08:00",
        ] {
            assert!(Timestamp::parse_rfc3339(ok).is_ok(), "{ok}");
        }
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
        assert!(Timestamp::parse_rfc3339("9999-01-01T00:00:00Z").is_err());
    }

    #[test]
    fn parts_round_trip_before_the_epoch() {
        let t = Timestamp(-1);
        assert_eq!(t.to_parts(), (-1, 999_999_999));
        let (s, n) = t.to_parts();
        assert_eq!(Timestamp::from_parts(s, n).unwrap(), t);
        assert!(Timestamp::from_parts(0, -1).is_err());
        assert!(Timestamp::from_parts(i64::MAX, 0).is_err());
        // The first representable second: seconds * 1e9 alone would overflow.
        let first = Timestamp(i64::MIN);
        let (s, n) = first.to_parts();
        assert_eq!(Timestamp::from_parts(s, n).unwrap(), first);
    }

    #[test]
    fn durations() {
        assert_eq!(Duration::parse("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(Duration::parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(
            Duration::parse("7d").unwrap(),
            Duration::from_secs(7 * 86400)
        );
        assert_eq!(Duration::parse("0").unwrap(), Duration::ZERO);
        assert_eq!(Duration::parse("2w").unwrap().to_string(), "14d");
        assert_eq!(Duration::parse("90m").unwrap().to_string(), "90m");
        for bad in [
            "",
            "10",
            "h",
            "5 years",
            "1mo",
            "99999999999999999999s",
            "-5s",
        ] {
            assert!(Duration::parse(bad).is_err(), "{bad} should fail");
        }
    }
}
