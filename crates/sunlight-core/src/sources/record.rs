//! Reading the fields a mapping needs out of one JSON record, in one pass, without
//! building a `serde_json::Value`: the paths of a source are compiled into a tree
//! ([`PathTree`]); each object on a path is parsed once, only its wanted keys are
//! kept (as raw JSON text), the rest are skipped. Numbers stay the exact text they
//! were written as, so money never passes through floating point.
//!
//! A path is field names joined by `.` (`after.status`, `payload.金额`); a field
//! whose name contains a `.` is not reachable.

use std::fmt;

use serde::Deserializer as _;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// One node of the tree: a field name and the fields wanted below it.
#[derive(Debug, Clone, Default)]
struct Node {
    children: Vec<(String, usize)>,
    /// The leaf slot when a path ends here.
    leaf: Option<usize>,
}

/// The paths of a source, as a tree of field names.
#[derive(Debug, Clone)]
pub struct PathTree {
    nodes: Vec<Node>,
    paths: Vec<String>,
}

impl Default for PathTree {
    fn default() -> Self {
        PathTree {
            nodes: vec![Node::default()],
            paths: Vec::new(),
        }
    }
}

/// The raw JSON text at each path of a [`PathTree`] (None: absent).
pub type Found<'a> = Vec<Option<&'a RawValue>>;

impl PathTree {
    /// Adds `path` (if new); returns its slot in [`PathTree::read`]'s result.
    pub fn add(&mut self, path: &str) -> usize {
        if let Some(slot) = self.paths.iter().position(|p| p == path) {
            return slot;
        }
        let mut at = 0;
        for name in path.split('.') {
            at = match self.nodes[at].children.iter().find(|(n, _)| n == name) {
                Some(&(_, child)) => child,
                None => {
                    self.nodes.push(Node::default());
                    let child = self.nodes.len() - 1;
                    self.nodes[at].children.push((name.to_string(), child));
                    child
                }
            };
        }
        let slot = self.paths.len();
        self.paths.push(path.to_string());
        self.nodes[at].leaf = Some(slot);
        slot
    }

    /// The path of a slot.
    pub fn path(&self, slot: usize) -> &str {
        &self.paths[slot]
    }

    /// Reads every path out of `root` (a JSON object). A path through a value that is
    /// not an object is absent; invalid JSON is an error.
    pub fn read<'a>(&self, root: &'a RawValue) -> Result<Found<'a>, serde_json::Error> {
        let mut found = vec![None; self.paths.len()];
        self.fill(0, root, &mut found)?;
        Ok(found)
    }

    /// Reads every path out of the JSON object `text` (the whole record, checked to
    /// be valid JSON on the way: the skipped parts too, and nothing may follow it).
    pub fn read_text<'a>(&self, text: &'a str) -> Result<Found<'a>, serde_json::Error> {
        let mut found = vec![None; self.paths.len()];
        let node = &self.nodes[0];
        let values = fields_of(text, &node.children)?;
        for (&(_, child), value) in node.children.iter().zip(values) {
            if let Some(value) = value {
                self.fill(child, value, &mut found)?;
            }
        }
        Ok(found)
    }

    fn fill<'a>(
        &self,
        node: usize,
        raw: &'a RawValue,
        found: &mut Found<'a>,
    ) -> Result<(), serde_json::Error> {
        let node = &self.nodes[node];
        if let Some(slot) = node.leaf {
            found[slot] = Some(raw);
        }
        if node.children.is_empty() || !raw.get().trim_start().starts_with('{') {
            return Ok(());
        }
        let values = fields(raw, &node.children)?;
        for (&(_, child), value) in node.children.iter().zip(values) {
            if let Some(value) = value {
                self.fill(child, value, found)?;
            }
        }
        Ok(())
    }
}

/// The raw values of the `wanted` keys of the JSON object `raw` (the last one wins
/// when a key repeats).
fn fields<'a>(
    raw: &'a RawValue,
    wanted: &[(String, usize)],
) -> Result<Vec<Option<&'a RawValue>>, serde_json::Error> {
    fields_of(raw.get(), wanted)
}

fn fields_of<'a>(
    text: &'a str,
    wanted: &[(String, usize)],
) -> Result<Vec<Option<&'a RawValue>>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let values = de.deserialize_map(Wanted { wanted })?;
    de.end()?;
    Ok(values)
}

struct Wanted<'w> {
    wanted: &'w [(String, usize)],
}

impl<'de> Visitor<'de> for Wanted<'_> {
    type Value = Vec<Option<&'de RawValue>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values = vec![None; self.wanted.len()];
        while let Some(index) = map.next_key_seed(KeyIndex {
            wanted: self.wanted,
        })? {
            match index {
                Some(i) => values[i] = Some(map.next_value::<&'de RawValue>()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(values)
    }
}

/// A key, as its index among the wanted ones (compared without allocating unless
/// the key has escapes).
struct KeyIndex<'w> {
    wanted: &'w [(String, usize)],
}

