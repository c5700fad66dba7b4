//! Event filters: compiled from a rule's `filter` table, evaluated per event.
//!
//! A filter table is a conjunction of entries. An entry is either a field test
//! (`kind = "payment"`, `amount_cents = { gte = 100, lt = 200 }`), a local-time test
//! (`local_time`, `weekday`) or a combinator (`any`, `all`, `not`).

use std::cmp::Ordering;

use compact_str::CompactString;
use jiff::tz::TimeZone;
use toml::Value;

use crate::event::{FieldRef, FieldValue, PowerEvent};
use crate::time::{NANOS_PER_SECOND, Timestamp};

/// A compiled filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Matches every event.
    True,
    /// Every part matches.
    All(Vec<Filter>),
    /// At least one part matches.
    Any(Vec<Filter>),
    /// The part does not match.
    Not(Box<Filter>),
    /// A test on one field; an absent field fails every test except `exists = false`.
    Field(FieldRef, FieldTest),
    /// Local time of day in `[from, to)` (minutes after midnight; wraps past midnight
    /// when `from > to`).
    LocalTime {
        /// Zone for the local time.
        tz: TimeZone,
        /// Start, minutes after midnight, inclusive.
        from: u32,
        /// End, minutes after midnight, exclusive.
        to: u32,
    },
    /// Local weekday in the set (bit 0 = Monday ... bit 6 = Sunday).
    Weekday {
        /// Zone for the local date.
        tz: TimeZone,
        /// Bit set of weekdays.
        days: u8,
    },
}

/// A number as written in a rule: integers compare exactly, floats as f64.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    /// An integer literal.
    Int(i64),
    /// A floating-point literal.
    Float(f64),
}

impl Num {
    fn compare(self, value: FieldValue<'_>) -> Option<Ordering> {
        match (value, self) {
            (FieldValue::Int(v), Num::Int(n)) => Some(v.cmp(&n)),
            (v, Num::Int(n)) => v.as_f64()?.partial_cmp(&(n as f64)),
            (v, Num::Float(n)) => v.as_f64()?.partial_cmp(&n),
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
}

impl CmpOp {
    /// The operator as rule files and warnings write it: `==`, `!=`, `>`, `>=`, `<`, `<=`.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Gt => ">",
            CmpOp::Gte => ">=",
            CmpOp::Lt => "<",
            CmpOp::Lte => "<=",
        }
    }

    /// Whether an ordering satisfies the operator.
    #[inline]
    pub fn holds(self, ord: Ordering) -> bool {
        match self {
            CmpOp::Eq => ord == Ordering::Equal,
            CmpOp::Ne => ord != Ordering::Equal,
            CmpOp::Gt => ord == Ordering::Greater,
            CmpOp::Gte => ord != Ordering::Less,
            CmpOp::Lt => ord == Ordering::Less,
            CmpOp::Lte => ord != Ordering::Greater,
        }
    }
}

/// A test of one field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldTest {
    /// `exists = true|false`
    Exists(bool),
    /// Equal to a string.
    EqStr(CompactString),
    /// One of these strings.
    InStr(Vec<CompactString>),
    /// Starts with this string.
    Prefix(CompactString),
    /// Compares with a number (`eq`, `gt`, `gte`, `lt`, `lte`, or a bare number).
    Num(CmpOp, Num),
    /// One of these numbers.
    InNum(Vec<Num>),
    /// Equal to a boolean.
    Bool(bool),
    /// An integer that is a multiple of this (e.g. round amounts).
    MultipleOf(i64),
    /// Compares with another field of the same event (`eq_field`, `gt_field`, ...).
    CmpField(CmpOp, FieldRef),
}

impl Filter {
    /// Whether the event passes the filter.
    pub fn matches(&self, event: &PowerEvent) -> bool {
        match self {
            Filter::True => true,
            Filter::All(parts) => parts.iter().all(|f| f.matches(event)),
            Filter::Any(parts) => parts.iter().any(|f| f.matches(event)),
            Filter::Not(inner) => !inner.matches(event),
            Filter::Field(field, test) => test.matches(event.field(field), event),
            Filter::LocalTime { tz, from, to } => {
                let minute = (local_seconds(tz, event.occurred_at).rem_euclid(86_400) / 60) as u32;
                if from <= to {
                    *from <= minute && minute < *to
                } else {
                    minute >= *from || minute < *to
                }
            }
            Filter::Weekday { tz, days } => {
                let day = local_seconds(tz, event.occurred_at).div_euclid(86_400);
                // 1970-01-01 was a Thursday (Monday = 0).
                let weekday = (day + 3).rem_euclid(7) as u8;
                days & (1 << weekday) != 0
            }
        }
    }
}

