//! Timestamps from department data: RFC 3339, epoch seconds or milliseconds, or a
//! local time in the department's own format and time zone (`%Y-%m-%d %H:%M:%S` in
//! `Asia/Shanghai`). Local times use the zone database bundled into the binary (no
//! system tz files needed on isolated hosts). A local time that does not exist (a
//! daylight-saving gap) or exists twice (the hour repeated in autumn) is resolved as
//! `jiff`'s "compatible" rule does, like most databases: a gap moves forward by its
//! length, a repeated hour takes its first occurrence.

use jiff::fmt::strtime::BrokenDownTime;
use jiff::tz::TimeZone;

use crate::time::Timestamp;

/// How a source writes its times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    /// `2026-11-27T06:03:00Z`, `2026-11-27T14:03:00+08:00`.
    Rfc3339,
    /// Milliseconds since 1970-01-01T00:00:00Z (a number or a string of digits).
    EpochMillis,
    /// Seconds since 1970-01-01T00:00:00Z.
    EpochSeconds,
    /// Microseconds since 1970-01-01T00:00:00Z (Debezium's PostgreSQL timestamps).
    EpochMicros,
    /// A `strftime` pattern; local to the source's time zone unless it has `%z`/`%Z`.
    Pattern(String),
}

impl TimeFormat {
    /// `rfc3339`, `epoch_ms`, `epoch_s`, or a pattern (it must contain a `%`).
    pub fn parse(text: &str) -> Result<TimeFormat, String> {
        match text {
            "rfc3339" => Ok(TimeFormat::Rfc3339),
            "epoch_ms" => Ok(TimeFormat::EpochMillis),
            "epoch_s" => Ok(TimeFormat::EpochSeconds),
            "epoch_us" => Ok(TimeFormat::EpochMicros),
            p if p.contains('%') => Ok(TimeFormat::Pattern(p.to_string())),
            other => Err(format!(
                "unknown time format {other:?}: use rfc3339, epoch_ms, epoch_us, epoch_s or a strftime pattern such as \"%Y-%m-%d %H:%M:%S\""
            )),
        }
    }
}

/// A time zone by IANA name (`Asia/Shanghai`, `UTC`), from the bundled database.
pub fn zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name)
        .map_err(|_| format!("unknown time zone {name:?} (an IANA name such as \"Asia/Shanghai\")"))
}

/// `text` read as `format` (local times in `tz`).
pub fn to_timestamp(text: &str, format: &TimeFormat, tz: &TimeZone) -> Result<Timestamp, String> {
    let nanos = match format {
        TimeFormat::Rfc3339 => text
            .parse::<jiff::Timestamp>()
            .map_err(|e| format!("{text:?} is not an RFC 3339 time: {e}"))?
            .as_nanosecond(),
        TimeFormat::EpochMillis => epoch(text, 1_000_000)?,
        TimeFormat::EpochSeconds => epoch(text, 1_000_000_000)?,
        TimeFormat::EpochMicros => epoch(text, 1_000)?,
        TimeFormat::Pattern(pattern) => {
            if let Some(local) = fast_local(pattern, text) {
                return tz
                    .to_ambiguous_timestamp(local)
                    .compatible()
                    .map_err(|e| format!("{text:?} read as {pattern:?} is not a time: {e}"))
                    .and_then(|t| {
                        i64::try_from(t.as_nanosecond())
                            .map(Timestamp)
                            .map_err(|_| format!("{text:?} is out of range"))
                    });
            }
            let parsed = BrokenDownTime::parse(pattern, text)
                .map_err(|e| format!("{text:?} does not match {pattern:?}: {e}"))?;
            let instant = if parsed.offset().is_some() || parsed.iana_time_zone().is_some() {
                parsed.to_timestamp()
            } else {
                parsed
                    .to_datetime()
                    .and_then(|local| local.to_zoned(tz.clone()))
                    .map(|zoned| zoned.timestamp())
            };
            instant
                .map_err(|e| format!("{text:?} read as {pattern:?} is not a time: {e}"))?
                .as_nanosecond()
        }
    };
    i64::try_from(nanos)
        .map(Timestamp)
        .map_err(|_| format!("{text:?} is out of range"))
}

