//! One module per subcommand; [`run`] dispatches. [`backtest`] serves
//! `replay --labels`.

pub mod backtest;
pub mod demo;
pub mod generate;
pub mod repartition;
pub mod replay;
pub mod rules;
pub mod run;
pub mod sources;

use std::path::Path;
use std::process::ExitCode;

use sunlight_core::codec::Format;

use crate::cli::{Cli, Command, FormatArg, RulesCommand, SourcesCommand};

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Replay(args) => replay::run(&args),
        Command::Rules(RulesCommand::Check { file }) => rules::check(&file),
        Command::Gen(args) => generate::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Repartition(args) => repartition::run(&args),
        Command::Sources(SourcesCommand::Check { file }) => sources::check(&file),
        Command::Sources(SourcesCommand::Test {
            file,
            input,
            source,
            explain,
        }) => sources::test(&file, &input, source.as_deref(), explain),
    }
}

/// Resolves `auto` by file extension.
pub fn resolve_format(arg: FormatArg, path: Option<&Path>) -> Format {
    match arg {
        FormatArg::Json => Format::Json,
        FormatArg::Protobuf => Format::Protobuf,
        FormatArg::Auto => match path.and_then(|p| p.extension()).and_then(|e| e.to_str()) {
            Some("pb" | "binpb" | "protobuf") => Format::Protobuf,
            _ => Format::Json,
        },
    }
}

/// Loads a pack for a command without Kafka (`replay`, `demo`): each topic table
/// ([`sunlight_core::rules::topic_tables`]) takes its rows from a CSV file given
/// as `NAME=FILE` (an export of the topic, its header naming the table's columns).
/// A topic table without one is an error: an empty table would silently lose the
/// warnings its rows raise (`takes_tables`: whether the command has `--table`, for
/// the error's remedy).
pub fn load_pack_with_tables(
    path: &Path,
    tables: &[String],
    takes_tables: bool,
) -> anyhow::Result<sunlight_core::CompiledPack> {
    use sunlight_core::rules::reference::ReferenceTable;
    use sunlight_core::rules::topic_tables::TableFeeds;
    let pack = sunlight_core::rules::load_pack(path)?;
    if tables.is_empty() && pack.topic_tables.is_empty() {
        return Ok(pack);
    }
    let feeds = TableFeeds::new();
    let mut given = std::collections::BTreeSet::new();
    for arg in tables {
        let (name, file) = arg
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--table {arg:?}: write it as NAME=FILE.csv"))?;
        if !given.insert(name) {
            anyhow::bail!("--table {name}: given twice (give each table once)");
        }
        let Some(spec) = pack.topic_tables.iter().find(|t| t.name == name) else {
            let names: Vec<&str> = pack.topic_tables.iter().map(|t| t.name.as_str()).collect();
            anyhow::bail!(
                "--table {name}: the pack reads no table `{name}` from a topic (its topic tables: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            );
        };
        let read = ReferenceTable::load(name, Path::new(file), &spec.key)
            .map_err(|e| anyhow::anyhow!("--table {name}: {e}"))?;
        let at: Vec<usize> = spec
            .columns
            .iter()
            .map(|c| {
                read.column(c).ok_or_else(|| {
                    anyhow::anyhow!(
                        "--table {name}: {file} has no column `{c}` (the table's columns: {})",
                        spec.columns.join(", ")
                    )
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let rows = read
            .rows()
            .map(|(key, values)| {
                let row = at
                    .iter()
                    .map(|&i| values.get(i).cloned().unwrap_or_default());
                (key.into(), row.collect())
            })
            .collect();
        feeds.publish(
            spec,
            ReferenceTable::from_rows(name, spec.origin(), spec.columns.clone(), rows),
        );
    }
    let pack = sunlight_core::rules::load_pack_with(path, &pack.lane, Some(&feeds))?;
    if let Some(spec) = pack.unfed_tables().first() {
        let remedy = if takes_tables {
            format!(
                "give its rows here with --table {}=FILE.csv (a CSV export of the topic, its header naming {})",
                spec.name,
                spec.columns.join(", ")
            )
        } else {
            format!(
                "the demo reads no topics: run the pack with `sunlight replay --table {}=FILE.csv`, or declare the table with `file = ...`",
                spec.name
            )
        };
        anyhow::bail!(
            "table `{}` is read from topic `{}` by `sunlight run`; {remedy}",
            spec.name,
            spec.topic,
        );
    }
    Ok(pack)
}
