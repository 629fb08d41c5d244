//! Defaults from a config file and the environment: `ABRIDGE_MODEL`, `ABRIDGE_LENGTH`,
//! `ABRIDGE_STYLE`, `ABRIDGE_DEVICE`, `ABRIDGE_THREADS` and `ABRIDGE_LANGUAGE` stand for the
//! options of the same names (clap reads them where the command line gives none), and
//! `config.toml` (`$ABRIDGE_CONFIG`, else `$XDG_CONFIG_HOME/abridge/config.toml`, else
//! `~/.config/abridge/config.toml`) gives those the environment does not. So the command
//! line wins, then the environment, then the file, then abridge's own defaults. `abridge
//! config` says which applies and where each came from.

use crate::error::RequestError;
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;

/// The variables [`apply`] set from the file.
static FROM_FILE: OnceLock<Vec<&'static str>> = OnceLock::new();

/// Examples of `abridge config`.
pub(super) const EXAMPLES: &str = "\
Examples:
  abridge config                     # the settings, and where each comes from
  abridge config > settings.txt";

/// Each setting: its key in the file, its variable, and abridge's own default.
const SETTINGS: [(&str, &str, &str); 6] = [
    (
        "model",
        "ABRIDGE_MODEL",
        "qwen2.5-coder-1.5b-instruct (the catalogue's default)",
    ),
    ("length", "ABRIDGE_LENGTH", "short (eval: 45 words)"),
    ("style", "ABRIDGE_STYLE", "paragraph (eval: highlights)"),
    ("device", "ABRIDGE_DEVICE", "auto"),
    ("threads", "ABRIDGE_THREADS", "one per core"),
    ("language", "ABRIDGE_LANGUAGE", "auto"),
];

/// Where a setting's value comes from.
enum Source {
    Environment(&'static str),
    File,
    Default,
}

/// The config file's path, and whether it was named by `ABRIDGE_CONFIG` (then it must exist).
fn path() -> Option<(PathBuf, bool)> {
    match std::env::var_os("ABRIDGE_CONFIG").filter(|p| !p.is_empty()) {
        Some(path) => Some((PathBuf::from(path), true)),
        None => dirs::config_dir().map(|dir| (dir.join("abridge").join("config.toml"), false)),
    }
}

/// The settings the config file gives, by key; none when there is no file.
fn read_file() -> Result<Vec<(String, String)>, RequestError> {
    let Some((path, named)) = path() else {
        return Ok(Vec::new());
    };
    let name = path.display();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !named => return Ok(Vec::new()),
        Err(e) => return Err(RequestError(format!("{name}: cannot read ({e})"))),
    };
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        RequestError(format!("{name}: not TOML ({})", e.message()))
    })?;
    table
        .into_iter()
        .map(|(key, value)| {
            if !SETTINGS.iter().any(|(known, ..)| *known == key) {
                let known: Vec<&str> = SETTINGS.iter().map(|(key, ..)| *key).collect();
                return Err(RequestError(format!(
                    "{name}: unknown setting `{key}` (settings: {})",
                    known.join(", ")
                )));
            }
            let value = match value {
                toml::Value::String(text) => text,
                toml::Value::Integer(number) => number.to_string(),
                _ => {
                    return Err(RequestError(format!(
                        "{name}: `{key}` must be a string or a number"
                    )))
                }
            };
            Ok((key, value))
        })
        .collect()
}

/// Puts the file's settings into the environment where it has none of its own, for clap to
/// read; called once at start, before any thread runs.
pub(super) fn apply() -> Result<(), RequestError> {
    let mut set = Vec::new();
    for (key, value) in read_file()? {
        let (_, variable, _) = SETTINGS.iter().find(|(k, ..)| *k == key).expect("known");
        if std::env::var_os(variable).is_none_or(|v| v.is_empty()) {
            std::env::set_var(variable, value);
            set.push(*variable);
        }
    }
    let _ = FROM_FILE.set(set);
    Ok(())
}

/// `abridge config`: each setting, its value, and where it came from.
pub(super) fn show() -> Result<ExitCode> {
    // `apply` ran before the parse: the variables now hold the file's values too.
    let from_file = FROM_FILE.get().cloned().unwrap_or_default();
    match path() {
        Some((path, _)) if path.is_file() => println!("config file: {}", path.display()),
        Some((path, _)) => println!("config file: {} (none)", path.display()),
        None => println!("config file: none (no config folder)"),
    }
    println!("{:<9} {:<54} FROM", "SETTING", "VALUE");
    for (key, variable, default) in SETTINGS {
        let value = std::env::var(variable).ok().filter(|v| !v.is_empty());
        let source = match &value {
            Some(_) if from_file.contains(&variable) => Source::File,
            Some(_) => Source::Environment(variable),
            None => Source::Default,
        };
        let (value, from) = match source {
            Source::Environment(variable) => (value.unwrap_or_default(), variable.to_string()),
            Source::File => (value.unwrap_or_default(), "config file".to_string()),
            Source::Default => (default.to_string(), "default".to_string()),
        };
        println!("{key:<9} {value:<54} {from}");
    }
    println!("(an option on the command line wins over all of these)");
    Ok(ExitCode::SUCCESS)
}
