//! The labels file of a backtest: known outcomes per official or per event, parsed
//! from JSON lines into [`Labels`].
//!
//! One object per line; blank lines and lines starting with `#` are ignored:
//!
//! ```text
//! {"official_id": "o-17", "positive": true}
//! {"event_id": "e-123", "positive": false, "rule_id": "split-payment"}
//! ```
//!
//! `positive` (bool) is required; exactly one of `official_id` / `event_id`;
//! `rule_id` is optional (absent: the label applies to every rule) and must name a
//! rule of the pack. Unknown fields are errors. Repeating a label is allowed; a
//! label that contradicts an earlier one for the same subject and scope is an error.
//! For a given rule, a label for that rule takes precedence over a label for all rules.

use std::collections::HashMap;
use std::io::BufRead;

use serde::Deserialize;
use thiserror::Error;

/// Why a labels file was refused.
#[derive(Debug, Error)]
pub enum LabelError {
    /// A line is malformed (1-based line number).
    #[error("labels line {line}: {problem}")]
    Line {
        /// 1-based line number.
        line: u64,
        /// What is wrong and what to write instead.
        problem: String,
    },
    /// The file could not be read.
    #[error("cannot read labels: {0}")]
    Io(#[from] std::io::Error),
}

/// What a label is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectKind {
    /// `official_id` labels.
    Official,
    /// `event_id` labels.
    Event,
}

/// One labelled official or event and its labels.
#[derive(Debug, Clone)]
pub(crate) struct Subject {
    /// The official or event id.
    pub id: String,
    /// The label for every rule, with its line.
    all: Option<(bool, u64)>,
    /// Labels for single rules: (rule index, positive, line).
    rules: Vec<(usize, bool, u64)>,
}

impl Subject {
    /// The label that applies to rule `rule`: its own label, else the all-rules one.
    pub fn label(&self, rule: usize) -> Option<bool> {
        self.rules
            .iter()
            .find(|(r, _, _)| *r == rule)
            .map(|(_, p, _)| *p)
            .or(self.all.map(|(p, _)| p))
    }
}

/// The labels of one kind (officials or events), indexed by id.
#[derive(Debug, Clone, Default)]
pub(crate) struct LabelSet {
    index: HashMap<String, usize>,
    /// In first-seen order.
    pub subjects: Vec<Subject>,
}

impl LabelSet {
    /// The index of a labelled subject.
    pub fn get(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    fn add(
        &mut self,
        id: String,
        rule: Option<usize>,
        positive: bool,
        line: u64,
    ) -> Result<(), String> {
        let next = self.subjects.len();
        let i = *self.index.entry(id.clone()).or_insert(next);
        if i == next {
            self.subjects.push(Subject {
                id,
                all: None,
                rules: Vec::new(),
            });
        }
        let subject = &mut self.subjects[i];
        let earlier = match rule {
            None => subject.all.get_or_insert((positive, line)),
            Some(r) => match subject.rules.iter_mut().find(|(x, _, _)| *x == r) {
                Some((_, p, l)) => {
                    let (p, l) = (*p, *l);
                    return contradiction(p, l, positive);
                }
                None => {
                    subject.rules.push((r, positive, line));
                    return Ok(());
                }
            },
        };
        contradiction(earlier.0, earlier.1, positive)
    }
}

fn contradiction(earlier: bool, earlier_line: u64, positive: bool) -> Result<(), String> {
    if earlier == positive {
        Ok(())
    } else {
        Err(format!(
            "contradicts line {earlier_line}, which labels the same subject `positive: {earlier}` for the same rules"
        ))
    }
}

/// Parsed labels, checked against the pack's rule ids.
#[derive(Debug, Clone)]
pub struct Labels {
    /// The pack's rule ids, in pack order (label rule indices point here).
    pub(crate) rules: Vec<String>,
    pub(crate) officials: LabelSet,
    pub(crate) events: LabelSet,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    official_id: Option<String>,
    event_id: Option<String>,
    positive: Option<bool>,
    rule_id: Option<String>,
}

impl Labels {
    /// Parses a labels file for a pack whose (enabled) rules are `rules`.
    pub fn parse<R: BufRead, S: AsRef<str>>(
        mut input: R,
        rules: &[S],
    ) -> Result<Labels, LabelError> {
        let mut labels = Labels {
            rules: rules.iter().map(|r| r.as_ref().to_string()).collect(),
            officials: LabelSet::default(),
            events: LabelSet::default(),
        };
        let mut buf = Vec::new();
        let mut number = 0u64;
        loop {
            buf.clear();
            if input.read_until(b'\n', &mut buf)? == 0 {
                return Ok(labels);
            }
            number += 1;
            labels
                .line(&buf, number)
                .map_err(|problem| LabelError::Line {
                    line: number,
                    problem,
                })?;
        }
    }

    /// Number of labelled officials.
    pub fn officials(&self) -> usize {
        self.officials.subjects.len()
    }

    /// Number of labelled events.
    pub fn events(&self) -> usize {
        self.events.subjects.len()
    }

    /// Applies one line (`number` is 1-based).
    fn line(&mut self, bytes: &[u8], number: u64) -> Result<(), String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "is not valid UTF-8".to_string())?;
        // A byte-order mark some editors write is not part of the first object.
        let text = text.trim_start_matches('\u{feff}').trim_end();
        if text.trim_start().is_empty() || text.trim_start().starts_with('#') {
            return Ok(());
        }
        let example =
            "write one JSON object such as {\"official_id\": \"o-17\", \"positive\": true}";
        if !text.trim_start().starts_with('{') {
            return Err(format!("is not a JSON object; {example}"));
        }
        let line: Line = serde_json::from_str(text).map_err(|e| {
            let message = e.to_string();
            let message = match message.rfind(" at line ") {
                Some(i) => &message[..i],
                None => &message,
            };
            format!("{message} (column {}); {example}", e.column())
        })?;
        let positive = line
            .positive
            .ok_or("missing `positive`: write `\"positive\": true` or `\"positive\": false`")?;
        let rule = match &line.rule_id {
            None => None,
            Some(id) => Some(self.rules.iter().position(|r| r == id).ok_or_else(|| {
                format!(
                    "unknown rule_id `{id}`; the pack's rules are: {}",
                    self.rules.join(", ")
                )
            })?),
        };
        let (set, id) = match (line.official_id, line.event_id) {
            (Some(o), None) => (&mut self.officials, o),
            (None, Some(e)) => (&mut self.events, e),
            (Some(_), Some(_)) => {
                return Err(
                    "has both `official_id` and `event_id`: label one of them per line".into(),
                );
            }
            (None, None) => {
                return Err("needs `official_id` or `event_id` (exactly one)".into());
            }
        };
        if id.is_empty() {
            return Err("the id is empty".into());
        }
        set.add(id, rule, positive, number)
    }
}