/// Seconds since the epoch in the zone's local wall-clock time.
fn local_seconds(tz: &TimeZone, t: Timestamp) -> i64 {
    let offset = tz.to_offset(t.to_jiff());
    t.0.div_euclid(NANOS_PER_SECOND) + i64::from(offset.seconds())
}

impl FieldTest {
    #[inline]
    fn matches(&self, value: Option<FieldValue<'_>>, event: &PowerEvent) -> bool {
        let Some(value) = value else {
            return matches!(self, FieldTest::Exists(false));
        };
        match self {
            FieldTest::Exists(want) => *want,
            FieldTest::EqStr(s) => matches!(value, FieldValue::Str(v) if v == s),
            FieldTest::InStr(set) => {
                matches!(value, FieldValue::Str(v) if set.iter().any(|s| s == v))
            }
            FieldTest::Prefix(p) => {
                matches!(value, FieldValue::Str(v) if v.starts_with(p.as_str()))
            }
            FieldTest::Num(op, n) => n.compare(value).is_some_and(|o| op.holds(o)),
            FieldTest::InNum(set) => set
                .iter()
                .any(|n| n.compare(value) == Some(Ordering::Equal)),
            FieldTest::Bool(b) => value == FieldValue::Bool(*b),
            FieldTest::MultipleOf(m) => matches!(value, FieldValue::Int(v) if v % m == 0),
            FieldTest::CmpField(op, other) => {
                let Some(other) = event.field(other) else {
                    return false;
                };
                let ord = match (value, other) {
                    (FieldValue::Str(a), FieldValue::Str(b)) => Some(a.cmp(b)),
                    (FieldValue::Bool(a), FieldValue::Bool(b)) => Some(a.cmp(&b)),
                    (FieldValue::Int(a), FieldValue::Int(b)) => Some(a.cmp(&b)),
                    (a, b) => match (a.as_f64(), b.as_f64()) {
                        (Some(a), Some(b)) => a.partial_cmp(&b),
                        _ => None,
                    },
                };
                ord.is_some_and(|o| op.holds(o))
            }
        }
    }
}

/// Compiles a filter table. Errors name the offending entry (`filter.amount_cents.gte`).
pub fn compile(table: &toml::Table, path: &str, default_tz: &TimeZone) -> Result<Filter, String> {
    let mut parts = Vec::with_capacity(table.len());
    for (name, value) in table {
        let here = format!("{path}.{name}");
        let part = match name.as_str() {
            "any" | "all" => {
                let list = value
                    .as_array()
                    .ok_or_else(|| format!("`{here}` must be a list of filter tables"))?;
                let mut inner = Vec::with_capacity(list.len());
                for (i, item) in list.iter().enumerate() {
                    let t = item
                        .as_table()
                        .filter(|t| !t.is_empty())
                        .ok_or_else(|| format!("`{here}[{i}]` must be a non-empty filter table"))?;
                    inner.push(compile(t, &format!("{here}[{i}]"), default_tz)?);
                }
                if inner.is_empty() {
                    return Err(format!("`{here}` must not be empty"));
                }
                if name == "any" {
                    Filter::Any(inner)
                } else {
                    Filter::All(inner)
                }
            }
            "not" => {
                let t = value
                    .as_table()
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| format!("`{here}` must be a non-empty filter table"))?;
                Filter::Not(Box::new(compile(t, &here, default_tz)?))
            }
            "local_time" => compile_local_time(value, &here, default_tz)?,
            "weekday" => compile_weekday(value, &here, default_tz)?,
            field_name => {
                let field = FieldRef::parse(field_name).ok_or_else(|| {
                    format!(
                        "`{here}`: unknown field `{field_name}` (use event_id, official_id, kind, source_system, org_unit, region, counterparty, amount_cents, attributes.NAME, or any/all/not/local_time/weekday)"
                    )
                })?;
                let part = compile_field(field.clone(), value, &here)?;
                check_types(&field, &part, &here)?;
                part
            }
        };
        parts.push(part);
    }
    // Cheap, selective tests first: `kind = "payment"` should reject an approval
    // before any time-zone arithmetic runs. (TOML tables are sorted by key, so the
    // written order cannot be relied on.)
    parts.sort_by_key(Filter::cost);
    Ok(match parts.len() {
        0 => Filter::True,
        1 => parts.pop().expect("one part"),
        _ => Filter::All(parts),
    })
}

