//! Filters, order, cursors and the board: the list endpoints' logic over a
//! [`QuerySource`]'s rows, independent of HTTP so that it is tested directly.
//!
//! - Officials are ordered by `official_id` (bytewise); warnings newest first by
//!   trigger event time, then by `warning_id`. Both orders are total, so a cursor
//!   (the last item's sort key, base64url) continues exactly where a page ended,
//!   also while the data changes.
//! - A page is chosen in one pass over the rows with a bounded heap of `limit + 1`
//!   entries: nothing is sorted or copied beyond the page.
//! - Scope comes first: out-of-scope rows are never counted, in `total` or on the
//!   board.

use std::collections::{BTreeMap, BinaryHeap};

use rustc_hash::FxHashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::lists::{
    CodeCounts, OfficialItem, OfficialRow, OpenWarnings, OrgUnitCounts, Page, RegionCounts,
    RuleOpen, Summary, WarningRow,
};
use crate::model::{Level, RiskCode, WarningStatus};
use crate::scope::Scope;
use crate::source::QuerySource;

/// Items per page when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest accepted `limit`.
pub const MAX_LIMIT: usize = 500;

/// A query parameter that could not be used; answered 400 naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("query parameter `{name}`: {problem}")]
pub struct ParamError {
    /// The parameter.
    pub name: String,
    /// What is wrong, and what would be right.
    pub problem: String,
}

fn bad(name: &str, problem: impl Into<String>) -> ParamError {
    ParamError {
        name: name.to_string(),
        problem: problem.into(),
    }
}

/// Query parameters as given (`?a=1&b=2`).
pub type Params = BTreeMap<String, String>;

fn check_known(params: &Params, known: &[&str]) -> Result<(), ParamError> {
    match params.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(bad(k, format!("unknown; use {}", known.join(", ")))),
        None => Ok(()),
    }
}

fn text(params: &Params, name: &str) -> Option<String> {
    params.get(name).filter(|v| !v.is_empty()).cloned()
}

fn limit(params: &Params) -> Result<usize, ParamError> {
    match params.get("limit").filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_LIMIT),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(bad("limit", format!("must be 1 to {MAX_LIMIT}, not {v:?}"))),
        },
    }
}

fn encode_cursor(raw: &str) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}

fn decode_cursor(params: &Params) -> Result<Option<String>, ParamError> {
    let Some(v) = params.get("cursor").filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    URL_SAFE_NO_PAD
        .decode(v)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .map(Some)
        .ok_or_else(|| {
            bad(
                "cursor",
                "not a cursor of this API (pass next_cursor back as is)",
            )
        })
}

/// `GET /v1/officials` parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OfficialsQuery {
    /// Only this code.
    pub code: Option<RiskCode>,
    /// Only this region.
    pub region: Option<String>,
    /// Only this unit.
    pub org_unit: Option<String>,
    /// Page size.
    pub limit: usize,
    /// Only officials after this id.
    pub after: Option<String>,
}

impl OfficialsQuery {
    /// Parses `code`, `region`, `org_unit`, `limit`, `cursor`.
    pub fn parse(params: &Params) -> Result<OfficialsQuery, ParamError> {
        check_known(params, &["code", "region", "org_unit", "limit", "cursor"])?;
        let code = match text(params, "code") {
            None => None,
            Some(c) => Some(RiskCode::parse(&c).ok_or_else(|| {
                bad(
                    "code",
                    format!("{c:?} is not one of red, yellow, green, unknown"),
                )
            })?),
        };
        Ok(OfficialsQuery {
            code,
            region: text(params, "region"),
            org_unit: text(params, "org_unit"),
            limit: limit(params)?,
            after: decode_cursor(params)?,
        })
    }

    fn matches(&self, row: &OfficialRow<'_>) -> bool {
        self.code.is_none_or(|c| c == row.code)
            && self.region.as_deref().is_none_or(|r| r == row.region)
            && self.org_unit.as_deref().is_none_or(|u| u == row.org_unit)
    }

    fn after_cursor(&self, row: &OfficialRow<'_>) -> bool {
        self.after.as_deref().is_none_or(|a| row.official_id > a)
    }
}

/// The page of officials in `scope` that `query` selects.
pub fn officials(
    source: &dyn QuerySource,
    scope: &Scope,
    query: &OfficialsQuery,
) -> Page<OfficialItem> {
    // A max-heap by id of the smallest `limit + 1` ids seen.
    let keep = query.limit + 1;
    let mut heap: BinaryHeap<ById> = BinaryHeap::with_capacity(keep + 1);
    let mut total = 0u64;
    source.for_each_official(&mut |row| {
        if !scope.permits(row.region, row.org_unit) || !query.matches(&row) {
            return;
        }
        total += 1;
        if !query.after_cursor(&row) {
            return;
        }
        if heap.len() == keep
            && heap
                .peek()
                .is_some_and(|top| row.official_id >= top.0.official_id.as_str())
        {
            return;
        }
        heap.push(ById(row.into()));
        if heap.len() > keep {
            heap.pop();
        }
    });
    let mut items: Vec<OfficialItem> = heap.into_sorted_vec().into_iter().map(|b| b.0).collect();
    let next_cursor = (items.len() > query.limit).then(|| {
        items.truncate(query.limit);
        encode_cursor(&items[query.limit - 1].official_id)
    });
    Page {
        items,
        total,
        next_cursor,
        casework: source.casework(),
    }
}

