//! Measures (a rule's named aggregates), level conditions over them, and levels.

use std::fmt;

use super::filter::CmpOp;

/// A named aggregate a rule reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Measure {
    /// Matching events in the window (every rule has it).
    Count,
    /// Sum of the measured field.
    Sum,
    /// Mean of the measured field.
    Avg,
    /// Minimum of the measured field.
    Min,
    /// Maximum of the measured field.
    Max,
    /// Distinct values of the distinct field.
    Distinct,
    /// (max - min) / |min| of the measured field (|min| taken as at least 1): how far
    /// apart the amounts are, 0.1 when they are within 10% of the smallest.
    Spread,
    /// `ratio`: events matching the numerator filter.
    Numerator,
    /// `ratio`: events matching the denominator filter.
    Denominator,
    /// `ratio`: numerator / max(denominator, 1); `baseline`: count / max(expected, 1).
    Ratio,
    /// `baseline`: events in the baseline period.
    BaselineCount,
    /// `baseline`: baseline count scaled to the window's length.
    Expected,
}

impl Measure {
    /// Every measure.
    pub const ALL: [Measure; 12] = [
        Measure::Count,
        Measure::Sum,
        Measure::Avg,
        Measure::Min,
        Measure::Max,
        Measure::Distinct,
        Measure::Spread,
        Measure::Numerator,
        Measure::Denominator,
        Measure::Ratio,
        Measure::BaselineCount,
        Measure::Expected,
    ];

    /// The name used in rule files, titles and warnings.
    pub fn name(self) -> &'static str {
        match self {
            Measure::Count => "count",
            Measure::Sum => "sum",
            Measure::Avg => "avg",
            Measure::Min => "min",
            Measure::Max => "max",
            Measure::Distinct => "distinct",
            Measure::Spread => "spread",
            Measure::Numerator => "numerator",
            Measure::Denominator => "denominator",
            Measure::Ratio => "ratio",
            Measure::BaselineCount => "baseline_count",
            Measure::Expected => "expected",
        }
    }
}

/// (max - min) / |min|, with |min| taken as at least 1 in the field's unit (so it
/// is always finite): `min` and `max` as a slot keeps them, times 10^`scale`.
pub fn spread(min: i64, max: i64, scale: u8) -> f64 {
    let unit = 10u64.pow(u32::from(scale.min(6)));
    (i128::from(max) - i128::from(min)) as f64 / (min.unsigned_abs().max(unit)) as f64
}

/// A measure's value: integers stay exact, ratios and means are floats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MeasureValue {
    /// A count, sum, min or max.
    Int(i64),
    /// A mean or ratio.
    Float(f64),
}

impl MeasureValue {
    /// As f64, for comparisons.
    pub fn as_f64(self) -> f64 {
        match self {
            MeasureValue::Int(v) => v as f64,
            MeasureValue::Float(v) => v,
        }
    }
}

impl fmt::Display for MeasureValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MeasureValue::Int(v) => write!(f, "{v}"),
            MeasureValue::Float(v) => {
                let rounded = (v * 100.0).round() / 100.0;
                write!(f, "{rounded}")
            }
        }
    }
}

/// A value field's number as a slot stores it: an integer, times 10^`scale` (a
/// decimal field read with `decimals = scale`, rounded half to even); None when it
/// is not a number, a non-integer with scale 0, or too large.
pub(crate) fn scaled_value(value: crate::event::FieldValue<'_>, scale: u8) -> Option<i64> {
    use crate::event::FieldValue;
    match value {
        FieldValue::Int(v) => v.checked_mul(10i64.checked_pow(u32::from(scale))?),
        FieldValue::Float(f) if scale > 0 => {
            let x = (f * 10f64.powi(i32::from(scale))).round_ties_even();
            (x.is_finite() && x.abs() < 9.0e18).then_some(x as i64)
        }
        _ => None,
    }
}

/// Sum, avg, min and max of a slot with `decimals = scale`, back in the field's unit.
pub(crate) fn unscale(measures: &[Measure], values: &mut [MeasureValue], scale: u8) {
    if scale == 0 {
        return;
    }
    let unit = 10f64.powi(i32::from(scale));
    for (m, v) in measures.iter().zip(values.iter_mut()) {
        if matches!(m, Measure::Sum | Measure::Avg | Measure::Min | Measure::Max) {
            *v = MeasureValue::Float(v.as_f64() / unit);
        }
    }
}

/// The operator a comparison starts with, and the rest.
fn split_comparison(text: &str) -> Option<(CmpOp, &str)> {
    let text = text.trim();
    [
        (">=", CmpOp::Gte),
        ("<=", CmpOp::Lte),
        ("==", CmpOp::Eq),
        ("!=", CmpOp::Ne),
        (">", CmpOp::Gt),
        ("<", CmpOp::Lt),
    ]
    .into_iter()
    .find_map(|(sym, op)| text.strip_prefix(sym).map(|rest| (op, rest)))
}

