//! Reference data: the related parties of each official (relatives' companies),
//! loaded from CSV and reloadable while the engine runs. Parties are compared by
//! their normalized names ([`super::names::normalize`]): `华兴建材有限公司` in the
//! table matches `华兴建材有限责任公司` in a payment.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use compact_str::CompactString;
use rustc_hash::FxHashMap;

/// One loaded relations table: official -> (normalized party name -> relation).
#[derive(Debug, Default)]
pub struct RelationTable {
    by_official: FxHashMap<CompactString, FxHashMap<CompactString, CompactString>>,
    rows: usize,
}

impl RelationTable {
    /// Parses CSV with a header row `official_id,counterparty,relation`
    /// (`relation` optional; extra columns ignored).
    pub fn from_csv(data: &[u8], origin: &str) -> Result<RelationTable, String> {
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(data);
        let headers = reader
            .headers()
            .map_err(|e| format!("{origin}: cannot read the header row: {e}"))?
            .clone();
        let col = |name: &str| headers.iter().position(|h| h.trim() == name);
        let official = col("official_id")
            .ok_or_else(|| format!("{origin}: header must have an `official_id` column"))?;
        let party = col("counterparty")
            .ok_or_else(|| format!("{origin}: header must have a `counterparty` column"))?;
        let relation = col("relation");
        let mut table = RelationTable::default();
        for (i, record) in reader.records().enumerate() {
            let line = i + 2;
            let record = record.map_err(|e| format!("{origin}:{line}: {e}"))?;
            let get = |c: usize| record.get(c).map(str::trim).unwrap_or("");
            let (o, p) = (get(official), get(party));
            if o.is_empty() || p.is_empty() {
                return Err(format!(
                    "{origin}:{line}: official_id and counterparty must not be empty"
                ));
            }
            let r = relation
                .map(get)
                .filter(|r| !r.is_empty())
                .unwrap_or("related");
            let key = super::names::normalize(p);
            if key.is_empty() {
                return Err(format!(
                    "{origin}:{line}: counterparty {p:?} has no letters or digits to match by"
                ));
            }
            table
                .by_official
                .entry(o.into())
                .or_default()
                .insert(key.into(), r.into());
            table.rows += 1;
        }
        Ok(table)
    }

    /// The relation between `official` and `party` (any spelling of its name), if
    /// declared. The name is normalized only for officials with declared relations.
    #[inline]
    pub fn relation(&self, official: &str, party: &str) -> Option<&str> {
        let parties = self.by_official.get(official)?;
        let key = super::names::normalize(party);
        if key.is_empty() {
            return None;
        }
        parties.get(key.as_str()).map(CompactString::as_str)
    }

    /// Number of declared relations.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no relation is declared.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }
}

/// The relations in use, swappable at run time ([`Relations::reload`]).
#[derive(Debug)]
pub struct Relations {
    path: Option<PathBuf>,
    // A RwLock around an Arc: readers clone the Arc (one atomic increment) and never
    // block a reload for longer than that; a reload parses off to the side first.
    current: RwLock<Arc<RelationTable>>,
}

impl Relations {
    /// Loads relations from a CSV file.
    pub fn load(path: &Path) -> Result<Relations, String> {
        let table = Self::read(path)?;
        Ok(Relations {
            path: Some(path.to_path_buf()),
            current: RwLock::new(Arc::new(table)),
        })
    }

    /// Relations from an in-memory table (tests, embedding).
    pub fn from_table(table: RelationTable) -> Relations {
        Relations {
            path: None,
            current: RwLock::new(Arc::new(table)),
        }
    }

    fn read(path: &Path) -> Result<RelationTable, String> {
        let data = std::fs::read(path)
            .map_err(|e| format!("cannot read relations file {}: {e}", path.display()))?;
        RelationTable::from_csv(&data, &path.display().to_string())
    }

    /// Re-reads the file; on error the old table stays in use. Returns the row count.
    pub fn reload(&self) -> Result<usize, String> {
        let path = self
            .path
            .as_ref()
            .ok_or_else(|| "these relations were not loaded from a file".to_string())?;
        let table = Self::read(path)?;
        let rows = table.len();
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(table);
        Ok(rows)
    }

    /// The file the relations were read from, if any (reloads watch it).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The current table.
    pub fn current(&self) -> Arc<RelationTable> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A named reference table (`[reference.tables.NAME]`): rows of a CSV file or of a
/// compacted Kafka topic ([`super::topic_tables`]) keyed by one column, e.g. a death
/// registry keyed by person id. `reference` rules look the event's field up in it
/// (exact match, after trimming).
#[derive(Debug)]
pub struct ReferenceTable {
    /// The table's name in the pack.
    pub name: String,
    /// Where its rows come from: the file's path, or `topic NAME`.
    pub origin: String,
    /// The column names, in file order (the key column among them).
    columns: Vec<String>,
    /// Key -> the row's values, in column order.
    rows: FxHashMap<CompactString, Vec<CompactString>>,
    /// When it was read (wall clock), for `sunlight_reference_loaded_timestamp_seconds`.
    pub loaded_at: std::time::SystemTime,
}

impl ReferenceTable {
    /// Reads `path`: a CSV file with a header row naming `key` among its columns.
    /// Every row needs a key, and a key appears once.
    pub fn load(name: &str, path: &Path, key: &str) -> Result<ReferenceTable, String> {
        let data = std::fs::read(path)
            .map_err(|e| format!("cannot read reference table file {}: {e}", path.display()))?;
        Self::from_csv(name, path, &data, key)
    }

