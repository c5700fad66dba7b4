//! `before_date`: a rule fires only at events that fall within a span before a date
//! of a reference table's row (model 13: promotions in the 90 days before a known
//! transfer or retirement). The table's dates are read once, when the pack compiles;
//! the row's columns become title placeholders.

use std::sync::Arc;

use compact_str::CompactString;
use jiff::tz::TimeZone;
use rustc_hash::FxHashMap;

use super::compile::MAX_SPAN;
use super::reference::{ReferenceTable, reference_time};
use super::spec::BeforeDateSpec;
use crate::event::{FieldRef, FieldValue, PowerEvent};
use crate::time::Duration;

/// A compiled `before_date`.
#[derive(Debug, Clone, PartialEq)]
pub struct BeforeDate {
    /// The event field whose value is the table's key (default `official_id`).
    pub field: FieldRef,
    /// Index into [`super::CompiledPack::tables`].
    pub table: usize,
    /// The table's date column, as written.
    pub column: String,
    /// How long before the date an event may be: `[date - within, date)`.
    pub within: Duration,
    /// The instant of each key's row in the date column.
    pub dates: Arc<FxHashMap<CompactString, i64>>,
}

impl BeforeDate {
    /// The key the event is looked up by (a number by its text, as the table holds
    /// it), when the event at `t` is within the span before its row's date.
    pub(crate) fn admits(&self, event: &PowerEvent, t: i64) -> Option<CompactString> {
        let key = match event.field(&self.field)? {
            FieldValue::Str(s) => CompactString::from(s),
            other => {
                let mut text = CompactString::default();
                other.write_text(&mut text);
                text
            }
        };
        let date = *self.dates.get(&key)?;
        (t < date && t >= date.saturating_sub(self.within.0)).then_some(key)
    }
}

/// Every date of `column` in `table`, by key; a row without a date is an error that
/// names the first such key (sorted) and how many there are.
pub(crate) fn column_dates(
    table: &ReferenceTable,
    column: &str,
    tz: &TimeZone,
) -> Result<FxHashMap<CompactString, i64>, String> {
    let Some(c) = table.column(column) else {
        return Err(format!(
            "table `{}` has no column `{column}` (it has {})",
            table.name,
            table.columns().join(", ")
        ));
    };
    let mut dates = FxHashMap::default();
    let mut bad: Vec<String> = Vec::new();
    for (k, row) in table.rows() {
        match reference_time(&row[c], tz) {
            Ok(at) => {
                dates.insert(CompactString::from(k), at);
            }
            Err(e) => bad.push(format!("key {k:?}: {e}")),
        }
    }
    bad.sort();
    match bad.first() {
        Some(first) => Err(format!(
            "{} row(s) of table `{}` have no date in `{column}`, e.g. {first}",
            bad.len(),
            table.name
        )),
        None => Ok(dates),
    }
}

/// Compiles `before_date`; each problem is pushed as (field, message). `tables` are
/// the tables that loaded, `declared` every table name of the pack (a declared
/// table that failed to load is reported once, by the pack).
pub(crate) fn compile(
    spec: &BeforeDateSpec,
    tables: &[Arc<ReferenceTable>],
    declared: &[String],
    tz: &TimeZone,
    errs: &mut Vec<(String, String)>,
) -> Option<BeforeDate> {
    let name = spec.field.as_deref().unwrap_or("official_id");
    let field = match FieldRef::parse(name) {
        Some(FieldRef::AmountCents) | None => {
            errs.push((
                "before_date.field".into(),
                format!("`{name}` is not a text field to look up"),
            ));
            None
        }
        Some(field) => Some(field),
    };
    let within = match crate::time::Duration::parse(&spec.within) {
        Ok(d) if d.0 > 0 && d <= MAX_SPAN => Some(d),
        Ok(d) if d.0 <= 0 => {
            errs.push((
                "before_date.within".into(),
                "must be longer than zero".into(),
            ));
            None
        }
        Ok(_) => {
            errs.push((
                "before_date.within".into(),
                format!("must not exceed {MAX_SPAN}"),
            ));
            None
        }
        Err(e) => {
            errs.push(("before_date.within".into(), e));
            None
        }
    };
    let table = match tables.iter().position(|t| t.name == spec.table) {
        Some(i) => Some(i),
        None if declared.contains(&spec.table) => None,
        None => {
            errs.push((
                "before_date.table".into(),
                format!(
                    "no table `{}` in [reference.tables] (declared: {})",
                    spec.table,
                    declared.join(", ")
                ),
            ));
            None
        }
    };
    let dates = table.and_then(|t| match column_dates(&tables[t], &spec.column, tz) {
        Ok(d) => Some(d),
        Err(e) => {
            errs.push(("before_date.column".into(), e));
            None
        }
    });
    Some(BeforeDate {
        field: field?,
        table: table?,
        column: spec.column.clone(),
        within: within?,
        dates: Arc::new(dates?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::AttrValue;
    use crate::time::Timestamp;

    #[test]
    fn a_number_is_looked_up_by_its_text_within_the_span_before_the_date() {
        let gate = BeforeDate {
            field: FieldRef::Attribute("unit".into()),
            table: 0,
            column: "leaves_on".into(),
            within: Duration::from_secs(10),
            dates: Arc::new(
                [(CompactString::from("42"), 100_000_000_000)]
                    .into_iter()
                    .collect(),
            ),
        };
        let at = |secs: i64, unit: AttrValue| {
            let mut e = PowerEvent::new("e", "o", "k", Timestamp(secs * 1_000_000_000));
            e.attributes.push(("unit".into(), unit));
            e
        };
        let admitted =
            |secs: i64, unit: AttrValue| gate.admits(&at(secs, unit), secs * 1_000_000_000);
        assert_eq!(admitted(95, AttrValue::Int(42)), Some("42".into()));
        assert_eq!(admitted(95, AttrValue::Str("42".into())), Some("42".into()));
        assert_eq!(admitted(90, AttrValue::Int(42)), Some("42".into()));
        assert_eq!(admitted(89, AttrValue::Int(42)), None);
        assert_eq!(admitted(100, AttrValue::Int(42)), None);
        assert_eq!(admitted(95, AttrValue::Int(43)), None);
    }
}