/// `measure op value`, e.g. `count >= 5`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// Position of the measure in the rule's measure list.
    pub measure_index: usize,
    /// The comparison.
    pub op: CmpOp,
    /// The threshold (when `field` is None).
    pub value: f64,
    /// A numeric field of the trigger event to compare with instead (`"> attributes.
    /// tank_l"`): the condition fails when the event has no number there.
    pub field: Option<crate::event::FieldRef>,
}

impl Condition {
    /// Parses a comparison with a field of the trigger as the threshold,
    /// `"> attributes.tank_l"` (None: the right side is not a field name).
    pub fn parse_field_comparison(text: &str) -> Option<(CmpOp, crate::event::FieldRef)> {
        let (op, rest) = split_comparison(text)?;
        match crate::event::FieldRef::parse(rest.trim())? {
            f @ (crate::event::FieldRef::AmountCents | crate::event::FieldRef::Attribute(_)) => {
                Some((op, f))
            }
            _ => None,
        }
    }

    /// The threshold for `event`: the constant, or the event's number in `field`
    /// (None: it has none).
    pub fn threshold(&self, event: Option<&crate::event::PowerEvent>) -> Option<f64> {
        match &self.field {
            None => Some(self.value),
            Some(f) => event?.field(f)?.as_f64().filter(|v| v.is_finite()),
        }
    }

    /// Parses `">= 5"`, `"< 0.5"`, `"== 1"`.
    pub fn parse_comparison(text: &str) -> Result<(CmpOp, f64), String> {
        let text = text.trim();
        let (op, rest) = split_comparison(text)
            .ok_or_else(|| format!("{text:?} must start with >=, >, <=, <, == or !="))?;
        let value: f64 = rest
            .trim()
            .replace('_', "")
            .parse()
            .map_err(|_| format!("{text:?}: {rest:?} is not a number"))?;
        if !value.is_finite() {
            return Err(format!("{text:?}: threshold must be finite"));
        }
        Ok((op, value))
    }

    /// Whether the measured values satisfy the condition (a field threshold is read
    /// from `event`; without one, such a condition fails).
    #[inline]
    pub fn holds(&self, values: &[MeasureValue], event: Option<&crate::event::PowerEvent>) -> bool {
        let Some(threshold) = self.threshold(event) else {
            return false;
        };
        let v = values[self.measure_index];
        let ord = match v {
            // Compare integers exactly when the threshold is integral.
            MeasureValue::Int(i) if threshold.fract() == 0.0 && threshold.abs() < 9.0e18 => {
                i.cmp(&(threshold as i64))
            }
            other => match other.as_f64().partial_cmp(&threshold) {
                Some(o) => o,
                None => return false,
            },
        };
        self.op.holds(ord)
    }
}

/// A condition of the level a warning fired at, with the value the measure had:
/// why the warning fired (`count >= 2`, measured 3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FiredCondition {
    /// The measure compared.
    pub measure: Measure,
    /// The comparison.
    pub op: CmpOp,
    /// The threshold.
    pub threshold: f64,
    /// The measure's value.
    pub value: MeasureValue,
}

/// A warning level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Needs verification.
    Yellow,
    /// Needs disposal now.
    Red,
}

impl Level {
    /// `yellow` or `red`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Yellow => "yellow",
            Level::Red => "red",
        }
    }

    /// Parses `yellow` or `red`.
    pub fn parse(text: &str) -> Option<Level> {
        match text {
            "yellow" => Some(Level::Yellow),
            "red" => Some(Level::Red),
            _ => None,
        }
    }
}

/// How a rule decides its level.
#[derive(Debug, Clone, PartialEq)]
pub enum Levels {
    /// Red if every red condition holds, else yellow if every yellow condition holds.
    Thresholds {
        /// Conditions for red (None: the rule never fires red).
        red: Option<Vec<Condition>>,
        /// Conditions for yellow (None: the rule never fires yellow).
        yellow: Option<Vec<Condition>>,
    },
    /// Every trigger fires at this level.
    Fixed(Level),
}

impl Levels {
    /// The level the measures reach, if any.
    #[inline]
    pub fn decide(&self, values: &[MeasureValue]) -> Option<Level> {
        self.decide_for(values, None)
    }

    /// Like [`Levels::decide`], with the trigger event that field thresholds read.
    #[inline]
    pub fn decide_for(
        &self,
        values: &[MeasureValue],
        event: Option<&crate::event::PowerEvent>,
    ) -> Option<Level> {
        match self {
            Levels::Fixed(level) => Some(*level),
            Levels::Thresholds { red, yellow } => {
                let all = |conds: &Option<Vec<Condition>>| {
                    conds
                        .as_ref()
                        .is_some_and(|c| c.iter().all(|c| c.holds(values, event)))
                };
                if all(red) {
                    Some(Level::Red)
                } else if all(yellow) {
                    Some(Level::Yellow)
                } else {
                    None
                }
            }
        }
    }