    fn from_csv(name: &str, path: &Path, data: &[u8], key: &str) -> Result<ReferenceTable, String> {
        let origin = path.display();
        let mut reader = csv::ReaderBuilder::new().from_reader(data);
        let columns: Vec<String> = reader
            .headers()
            .map_err(|e| format!("{origin}: cannot read the header row: {e}"))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        let key_column = columns.iter().position(|c| c == key).ok_or_else(|| {
            format!(
                "{origin}: the header has no key column `{key}` (it has {})",
                columns.join(", ")
            )
        })?;
        let mut rows: FxHashMap<CompactString, Vec<CompactString>> = FxHashMap::default();
        let mut first_line: FxHashMap<CompactString, usize> = FxHashMap::default();
        for (i, record) in reader.records().enumerate() {
            let line = i + 2;
            let record = record.map_err(|e| format!("{origin}:{line}: {e}"))?;
            let values: Vec<CompactString> = record.iter().map(|v| v.trim().into()).collect();
            let k = values[key_column].clone();
            if k.is_empty() {
                return Err(format!("{origin}:{line}: the key column `{key}` is empty"));
            }
            if let Some(earlier) = first_line.insert(k.clone(), line) {
                return Err(format!(
                    "{origin}:{line}: key {k:?} appears again (first on line {earlier})"
                ));
            }
            rows.insert(k, values);
        }
        Ok(ReferenceTable {
            name: name.to_string(),
            origin: path.display().to_string(),
            columns,
            rows,
            loaded_at: std::time::SystemTime::now(),
        })
    }

    /// A table of given rows (each in column order), read now.
    pub fn from_rows(
        name: &str,
        origin: String,
        columns: Vec<String>,
        rows: FxHashMap<CompactString, Vec<CompactString>>,
    ) -> ReferenceTable {
        ReferenceTable {
            name: name.to_string(),
            origin,
            columns,
            rows,
            loaded_at: std::time::SystemTime::now(),
        }
    }

    /// A table with no rows that was never read (its `loaded_at` is the Unix epoch,
    /// so its age shows that nothing has been read).
    pub fn unread(name: &str, origin: String, columns: Vec<String>) -> ReferenceTable {
        ReferenceTable {
            loaded_at: std::time::UNIX_EPOCH,
            ..Self::from_rows(name, origin, columns, FxHashMap::default())
        }
    }

    /// The column names, in file order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The index of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The row keyed by `key`, its values in column order.
    #[inline]
    pub fn row(&self, key: &str) -> Option<&[CompactString]> {
        self.rows.get(key).map(Vec::as_slice)
    }

    /// Every row (key, values), in no particular order.
    pub fn rows(&self) -> impl Iterator<Item = (&str, &[CompactString])> {
        self.rows.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether it has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// A date or instant of a reference table, as nanoseconds: `YYYY-MM-DD` is the start
/// of that day in `tz`; RFC 3339 text is its instant.
pub fn reference_time(text: &str, tz: &jiff::tz::TimeZone) -> Result<i64, String> {
    if let Ok(date) = text.parse::<jiff::civil::Date>()
        && text.len() == 10
    {
        let zoned = date
            .to_zoned(tz.clone())
            .map_err(|e| format!("{text:?}: {e}"))?;
        return crate::time::Timestamp::from_jiff(zoned.timestamp()).map(|t| t.0);
    }
    crate::time::Timestamp::parse_rfc3339(text)
        .map(|t| t.0)
        .map_err(|_| format!("{text:?} is neither a date (YYYY-MM-DD) nor an RFC 3339 time"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_reloads() {
        let dir = std::env::temp_dir().join(format!("sunlight-rel-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("relations.csv");
        std::fs::write(
            &path,
            "official_id,counterparty,relation\no1,ACME,spouse\no1,Beta,\n",
        )
        .unwrap();
        let rel = Relations::load(&path).unwrap();
        assert_eq!(rel.current().relation("o1", "ACME"), Some("spouse"));
        assert_eq!(rel.current().relation("o1", "Beta"), Some("related"));
        assert_eq!(rel.current().relation("o2", "ACME"), None);
        assert_eq!(
            rel.current().relation("o1", "Acme Co., Ltd."),
            Some("spouse")
        );
        assert_eq!(
            rel.current().relation("o1", "ＡＣＭＥ　Ｌｉｍｉｔｅｄ"),
            Some("spouse")
        );
        assert_eq!(rel.current().relation("o1", "Acme Group"), None);
        std::fs::write(&path, "official_id,counterparty\no2,ACME\n").unwrap();
        assert_eq!(rel.reload().unwrap(), 1);
        assert_eq!(rel.current().relation("o1", "ACME"), None);
        assert_eq!(rel.current().relation("o2", "ACME"), Some("related"));
        std::fs::write(&path, "official_id,counterparty\no2,—\n").unwrap();
        assert_eq!(
            rel.reload().unwrap_err(),
            format!(
                "{}:2: counterparty \"—\" has no letters or digits to match by",
                path.display()
            )
        );
        assert_eq!(
            rel.current().relation("o2", "（）"),
            None,
            "nothing matches an empty name"
        );
        std::fs::write(&path, "who,what\n").unwrap();
        assert!(rel.reload().unwrap_err().contains("official_id"));
        assert_eq!(
            rel.current().relation("o2", "ACME"),
            Some("related"),
            "old table kept"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
