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