impl Filter {
    /// Appends every field the filter tests.
    pub(crate) fn fields<'a>(&'a self, out: &mut Vec<&'a FieldRef>) {
        match self {
            Filter::All(parts) | Filter::Any(parts) => {
                parts.iter().for_each(|p| p.fields(out));
            }
            Filter::Not(inner) => inner.fields(out),
            Filter::Field(field, _) => out.push(field),
            Filter::True | Filter::LocalTime { .. } | Filter::Weekday { .. } => {}
        }
    }

    /// The event kinds this filter can match at all, if it restricts `kind`.
    pub fn required_kinds(&self) -> Option<Vec<CompactString>> {
        match self {
            Filter::Field(FieldRef::Kind, FieldTest::EqStr(k)) => Some(vec![k.clone()]),
            Filter::Field(FieldRef::Kind, FieldTest::InStr(set)) => Some(set.clone()),
            Filter::All(parts) => parts.iter().find_map(Filter::required_kinds),
            Filter::Any(parts) => {
                let mut all = Vec::new();
                for p in parts {
                    all.extend(p.required_kinds()?);
                }
                Some(all)
            }
            _ => None,
        }
    }

    /// A rough evaluation cost, for ordering conjunctions.
    fn cost(&self) -> u32 {
        match self {
            Filter::True => 0,
            Filter::Field(FieldRef::Kind, _) => 1,
            Filter::Field(FieldRef::Attribute(_), _) => 4,
            Filter::Field(..) => 2,
            Filter::Not(inner) => inner.cost(),
            Filter::All(parts) | Filter::Any(parts) => {
                parts.iter().map(Filter::cost).sum::<u32>() + 1
            }
            Filter::LocalTime { .. } | Filter::Weekday { .. } => 20,
        }
    }
}

fn compile_field(field: FieldRef, value: &Value, here: &str) -> Result<Filter, String> {
    let test = |t| Filter::Field(field.clone(), t);
    match value {
        Value::String(s) => Ok(test(FieldTest::EqStr(s.into()))),
        Value::Integer(i) => Ok(test(FieldTest::Num(CmpOp::Eq, Num::Int(*i)))),
        Value::Float(f) => Ok(test(FieldTest::Num(CmpOp::Eq, Num::Float(*f)))),
        Value::Boolean(b) => Ok(test(FieldTest::Bool(*b))),
        Value::Array(list) => Ok(test(list_test(list, here)?)),
        Value::Table(ops) => {
            let mut parts = Vec::new();
            for (op, arg) in ops {
                let at = format!("{here}.{op}");
                let num = |arg: &Value| -> Result<Num, String> {
                    match arg {
                        Value::Integer(i) => Ok(Num::Int(*i)),
                        Value::Float(f) => Ok(Num::Float(*f)),
                        _ => Err(format!("`{at}` must be a number")),
                    }
                };
                let other_field = |arg: &Value| -> Result<FieldRef, String> {
                    arg.as_str()
                        .and_then(FieldRef::parse)
                        .ok_or_else(|| format!("`{at}` must name a field, e.g. \"official_id\""))
                };
                let part = match op.as_str() {
                    "eq" => compile_field(field.clone(), arg, &at)?,
                    "ne" => Filter::Not(Box::new(compile_field(field.clone(), arg, &at)?)),
                    "in" => match arg {
                        Value::Array(list) => test(list_test(list, &at)?),
                        _ => return Err(format!("`{at}` must be a list")),
                    },
                    "not_in" => match arg {
                        Value::Array(list) => Filter::Not(Box::new(test(list_test(list, &at)?))),
                        _ => return Err(format!("`{at}` must be a list")),
                    },
                    "gt" => test(FieldTest::Num(CmpOp::Gt, num(arg)?)),
                    "gte" => test(FieldTest::Num(CmpOp::Gte, num(arg)?)),
                    "lt" => test(FieldTest::Num(CmpOp::Lt, num(arg)?)),
                    "lte" => test(FieldTest::Num(CmpOp::Lte, num(arg)?)),
                    "prefix" => test(FieldTest::Prefix(
                        arg.as_str()
                            .ok_or_else(|| format!("`{at}` must be a string"))?
                            .into(),
                    )),
                    "exists" => test(FieldTest::Exists(
                        arg.as_bool()
                            .ok_or_else(|| format!("`{at}` must be true or false"))?,
                    )),
                    "multiple_of" => match arg {
                        Value::Integer(m) if *m > 0 => test(FieldTest::MultipleOf(*m)),
                        _ => return Err(format!("`{at}` must be a positive integer")),
                    },
                    "eq_field" => test(FieldTest::CmpField(CmpOp::Eq, other_field(arg)?)),
                    "ne_field" => test(FieldTest::CmpField(CmpOp::Ne, other_field(arg)?)),
                    "gt_field" => test(FieldTest::CmpField(CmpOp::Gt, other_field(arg)?)),
                    "gte_field" => test(FieldTest::CmpField(CmpOp::Gte, other_field(arg)?)),
                    "lt_field" => test(FieldTest::CmpField(CmpOp::Lt, other_field(arg)?)),
                    "lte_field" => test(FieldTest::CmpField(CmpOp::Lte, other_field(arg)?)),
                    other => {
                        return Err(format!(
                            "`{here}`: unknown operator `{other}` (use eq, ne, in, not_in, gt, gte, lt, lte, prefix, exists, multiple_of, eq_field, ne_field, gt_field, gte_field, lt_field, lte_field)"
                        ));
                    }
                };
                parts.push(part);
            }
            match parts.len() {
                0 => Err(format!("`{here}` is an empty operator table")),
                1 => Ok(parts.pop().expect("one part")),
                _ => Ok(Filter::All(parts)),
            }
        }
        Value::Datetime(_) => Err(format!("`{here}`: dates are not supported here")),
    }
}

