//! The layers of settings as one TOML tree: the file, then `SUNLIGHT__SECTION__KEY`
//! environment variables, then flags, each overriding the one before key by key.
//! Every leaf remembers where it came from, so a problem names the file, variable or
//! flag as well as the setting.

use std::collections::BTreeMap;
use std::path::Path;

use toml::{Table, Value};

use super::schema::Schema;
use super::{Problem, Problems};

/// The merged tree and the origin of each leaf (by dotted path).
#[derive(Debug, Default)]
pub struct Layers {
    tree: Table,
    origins: BTreeMap<String, String>,
    /// Environment values by path, as text: read as a number, boolean or array
    /// when the schema wants one (once).
    env_text: BTreeMap<String, String>,
}

/// Paths in the file that name files: relative to the settings file.
const FILE_PATHS: [&str; 3] = ["engine.rules", "http.tls_cert_file", "http.tls_key_file"];

impl Layers {
    /// Adds the settings file at `path`.
    pub fn file(&mut self, path: &Path, problems: &mut Problems) {
        let origin = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                return problems.push(Problem::new(
                    &origin,
                    "",
                    format!("cannot read the settings file: {e}"),
                ));
            }
        };
        let mut table: Table = match toml::from_str(&text) {
            Ok(t) => t,
            Err(e) => {
                return problems.push(Problem::new(
                    &origin,
                    "",
                    format!("not a valid settings file: {e}"),
                ));
            }
        };
        let base = path.parent().unwrap_or(Path::new("."));
        for dotted in FILE_PATHS {
            let (section, key) = dotted.split_once('.').expect("section.key");
            if let Some(Value::String(p)) = table
                .get_mut(section)
                .and_then(Value::as_table_mut)
                .and_then(|t| t.get_mut(key))
            {
                *p = base.join(&*p).display().to_string();
            }
        }
        if let Some(api) = table.get_mut("api").and_then(Value::as_table_mut) {
            relative_api_files(api, base);
        }
        self.merge(table, &origin);
    }

    /// Adds the `SUNLIGHT__` variables among `env`. Values stay text; the schema's
    /// types read them (numbers, booleans and comma-separated lists included).
    pub fn environment(
        &mut self,
        env: impl IntoIterator<Item = (String, String)>,
        problems: &mut Problems,
    ) {
        for (name, value) in env {
            let Some(key) = name.strip_prefix("SUNLIGHT__") else {
                continue;
            };
            let path: Vec<String> = match key.split_once("KAFKA__PROPERTIES__") {
                // SUNLIGHT__KAFKA__PROPERTIES__SECURITY_PROTOCOL -> security.protocol
                Some(("", property)) if !property.is_empty() => vec![
                    "kafka".into(),
                    "properties".into(),
                    property.to_ascii_lowercase().replace('_', "."),
                ],
                _ => key.split("__").map(str::to_ascii_lowercase).collect(),
            };
            if path.len() < 2 || path.iter().any(String::is_empty) || !known(&path) {
                problems.push(Problem::new(
                    &format!("environment {name}"),
                    "",
                    "unknown setting (see docs/CONFIG.md for the SUNLIGHT__ variables)".to_string(),
                ));
                continue;
            }
            let mut table = Table::new();
            insert(&mut table, &path, Value::String(value.clone()));
            self.merge(table, &format!("environment {name}"));
            self.env_text.insert(path.join("."), value);
        }
    }

    /// Adds flags: (dotted path, value, flag name).
    pub fn flags(&mut self, flags: Vec<(&str, Value, &str)>) {
        for (dotted, value, flag) in flags {
            let path: Vec<String> = dotted.split('.').map(str::to_string).collect();
            let mut table = Table::new();
            insert(&mut table, &path, value);
            self.merge(table, flag);
        }
    }

    /// Where the value at `path` came from ("default" when no layer set it).
    pub fn origin(&self, path: &str) -> String {
        let mut p = path;
        loop {
            if let Some(o) = self.origins.get(p) {
                return o.clone();
            }
            match p.rsplit_once('.') {
                Some((parent, _)) => p = parent,
                None => return "default".into(),
            }
        }
    }

    /// Deserialises the tree into the schema. A value that does not fit is a
    /// problem naming its path and origin, and falls back to its default so that the
    /// others are still checked: every problem is reported at once. Unknown keys
    /// are problems too.
    pub fn extract(mut self, problems: &mut Problems) -> (Schema, Layers) {
        let mut first_errors: BTreeMap<String, String> = BTreeMap::new();
        // Each round removes one bad value; the tree has finitely many.
        loop {
            let mut unknown = Vec::new();
            let tree = Value::Table(self.tree.clone());
            let mut note = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
            let result: Result<Schema, _> =
                serde_path_to_error::deserialize(serde_ignored::Deserializer::new(tree, &mut note));
            match result {
                Ok(schema) => {
                    for path in unknown {
                        let origin = self.origin(&path);
                        problems.push(Problem::new(&origin, &path, "unknown setting".to_string()));
                    }
                    return (schema, self);
                }
                Err(e) => {
                    let path = e.path().to_string();
                    // The TOML error appends the key; the problem names it already.
                    let message = e.inner().to_string();
                    let message = message
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .trim()
                        .to_string();
                    if self.coerce(&path) {
                        // If the value read as a number or boolean fails too, the
                        // text's own error is the one to report (`10` for a duration).
                        first_errors.entry(path).or_insert(message);
                        continue;
                    }
                    let message = first_errors.remove(&path).unwrap_or(message);
                    let origin = self.origin(&path);
                    if !self.remove(&path) {
                        problems.push(Problem::new(&origin, &path, message));
                        return (Schema::default(), self);
                    }
                    problems.push(Problem::new(&origin, &path, message));
                }
            }
        }
    }

    /// Reads an environment value at `path` as a TOML number, boolean or array
    /// instead of text (once); true when that changed something.
    fn coerce(&mut self, path: &str) -> bool {
        let Some(text) = self.env_text.remove(path) else {
            return false;
        };
        let Ok(mut parsed) = toml::from_str::<Table>(&format!("v = {text}")) else {
            return false;
        };
        let Some(value) = parsed.remove("v") else {
            return false;
        };
        if value.is_str() {
            return false;
        }
        let parts: Vec<String> = path.split('.').map(str::to_string).collect();
        insert(&mut self.tree, &parts, value);
        true
    }

    fn merge(&mut self, table: Table, origin: &str) {
        let mut leaves = Vec::new();
        merge_into(&mut self.tree, table, "", &mut leaves);
        for leaf in leaves {
            self.origins.insert(leaf, origin.to_string());
        }
    }

    /// Removes the value at a serde path (`kafka.max_in_flight`, `api.keys[0].id`);
    /// false when there is nothing to remove.
    fn remove(&mut self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('.').collect();
        let Some((last, parents)) = parts.split_last() else {
            return false;
        };
        let mut table = &mut self.tree;
        for part in parents {
            if !table.get(*part).is_some_and(Value::is_table) {
                // Inside an array (e.g. api keys): drop the whole array.
                return table
                    .remove(part.split('[').next().unwrap_or(part))
                    .is_some();
            }
            table = table
                .get_mut(*part)
                .and_then(Value::as_table_mut)
                .expect("checked");
        }
        let key = last.split('[').next().unwrap_or(last);
        table.remove(key).is_some()
    }
}

