//! Defaults from `config.toml` and the environment: the command line wins, then
//! `ABRIDGE_*` variables, then the file (`$ABRIDGE_CONFIG`, else the user's config folder),
//! then abridge's defaults; `abridge config` says which applies and where it came from.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seq2seq/bart")
}

fn abridge(dir: &Path, config: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    let file = dir.join("config.toml");
    std::fs::write(&file, config).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_abridge"));
    command
        .args(args)
        .env("ABRIDGE_CONFIG", &file)
        .env("ABRIDGE_CACHE", dir.join("cache"));
    for variable in ["MODEL", "LENGTH", "STYLE", "DEVICE", "THREADS", "LANGUAGE"] {
        command.env_remove(format!("ABRIDGE_{variable}"));
    }
    command.envs(env.iter().copied()).output().unwrap()
}

#[test]
fn the_file_sets_defaults_the_environment_and_command_line_override() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "model = {:?}\nlength = \"long\"\nthreads = 1\n",
        bart().display()
    );
    let output = abridge(dir.path(), &config, &[], &["config"]);
    assert!(output.status.success());
    let shown = String::from_utf8(output.stdout).unwrap();
    let line = |key: &str| {
        shown
            .lines()
            .find(|line| line.starts_with(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no {key} in {shown}"))
            .to_string()
    };
    assert!(
        line("model").contains(&bart().display().to_string()),
        "{shown}"
    );
    assert!(line("model").ends_with("config file"), "{shown}");
    assert!(line("length").contains("long") && line("length").ends_with("config file"));
    assert!(line("style").ends_with("default"), "{shown}");

    let output = abridge(
        dir.path(),
        &config,
        &[("ABRIDGE_LENGTH", "short")],
        &["config"],
    );
    let shown = String::from_utf8(output.stdout).unwrap();
    let length = shown.lines().find(|l| l.starts_with("length ")).unwrap();
    assert!(
        length.contains("short") && length.ends_with("ABRIDGE_LENGTH"),
        "{shown}"
    );

    // The file's model runs: BART's input is the article between <s> (0) and </s> (2).
    // (Its `length = "long"` applies too: too long for the tiny model's window.)
    let article = dir.path().join("a.txt");
    std::fs::write(
        &article,
        "The council approved the new bridge over the river.",
    )
    .unwrap();
    let long = abridge(
        dir.path(),
        &config,
        &[],
        &["summarize", article.to_str().unwrap()],
    );
    assert!(String::from_utf8_lossy(&long.stderr).contains("200-word summaries"));
    let config = format!("model = {:?}\n", bart().display());
    let article = article.to_str().unwrap();
    let prompt = |extra: &[&str]| {
        let args = [
            &["summarize", "--show-prompt", "--format", "json"],
            extra,
            &[article],
        ]
        .concat();
        abridge(dir.path(), &config, &[], &args)
    };
    let output = prompt(&[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let shown: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(shown["tokens"][0], 0);
    // The command line wins over the file.
    let output = prompt(&["--model", "no-such-model"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn a_bad_config_file_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for (config, reason) in [
        ("colour = \"red\"\n", "unknown setting `colour`"),
        ("model = [1, 2]\n", "`model` must be a string or a number"),
        ("model = \n", "not TOML"),
    ] {
        let output = abridge(dir.path(), config, &[], &["config"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{reason}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("config.toml: ") && stderr.contains(reason),
            "{stderr}"
        );
    }
    // A file named by ABRIDGE_CONFIG must exist.
    let output = Command::new(env!("CARGO_BIN_EXE_abridge"))
        .arg("config")
        .env("ABRIDGE_CONFIG", dir.path().join("missing.toml"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing.toml: cannot read"));
}