/// Rejects tests that can never match a built-in field's type (text fields compared
/// with numbers, `amount_cents` compared with text). Attributes may hold any type.
fn check_types(field: &FieldRef, filter: &Filter, here: &str) -> Result<(), String> {
    let numeric_field = match field {
        FieldRef::Attribute(_) => return Ok(()),
        FieldRef::AmountCents => true,
        _ => false,
    };
    let mut problem = None;
    filter.visit(&mut |f| {
        if let Filter::Field(_, test) = f {
            let numeric_test = matches!(
                test,
                FieldTest::Num(..) | FieldTest::InNum(_) | FieldTest::MultipleOf(_)
            );
            let text_test = matches!(
                test,
                FieldTest::EqStr(_) | FieldTest::InStr(_) | FieldTest::Prefix(_)
            );
            let bool_test = matches!(test, FieldTest::Bool(_));
            if numeric_field && (text_test || bool_test) {
                problem = Some("`amount_cents` is an integer: compare it with numbers");
            } else if !numeric_field && (numeric_test || bool_test) {
                problem = Some("this field is text: compare it with strings");
            }
        }
    });
    match problem {
        Some(p) => Err(format!("`{here}`: {p}")),
        None => Ok(()),
    }
}

impl Filter {
    /// Calls `f` on this filter and every filter inside it.
    fn visit(&self, f: &mut impl FnMut(&Filter)) {
        f(self);
        match self {
            Filter::All(parts) | Filter::Any(parts) => parts.iter().for_each(|p| p.visit(f)),
            Filter::Not(inner) => inner.visit(f),
            _ => {}
        }
    }
}

fn list_test(list: &[Value], here: &str) -> Result<FieldTest, String> {
    if list.is_empty() {
        return Err(format!("`{here}` must not be an empty list"));
    }
    if list.iter().all(Value::is_str) {
        return Ok(FieldTest::InStr(
            list.iter()
                .filter_map(Value::as_str)
                .map(Into::into)
                .collect(),
        ));
    }
    let mut nums = Vec::with_capacity(list.len());
    for v in list {
        nums.push(match v {
            Value::Integer(i) => Num::Int(*i),
            Value::Float(f) => Num::Float(*f),
            _ => {
                return Err(format!(
                    "`{here}` must be a list of strings or a list of numbers"
                ));
            }
        });
    }
    Ok(FieldTest::InNum(nums))
}

fn zone(table: &toml::Table, here: &str, default_tz: &TimeZone) -> Result<TimeZone, String> {
    match table.get("tz") {
        None => Ok(default_tz.clone()),
        Some(Value::String(name)) => {
            TimeZone::get(name).map_err(|e| format!("`{here}.tz`: unknown time zone {name:?}: {e}"))
        }
        Some(_) => Err(format!("`{here}.tz` must be an IANA zone name")),
    }
}

