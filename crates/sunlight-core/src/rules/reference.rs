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
            table
                .by_official
                .entry(o.into())
                .or_default()
                .insert(super::names::normalize(p).into(), r.into());
            table.rows += 1;
        }
        Ok(table)
    }

    /// The relation between `official` and `party` (any spelling of its name), if
    /// declared. The name is normalized only for officials with declared relations.
    #[inline]
    pub fn relation(&self, official: &str, party: &str) -> Option<&str> {
        let parties = self.by_official.get(official)?;
        parties
            .get(super::names::normalize(party).as_str())
            .map(CompactString::as_str)
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

    /// The current table.
    pub fn current(&self) -> Arc<RelationTable> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
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
