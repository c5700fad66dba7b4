//! Reference tables fed from compacted Kafka topics (`[reference.tables.NAME] topic`).
//!
//! A registry department publishes its rows to a compacted topic, e.g. the civil
//! affairs death registry, one record per person:
//!
//! - the record's **key** is the row's key (the table's `key` column), UTF-8;
//! - its **value** is a JSON object of the row's columns (`{"registered_on":
//!   "2026-03-01", "registry": "civil affairs"}`): strings as they are, numbers and
//!   booleans by their JSON text, a missing or `null` column empty; the key column
//!   may be left out (it is the record's key) or must equal the key;
//! - a record with **no value** (a tombstone) deletes the row.
//!
//! A later record of a key replaces the earlier one, as compaction would, so the
//! table is the same whether or not the broker has compacted the topic yet. A
//! record that breaks these rules is rejected with a reason and changes nothing;
//! it stays in the topic, so nothing is lost ([`TableRows::apply`]).
//!
//! This module holds the format and the rows; `sunlight_kafka::reference_feed`
//! reads the topics, and [`TableFeeds`] hands each table's current rows to the
//! compiler: a pack compiles with the rows fed so far, and `sunlight run` compiles it
//! again (swapping it in like an edited pack) whenever a table changes.

use std::sync::{Arc, RwLock};

use compact_str::CompactString;
use rustc_hash::FxHashMap;

use super::reference::ReferenceTable;

/// A table the pack reads from a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicTableSpec {
    /// The table's name in the pack.
    pub name: String,
    /// The topic.
    pub topic: String,
    /// The key column.
    pub key: String,
    /// Every column, in declared order (the key among them).
    pub columns: Vec<String>,
}

impl TopicTableSpec {
    /// How a table of this topic describes where it comes from.
    pub fn origin(&self) -> String {
        format!("topic {}", self.topic)
    }
}

/// What one record did to a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowChange {
    /// Added or replaced a row.
    Upserted,
    /// Deleted a row (a tombstone; also counted when the key had no row).
    Deleted,
}

/// The rows of one topic table as its records arrive.
#[derive(Debug)]
pub struct TableRows {
    spec: TopicTableSpec,
    key_column: usize,
    rows: FxHashMap<CompactString, Vec<CompactString>>,
}

impl TableRows {
    /// An empty table of `spec` (whose columns include its key, as the compiler
    /// checks; a spec without it would never accept a record).
    pub fn new(spec: TopicTableSpec) -> TableRows {
        let key_column = spec
            .columns
            .iter()
            .position(|c| *c == spec.key)
            .unwrap_or(usize::MAX);
        TableRows {
            spec,
            key_column,
            rows: FxHashMap::default(),
        }
    }

    /// The table's spec.
    pub fn spec(&self) -> &TopicTableSpec {
        &self.spec
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Applies one record (`value` None: a tombstone). On error nothing changes;
    /// the message says why the record was rejected.
    pub fn apply(&mut self, key: Option<&[u8]>, value: Option<&[u8]>) -> Result<RowChange, String> {
        let key = key.ok_or("the record has no key (the key is the row's key)")?;
        let key = std::str::from_utf8(key)
            .map_err(|e| format!("the record's key is not UTF-8: {e}"))?
            .trim();
        if key.is_empty() {
            return Err("the record's key is empty".into());
        }
        let Some(value) = value else {
            self.rows.remove(key);
            return Ok(RowChange::Deleted);
        };
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(value)
            .map_err(|e| format!("the value is not a JSON object of the row's columns: {e}"))?;
        let mut row = Vec::with_capacity(self.spec.columns.len());
        for (i, column) in self.spec.columns.iter().enumerate() {
            let text = match object.get(column) {
                None | Some(serde_json::Value::Null) => CompactString::default(),
                Some(serde_json::Value::String(s)) => s.trim().into(),
                Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
                    v.to_string().into()
                }
                Some(_) => {
                    return Err(format!(
                        "column `{column}` is an object or array; columns are text, numbers or booleans"
                    ));
                }
            };
            if i == self.key_column {
                if !text.is_empty() && text != key {
                    return Err(format!(
                        "column `{column}` is {text:?} but the record's key is {key:?}"
                    ));
                }
                row.push(key.into());
            } else {
                row.push(text);
            }
        }
        self.rows.insert(key.into(), row);
        Ok(RowChange::Upserted)
    }

    /// The rows as a reference table, read now.
    pub fn table(&self) -> ReferenceTable {
        ReferenceTable::from_rows(
            &self.spec.name,
            self.spec.origin(),
            self.spec.columns.clone(),
            self.rows.clone(),
        )
    }
}

/// The current rows of the topic tables, by table name, for the compiler
/// ([`super::load_pack_with`]). A feed publishes a new table whenever its rows
/// changed; a pack compiled afterwards reads it, if it declares the table exactly as
/// the feed does (same topic, key and columns): rows read under another
/// declaration would be keyed or laid out wrongly.
#[derive(Debug, Default)]
pub struct TableFeeds {
    current: RwLock<FxHashMap<String, (TopicTableSpec, Arc<ReferenceTable>)>>,
}

impl TableFeeds {
    /// No table fed yet.
    pub fn new() -> Arc<TableFeeds> {
        Arc::new(TableFeeds::default())
    }

