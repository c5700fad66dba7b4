//! Read access for the query API: every official with a book, an official's code
//! without copying its open list, its code history, and every tracked warning —
//! borrowed, so a listing clones only what it keeps.

use super::casebook::{Casebook, CodeRecord, Tracked};
use super::risk::RiskCode;
use crate::time::Timestamp;
use crate::warning::Scope;

impl Casebook {
    /// Every official with a book (something open, or a code not yet back to green
    /// with nothing open), with its scope as the warnings said; in no particular
    /// order.
    pub fn officials(&self) -> impl Iterator<Item = (&str, &Scope)> {
        self.officials
            .iter()
            .map(|(id, book)| (id.as_str(), &book.scope))
    }

    /// The official's code and score now and how many warnings it has open; None
    /// without a book. Cheap: nothing is copied.
    pub fn official_code(
        &self,
        official_id: &str,
        now: Timestamp,
    ) -> Option<(RiskCode, f64, usize)> {
        let book = self.officials.get(official_id)?;
        let score = self.score(book, now);
        Some((RiskCode::of(score, &self.policy), score, book.open.len()))
    }

    /// The official's code changes, oldest first: the newest
    /// [`super::casebook::CODE_HISTORY_CAP`]. Empty for an official never coded (or
    /// whose partition was given up).
    pub fn code_history(&self, official_id: &str) -> &[CodeRecord] {
        self.code_history
            .get(official_id)
            .map_or(&[], |h| h.as_slice())
    }

    /// Every tracked warning: open, and closed but not yet forgotten; in no
    /// particular order.
    pub fn tracked_warnings(&self) -> impl Iterator<Item = &Tracked> {
        self.warnings.values()
    }
}

#[cfg(test)]
mod tests {
    use compact_str::CompactString;

    use super::super::casebook::CODE_HISTORY_CAP;
    use super::super::tests::{day, feedback, warning};
    use super::super::{Casebook, CaseworkPolicy, Outputs, Status};
    use super::*;
    use crate::rules::measure::Level;

    fn ids(list: &[&str]) -> Vec<CompactString> {
        list.iter().map(|&w| w.into()).collect()
    }

    fn record(at: f64, previous: RiskCode, code: RiskCode, score: f64, w: &[&str]) -> CodeRecord {
        CodeRecord {
            at: day(at),
            code,
            previous,
            score,
            warnings: ids(w),
        }
    }

    #[test]
    fn officials_codes_history_and_tracked_warnings() {
        use RiskCode::{Green, Red, Yellow};
        let mut book = Casebook::new(CaseworkPolicy::default());
        let mut out = Outputs::default();
        let now = day(0.0);
        book.admit(
            &warning("w1", "burst", "o1", "", Level::Yellow),
            now,
            &mut out,
        );
        book.admit(
            &warning("w2", "split", "o1", "C1", Level::Red),
            now,
            &mut out,
        );
        let mut w3 = warning("w3", "burst", "o2", "", Level::Yellow);
        w3.scope = Scope {
            region: Some("r2".into()),
            org_unit: None,
        };
        // Everything at one instant: scores do not decay.
        book.admit(&w3, now, &mut out);
        assert_eq!(book.official_code("o1", now), Some((Red, 4.0, 2)));
        book.feedback(&feedback("w2", Status::Confirmed, now), now, &mut out)
            .unwrap();
        book.feedback(&feedback("w1", Status::Rectified, now), now, &mut out)
            .unwrap();
        assert_eq!(
            book.code_history("o1"),
            [
                record(0.0, Green, Yellow, 1.0, &["w1"]),
                record(0.0, Yellow, Red, 4.0, &["w1", "w2"]),
                record(0.0, Red, Yellow, 1.0, &["w1"]),
                record(0.0, Yellow, Green, 0.0, &[]),
            ]
        );
        assert_eq!(
            book.code_history("o2"),
            [record(0.0, Green, Yellow, 1.0, &["w3"])]
        );
        assert_eq!(book.code_history("o3"), []);
        // o1 is green with nothing open: its book is gone, its history is not.
        let officials: Vec<(&str, &Scope)> = book.officials().collect();
        assert_eq!(officials, vec![("o2", &w3.scope)]);
        assert_eq!(book.official_code("o1", now), None);
        assert_eq!(book.official_code("o2", now), Some((Yellow, 1.0, 1)));
        let mut tracked: Vec<(&str, Status)> = book
            .tracked_warnings()
            .map(|t| (t.warning.warning_id.as_str(), t.status))
            .collect();
        tracked.sort_by_key(|t| t.0);
        assert_eq!(
            tracked,
            vec![
                ("w1", Status::Rectified),
                ("w2", Status::Confirmed),
                ("w3", Status::Pushed)
            ]
        );
        // Giving the partition up drops the history with the rest.
        book.forget_officials(|o, _| o == "o1");
        assert_eq!(book.code_history("o1"), []);
    }

    #[test]
    fn the_code_history_keeps_the_newest_changes() {
        use RiskCode::{Green, Yellow};
        let mut book = Casebook::new(CaseworkPolicy::default());
        let mut out = Outputs::default();
        // 60 cycles of green -> yellow -> green: 120 changes.
        for i in 0..60 {
            let id = format!("w{i}");
            let at = day(i as f64);
            book.admit(
                &warning(&id, "burst", "o1", "", Level::Yellow),
                at,
                &mut out,
            );
            book.feedback(&feedback(&id, Status::Confirmed, at), at, &mut out)
                .unwrap();
        }
        assert_eq!(out.codes.len(), 120);
        let history = book.code_history("o1");
        assert_eq!(history.len(), CODE_HISTORY_CAP);
        assert_eq!(history[0], record(10.0, Green, Yellow, 1.0, &["w10"]));
        assert_eq!(history[1], record(10.0, Yellow, Green, 0.0, &[]));
        assert_eq!(history[99], record(59.0, Yellow, Green, 0.0, &[]));
    }
}
