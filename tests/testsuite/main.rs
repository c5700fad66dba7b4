//! End-to-end tests of the `sunlight` binary, in one test binary (one module per area).

mod admission;
mod backtest;
mod console;
mod demo;
mod deploy;
mod gen_command;
mod https;
mod live_run;
mod masking;
mod metrics;
mod parity;
mod query_api;
mod reference_topics;
mod replay;
mod rule_reload;
mod rules_check;
mod scale_out;
mod sources;
mod support;
