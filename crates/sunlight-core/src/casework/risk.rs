//! Risk scores and codes ("coding and lighting up" officials).
//!
//! An official's score at processing time `now` sums, over the official's **open**
//! warnings (pushed, received or verifying):
//!
//! ```text
//! score(now) = Σ level_weight(level) × rule_weight(rule) × 2^(−(now − pushed_at) / half_life)
//! ```
//!
//! where `level` is red once a warning has escalated. The code is red when
//! `score >= red_at`, yellow when `score >= yellow_at`, green otherwise. Closed
//! warnings (rectified, confirmed, dismissed) stop counting at once. Ages below zero
//! (a clock step backwards) count as zero: a weight never exceeds its level weight.

use serde::Serialize;

use super::policy::CaseworkPolicy;
use crate::rules::measure::Level;
use crate::time::{Duration, Timestamp};

/// An official's colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskCode {
    /// Nothing open worth attention.
    Green,
    /// Watch.
    Yellow,
    /// Act.
    Red,
}

impl RiskCode {
    /// Every code, in order of severity.
    pub const ALL: [RiskCode; 3] = [RiskCode::Green, RiskCode::Yellow, RiskCode::Red];

    /// `green`, `yellow` or `red`.
    pub fn name(self) -> &'static str {
        match self {
            RiskCode::Green => "green",
            RiskCode::Yellow => "yellow",
            RiskCode::Red => "red",
        }
    }

    /// The code a score earns under `policy`.
    pub fn of(score: f64, policy: &CaseworkPolicy) -> RiskCode {
        if score >= policy.red_at {
            RiskCode::Red
        } else if score >= policy.yellow_at {
            RiskCode::Yellow
        } else {
            RiskCode::Green
        }
    }
}

/// The decayed weight of one open warning pushed at `pushed_at`.
pub fn decayed_weight(
    policy: &CaseworkPolicy,
    rule_id: &str,
    level: Level,
    pushed_at: Timestamp,
    now: Timestamp,
) -> f64 {
    let age = now.0.saturating_sub(pushed_at.0).max(0) as f64;
    let half_lives = age / policy.half_life.0.max(1) as f64;
    policy.weight(rule_id, level) * (-half_lives).exp2()
}

/// Half-lives in a duration (for documentation and tests).
pub fn half_lives(policy: &CaseworkPolicy, age: Duration) -> f64 {
    age.0 as f64 / policy.half_life.0 as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn at(days: i64) -> Timestamp {
        Timestamp(days * DAY * 1_000_000_000)
    }

    #[test]
    fn weights_halve_every_half_life() {
        let p = CaseworkPolicy {
            half_life: Duration::from_secs(10 * DAY),
            ..CaseworkPolicy::default()
        };
        assert_eq!(decayed_weight(&p, "r", Level::Red, at(0), at(0)), 3.0);
        assert_eq!(decayed_weight(&p, "r", Level::Red, at(0), at(10)), 1.5);
        assert_eq!(decayed_weight(&p, "r", Level::Yellow, at(0), at(20)), 0.25);
        // A clock step backwards never inflates a weight.
        assert_eq!(decayed_weight(&p, "r", Level::Yellow, at(5), at(0)), 1.0);
        assert_eq!(half_lives(&p, Duration::from_secs(5 * DAY)), 0.5);
    }

    #[test]
    fn codes_follow_the_thresholds() {
        let p = CaseworkPolicy::default();
        assert_eq!(RiskCode::of(0.49, &p), RiskCode::Green);
        assert_eq!(RiskCode::of(0.5, &p), RiskCode::Yellow);
        assert_eq!(RiskCode::of(2.49, &p), RiskCode::Yellow);
        assert_eq!(RiskCode::of(2.5, &p), RiskCode::Red);
    }
}
