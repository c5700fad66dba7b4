//! Replay: run a recorded file of events through the [`Engine`] and write warnings
//! and rejected inputs. `sunlight replay` is a thin wrapper around [`Replayer`].
//!
//! Inputs are JSON lines or length-delimited protobuf. Rejected inputs (bad, late)
//! become [`Rejected`] records carrying the line number (or byte offset), the reason
//! and the original bytes, so nothing is lost silently.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};
use std::sync::Arc;

use base64::Engine as _;
use serde::Serialize;

use crate::codec::{self, DecodeError, DecodeLimits, Format, Reason};
use crate::engine::{Admission, Engine, EngineConfig, EngineStats, StateStats};
use crate::rules::CompiledPack;
use crate::sources::{Mapped, Source};
use crate::warning::Warning;

/// Replay settings.
#[derive(Debug, Clone, Copy)]
pub struct ReplayOptions {
    /// Input encoding.
    pub format: Format,
    /// Decoder limits.
    pub limits: DecodeLimits,
    /// Engine settings (allowed lateness, clock, future skew): admission is the
    /// engine's, so a replay refuses exactly what `sunlight run` refuses.
    pub engine: EngineConfig,
    /// Decode only: measure the decoding limit; no engine, no warnings.
    pub decode_only: bool,
    /// Sample the window state every this many records (0: only before the final
    /// flush). Sampling walks all state: use it to measure memory, not for speed.
    pub state_sample_every: u64,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            format: Format::Json,
            limits: DecodeLimits::default(),
            engine: EngineConfig::default(),
            decode_only: false,
            state_sample_every: 0,
        }
    }
}

/// An input that was not applied, as written to the errors output (one JSON line).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Rejected {
    /// 1-based line number (JSON lines input).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// Byte offset of the record (protobuf input).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Reason code (`invalid_json`, `missing_field`, `late`, ...).
    pub reason: &'static str,
    /// What exactly was wrong.
    pub detail: String,
    /// The original input, when it is UTF-8 text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// The original input in base64, when it is not UTF-8 text (or is protobuf).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_base64: Option<String>,
}

/// Totals of one replay.
#[derive(Debug, Clone, Default)]
pub struct ReplaySummary {
    /// Records read (non-blank lines, or protobuf records).
    pub records: u64,
    /// Records decoded into events.
    pub decoded: u64,
    /// Rejected records by reason (including `late`).
    pub rejected: BTreeMap<Reason, u64>,
    /// Unknown top-level fields ignored.
    pub unknown_fields: u64,
    /// Records a source mapping mapped to nothing (tombstones, ignored deletes,
    /// no event rule matched), by reason.
    pub mapped_to_nothing: BTreeMap<&'static str, u64>,
    /// Warnings written.
    pub warnings: u64,
    /// Engine counters (per rule, duplicates, ...).
    pub engine: EngineStats,
    /// Window state just before the final flush.
    pub state_before_flush: StateStats,
    /// The sampled state with the most events in windows (see
    /// [`ReplayOptions::state_sample_every`]); equals `state_before_flush` otherwise.
    pub state_peak: StateStats,
}

impl ReplaySummary {
    /// Rejected records that were bad input (everything but `late`).
    pub fn bad_inputs(&self) -> u64 {
        self.rejected
            .iter()
            .filter(|(r, _)| **r != Reason::Late)
            .map(|(_, n)| n)
            .sum()
    }
}

/// Sees every warning a [`Replayer`] writes, in output order (e.g. a
/// [`crate::backtest::Backtest`]). `()` sees nothing and costs nothing; `None` sees
/// nothing either.
pub trait WarningObserver {
    /// Called once per warning, just before it is written.
    fn on_warning(&mut self, warning: &Warning);
}

impl WarningObserver for () {
    #[inline]
    fn on_warning(&mut self, _: &Warning) {}
}

