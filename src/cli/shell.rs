//! `abridge completions SHELL` and `abridge man`: the command line described for shells
//! (a completion script, by `clap_complete`) and for `man` (a roff page, by `clap_mangen`),
//! both made from the same clap definition the parser uses.

use super::Cli;
use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell;
use std::io::{self, Write};
use std::process::ExitCode;

/// Examples of `abridge completions`.
pub(super) const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  abridge completions bash > ~/.local/share/bash-completion/completions/abridge
  abridge completions zsh > ~/.zfunc/_abridge
  abridge completions fish > ~/.config/fish/completions/abridge.fish
  abridge completions powershell";

/// Examples of `abridge man`.
pub(super) const MAN_EXAMPLES: &str = "\
Examples:
  abridge man > ~/.local/share/man/man1/abridge.1
  abridge man";

/// Prints the completion script of `shell` for `abridge`.
pub(super) fn completions(shell: Shell) -> Result<ExitCode> {
    // Rendered into memory first: `generate` panics on a failed write (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "abridge", &mut script);
    print(&script)
}

/// Prints the top-level man page (roff).
pub(super) fn man() -> Result<ExitCode> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    print(&page)
}

fn print(bytes: &[u8]) -> Result<ExitCode> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(bytes)?;
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}