fn minutes(value: &Value, at: &str) -> Result<u32, String> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("`{at}` must be a \"HH:MM\" string"))?;
    let (h, m) = text
        .split_once(':')
        .ok_or_else(|| format!("`{at}` = {text:?} must be \"HH:MM\""))?;
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) {
        return Err(format!("`{at}` = {text:?} must be \"HH:MM\""));
    }
    match (h.parse::<u32>(), m.parse::<u32>()) {
        (Ok(h), Ok(m)) if (h < 24 && m < 60) || (h == 24 && m == 0) => Ok(h * 60 + m),
        _ => Err(format!("`{at}` = {text:?} is not a time of day")),
    }
}

/// `local_time = { between = ["08:00", "18:00"] }` or `{ outside = [...] }`, optional `tz`.
fn compile_local_time(value: &Value, here: &str, default_tz: &TimeZone) -> Result<Filter, String> {
    let table = value.as_table().ok_or_else(|| {
        format!("`{here}` must be a table like {{ between = [\"08:00\", \"18:00\"] }}")
    })?;
    let tz = zone(table, here, default_tz)?;
    for key in table.keys() {
        if !matches!(key.as_str(), "tz" | "between" | "outside") {
            return Err(format!(
                "`{here}.{key}`: unknown key (use between, outside, tz)"
            ));
        }
    }
    let (range, outside) = match (table.get("between"), table.get("outside")) {
        (Some(r), None) => (r, false),
        (None, Some(r)) => (r, true),
        _ => {
            return Err(format!(
                "`{here}` needs exactly one of `between` or `outside`"
            ));
        }
    };
    let key = if outside { "outside" } else { "between" };
    let pair = range
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or_else(|| format!("`{here}.{key}` must be [\"HH:MM\", \"HH:MM\"]"))?;
    let from = minutes(&pair[0], &format!("{here}.{key}[0]"))?;
    let to = minutes(&pair[1], &format!("{here}.{key}[1]"))?;
    if from == to {
        return Err(format!("`{here}.{key}` is an empty range"));
    }
    let inside = Filter::LocalTime { tz, from, to };
    Ok(if outside {
        Filter::Not(Box::new(inside))
    } else {
        inside
    })
}

