//! Checking a mapping file and compiling it into [`Source`]s. Every problem is
//! collected, each naming the source, the event rule and the field.

use std::collections::BTreeMap;

use compact_str::CompactString;
use jiff::tz::TimeZone;

use super::clock::{self, TimeFormat};
use super::money::{self, MoneyUnit, Rounding};
use super::record::PathTree;
use super::spec::{ConditionSpec, EventSpec, FieldSpec, FieldTable, FileSpec, SourceSpec};
use super::{
    Condition, ConditionKind, Convert, Deletes, EventRule, Field, Format, Piece, Source,
    SourceError, SourceFile, Value,
};

/// Compiles the text of a mapping file (`origin` names it in messages).
pub fn compile(text: &str, origin: &str) -> Result<SourceFile, SourceError> {
    let spec: FileSpec = toml::from_str(text).map_err(|e| SourceError {
        problems: vec![format!("{origin}: {}", e.message().trim())],
    })?;
    let mut problems = Vec::new();
    if spec.source.is_empty() {
        problems.push(format!("{origin}: no [[source]] declared"));
    }
    let mut sources = Vec::new();
    for (i, s) in spec.source.into_iter().enumerate() {
        let name = if s.name.trim().is_empty() {
            format!("source {}", i + 1)
        } else {
            s.name.clone()
        };
        let mut report = |message: String| problems.push(format!("{origin}: {name}: {message}"));
        if let Some(source) = compile_source(s, &mut report) {
            sources.push(source);
        }
    }
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for source in &sources {
        if seen.values().any(|n| *n == source.name) {
            problems.push(format!(
                "{origin}: {}: a second source with this name",
                source.name
            ));
        }
        for topic in &source.topics {
            if let Some(other) = seen.insert(topic, &source.name) {
                problems.push(format!(
                    "{origin}: {}: topic {topic:?} is already mapped by {other}",
                    source.name
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(SourceFile { sources })
    } else {
        Err(SourceError { problems })
    }
}

fn compile_source(s: SourceSpec, report: &mut impl FnMut(String)) -> Option<Source> {
    let format = match s.format.as_str() {
        "debezium" => Some(Format::Debezium),
        "json" => Some(Format::Json),
        other => {
            report(format!(
                "format: {other:?} is not one of \"debezium\", \"json\""
            ));
            None
        }
    };
    let deletes = match s.deletes.as_deref() {
        None | Some("ignore") => Deletes::Ignore,
        Some("map") => Deletes::Map,
        Some(other) => {
            report(format!(
                "deletes: {other:?} is not one of \"ignore\", \"map\""
            ));
            Deletes::Ignore
        }
    };
    let tz = match s.timezone.as_deref().map(clock::zone) {
        None => TimeZone::UTC,
        Some(Ok(tz)) => tz,
        Some(Err(e)) => {
            report(format!("timezone: {e}"));
            TimeZone::UTC
        }
    };
    if s.topics.is_empty() {
        report("topics: name at least one input topic".into());
    }
    if s.event.is_empty() {
        report("no [[source.event]] declared: nothing would ever be mapped".into());
    }
    let mut tree = PathTree::default();
    let op = tree.add("op");
    let payload = tree.add("payload");
    let mut rules = Vec::new();
    for (i, e) in s.event.into_iter().enumerate() {
        let label = e.name.clone().map_or_else(
            || format!("event {}", i + 1),
            |n| format!("event {} ({n})", i + 1),
        );
        let mut at = |message: String| report(format!("{label}: {message}"));
        if let Some(rule) = compile_event(e, label.clone(), &tz, &mut tree, &mut at) {
            rules.push(rule);
        }
    }
    Some(Source {
        name: s.name,
        topics: s.topics,
        format: format?,
        deletes,
        tree,
        op,
        payload,
        rules,
    })
}

fn compile_event(
    e: EventSpec,
    label: String,
    tz: &TimeZone,
    tree: &mut PathTree,
    report: &mut impl FnMut(String),
) -> Option<EventRule> {
    let mut ok = true;
    let when: Vec<Condition> = e
        .when
        .into_iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let c = condition(c, tree);
            if let Err(m) = &c {
                report(format!("when[{i}]: {m}"));
                ok = false;
            }
            c.ok()
        })
        .collect();
    let attributes_from = match e.attributes_from.as_deref().map(|p| path(p, tree)) {
        None => None,
        Some(Ok(slot)) => Some(slot),
        Some(Err(m)) => {
            report(format!("attributes_from: {m}"));
            ok = false;
            None
        }
    };
    let mut field = |name: &str, spec: Option<FieldSpec>, required: bool, expect: Expect| match spec
    {
        None if required => {
            report(format!("{name}: required (a path, a template or a value)"));
            None
        }
        None => None,
        Some(spec) => match compile_field(spec, expect, tz, tree) {
            Ok(f) => Some(f),
            Err(m) => {
                report(format!("{name}: {m}"));
                None
            }
        },
    };
    let event_id = field("event_id", e.event_id, true, Expect::Text);
    let official_id = field("official_id", e.official_id, true, Expect::Text);
    let kind = field("kind", e.kind, true, Expect::Text);
    let occurred_at = field("occurred_at", e.occurred_at, true, Expect::Time);
    let source_system = field("source_system", e.source_system, false, Expect::Text);
    let org_unit = field("org_unit", e.org_unit, false, Expect::Text);
    let region = field("region", e.region, false, Expect::Text);
    let counterparty = field("counterparty", e.counterparty, false, Expect::Text);
    let amount_cents = field("amount_cents", e.amount_cents, false, Expect::Money);
    let mut attributes = Vec::new();
    for (name, spec) in e.attributes {
        let required = matches!(&spec, FieldSpec::Table(t) if t.required == Some(true));
        if let Some(f) = field(
            &format!("attributes.{name}"),
            Some(spec),
            false,
            Expect::Attribute,
        ) {
            attributes.push((CompactString::from(name), f, required));
        }
    }
    Some(EventRule {
        label,
        when: ok.then_some(when)?,
        event_id: event_id?,
        official_id: official_id?,
        kind: kind?,
        occurred_at: occurred_at?,
        source_system,
        org_unit,
        region,
        counterparty,
        amount_cents,
        attributes,
        attributes_from,
    })
}

/// What a field must become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Text,
    Time,
    Money,
    Attribute,
}

fn compile_field(
    spec: FieldSpec,
    expect: Expect,
    tz: &TimeZone,
    tree: &mut PathTree,
) -> Result<Field, String> {
    let t = match spec {
        FieldSpec::Constant(c) => FieldTable {
            path: None,
            template: None,
            value: Some(c),
            codes: None,
            default: None,
            money: None,
            round: None,
            decimal_scale: None,
            number: None,
            time: None,
            timezone: None,
            required: None,
        },
        FieldSpec::Table(t) => t,
    };
    let value = match (t.path, t.template, t.value) {
        (Some(p), None, None) => Value::Path(path(&p, tree)?),
        (None, Some(t), None) => Value::Template(template(&t, tree)?),
        (None, None, Some(v)) => Value::Const(v.text()),
        (None, None, None) => return Err("needs one of path, template or value".into()),
        _ => return Err("takes only one of path, template or value".into()),
    };
    let number = t.number == Some(true);
    if number && (t.money.is_some() || t.time.is_some() || expect != Expect::Attribute) {
        return Err("number applies to attributes that are neither money nor time".into());
    }
    if number {
        // The constants a number field can produce must be numbers themselves.
        let constants: Vec<String> = t
            .default
            .iter()
            .map(|d| d.text())
            .chain(t.codes.iter().flat_map(|c| c.values().cloned()))
            .collect();
        for c in constants {
            super::number(&c).map_err(|m| format!("number: the default or code {m}"))?;
        }
    }
    let convert = match (t.money, t.time, expect) {
        _ if number => Convert::Number,
        (Some(_), Some(_), _) => return Err("cannot be both money and time".into()),
        (Some(unit), None, Expect::Money | Expect::Attribute) => {
            Convert::Money(unit, t.round.unwrap_or_default(), t.decimal_scale)
        }
        (None, None, Expect::Money) => Convert::Money(
            MoneyUnit::Cents,
            t.round.unwrap_or_default(),
            t.decimal_scale,
        ),
        (Some(_), None, _) => return Err("money applies to amount_cents and attributes".into()),
        (None, Some(format), Expect::Time) => {
            let tz = match t.timezone.as_deref() {
                Some(name) => clock::zone(name)?,
                None => tz.clone(),
            };
            Convert::Time(TimeFormat::parse(&format)?, tz)
        }
        (None, None, Expect::Time) => Convert::Time(TimeFormat::Rfc3339, tz.clone()),
        (None, Some(_), _) => return Err("time applies to occurred_at".into()),
        (None, None, _) => Convert::None,
    };
    if t.round.is_some()
        && t.round != Some(Rounding::Refuse)
        && !matches!(convert, Convert::Money(..))
    {
        return Err("round applies to money".into());
    }
    if t.decimal_scale.is_some() && !matches!(convert, Convert::Money(..)) {
        return Err("decimal_scale applies to money".into());
    }
    if t.decimal_scale.is_some_and(|s| s > money::MAX_SCALE) {
        return Err(format!(
            "decimal_scale must be at most {}",
            money::MAX_SCALE
        ));
    }
    if t.timezone.is_some() && !matches!(convert, Convert::Time(..)) {
        return Err("timezone applies to times".into());
    }
    Ok(Field {
        value,
        codes: t.codes,
        default: t.default.map(|d| d.text()),
        convert,
    })
}

fn path(p: &str, tree: &mut PathTree) -> Result<usize, String> {
    if p.is_empty() || p.split('.').any(str::is_empty) {
        return Err(format!("path {p:?}: field names joined by '.', none empty"));
    }
    Ok(tree.add(p))
}

fn template(t: &str, tree: &mut PathTree) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_string()));
        }
        let Some(close) = rest[open..].find('}') else {
            return Err(format!("template {t:?}: a '{{' without its '}}'"));
        };
        let inner = &rest[open + 1..open + close];
        let alternatives = inner
            .split('|')
            .map(|p| path(p.trim(), tree))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("template {t:?}: {e}"))?;
        pieces.push(Piece::Path(alternatives));
        rest = &rest[open + close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("template {t:?}: a '}}' without its '{{'"));
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    if !pieces.iter().any(|p| matches!(p, Piece::Path(_))) {
        return Err(format!(
            "template {t:?}: no {{path}} in it (use value = for a constant)"
        ));
    }
    Ok(pieces)
}

fn condition(c: ConditionSpec, tree: &mut PathTree) -> Result<Condition, String> {
    let slot = path(&c.path, tree)?;
    let kind = match (c.equals, c.not_equals, c.one_of, c.exists) {
        (Some(v), None, None, None) => ConditionKind::Equals(v.text()),
        (None, Some(v), None, None) => ConditionKind::NotEquals(v.text()),
        (None, None, Some(vs), None) => ConditionKind::OneOf(vs.iter().map(|v| v.text()).collect()),
        (None, None, None, Some(e)) => ConditionKind::Exists(e),
        _ => {
            return Err(format!(
                "path {:?}: needs exactly one of equals, not_equals, one_of, exists",
                c.path
            ));
        }
    };
    Ok(Condition { slot, kind })
}