/// The two patterns departments use most (`%Y-%m-%d %H:%M:%S`, and with `%.f`),
/// read without the general parser; None sends anything unusual (including every
/// malformed text) to it, so its messages and its rules apply.
fn fast_local(pattern: &str, text: &str) -> Option<jiff::civil::DateTime> {
    let with_fraction = match pattern {
        "%Y-%m-%d %H:%M:%S" => false,
        "%Y-%m-%d %H:%M:%S%.f" => true,
        _ => return None,
    };
    let b = text.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i32> {
        b[range].iter().try_fold(0i32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + i32::from(d - b'0'))
        })
    };
    let mut nanos = 0i32;
    match &b[19..] {
        [] => {}
        [b'.', digits @ ..] if with_fraction && (1..=9).contains(&digits.len()) => {
            for (i, d) in digits.iter().enumerate() {
                if !d.is_ascii_digit() {
                    return None;
                }
                nanos += i32::from(d - b'0') * 10i32.pow(8 - i as u32);
            }
        }
        _ => return None,
    }
    jiff::civil::DateTime::new(
        i16::try_from(number(0..4)?).ok()?,
        i8::try_from(number(5..7)?).ok()?,
        i8::try_from(number(8..10)?).ok()?,
        i8::try_from(number(11..13)?).ok()?,
        i8::try_from(number(14..16)?).ok()?,
        i8::try_from(number(17..19)?).ok()?,
        nanos,
    )
    .ok()
}

