//! Lanes: how a pack with rules keyed by an entity (`key = [...]`) runs on any
//! number of instances.
//!
//! A rule keyed by the official needs each official's events in one engine; a rule
//! keyed by a vehicle needs each vehicle's. One partitioning cannot give both, so the
//! work is split into lanes, as Kafka Streams splits a topology at a re-keying:
//!
//! - the **officials** lane evaluates the rules keyed by the official, on input keyed
//!   by official_id, and runs the closed loop;
//! - one lane per **entity key** evaluates the rules with that key, on input that
//!   `sunlight repartition --key FIELDS` re-keyed by those fields ([`partition_key`]),
//!   and hands each warning to the officials lane as a *carrier* event
//!   ([`carrier_event`]) on the officials lane's input, keyed by the warning's
//!   official (the warning's JSON in attributes `warning.0`, `warning.1`, ... of at
//!   most 16,000 bytes each, within the decoder's limits). The officials lane emits the carried warning as its own
//!   ([`carried_warning`]): admitted to that official's casebook, masked and
//!   published like every other.
//!
//! One instance that reads everything runs every rule (`Lane::All`, the default); it
//! refuses carriers.

use std::fmt;

use compact_str::CompactString;

use crate::casework::snapshot::WarningSnapshot;
use crate::event::{AttrValue, FieldRef, PowerEvent};
use crate::warning::Warning;

/// The event kind of a carrier: a warning of an entity lane on its way to the
/// officials lane. Source systems must not use it.
pub const CARRIER_KIND: &str = "sunlight.lane_warning";

/// The attributes of a carrier holding the warning (JSON), in parts of at most
/// [`CARRIER_PART_BYTES`]: `warning.0`, `warning.1`, ...
const CARRIER_ATTRIBUTE: &str = "warning";

/// The longest part of a carrier's warning: within the decoder's default limit for
/// one string (16 KiB), so a warning of any size up to the message limit (1 MiB)
/// passes.
const CARRIER_PART_BYTES: usize = 16_000;

/// Which rules of a pack an engine evaluates.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Lane {
    /// Every rule (one instance reading every input partition).
    #[default]
    All,
    /// The rules keyed by the official; also emits the warnings carried from the
    /// entity lanes.
    Officials,
    /// The rules keyed by these fields (as `key = [...]` lists them).
    Entity(Vec<FieldRef>),
}

impl Lane {
    /// `all`, `officials`, or an entity key as `rules check` prints it
    /// (`attributes.vehicle`, `counterparty,attributes.invoice_no`).
    pub fn parse(text: &str) -> Result<Lane, String> {
        match text.trim() {
            "all" => Ok(Lane::All),
            "officials" => Ok(Lane::Officials),
            "" => Err("a lane is `all`, `officials` or an entity key's fields".into()),
            fields => {
                let parsed = key_fields(fields.split(','))?;
                if parsed.contains(&FieldRef::OfficialId) {
                    return Err("`official_id` is the officials lane: use `officials`".into());
                }
                Ok(Lane::Entity(parsed))
            }
        }
    }

    /// Whether a rule keyed by `key` (empty: by the official) is evaluated here.
    pub fn admits(&self, key: &[FieldRef]) -> bool {
        match self {
            Lane::All => true,
            Lane::Officials => key.is_empty(),
            Lane::Entity(fields) => fields == key,
        }
    }

    /// Whether this lane emits carried warnings: only the officials lane (lane `all`
    /// refuses them, so an instance left at `all` beside entity lanes, or a source
    /// writing such events, is told at once instead of casing them).
    pub fn emits_carried(&self) -> bool {
        matches!(self, Lane::Officials)
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lane::All => f.write_str("all"),
            Lane::Officials => f.write_str("officials"),
            Lane::Entity(fields) => {
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    match field {
                        FieldRef::Attribute(name) => write!(f, "attributes.{name}")?,
                        other => f.write_str(other.key_name())?,
                    }
                }
                Ok(())
            }
        }
    }
}

/// Parses key fields as a pack writes them (trimmed; none twice).
pub(crate) fn key_fields<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<FieldRef>, String> {
    let mut fields = Vec::new();
    for name in names {
        let name = name.trim();
        let field = FieldRef::parse(name).ok_or_else(|| format!("unknown field `{name}`"))?;
        if fields.contains(&field) {
            return Err(format!("`{name}` is listed twice"));
        }
        fields.push(field);
    }
    Ok(fields)
}

/// The record key that puts every event with the same values of `fields` on one
/// partition, as the engine compares them (numbers by their text); `None` when the
/// event lacks one of them (no rule of that key sees it).
pub fn partition_key(event: &PowerEvent, fields: &[FieldRef]) -> Option<CompactString> {
    let key = crate::engine::group_key(event, fields)?;
    // One field: its value as is. Several: the engine's packed form (each value
    // length-prefixed), so different splits of the same characters differ.
    Some(match fields {
        [_] => key
            .parts()
            .next()
            .map(CompactString::from)
            .unwrap_or_default(),
        _ => CompactString::from(key.raw()),
    })
}

/// The carrier of an entity lane's warning: an event of kind [`CARRIER_KIND`] for
/// the warning's official, at the trigger's time, with the official's scope.
pub fn carrier_event(warning: &Warning) -> PowerEvent {
    let mut event = PowerEvent::new(
        &format!("lane:{}", warning.warning_id),
        &warning.official_id,
        CARRIER_KIND,
        warning.occurred_at,
    );
    event.source_system = Some("sunlight.lane".into());
    event.region = warning.scope.region.clone();
    event.org_unit = warning.scope.org_unit.clone();
    let json = serde_json::to_string(&WarningSnapshot::of(warning))
        .expect("a warning snapshot serialises");
    let mut rest = json.as_str();
    let mut part = 0;
    while !rest.is_empty() || part == 0 {
        let mut end = rest.len().min(CARRIER_PART_BYTES);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (head, tail) = rest.split_at(end);
        event.attributes.push((
            format!("{CARRIER_ATTRIBUTE}.{part}").into(),
            AttrValue::Str(head.into()),
        ));
        rest = tail;
        part += 1;
    }
    event
}

/// The warning a carrier holds, or why it holds none.
pub fn carried_warning(event: &PowerEvent) -> Result<Warning, String> {
    let mut json = String::new();
    for part in 0.. {
        match event.attribute(&format!("{CARRIER_ATTRIBUTE}.{part}")) {
            Some(AttrValue::Str(text)) => json.push_str(text),
            None if part > 0 => break,
            _ => {
                return Err(format!(
                    "carrier `{}` has no text attribute `{CARRIER_ATTRIBUTE}.{part}`",
                    event.event_id
                ));
            }
        }
    }
    let snapshot: WarningSnapshot =
        serde_json::from_str(&json).map_err(|e| format!("carrier `{}`: {e}", event.event_id))?;
    if event.event_id.strip_prefix("lane:") != Some(snapshot.warning_id.as_str()) {
        return Err(format!(
            "carrier `{}` holds warning `{}`",
            event.event_id, snapshot.warning_id
        ));
    }
    snapshot
        .to_warning(&event.official_id)
        .map_err(|e| format!("carrier `{}`: {e}", event.event_id))
}