    /// Makes `table` the current rows of the table `spec` declares.
    pub fn publish(&self, spec: &TopicTableSpec, table: ReferenceTable) {
        self.current
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(spec.name.clone(), (spec.clone(), Arc::new(table)));
    }

    /// The current rows of the table `spec` declares, if a feed of exactly that
    /// declaration published any.
    pub fn get(&self, spec: &TopicTableSpec) -> Option<Arc<ReferenceTable>> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&spec.name)
            .filter(|(fed, _)| fed == spec)
            .map(|(_, table)| table.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deaths() -> TableRows {
        TableRows::new(TopicTableSpec {
            name: "deaths".into(),
            topic: "registry.deaths".into(),
            key: "person_id".into(),
            columns: vec!["person_id".into(), "registered_on".into(), "age".into()],
        })
    }

    fn row<'a>(t: &'a ReferenceTable, key: &str) -> Option<Vec<&'a str>> {
        t.row(key)
            .map(|r| r.iter().map(CompactString::as_str).collect())
    }

    #[test]
    fn records_upsert_and_tombstones_delete() {
        let mut rows = deaths();
        let v = br#"{"registered_on": " 2026-03-01 ", "age": 81, "other": [1]}"#;
        assert_eq!(rows.apply(Some(b"P1"), Some(v)), Ok(RowChange::Upserted));
        let same = br#"{"person_id": "P2", "registered_on": "2026-04-01"}"#;
        assert_eq!(
            rows.apply(Some(b" P2 "), Some(same)),
            Ok(RowChange::Upserted)
        );
        let table = rows.table();
        assert_eq!(row(&table, "P1"), Some(vec!["P1", "2026-03-01", "81"]));
        assert_eq!(row(&table, "P2"), Some(vec!["P2", "2026-04-01", ""]));
        assert_eq!(table.origin, "topic registry.deaths");
        assert_eq!(table.columns(), ["person_id", "registered_on", "age"]);
        // A later record replaces, a tombstone deletes.
        let later = br#"{"registered_on": "2026-03-02", "age": true}"#;
        assert_eq!(
            rows.apply(Some(b"P1"), Some(later)),
            Ok(RowChange::Upserted)
        );
        assert_eq!(rows.apply(Some(b"P2"), None), Ok(RowChange::Deleted));
        assert_eq!(rows.apply(Some(b"P9"), None), Ok(RowChange::Deleted));
        let table = rows.table();
        assert_eq!(row(&table, "P1"), Some(vec!["P1", "2026-03-02", "true"]));
        assert_eq!(row(&table, "P2"), None);
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn bad_records_are_rejected_with_a_reason_and_change_nothing() {
        let mut rows = deaths();
        rows.apply(Some(b"P1"), Some(br#"{"registered_on": "2026-03-01"}"#))
            .unwrap();
        type Case<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, &'a str);
        let cases: [Case; 6] = [
            (
                None,
                Some(b"{}"),
                "the record has no key (the key is the row's key)",
            ),
            (Some(b"  "), Some(b"{}"), "the record's key is empty"),
            (
                Some(b"\xff"),
                Some(b"{}"),
                "the record's key is not UTF-8: invalid utf-8 sequence of 1 bytes from index 0",
            ),
            (
                Some(b"P1"),
                Some(b"[1]"),
                "the value is not a JSON object of the row's columns: invalid type: sequence, expected a map at line 1 column 0",
            ),
            (
                Some(b"P1"),
                Some(br#"{"age": {"years": 3}}"#),
                "column `age` is an object or array; columns are text, numbers or booleans",
            ),
            (
                Some(b"P1"),
                Some(br#"{"person_id": "P7"}"#),
                "column `person_id` is \"P7\" but the record's key is \"P1\"",
            ),
        ];
        for (key, value, reason) in cases {
            assert_eq!(rows.apply(key, value), Err(reason.to_string()));
        }
        assert_eq!(
            row(&rows.table(), "P1"),
            Some(vec!["P1", "2026-03-01", ""]),
            "the row before the rejected records stays"
        );
    }

    #[test]
    fn feeds_hand_out_the_latest_table_of_the_same_declaration() {
        let feeds = TableFeeds::new();
        let mut rows = deaths();
        let spec = rows.spec().clone();
        assert!(feeds.get(&spec).is_none());
        feeds.publish(&spec, rows.table());
        assert_eq!(feeds.get(&spec).unwrap().len(), 0);
        rows.apply(Some(b"P1"), Some(b"{}")).unwrap();
        feeds.publish(&spec, rows.table());
        assert_eq!(feeds.get(&spec).unwrap().len(), 1);
        // Rows read under another key, columns or topic are not handed out.
        let rekeyed = TopicTableSpec {
            key: "registered_on".into(),
            ..spec.clone()
        };
        let more_columns = TopicTableSpec {
            columns: vec!["person_id".into(), "registered_on".into()],
            ..spec.clone()
        };
        let moved = TopicTableSpec {
            topic: "registry.deaths.v2".into(),
            ..spec.clone()
        };
        for other in [rekeyed, more_columns, moved] {
            assert!(feeds.get(&other).is_none(), "{other:?}");
        }
    }
}