/// An integer count of units since the epoch, in nanoseconds.
fn epoch(text: &str, nanos_per_unit: i128) -> Result<i128, String> {
    let count: i64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not an integer count since the epoch"))?;
    Ok(i128::from(count) * nanos_per_unit)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn shanghai() -> TimeZone {
        zone("Asia/Shanghai").unwrap()
    }

    fn rfc3339(t: Timestamp) -> String {
        jiff::Timestamp::from_nanosecond(i128::from(t.0))
            .unwrap()
            .to_string()
    }

    #[test]
    fn department_times_become_instants() {
        let local = TimeFormat::parse("%Y-%m-%d %H:%M:%S").unwrap();
        let t = to_timestamp("2026-11-27 14:03:00", &local, &shanghai()).unwrap();
        assert_eq!(rfc3339(t), "2026-11-27T06:03:00Z");
        let t = to_timestamp("1764223380000", &TimeFormat::EpochMillis, &shanghai()).unwrap();
        assert_eq!(rfc3339(t), "2025-11-27T06:03:00Z");
        let t = to_timestamp("1764223380000000", &TimeFormat::EpochMicros, &shanghai()).unwrap();
        assert_eq!(rfc3339(t), "2025-11-27T06:03:00Z");
        let t = to_timestamp("1764223380", &TimeFormat::EpochSeconds, &shanghai()).unwrap();
        assert_eq!(rfc3339(t), "2025-11-27T06:03:00Z");
        let t = to_timestamp(
            "2026-11-27T14:03:00+08:00",
            &TimeFormat::Rfc3339,
            &shanghai(),
        )
        .unwrap();
        assert_eq!(rfc3339(t), "2026-11-27T06:03:00Z");
        let with_offset = TimeFormat::parse("%Y-%m-%d %H:%M:%S %z").unwrap();
        let t = to_timestamp("2026-11-27 14:03:00 +0000", &with_offset, &shanghai()).unwrap();
        assert_eq!(
            rfc3339(t),
            "2026-11-27T14:03:00Z",
            "an explicit offset wins over the zone"
        );
    }

    #[test]
    fn gaps_and_repeated_hours_follow_the_compatible_rule() {
        let local = TimeFormat::parse("%Y-%m-%d %H:%M").unwrap();
        let berlin = zone("Europe/Berlin").unwrap();
        // 2026-03-29 02:30 does not exist in Berlin: moved forward by the gap.
        let t = to_timestamp("2026-03-29 02:30", &local, &berlin).unwrap();
        assert_eq!(rfc3339(t), "2026-03-29T01:30:00Z");
        // 2026-10-25 02:30 happens twice: the first one (still summer time).
        let t = to_timestamp("2026-10-25 02:30", &local, &berlin).unwrap();
        assert_eq!(rfc3339(t), "2026-10-25T00:30:00Z");
    }

    #[test]
    fn bad_times_and_formats_are_explained() {
        let local = TimeFormat::parse("%Y-%m-%d %H:%M:%S").unwrap();
        let e = to_timestamp("2026-11-27T14:03:00", &local, &shanghai()).unwrap_err();
        assert!(
            e.starts_with("\"2026-11-27T14:03:00\" does not match \"%Y-%m-%d %H:%M:%S\""),
            "{e}"
        );
        assert_eq!(
            to_timestamp("12.5", &TimeFormat::EpochMillis, &shanghai()).unwrap_err(),
            "\"12.5\" is not an integer count since the epoch"
        );
        assert_eq!(
            TimeFormat::parse("yyyy-MM-dd").unwrap_err(),
            "unknown time format \"yyyy-MM-dd\": use rfc3339, epoch_ms, epoch_us, epoch_s or a strftime pattern such as \"%Y-%m-%d %H:%M:%S\""
        );
        assert_eq!(
            zone("Asia/Beijing").unwrap_err(),
            "unknown time zone \"Asia/Beijing\" (an IANA name such as \"Asia/Shanghai\")"
        );
    }

    const ZONES: [&str; 6] = [
        "Asia/Shanghai",
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
        "UTC",
    ];

    proptest! {
        /// An instant written as a local time in a zone (with the pattern a department
        /// uses) reads back as the same instant, except in the repeated hour, where
        /// the local time alone cannot tell the two instants apart; there it reads as
        /// the first of them.
        #[test]
        fn local_times_round_trip_across_zones(
            seconds in -2_000_000_000i64..4_000_000_000,
            zone_index in 0usize..ZONES.len(),
        ) {
            let tz = zone(ZONES[zone_index]).unwrap();
            let instant = jiff::Timestamp::from_second(seconds).unwrap();
            let zoned = instant.to_zoned(tz.clone());
            let text = zoned.strftime("%Y-%m-%d %H:%M:%S").to_string();
            let format = TimeFormat::Pattern("%Y-%m-%d %H:%M:%S".into());
            let back = to_timestamp(&text, &format, &tz).unwrap();
            let earliest = zoned
                .datetime()
                .to_zoned(tz.clone())
                .unwrap()
                .timestamp()
                .as_nanosecond();
            let ambiguous = tz.to_ambiguous_zoned(zoned.datetime()).is_ambiguous();
            if ambiguous {
                prop_assert_eq!(i128::from(back.0), earliest);
            } else {
                prop_assert_eq!(i128::from(back.0), instant.as_nanosecond());
            }
        }

        /// The fast reading of the common patterns gives what the general parser gives.
        #[test]
        fn the_fast_path_agrees_with_the_general_parser(
            text in "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?",
            zone_index in 0usize..ZONES.len(),
        ) {
            let tz = zone(ZONES[zone_index]).unwrap();
            for pattern in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S%.f"] {
                let general = BrokenDownTime::parse(pattern, &text)
                    .and_then(|p| p.to_datetime())
                    .and_then(|local| local.to_zoned(tz.clone()))
                    .map(|z| z.timestamp().as_nanosecond());
                let fast = to_timestamp(&text, &TimeFormat::Pattern(pattern.into()), &tz);
                match (general, fast) {
                    (Ok(g), Ok(f)) => prop_assert_eq!(g, i128::from(f.0)),
                    (Err(_), Err(_)) => {}
                    // Beyond what nanoseconds in an i64 hold (before 1677, after 2262).
                    (Ok(g), Err(_)) if i64::try_from(g).is_err() => {}
                    (g, f) => prop_assert!(false, "{pattern} {text}: general {g:?}, fast {f:?}"),
                }
            }
        }

        /// Any text in any format: a time or an error, never a panic.
        #[test]
        fn any_text_gives_a_time_or_an_error(text in ".{0,40}", pattern in "%[YmdHMSzZsjbBpI]{0,6}") {
            let tz = shanghai();
            for format in [TimeFormat::Rfc3339, TimeFormat::EpochMillis, TimeFormat::EpochMicros, TimeFormat::EpochSeconds, TimeFormat::Pattern(pattern.clone())] {
                let _ = to_timestamp(&text, &format, &tz);
            }
        }
    }
}
