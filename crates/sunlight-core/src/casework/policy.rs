//! [`CaseworkPolicy`]: the knobs of the closed loop — risk weights, half-life and
//! thresholds, disposal deadlines per level, and how long a dismissal suppresses a
//! rule and key. Deserialised from the `[casework]` table of Sunlight's settings;
//! every field has a default, documented in docs/CASEWORK.md.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::rules::measure::Level;
use crate::time::Duration;

/// Risk scoring and disposal rules.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaseworkPolicy {
    /// A warning's weight halves every `half_life` of processing time since it was
    /// pushed (default 30 days).
    #[serde(with = "duration_text")]
    pub half_life: Duration,
    /// Weight of a yellow warning (default 1).
    pub yellow_weight: f64,
    /// Weight of a red (or escalated) warning (default 3).
    pub red_weight: f64,
    /// Per rule id, a factor on the level weight (default 1 for unlisted rules).
    pub rule_weights: BTreeMap<String, f64>,
    /// Score at which an official is coded yellow (default 0.5: one yellow warning
    /// for one half-life).
    pub yellow_at: f64,
    /// Score at which an official is coded red (default 2.5: one fresh red warning,
    /// or three fresh yellow ones, for about a quarter of a half-life). Thresholds
    /// sit between the sums of whole weights, so a score does not start exactly on
    /// a threshold and fall off it an instant later.
    pub red_at: f64,
    /// A yellow warning not `received` within this escalates (default 3 days).
    #[serde(with = "duration_text")]
    pub yellow_receive_within: Duration,
    /// A red warning not `received` within this escalates (default 1 day).
    #[serde(with = "duration_text")]
    pub red_receive_within: Duration,
    /// A yellow warning still open (not rectified, confirmed or dismissed) after this
    /// escalates (default 30 days).
    #[serde(with = "duration_text")]
    pub yellow_resolve_within: Duration,
    /// A red warning still open after this escalates (default 15 days).
    #[serde(with = "duration_text")]
    pub red_resolve_within: Duration,
    /// A `dismissed` (false positive) warning suppresses further warnings of the same
    /// rule, official and key for this long (default 90 days).
    #[serde(with = "duration_text")]
    pub suppress_for: Duration,
    /// Closed warnings are kept (for `GET /v1/warnings/{id}` and late feedback) this
    /// long after closing (default 30 days); open ones until they close.
    #[serde(with = "duration_text")]
    pub keep_closed_for: Duration,
    /// After that, a closed warning's id is still remembered (16 bytes) this long, so
    /// a re-read that emits it again does not reopen its case (default 3650 days: the
    /// longest window of the default pack).
    #[serde(with = "duration_text")]
    pub remember_closed_for: Duration,
}

const DAY: i64 = 86_400;

impl Default for CaseworkPolicy {
    fn default() -> Self {
        CaseworkPolicy {
            half_life: Duration::from_secs(30 * DAY),
            yellow_weight: 1.0,
            red_weight: 3.0,
            rule_weights: BTreeMap::new(),
            yellow_at: 0.5,
            red_at: 2.5,
            yellow_receive_within: Duration::from_secs(3 * DAY),
            red_receive_within: Duration::from_secs(DAY),
            yellow_resolve_within: Duration::from_secs(30 * DAY),
            red_resolve_within: Duration::from_secs(15 * DAY),
            suppress_for: Duration::from_secs(90 * DAY),
            keep_closed_for: Duration::from_secs(30 * DAY),
            remember_closed_for: Duration::from_secs(3650 * DAY),
        }
    }
}

impl CaseworkPolicy {
    /// Checks the values; the error names the setting.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("half_life", self.half_life),
            ("yellow_receive_within", self.yellow_receive_within),
            ("red_receive_within", self.red_receive_within),
            ("yellow_resolve_within", self.yellow_resolve_within),
            ("red_resolve_within", self.red_resolve_within),
        ];
        for (name, d) in positive {
            if d.0 <= 0 {
                return Err(format!("casework.{name} must be longer than zero"));
            }
        }
        for (name, d) in [
            ("suppress_for", self.suppress_for),
            ("keep_closed_for", self.keep_closed_for),
            ("remember_closed_for", self.remember_closed_for),
        ] {
            if d.0 < 0 {
                return Err(format!("casework.{name} must not be negative"));
            }
        }
        let weights = [
            ("yellow_weight", self.yellow_weight),
            ("red_weight", self.red_weight),
        ]
        .into_iter()
        .chain(self.rule_weights.iter().map(|(k, v)| (k.as_str(), *v)));
        for (name, w) in weights {
            if !w.is_finite() || w < 0.0 {
                return Err(format!(
                    "casework weight `{name}` must be a finite number >= 0, not {w}"
                ));
            }
        }
        if !(self.yellow_at.is_finite() && self.yellow_at > 0.0) {
            return Err("casework.yellow_at must be a number > 0".into());
        }
        if !(self.red_at.is_finite() && self.red_at >= self.yellow_at) {
            return Err("casework.red_at must be a number >= casework.yellow_at".into());
        }
        Ok(())
    }

    /// The weight of a warning of `rule_id` at `level`, before decay.
    pub fn weight(&self, rule_id: &str, level: Level) -> f64 {
        let base = match level {
            Level::Yellow => self.yellow_weight,
            Level::Red => self.red_weight,
        };
        base * self.rule_weights.get(rule_id).copied().unwrap_or(1.0)
    }

    /// How long a warning at `level` may stay un-received.
    pub fn receive_within(&self, level: Level) -> Duration {
        match level {
            Level::Yellow => self.yellow_receive_within,
            Level::Red => self.red_receive_within,
        }
    }

    /// How long a warning at `level` may stay open.
    pub fn resolve_within(&self, level: Level) -> Duration {
        match level {
            Level::Yellow => self.yellow_resolve_within,
            Level::Red => self.red_resolve_within,
        }
    }
}

/// Durations written as text (`30d`, `12h`), as everywhere in Sunlight's settings.
mod duration_text {
    use serde::{Deserialize, Deserializer};

    use crate::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        Duration::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_weights_combine() {
        let mut p = CaseworkPolicy::default();
        assert_eq!(p.validate(), Ok(()));
        p.rule_weights.insert("split-payment".into(), 2.0);
        assert_eq!(p.weight("split-payment", Level::Red), 6.0);
        assert_eq!(p.weight("other", Level::Yellow), 1.0);
    }

    #[test]
    fn bad_values_name_the_setting() {
        let p = CaseworkPolicy {
            red_at: 0.4,
            ..CaseworkPolicy::default()
        };
        assert_eq!(
            p.validate(),
            Err("casework.red_at must be a number >= casework.yellow_at".into())
        );
        let mut p = CaseworkPolicy::default();
        p.rule_weights.insert("r".into(), f64::NAN);
        assert!(p.validate().unwrap_err().contains("`r`"));
    }
}