/// Whether the environment path names a section and key of the schema (checked in
/// full when the tree is deserialised; this catches misspelt sections early).
fn known(path: &[String]) -> bool {
    matches!(
        path[0].as_str(),
        "kafka" | "engine" | "http" | "casework" | "state" | "api"
    )
}

fn insert(table: &mut Table, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            table.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| Value::Table(Table::new()));
            if !entry.is_table() {
                *entry = Value::Table(Table::new());
            }
            insert(entry.as_table_mut().expect("a table"), rest, value);
        }
    }
}

/// Merges `from` into `into` key by key (tables recursively; anything else
/// replaces), recording the dotted path of every leaf written.
fn merge_into(into: &mut Table, from: Table, prefix: &str, leaves: &mut Vec<String>) {
    for (key, value) in from {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        // Tables merge, except the ones whose keys are data (librdkafka properties,
        // rule weights): those merge too, key by key, which is what a later layer
        // setting one property means.
        match (into.get_mut(&key), value) {
            (Some(Value::Table(existing)), Value::Table(table)) => {
                merge_into(existing, table, &path, leaves)
            }
            (_, Value::Table(table)) => {
                let mut fresh = Table::new();
                merge_into(&mut fresh, table, &path, leaves);
                into.insert(key, Value::Table(fresh));
            }
            (_, value) => {
                into.insert(key, value);
                leaves.push(path);
            }
        }
    }
}

/// `[api]` key and audit files relative to the settings file.
fn relative_api_files(api: &mut Table, base: &Path) {
    if let Some(Value::Array(keys)) = api.get_mut("keys") {
        for key in keys.iter_mut().filter_map(Value::as_table_mut) {
            for field in ["secret_file", "public_key_file"] {
                if let Some(Value::String(p)) = key.get_mut(field) {
                    *p = base.join(&*p).display().to_string();
                }
            }
        }
    }
    if let Some(Value::String(p)) = api.get_mut("audit_file") {
        *p = base.join(&*p).display().to_string();
    }
}
