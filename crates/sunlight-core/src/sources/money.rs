//! Money from department data to exact cents (minor units), never through floating
//! point: the decimal text is read digit by digit into an integer.
//!
//! - `yuan`: a decimal amount in yuan (`"1234.5"`, `"-0.01"`, `1234.50` as a JSON
//!   number's exact text) becomes cents (`123450`). More than two decimals are refused
//!   unless the mapping asks to round (`round = "half_up"` or `"half_even"`).
//! - `cents`: an integer amount already in cents (`"123450"`, `123450`).
//!
//! A leading `+` or `-`, leading zeros and a trailing `.` are accepted; exponents,
//! thousands separators, spaces and currency signs are not (they are refused with the
//! value in the message, so the integrator sees what arrived).

use base64::Engine as _;
use serde::Deserialize;

/// The largest scale of a Connect `Decimal` read (38 is the largest SQL precision).
pub const MAX_SCALE: u32 = 38;

/// The unit of an amount in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoneyUnit {
    /// Yuan with up to two decimals (fen).
    Yuan,
    /// Integer cents.
    Cents,
}

/// What to do with digits below a cent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Refuse the value (the default: money is never changed silently).
    #[default]
    Refuse,
    /// Round half away from zero.
    HalfUp,
    /// Round half to even (banker's rounding).
    HalfEven,
}

/// A Kafka Connect `Decimal` (base64 of the unscaled big-endian two's-complement
/// integer, at most 16 bytes) with `scale`, as decimal text (`"AeI="` with scale 2 is
/// `"4.82"`), for [`to_cents`].
pub fn connect_decimal(base64: &str, scale: u32) -> Result<String, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64)
        .map_err(|e| format!("{base64:?} is not a base64 Connect Decimal: {e}"))?;
    if bytes.is_empty() || bytes.len() > 16 {
        return Err(format!(
            "{base64:?} is a Connect Decimal of {} bytes (1 to 16 are read)",
            bytes.len()
        ));
    }
    let fill = if bytes[0] & 0x80 != 0 { 0xff } else { 0 };
    let mut be = [fill; 16];
    be[16 - bytes.len()..].copy_from_slice(&bytes);
    let unscaled = i128::from_be_bytes(be);
    let digits = unscaled.unsigned_abs().to_string();
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    let sign = if unscaled < 0 { "-" } else { "" };
    Ok(if scale == 0 {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    })
}