impl<T: WarningObserver + ?Sized> WarningObserver for &mut T {
    #[inline]
    fn on_warning(&mut self, warning: &Warning) {
        (**self).on_warning(warning);
    }
}

impl<T: WarningObserver> WarningObserver for Option<T> {
    #[inline]
    fn on_warning(&mut self, warning: &Warning) {
        if let Some(observer) = self {
            observer.on_warning(warning);
        }
    }
}

/// Feeds records to an engine and writes warnings and rejected records; every
/// warning is also shown to the observer `O` (none by default).
pub struct Replayer<W: Write, E: Write, O: WarningObserver = ()> {
    engine: Engine,
    options: ReplayOptions,
    warnings_out: W,
    errors_out: E,
    summary: ReplaySummary,
    batch: Vec<Warning>,
    observer: O,
    /// Department records: mapped to events by this source instead of decoded.
    source: Option<Source>,
}

impl<W: Write, E: Write> Replayer<W, E> {
    /// A replayer writing warnings (JSON lines) to `warnings_out` and rejected
    /// records (JSON lines) to `errors_out`.
    pub fn new(
        pack: Arc<CompiledPack>,
        options: ReplayOptions,
        warnings_out: W,
        errors_out: E,
    ) -> Self {
        Replayer {
            engine: Engine::new(pack, options.engine),
            options,
            warnings_out,
            errors_out,
            summary: ReplaySummary::default(),
            batch: Vec::new(),
            observer: (),
            source: None,
        }
    }

    /// The same replayer, showing every warning to `observer` before writing it.
    pub fn with_observer<O: WarningObserver>(self, observer: O) -> Replayer<W, E, O> {
        Replayer {
            engine: self.engine,
            options: self.options,
            warnings_out: self.warnings_out,
            errors_out: self.errors_out,
            summary: self.summary,
            batch: self.batch,
            observer,
            source: self.source,
        }
    }

    /// The same replayer, reading department records mapped by `source`
    /// (docs/SOURCES.md) instead of Sunlight events, as `sunlight run` does for a
    /// mapped topic.
    pub fn with_source(mut self, source: Source) -> Self {
        self.source = Some(source);
        self
    }
}

impl<W: Write, E: Write, O: WarningObserver> Replayer<W, E, O> {
    /// Reads JSON lines until EOF. A line longer than the message limit is rejected
    /// (`too_large`) without ever being held in memory whole.
    pub fn json_lines<R: BufRead>(&mut self, mut input: R) -> io::Result<()> {
        let max = self.options.limits.max_message_bytes;
        let mut line = Vec::with_capacity(1024);
        let mut number = 0u64;
        loop {
            line.clear();
            let Some(length) = read_line_bounded(&mut input, &mut line, max)? else {
                return Ok(());
            };
            number += 1;
            let record = trim_line(&line);
            if length > max + 2 {
                self.summary.records += 1;
                let e = DecodeError::new(
                    Reason::TooLarge,
                    format!("line of {length} bytes exceeds the limit of {max} bytes"),
                );
                let prefix = &record[..record.len().min(REJECTED_PREFIX_BYTES)];
                self.reject(&e, prefix, Some(number), None)?;
                continue;
            }
            if record.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.record(record, Some(number), None)?;
        }
    }

    /// Reads a whole buffer of length-delimited protobuf records.
    pub fn protobuf_records(&mut self, data: &[u8]) -> io::Result<()> {
        let max = self.options.limits.max_message_bytes;
        for (offset, record) in codec::protobuf::LengthDelimited::new(data, max) {
            match record {
                Ok(bytes) => self.record(bytes, None, Some(offset as u64))?,
                Err(e) => {
                    self.summary.records += 1;
                    let rest = &data[offset..data.len().min(offset + 64)];
                    self.reject(&e, rest, None, Some(offset as u64))?;
                }
            }
        }
        Ok(())
    }