/// `weekday = ["sat", "sun"]` or `weekday = { in = [...], tz = "..." }`.
fn compile_weekday(value: &Value, here: &str, default_tz: &TimeZone) -> Result<Filter, String> {
    let (list, tz) = match value {
        Value::Array(list) => (list, default_tz.clone()),
        Value::Table(t) => {
            for key in t.keys() {
                if !matches!(key.as_str(), "tz" | "in") {
                    return Err(format!("`{here}.{key}`: unknown key (use in, tz)"));
                }
            }
            let list = t
                .get("in")
                .and_then(Value::as_array)
                .ok_or_else(|| format!("`{here}.in` must be a list of weekdays"))?;
            (list, zone(t, here, default_tz)?)
        }
        _ => {
            return Err(format!(
                "`{here}` must be a list of weekdays like [\"sat\", \"sun\"]"
            ));
        }
    };
    let mut days = 0u8;
    for v in list {
        let name = v.as_str().unwrap_or_default().to_ascii_lowercase();
        let bit = match name.as_str() {
            "mon" | "monday" => 0,
            "tue" | "tuesday" => 1,
            "wed" | "wednesday" => 2,
            "thu" | "thursday" => 3,
            "fri" | "friday" => 4,
            "sat" | "saturday" => 5,
            "sun" | "sunday" => 6,
            _ => {
                return Err(format!(
                    "`{here}`: {v} is not a weekday (mon..sun or monday..sunday)"
                ));
            }
        };
        days |= 1 << bit;
    }
    if days == 0 {
        return Err(format!("`{here}` must list at least one weekday"));
    }
    Ok(Filter::Weekday { tz, days })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::AttrValue;

    fn filter(text: &str) -> Result<Filter, String> {
        let table: toml::Table = toml::from_str(text).unwrap();
        compile(&table, "filter", &TimeZone::get("Asia/Shanghai").unwrap())
    }

    fn event(at: &str) -> PowerEvent {
        let mut e = PowerEvent::new("e1", "o1", "payment", Timestamp::parse_rfc3339(at).unwrap());
        e.counterparty = Some("ACME Ltd".into());
        e.amount_cents = Some(4_800_000);
        e.attributes = vec![
            ("applicant".into(), AttrValue::Str("o1".into())),
            ("bidders".into(), AttrValue::Int(1)),
            ("volume".into(), AttrValue::Float(80.5)),
            ("tank".into(), AttrValue::Int(60)),
        ];
        e
    }

    #[test]
    fn field_tests() {
        let e = event("2026-03-02T02:00:00Z"); // Monday 10:00 in Shanghai
        let yes = [
            "kind = \"payment\"",
            "kind = [\"approval\", \"payment\"]",
            "amount_cents = { gte = 4500000, lt = 5000000 }",
            "amount_cents = 4800000",
            "amount_cents = { multiple_of = 100000 }",
            "counterparty = { prefix = \"ACME\" }",
            "region = { exists = false }",
            "region = { ne = \"r1\" }",
            "\"attributes.bidders\" = 1",
            "\"attributes.bidders\" = [1, 2]",
            "\"attributes.applicant\" = { eq_field = \"official_id\" }",
            "\"attributes.volume\" = { gt_field = \"attributes.tank\" }",
            "any = [{ kind = \"x\" }, { kind = \"payment\" }]",
            "not = { kind = \"approval\" }",
            "local_time = { between = [\"08:00\", \"18:00\"] }",
            "weekday = [\"mon\"]",
        ];
        for text in yes {
            assert!(filter(text).unwrap().matches(&e), "{text} should match");
        }
        let no = [
            "kind = \"approval\"",
            "amount_cents = { gte = 4900000 }",
            "amount_cents = { multiple_of = 1000000 }",
            "counterparty = { prefix = \"acme\" }",
            "region = \"r1\"",
            "region = { exists = true }",
            "\"attributes.bidders\" = { gt = 1 }",
            "\"attributes.missing\" = { eq_field = \"official_id\" }",
            "\"attributes.tank\" = { gt_field = \"attributes.volume\" }",
            "local_time = { outside = [\"08:00\", \"18:00\"] }",
            "weekday = [\"sat\", \"sun\"]",
            "kind = \"payment\"\nregion = \"r1\"",
        ];
        for text in no {
            assert!(
                !filter(text).unwrap().matches(&e),
                "{text} should not match"
            );
        }
    }

    #[test]
    fn local_time_boundaries_and_wrapping() {
        let f = filter("local_time = { between = [\"08:00\", \"18:00\"] }").unwrap();
        assert!(f.matches(&event("2026-03-02T00:00:00Z"))); // 08:00 local: included
        assert!(!f.matches(&event("2026-03-02T10:00:00Z"))); // 18:00 local: excluded
        let night =
            filter("local_time = { between = [\"22:00\", \"06:00\"], tz = \"UTC\" }").unwrap();
        assert!(night.matches(&event("2026-03-02T23:00:00Z")));
        assert!(night.matches(&event("2026-03-02T05:59:00Z")));
        assert!(!night.matches(&event("2026-03-02T06:00:00Z")));
        // Sunday 23:30 UTC is Monday 07:30 in Shanghai.
        let sunday = filter("weekday = { in = [\"sunday\"], tz = \"UTC\" }").unwrap();
        assert!(sunday.matches(&event("2026-03-01T23:30:00Z")));
        assert!(
            !filter("weekday = [\"sun\"]")
                .unwrap()
                .matches(&event("2026-03-01T23:30:00Z"))
        );
    }

    #[test]
    fn errors_name_the_entry() {
        let cases = [
            ("colour = \"red\"", "filter.colour"),
            ("amount_cents = { around = 5 }", "unknown operator `around`"),
            ("amount_cents = { gte = \"5\" }", "filter.amount_cents.gte"),
            ("kind = []", "must not be an empty list"),
            ("kind = [1, \"a\"]", "filter.kind"),
            ("any = 5", "filter.any"),
            (
                "local_time = { between = [\"8\", \"18:00\"] }",
                "between[0]",
            ),
            (
                "local_time = { between = [\"08:00\", \"18:00\"], tz = \"Mars/Base\" }",
                "unknown time zone",
            ),
            ("weekday = [\"funday\"]", "not a weekday"),
            ("weekday = [\"monster\"]", "not a weekday"),
            ("not = {}", "non-empty filter table"),
            ("any = [{}]", "non-empty filter table"),
            ("kind = 5", "this field is text"),
            ("counterparty = { gt = 3 }", "this field is text"),
            ("amount_cents = \"5\"", "is an integer"),
            (
                "local_time = { between = [\"+8:+0\", \"18:00\"] }",
                "between[0]",
            ),
            (
                "\"attributes.a\" = { eq_field = \"nope\" }",
                "must name a field",
            ),
        ];
        for (text, needle) in cases {
            let err = filter(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