/// `text` (a decimal string or a JSON number's exact text) in `unit`, as cents.
pub fn to_cents(text: &str, unit: MoneyUnit, rounding: Rounding) -> Result<i64, String> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, f),
        None => (digits, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return Err(format!("{text:?} is not a decimal number"));
    }
    let places = match unit {
        MoneyUnit::Yuan => 2,
        MoneyUnit::Cents => 0,
    };
    let (kept, dropped) = fraction.split_at(fraction.len().min(places));
    let too_large = || format!("{text:?} is too large for an amount in cents");
    let mut cents: i64 = 0;
    for b in whole.bytes().chain(kept.bytes()) {
        cents = cents
            .checked_mul(10)
            .and_then(|c| c.checked_add(i64::from(b - b'0')))
            .ok_or_else(too_large)?;
    }
    for _ in kept.len()..places {
        cents = cents.checked_mul(10).ok_or_else(too_large)?;
    }
    if dropped.bytes().any(|b| b != b'0') {
        let up = match rounding {
            Rounding::Refuse => {
                return Err(match unit {
                    MoneyUnit::Yuan => format!(
                        "{text:?} has more than two decimals (set round = \"half_up\" or \"half_even\" to round)"
                    ),
                    MoneyUnit::Cents => format!(
                        "{text:?} has decimals, but the amount is in cents (set round = \"half_up\" or \"half_even\" to round)"
                    ),
                });
            }
            Rounding::HalfUp => dropped.as_bytes()[0] >= b'5',
            Rounding::HalfEven => {
                let first = dropped.as_bytes()[0];
                let rest_nonzero = dropped[1..].bytes().any(|b| b != b'0');
                first > b'5' || (first == b'5' && (rest_nonzero || cents % 2 == 1))
            }
        };
        if up {
            cents = cents.checked_add(1).ok_or_else(too_large)?;
        }
    }
    Ok(if negative { -cents } else { cents })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn yuan(text: &str) -> Result<i64, String> {
        to_cents(text, MoneyUnit::Yuan, Rounding::Refuse)
    }

    #[test]
    fn yuan_become_exact_cents() {
        assert_eq!(yuan("1234.5"), Ok(123_450));
        assert_eq!(yuan("1234.50"), Ok(123_450));
        assert_eq!(yuan("0.01"), Ok(1));
        assert_eq!(yuan("-0.07"), Ok(-7));
        assert_eq!(yuan("+12"), Ok(1_200));
        assert_eq!(yuan("12."), Ok(1_200));
        assert_eq!(yuan(".5"), Ok(50));
        assert_eq!(yuan("007.100"), Ok(710));
        assert_eq!(
            to_cents("123450", MoneyUnit::Cents, Rounding::Refuse),
            Ok(123_450)
        );
    }

    #[test]
    fn what_is_not_money_is_refused_with_the_value() {
        assert_eq!(
            yuan("12.345"),
            Err("\"12.345\" has more than two decimals (set round = \"half_up\" or \"half_even\" to round)".into())
        );
        for bad in [
            "", ".", "1e3", "1,000.00", " 12", "¥12", "12-", "--1", "0x10", "NaN",
        ] {
            assert_eq!(
                yuan(bad),
                Err(format!("{bad:?} is not a decimal number")),
                "{bad}"
            );
        }
        assert_eq!(
            yuan("92233720368547758.08"),
            Err("\"92233720368547758.08\" is too large for an amount in cents".into())
        );
        assert_eq!(yuan("92233720368547758.07"), Ok(i64::MAX));
    }

    #[test]
    fn rounding_is_only_done_when_asked() {
        let up = |t| to_cents(t, MoneyUnit::Yuan, Rounding::HalfUp);
        let even = |t| to_cents(t, MoneyUnit::Yuan, Rounding::HalfEven);
        assert_eq!(up("0.125"), Ok(13));
        assert_eq!(up("-0.125"), Ok(-13));
        assert_eq!(up("0.1249"), Ok(12));
        assert_eq!(even("0.125"), Ok(12));
        assert_eq!(even("0.135"), Ok(14));
        assert_eq!(even("0.1251"), Ok(13));
        assert_eq!(even("0.12500"), Ok(12));
    }

    #[test]
    fn connect_decimals_are_read_from_their_unscaled_bytes() {
        // 482 = 0x01E2; -1 = 0xFF; 4,850,000 = 0x4A 0x01 0x50; 0x80 alone is -128.
        assert_eq!(connect_decimal("AeI=", 2), Ok("4.82".into()));
        assert_eq!(connect_decimal("/w==", 2), Ok("-0.01".into()));
        assert_eq!(connect_decimal("SgFQ", 2), Ok("48500.00".into()));
        assert_eq!(connect_decimal("gA==", 0), Ok("-128".into()));
        assert_eq!(connect_decimal("AeI=", 4), Ok("0.0482".into()));
        assert_eq!(
            to_cents(
                &connect_decimal("SgFQ", 2).unwrap(),
                MoneyUnit::Yuan,
                Rounding::Refuse
            ),
            Ok(4_850_000)
        );
        assert_eq!(
            connect_decimal("48500.00", 2),
            Err(
                "\"48500.00\" is not a base64 Connect Decimal: Invalid symbol 46, offset 5.".into()
            )
        );
        assert_eq!(
            connect_decimal("", 2),
            Err("\"\" is a Connect Decimal of 0 bytes (1 to 16 are read)".into())
        );
    }

    proptest! {
        /// Every unscaled value and scale: the text spells the value exactly.
        #[test]
        fn connect_decimals_round_trip(unscaled: i128, scale in 0u32..=MAX_SCALE) {
            let bytes = unscaled.to_be_bytes();
            let text = connect_decimal(
                &base64::engine::general_purpose::STANDARD.encode(bytes),
                scale,
            ).unwrap();
            let digits: String = text.chars().filter(|c| *c != '.').collect();
            prop_assert_eq!(digits.parse::<i128>().unwrap(), unscaled);
            let places = text.split_once('.').map_or(0, |(_, f)| f.len());
            prop_assert_eq!(places, scale as usize);
        }

        /// Every decimal string of up to 18 digits (up to 16 before the point, up to
        /// 2 after) converts to exactly the integer its digits spell.
        #[test]
        fn conversion_is_exact_for_every_decimal_of_up_to_18_digits(
            whole in 0u64..10_000_000_000_000_000,
            fraction in 0u64..100,
            places in 0usize..=2,
            negative: bool,
            zeros in 0usize..3,
        ) {
            let fraction = if places == 0 { 0 } else if places == 1 { fraction / 10 } else { fraction };
            let mut text = String::new();
            if negative { text.push('-'); }
            text.push_str(&"0".repeat(zeros));
            text.push_str(&whole.to_string());
            match places {
                0 => {}
                1 => text.push_str(&format!(".{fraction}")),
                _ => text.push_str(&format!(".{fraction:02}")),
            }
            let expected_abs = i128::from(whole) * 100
                + i128::from(if places == 1 { fraction * 10 } else { fraction });
            let expected = if negative { -expected_abs } else { expected_abs };
            prop_assert_eq!(i128::from(yuan(&text).unwrap()), expected);
        }

        /// Any text at all: a value or an error, never a panic.
        #[test]
        fn any_text_gives_a_value_or_an_error(text in ".{0,30}") {
            let _ = to_cents(&text, MoneyUnit::Yuan, Rounding::HalfEven);
            let _ = to_cents(&text, MoneyUnit::Cents, Rounding::Refuse);
        }
    }
}
