//! The command line, and the only place that knows about clap and exit codes: the clap
//! definitions, one file per subcommand turning its arguments into library calls and
//! printing the results, and the mapping of failures to exit codes (0 success, 1 runtime
//! failure or a failed article, 2 usage or input error, 130 interrupted).

mod args;
mod bench;
mod eval;
mod models;
mod shell;
mod summarize;
mod values;

use crate::catalogue::UnknownModel;
use crate::error::RequestError;
use crate::input::InputError;
use anyhow::Result;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::time::Duration;

/// Exit code of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
const INTERRUPTED: u8 = 130;

/// Short abstractive summaries of news articles with small local models.
#[derive(Debug, Parser)]
#[command(name = "abridge", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Summarize articles: files, folders (walked recursively), or standard input.
    Summarize(summarize::SummarizeArgs),
    /// List, fetch and locate the models abridge knows.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Score the model's summaries against references (ROUGE-1/2/Lsum) beside LEAD-3.
    Eval(eval::EvalArgs),
    /// Measure a model's speed on each device: load time, prefill and decode tokens/s, time
    /// to the first token, one summary's time and peak memory (medians after a warm-up).
    Bench(bench::BenchArgs),
    /// Print a completion script for a shell (bash, zsh, fish, elvish, powershell).
    #[command(after_help = shell::COMPLETIONS_EXAMPLES)]
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print abridge's man page (roff) on standard output.
    #[command(after_help = shell::MAN_EXAMPLES)]
    Man,
}

/// Parses the command line, runs it, and turns the outcome into an exit code.
pub fn main() -> ExitCode {
    quiet_library_backtraces();
    let cli = Cli::parse();
    if let Err(line) = crate::kernels::Isa::from_env() {
        eprintln!("abridge: error: {line}");
        return ExitCode::from(2);
    }
    match run(cli) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let message = format!("{err:#}").replace('\n', " ");
            eprintln!("abridge: error: {message}");
            ExitCode::from(exit_code(&err))
        }
    }
}

/// Keeps errors one line with `RUST_BACKTRACE` set: libraries (candle, anyhow) attach a
/// backtrace to errors they make when it is, which would turn each one-line model error
/// into a dump. `RUST_LIB_BACKTRACE` governs those alone, so it is set to 0 unless the user
/// set it; panics, which are bugs, still show their backtrace.
fn quiet_library_backtraces() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // First thing in `main`, before any other thread exists to read the environment.
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
}

/// 2 for usage and input errors, 1 for everything else.
fn exit_code(err: &anyhow::Error) -> u8 {
    let usage = err.chain().any(|cause| {
        cause.is::<RequestError>() || cause.is::<InputError>() || cause.is::<UnknownModel>()
    });
    if usage {
        2
    } else {
        1
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Summarize(args) => summarize::run(args),
        Command::Models(command) => models::run(command),
        Command::Eval(args) => eval::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Completions { shell } => shell::completions(shell),
        Command::Man => shell::man(),
    }
}

/// A spinner on stderr when it is a terminal; hidden otherwise.
fn spinner(message: String) -> ProgressBar {
    let bar = ProgressBar::new_spinner().with_message(message);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"),
    );
    if io::stderr().is_terminal() {
        bar.enable_steady_tick(Duration::from_millis(120));
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}