    /// Decodes one record and admits it.
    pub fn record(
        &mut self,
        bytes: &[u8],
        line: Option<u64>,
        offset: Option<u64>,
    ) -> io::Result<()> {
        self.summary.records += 1;
        let (event, notes) = match &self.source {
            Some(source) => match source.map_within(bytes, &self.options.limits) {
                Ok(Mapped::Event(event)) => (event, codec::DecodeNotes::default()),
                Ok(Mapped::Nothing(why)) => {
                    *self
                        .summary
                        .mapped_to_nothing
                        .entry(why.code())
                        .or_default() += 1;
                    return Ok(());
                }
                Err(e) => return self.reject(&e, bytes, line, offset),
            },
            None => {
                // As `sunlight run` decodes a record: a Schema Registry frame is
                // removed first.
                match codec::decode_message(bytes, self.options.format, &self.options.limits) {
                    Ok((event, notes, _)) => (event, notes),
                    Err(e) => return self.reject(&e, bytes, line, offset),
                }
            }
        };
        self.summary.decoded += 1;
        self.summary.unknown_fields += u64::from(notes.unknown_fields);
        if self.options.decode_only {
            return Ok(());
        }
        let every = self.options.state_sample_every;
        if every > 0 && self.summary.records.is_multiple_of(every) {
            self.sample_state();
        }
        if let Admission::Refused(e) = self.engine.ingest(event, &mut self.batch) {
            self.reject(&e, bytes, line, offset)?;
        }
        self.write_warnings()
    }

    fn reject(
        &mut self,
        e: &DecodeError,
        bytes: &[u8],
        line: Option<u64>,
        offset: Option<u64>,
    ) -> io::Result<()> {
        *self.summary.rejected.entry(e.reason).or_default() += 1;
        let text = (self.options.format == Format::Json)
            .then(|| std::str::from_utf8(bytes).ok())
            .flatten();
        let record = Rejected {
            line,
            offset,
            reason: e.reason.code(),
            detail: e.detail.clone(),
            input: text.map(str::to_owned),
            input_base64: match text {
                Some(_) => None,
                None => Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
            },
        };
        serde_json::to_writer(&mut self.errors_out, &record)?;
        self.errors_out.write_all(b"\n")
    }

    fn write_warnings(&mut self) -> io::Result<()> {
        for w in self.batch.drain(..) {
            self.observer.on_warning(&w);
            serde_json::to_writer(&mut self.warnings_out, &w)?;
            self.warnings_out.write_all(b"\n")?;
            self.summary.warnings += 1;
        }
        Ok(())
    }

    fn sample_state(&mut self) -> StateStats {
        let now = self.engine.state_stats();
        if now.retained_events >= self.summary.state_peak.retained_events {
            self.summary.state_peak = now;
        }
        now
    }

    /// Evaluates everything still pending, flushes the outputs, returns the totals.
    pub fn finish(mut self) -> io::Result<ReplaySummary> {
        self.summary.state_before_flush = self.sample_state();
        self.engine.flush(&mut self.batch);
        self.write_warnings()?;
        self.warnings_out.flush()?;
        self.errors_out.flush()?;
        self.summary.engine = self.engine.stats().clone();
        Ok(self.summary)
    }
}

/// How much of an over-long line a rejected record quotes.
const REJECTED_PREFIX_BYTES: usize = 1024;

/// Reads one line (with its newline) into `buf`, keeping at most `max + 2` bytes
/// (room for `\r\n`) and skipping the rest. Returns the line's full length, or
/// `None` at end of input.
fn read_line_bounded<R: BufRead>(
    input: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<usize>> {
    let mut total = 0usize;
    loop {
        let available = input.fill_buf()?;
        if available.is_empty() {
            return Ok((total > 0).then_some(total));
        }
        let (chunk, done) = match memchr::memchr(b'\n', available) {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let room = (max + 2).saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = chunk.len();
        total += used;
        input.consume(used);
        if done {
            return Ok(Some(total));
        }
    }
}

fn trim_line(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    &line[..end]
}