struct ById(OfficialItem);
impl PartialEq for ById {
    fn eq(&self, o: &Self) -> bool {
        self.0.official_id == o.0.official_id
    }
}
impl Eq for ById {}
impl PartialOrd for ById {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for ById {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.official_id.cmp(&o.0.official_id)
    }
}

/// A status filter: one status, or every open or every closed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// Exactly this status.
    Is(WarningStatus),
    /// pushed, received or verifying.
    Open,
    /// rectified, confirmed or dismissed.
    Closed,
}

impl StatusFilter {
    fn holds(self, s: WarningStatus) -> bool {
        match self {
            StatusFilter::Is(x) => x == s,
            StatusFilter::Open => !s.is_closed(),
            StatusFilter::Closed => s.is_closed(),
        }
    }
}

/// `GET /v1/warnings` parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WarningsQuery {
    /// Only this status (or group).
    pub status: Option<StatusFilter>,
    /// Only this level.
    pub level: Option<Level>,
    /// Only this rule.
    pub rule_id: Option<String>,
    /// Only this official's.
    pub official_id: Option<String>,
    /// Trigger event time at or after (ns).
    pub since: Option<i64>,
    /// Trigger event time at or before (ns).
    pub until: Option<i64>,
    /// Page size.
    pub limit: usize,
    /// Only warnings after this (time ns, id) in the list's order.
    pub after: Option<(i64, String)>,
}

fn time(params: &Params, name: &str) -> Result<Option<i64>, ParamError> {
    let Some(v) = text(params, name) else {
        return Ok(None);
    };
    let t: jiff::Timestamp = v.parse().map_err(|_| {
        bad(
            name,
            format!("{v:?} is not an RFC 3339 time (e.g. 2026-10-15T02:00:00Z)"),
        )
    })?;
    Ok(Some(
        i64::try_from(t.as_nanosecond()).map_err(|_| bad(name, "out of range"))?,
    ))
}

impl WarningsQuery {
    /// Parses `status`, `level`, `rule_id`, `official_id`, `since`, `until`,
    /// `limit`, `cursor`.
    pub fn parse(params: &Params) -> Result<WarningsQuery, ParamError> {
        check_known(
            params,
            &[
                "status",
                "level",
                "rule_id",
                "official_id",
                "since",
                "until",
                "limit",
                "cursor",
            ],
        )?;
        let status = match text(params, "status").as_deref() {
            None => None,
            Some("open") => Some(StatusFilter::Open),
            Some("closed") => Some(StatusFilter::Closed),
            Some(s) => Some(StatusFilter::Is(WarningStatus::parse(s).ok_or_else(|| {
                bad(
                    "status",
                    format!("{s:?} is not one of open, closed, pushed, received, verifying, rectified, confirmed, dismissed"),
                )
            })?)),
        };
        let level = match text(params, "level") {
            None => None,
            Some(l) => Some(
                Level::parse(&l)
                    .ok_or_else(|| bad("level", format!("{l:?} is not yellow or red")))?,
            ),
        };
        let after = match decode_cursor(params)? {
            None => None,
            Some(raw) => {
                let (t, id) = raw
                    .split_once(':')
                    .and_then(|(t, id)| Some((t.parse::<i64>().ok()?, id.to_string())))
                    .ok_or_else(|| bad("cursor", "not a cursor of this list"))?;
                Some((t, id))
            }
        };
        Ok(WarningsQuery {
            status,
            level,
            rule_id: text(params, "rule_id"),
            official_id: text(params, "official_id"),
            since: time(params, "since")?,
            until: time(params, "until")?,
            limit: limit(params)?,
            after,
        })
    }

    fn matches(&self, row: &WarningRow<'_>) -> bool {
        self.status.is_none_or(|s| s.holds(row.status))
            && self.level.is_none_or(|l| l == row.level)
            && self.rule_id.as_deref().is_none_or(|r| r == row.rule_id)
            && self
                .official_id
                .as_deref()
                .is_none_or(|o| o == row.official_id)
            && self.since.is_none_or(|t| row.occurred_at_ns >= t)
            && self.until.is_none_or(|t| row.occurred_at_ns <= t)
    }

