//! The command line, and the only place that knows about clap and exit codes: the clap
//! definitions, one file per subcommand turning its arguments into library calls and
//! printing the results, and the mapping of failures to exit codes (0 success, 1 runtime
//! failure or a failed article, 2 usage or input error, 130 interrupted).

mod args;
mod bench;
mod config;
mod eval;
mod models;
mod serve;
mod shell;
mod summarize;
mod values;

use crate::catalogue::UnknownModel;
use crate::error::RequestError;
use crate::input::InputError;
use anyhow::Result;
use clap::builder::Styles;
use clap::{ColorChoice, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::ffi::OsString;
use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::time::Duration;

/// Exit code of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
const INTERRUPTED: u8 = 130;

/// Short abstractive summaries of news articles with small local models.
#[derive(Debug, Parser)]
#[command(name = "abridge", version, about, max_term_width = 100)]
pub struct Cli {
    /// When to colour help and error messages: `auto` on a terminal unless NO_COLOR is set
    /// (to anything but an empty value), `always` or `never`.
    #[arg(long, global = true, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Summarize articles: files, folders (walked recursively), or standard input.
    #[command(after_help = summarize::EXAMPLES)]
    Summarize(summarize::SummarizeArgs),
    /// List, fetch and locate the models abridge knows.
    #[command(subcommand, after_help = models::EXAMPLES)]
    Models(models::ModelsCommand),
    /// Score the model's summaries against references (ROUGE-1/2/Lsum) beside LEAD-3.
    #[command(after_help = eval::EXAMPLES)]
    Eval(eval::EvalArgs),
    /// Measure a model's speed on each device: load time, prefill and decode tokens/s, time
    /// to the first token, one summary's time and peak memory (medians after a warm-up).
    #[command(after_help = bench::EXAMPLES)]
    Bench(bench::BenchArgs),
    /// Serve summaries over HTTP: POST /v1/summarize with an article's text or URL answers
    /// with its JSON record; concurrent requests are decoded together.
    ///
    /// A request is a JSON object with `text` or `url` and, optionally, `id`, `length`,
    /// `words`, `style`, `language` and `report`, e.g.
    /// `curl -s localhost:8080/v1/summarize -d '{"text": "…", "length": "long"}'`;
    /// `GET /health` says whether the server is up and how many requests wait.
    #[command(after_help = serve::EXAMPLES,
              mut_arg("batch_size", |arg| arg.default_value("4")))]
    Serve(serve::ServeArgs),
    /// Print a completion script for a shell (bash, zsh, fish, elvish, powershell).
    #[command(after_help = shell::COMPLETIONS_EXAMPLES)]
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print abridge's man page (roff) on standard output.
    #[command(after_help = shell::MAN_EXAMPLES)]
    Man,
    /// Show the settings abridge runs with where the command line gives none (model,
    /// length, style, device, threads, language) and where each comes from: the
    /// environment (ABRIDGE_MODEL, …), the config file, or abridge's default.
    ///
    /// The config file is $ABRIDGE_CONFIG, else ~/.config/abridge/config.toml (under
    /// $XDG_CONFIG_HOME where set), with lines such as `model =
    /// "qwen2.5-coder-0.5b-instruct"`, `length = "long"`, `threads = 2`.
    #[command(after_help = config::EXAMPLES)]
    Config,
}

/// Parses the command line, runs it, and turns the outcome into an exit code.
pub fn main() -> ExitCode {
    quiet_library_backtraces();
    // The config file's settings become the variables clap reads for options not given.
    if let Err(err) = config::apply() {
        eprintln!("abridge: error: {err}");
        return ExitCode::from(2);
    }
    // Clap's own help and usage errors come before the parsed `--color` exists: they follow
    // the one the arguments name (`color_asked`), checked by the parse itself.
    let matches = Cli::command()
        .color(colour_choice(color_asked(std::env::args_os())))
        .get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit());
    let error = error_label(cli.color);
    if let Err(line) = crate::kernels::Isa::from_env() {
        eprintln!("abridge: {error} {line}");
        return ExitCode::from(2);
    }
    match run(cli.command) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let message = format!("{err:#}").replace('\n', " ");
            eprintln!("abridge: {error} {message}");
            ExitCode::from(exit_code(&err))
        }
    }
}

/// The `--color WHEN` (or `--color=WHEN`) the arguments name, the last one before `--`;
/// `auto` when none does or the value is not one (the parse then reports it).
fn color_asked(args: impl IntoIterator<Item = OsString>) -> ColorChoice {
    let args: Vec<String> = args
        .into_iter()
        .map(|arg| arg.to_string_lossy().into_owned())
        .take_while(|arg| arg != "--")
        .collect();
    let mut asked = ColorChoice::Auto;
    for (i, arg) in args.iter().enumerate() {
        let value = match arg.strip_prefix("--color") {
            Some("") => args.get(i + 1).map(String::as_str),
            Some(value) => value.strip_prefix('='),
            None => None,
        };
        if let Some(choice) = value.and_then(|v| ColorChoice::from_str(v, false).ok()) {
            asked = choice;
        }
    }
    asked
}

/// `choice` with NO_COLOR applied: `auto` is `never` while NO_COLOR is set to a non-empty
/// value (`always` and `never` are the user's explicit word and stand).
fn colour_choice(choice: ColorChoice) -> ColorChoice {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
    match choice {
        ColorChoice::Auto if no_color => ColorChoice::Never,
        choice => choice,
    }
}

/// `error:` as abridge's own error lines begin, in clap's error style when colour is on
/// (`choice`, with NO_COLOR; `auto`: when standard error is a terminal).
fn error_label(choice: ColorChoice) -> String {
    let colour = match colour_choice(choice) {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => io::stderr().is_terminal(),
    };
    if colour {
        let style = *Styles::styled().get_error();
        format!("{style}error:{style:#}")
    } else {
        "error:".to_string()
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

fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Summarize(args) => summarize::run(args),
        Command::Models(command) => models::run(command),
        Command::Eval(args) => eval::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Completions { shell } => shell::completions(shell),
        Command::Man => shell::man(),
        Command::Config => config::show(),
    }
}

/// A spinner on stderr when it is a terminal; hidden otherwise, and with `quiet`.
fn spinner(message: String, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::new_spinner().with_message(message);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"),
    );
    if io::stderr().is_terminal() && !quiet {
        bar.enable_steady_tick(Duration::from_millis(120));
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}