impl<'de> DeserializeSeed<'de> for KeyIndex<'_> {
    type Value = Option<usize>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIndex<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.wanted.iter().position(|(name, _)| name == key))
    }
}

/// The fields of the JSON object `raw`, in order (the last of a repeated name wins,
/// in the place of the first).
pub fn entries(raw: &RawValue) -> Result<Vec<(String, &RawValue)>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    de.deserialize_map(Entries)
}

struct Entries;

impl<'de> Visitor<'de> for Entries {
    type Value = Vec<(String, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out: Vec<(String, &'de RawValue)> = Vec::new();
        // Positions by name, so a record with many fields costs linear time.
        let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value::<&'de RawValue>()?;
            match index.get(&key) {
                Some(&i) => out[i].1 = value,
                None => {
                    index.insert(key.clone(), out.len());
                    out.push((key, value));
                }
            }
        }
        Ok(out)
    }
}

/// A scalar read from raw JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// A string, unescaped.
    Str(std::borrow::Cow<'a, str>),
    /// A number, as the exact text it was written as.
    Num(&'a str),
    /// A boolean.
    Bool(bool),
}

impl Scalar<'_> {
    /// The value as text (a number's own text; `true` / `false`).
    pub fn text(&self) -> &str {
        match self {
            Scalar::Str(s) => s,
            Scalar::Num(n) => n,
            Scalar::Bool(true) => "true",
            Scalar::Bool(false) => "false",
        }
    }
}

/// What a raw value is, when it is not a scalar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotScalar {
    /// `null`: treated as absent.
    Null,
    /// An object or an array.
    Composite,
}

/// The scalar in `raw`.
pub fn scalar(raw: &RawValue) -> Result<Scalar<'_>, NotScalar> {
    let text = raw.get().trim();
    match text.as_bytes().first() {
        // Most strings have no escapes: their text between the quotes is the value.
        Some(b'"') if !text.contains('\\') => Ok(Scalar::Str(text[1..text.len() - 1].into())),
        Some(b'"') => serde_json::from_str::<std::borrow::Cow<'_, str>>(text)
            .map(Scalar::Str)
            .or_else(|_| {
                // Escapes: Cow<str> cannot borrow them, a String can.
                serde_json::from_str::<String>(text)
                    .map(|s| Scalar::Str(s.into()))
                    .map_err(|_| NotScalar::Composite)
            }),
        Some(b't') => Ok(Scalar::Bool(true)),
        Some(b'f') => Ok(Scalar::Bool(false)),
        Some(b'n') => Err(NotScalar::Null),
        Some(b'{' | b'[') => Err(NotScalar::Composite),
        _ => Ok(Scalar::Num(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> &RawValue {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn every_path_is_read_in_one_pass_with_numbers_as_written() {
        let mut tree = PathTree::default();
        let status = tree.add("after.status");
        let amount = tree.add("after.金额");
        let op = tree.add("op");
        let missing = tree.add("before.status");
        let through_scalar = tree.add("op.x");
        assert_eq!(tree.add("after.status"), status, "a path is added once");
        let record = raw(
            r#"{"before":null,"after":{"status":"APPR\u004fVED","金额":1234.50,"x":[1]},"op":"u","op":"c"}"#,
        );
        let found = tree.read(record).unwrap();
        let text = |slot: usize| found[slot].map(|r| scalar(r).map(|s| s.text().to_string()));
        assert_eq!(text(status), Some(Ok("APPROVED".into())));
        assert_eq!(text(amount), Some(Ok("1234.50".into())));
        assert_eq!(text(op), Some(Ok("c".into())), "the last of repeated keys");
        assert_eq!(text(missing), None);
        assert_eq!(text(through_scalar), None);
        assert_eq!(tree.path(amount), "after.金额");
    }

    #[test]
    fn broken_json_is_an_error_and_non_objects_have_no_fields() {
        let mut tree = PathTree::default();
        tree.add("a.b");
        let broken: Result<&RawValue, _> = serde_json::from_str(r#"{"a": {"b": }"#);
        assert!(broken.is_err());
        assert!(
            tree.read(raw("[1, 2]"))
                .unwrap()
                .iter()
                .all(Option::is_none)
        );
        assert_eq!(scalar(raw("null")), Err(NotScalar::Null));
        assert_eq!(scalar(raw("{}")), Err(NotScalar::Composite));
        assert_eq!(scalar(raw("-0.5e3")), Ok(Scalar::Num("-0.5e3")));
    }
}