    fn after_cursor(&self, row: &WarningRow<'_>) -> bool {
        self.after
            .as_ref()
            .is_none_or(|(t, id)| list_order(row.occurred_at_ns, row.warning_id, *t, id).is_gt())
    }
}

/// The warnings list's order of (time, id) pairs: newer first, then by id.
fn list_order(t1: i64, id1: &str, t2: i64, id2: &str) -> std::cmp::Ordering {
    t2.cmp(&t1).then_with(|| id1.cmp(id2))
}

/// Sort key of the warnings list: newest first, then by id. `Ord` puts the
/// list's first item first.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WarningKey(i64, String);
impl PartialOrd for WarningKey {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for WarningKey {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        list_order(self.0, &self.1, o.0, &o.1)
    }
}

/// The ids of the page of warnings in `scope` that `query` selects, in order; the
/// total that match; and the next cursor.
pub fn warning_ids(
    source: &dyn QuerySource,
    scope: &Scope,
    query: &WarningsQuery,
) -> (Vec<String>, u64, Option<String>) {
    let keep = query.limit + 1;
    let mut heap: BinaryHeap<WarningKey> = BinaryHeap::with_capacity(keep + 1);
    let mut total = 0u64;
    source.for_each_warning(&mut |row| {
        if !scope.permits(row.region, row.org_unit) || !query.matches(&row) {
            return;
        }
        total += 1;
        if !query.after_cursor(&row) {
            return;
        }
        if heap.len() == keep
            && heap.peek().is_some_and(|top| {
                list_order(row.occurred_at_ns, row.warning_id, top.0, &top.1).is_ge()
            })
        {
            return;
        }
        heap.push(WarningKey(row.occurred_at_ns, row.warning_id.to_string()));
        if heap.len() > keep {
            heap.pop();
        }
    });
    let mut keys = heap.into_sorted_vec();
    let next = (keys.len() > query.limit).then(|| {
        keys.truncate(query.limit);
        let last = &keys[query.limit - 1];
        encode_cursor(&format!("{}:{}", last.0, last.1))
    });
    (keys.into_iter().map(|k| k.1).collect(), total, next)
}

/// The board of the officials and open warnings in `scope`.
pub fn summary(source: &dyn QuerySource, scope: &Scope, computed_at: String) -> Summary {
    /// One region's counts and its org units' (hash maps while counting: one hash
    /// and one comparison per official instead of a tree walk; sorted at the end).
    #[derive(Default)]
    struct RegionAcc {
        counts: CodeCounts,
        units: FxHashMap<String, CodeCounts>,
    }
    let mut officials = CodeCounts::default();
    let mut regions: FxHashMap<String, RegionAcc> = FxHashMap::default();
    source.for_each_official(&mut |row| {
        if !scope.permits(row.region, row.org_unit) {
            return;
        }
        officials.add(row.code);
        // Names are copied only the first time they are seen.
        let region = match regions.get_mut(row.region) {
            Some(r) => r,
            None => regions.entry(row.region.to_string()).or_default(),
        };
        region.counts.add(row.code);
        match region.units.get_mut(row.org_unit) {
            Some(c) => c.add(row.code),
            None => region
                .units
                .entry(row.org_unit.to_string())
                .or_default()
                .add(row.code),
        }
    });
    let mut regions: Vec<(String, RegionAcc)> = regions.into_iter().collect();
    regions.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut open = OpenWarnings::default();
    let mut rules: BTreeMap<String, RuleOpen> = BTreeMap::new();
    source.for_each_warning(&mut |row| {
        if row.status.is_closed() || !scope.permits(row.region, row.org_unit) {
            return;
        }
        open.total += 1;
        let r = match rules.get_mut(row.rule_id) {
            Some(r) => r,
            None => rules.entry(row.rule_id.to_string()).or_insert(RuleOpen {
                rule_id: row.rule_id.to_string(),
                ..RuleOpen::default()
            }),
        };
        r.total += 1;
        match row.level {
            Level::Red => r.red += 1,
            Level::Yellow => r.yellow += 1,
        }
    });
    open.by_rule = rules.into_values().collect();
    Summary {
        casework: source.casework(),
        computed_at,
        officials,
        org_units: regions
            .iter()
            .flat_map(|(region, acc)| {
                let mut units: Vec<(&String, &CodeCounts)> = acc.units.iter().collect();
                units.sort_unstable_by(|a, b| a.0.cmp(b.0));
                units
                    .into_iter()
                    .map(move |(org_unit, counts)| OrgUnitCounts {
                        region: region.clone(),
                        org_unit: org_unit.clone(),
                        counts: counts.clone(),
                    })
            })
            .collect(),
        regions: regions
            .into_iter()
            .map(|(region, acc)| RegionCounts {
                region,
                counts: acc.counts,
            })
            .collect(),
        open_warnings: open,
    }
}