    /// The conditions of `level` (the red ones for red, the yellow ones for yellow)
    /// with the values `values` gave their measures, in the rule's order; empty for
    /// [`Levels::Fixed`] and for a level the rule has no conditions for. `measures`
    /// are the rule's measures, `values` their values (as [`Levels::decide`] saw
    /// them). Pure: a consumer can recompute a warning's conditions from its rule.
    pub fn fired(
        &self,
        level: Level,
        measures: &[Measure],
        values: &[MeasureValue],
    ) -> Vec<FiredCondition> {
        self.fired_for(level, measures, values, None)
    }

    /// Like [`Levels::fired`], with the trigger event whose fields gave field
    /// thresholds their values (without it, field conditions are left out).
    pub fn fired_for(
        &self,
        level: Level,
        measures: &[Measure],
        values: &[MeasureValue],
        event: Option<&crate::event::PowerEvent>,
    ) -> Vec<FiredCondition> {
        let Levels::Thresholds { red, yellow } = self else {
            return Vec::new();
        };
        let conditions = match level {
            Level::Red => red,
            Level::Yellow => yellow,
        };
        conditions
            .iter()
            .flatten()
            .filter_map(|c| {
                Some(FiredCondition {
                    measure: *measures.get(c.measure_index)?,
                    op: c.op,
                    threshold: c.threshold(event)?,
                    value: *values.get(c.measure_index)?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_takes_the_smallest_amount_as_at_least_one_unit_of_the_field() {
        assert_eq!(spread(100, 110, 0), 0.1);
        assert_eq!(spread(0, 3, 0), 3.0);
        // Two decimals: 0.00 to 1.50 is 1.5 units over one unit; 0.50 to 1.50 is 1.0.
        assert_eq!(spread(0, 150, 2), 1.5);
        assert_eq!(spread(50, 150, 2), 1.0);
        assert_eq!(spread(200, 250, 2), 0.25);
    }

    #[test]
    fn parses_comparisons() {
        assert_eq!(
            Condition::parse_comparison(">= 5").unwrap(),
            (CmpOp::Gte, 5.0)
        );
        assert_eq!(
            Condition::parse_comparison("<0.5").unwrap(),
            (CmpOp::Lt, 0.5)
        );
        assert_eq!(
            Condition::parse_comparison("== 5_000_000").unwrap(),
            (CmpOp::Eq, 5e6)
        );
        assert!(Condition::parse_comparison("5").is_err());
        assert!(Condition::parse_comparison(">= five").is_err());
        assert!(Condition::parse_comparison(">= inf").is_err());
    }

    #[test]
    fn decides_red_before_yellow() {
        let cond = |op, value| Condition {
            measure_index: 0,
            op,
            value,
            field: None,
        };
        let levels = Levels::Thresholds {
            red: Some(vec![cond(CmpOp::Gte, 10.0)]),
            yellow: Some(vec![cond(CmpOp::Gte, 5.0)]),
        };
        assert_eq!(levels.decide(&[MeasureValue::Int(4)]), None);
        assert_eq!(levels.decide(&[MeasureValue::Int(5)]), Some(Level::Yellow));
        assert_eq!(levels.decide(&[MeasureValue::Int(10)]), Some(Level::Red));
    }

    #[test]
    fn fired_lists_the_conditions_of_the_level_with_their_values() {
        let levels = Levels::Thresholds {
            red: Some(vec![
                Condition {
                    measure_index: 0,
                    op: CmpOp::Gte,
                    value: 3.0,
                    field: None,
                },
                Condition {
                    measure_index: 1,
                    op: CmpOp::Gt,
                    value: 0.5,
                    field: None,
                },
            ]),
            yellow: Some(vec![Condition {
                measure_index: 0,
                op: CmpOp::Gte,
                value: 2.0,
                field: None,
            }]),
        };
        let measures = [Measure::Count, Measure::Ratio];
        let values = [MeasureValue::Int(3), MeasureValue::Float(0.75)];
        assert_eq!(
            levels.fired(Level::Red, &measures, &values),
            vec![
                FiredCondition {
                    measure: Measure::Count,
                    op: CmpOp::Gte,
                    threshold: 3.0,
                    value: MeasureValue::Int(3),
                },
                FiredCondition {
                    measure: Measure::Ratio,
                    op: CmpOp::Gt,
                    threshold: 0.5,
                    value: MeasureValue::Float(0.75),
                },
            ]
        );
        assert_eq!(
            levels.fired(Level::Yellow, &measures, &values),
            vec![FiredCondition {
                measure: Measure::Count,
                op: CmpOp::Gte,
                threshold: 2.0,
                value: MeasureValue::Int(3),
            }]
        );
        let no_yellow = Levels::Thresholds {
            red: None,
            yellow: None,
        };
        assert_eq!(no_yellow.fired(Level::Yellow, &measures, &values), vec![]);
        assert_eq!(
            Levels::Fixed(Level::Red).fired(Level::Red, &measures, &values),
            vec![]
        );
    }
}
