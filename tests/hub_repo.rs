//! `--model ORG/NAME`: a model folder from a Hugging Face repository, found in a pre-filled
//! Hugging Face cache offline, or downloaded from a hub (here a local HTTP server that
//! serves the hub's URL layout) into that cache, each file checked against the hash the
//! hub names it by; a file whose content does not match is refused and left nowhere.

#[path = "common/hub_server.rs"]
mod hub_server;

use hub_server::sha256;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const REPO: &str = "tiny-org/tiny-bart";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seq2seq/bart")
}

/// The model files of the fixture, by name (not transformers' expected outputs).
fn model_files() -> HashMap<String, Vec<u8>> {
    files_of(&fixture())
}

/// The model files of a fixture folder.
fn files_of(folder: &Path) -> HashMap<String, Vec<u8>> {
    [
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "model.safetensors",
    ]
    .into_iter()
    .map(|name| (name.to_string(), std::fs::read(folder.join(name)).unwrap()))
    .collect()
}

/// The first case's text and the output transformers gave for it.
fn first_case() -> (String, String) {
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture().join("expected.json")).unwrap()).unwrap();
    let case = &expected["cases"][0];
    (
        case["text"].as_str().unwrap().to_string(),
        case["own_text"].as_str().unwrap().to_string(),
    )
}

fn summarize(dir: &Path, hf_cache: &Path, extra: &[&str], endpoint: Option<&str>) -> Output {
    let (text, _) = first_case();
    let article = dir.join("article.txt");
    std::fs::write(&article, text).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_abridge"));
    command
        .args(["summarize", "--raw", "--model", REPO])
        .args(extra)
        .arg(&article)
        .env("ABRIDGE_CACHE", dir.join("abridge-cache"))
        .env("HF_HUB_CACHE", hf_cache)
        .env_remove("HF_HUB_OFFLINE")
        .env_remove("ABRIDGE_OFFLINE")
        .env_remove("HF_TOKEN");
    match endpoint {
        Some(endpoint) => command.env("HF_ENDPOINT", endpoint),
        None => command.env_remove("HF_ENDPOINT"),
    };
    command.output().unwrap()
}

fn assert_summarized(output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let (_, expected) = first_case();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        expected.trim()
    );
}

/// Puts `files` in the Hugging Face cache `hf` as `repo`'s main snapshot, each blob named
/// by its sha256 as the hub names large files; returns the repository's cache folder and
/// the snapshot.
fn fill_cache(hf: &Path, repo: &str, files: HashMap<String, Vec<u8>>) -> (PathBuf, PathBuf) {
    let folder = hf.join(format!("models--{}", repo.replace('/', "--")));
    let snapshot = folder.join("snapshots").join(COMMIT);
    std::fs::create_dir_all(folder.join("blobs")).unwrap();
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(folder.join("refs")).unwrap();
    std::fs::write(folder.join("refs/main"), COMMIT).unwrap();
    for (name, bytes) in files {
        let blob = folder.join("blobs").join(sha256(&bytes));
        std::fs::write(&blob, &bytes).unwrap();
        std::os::unix::fs::symlink(&blob, snapshot.join(name)).unwrap();
    }
    (folder, snapshot)
}

#[test]
fn a_repository_in_the_hugging_face_cache_is_used_offline() {
    let dir = tempfile::tempdir().unwrap();
    let hf = dir.path().join("hf");
    let (repo, snapshot) = fill_cache(&hf, REPO, model_files());
    assert_summarized(&summarize(dir.path(), &hf, &["--offline"], None));

    // `models list` shows it, with the family its config names.
    let models = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_abridge"))
            .arg("models")
            .args(args)
            .env("ABRIDGE_CACHE", dir.path().join("abridge-cache"))
            .env("HF_HUB_CACHE", &hf)
            .output()
            .unwrap()
    };
    let listed = String::from_utf8(models(&["list"]).stdout).unwrap();
    let line = listed.lines().find(|l| l.starts_with(REPO)).expect(&listed);
    assert!(line.contains(" bart ") && line.contains("yes"), "{line}");

    // A blob whose content is not what its name says is refused and removed.
    let weights = sha256(&model_files()["model.safetensors"]);
    std::fs::write(repo.join("blobs").join(&weights), b"not the weights").unwrap();
    let output = summarize(dir.path(), &hf, &["--offline"], None);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("sha256") || stderr.contains(&weights),
        "{stderr}"
    );
    assert!(!repo.join("blobs").join(&weights).exists());
    assert!(!snapshot.join("model.safetensors").exists());

    // `models rm` removes the repository from the cache; a second time there is nothing.
    let removed = models(&["rm", REPO]);
    assert!(removed.status.success());
    assert!(String::from_utf8_lossy(&removed.stdout).contains("removed"));
    assert!(!repo.exists());
    let again = models(&["rm", REPO]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing to remove"));
    assert!(!String::from_utf8(models(&["list"]).stdout)
        .unwrap()
        .contains(REPO));
}

#[test]
fn a_repository_missing_from_the_cache_offline_is_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let output = summarize(dir.path(), &dir.path().join("hf"), &["--offline"], None);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(REPO) && stderr.contains("offline"),
        "{stderr}"
    );
}

#[test]
fn a_repository_is_downloaded_from_the_hub_verified_then_found_offline() {
    let dir = tempfile::tempdir().unwrap();
    let hf = dir.path().join("hf");
    let endpoint = hub_server::serve(REPO, COMMIT, model_files(), HashMap::new());
    assert_summarized(&summarize(dir.path(), &hf, &[], Some(&endpoint)));
    let snapshot = hf
        .join(format!("models--{}", REPO.replace('/', "--")))
        .join("snapshots")
        .join(COMMIT);
    for name in model_files().keys() {
        assert!(snapshot.join(name).is_file(), "{name} is in the cache");
    }
    // No hub now: the cache serves.
    assert_summarized(&summarize(dir.path(), &hf, &["--offline"], None));
}

#[test]
fn a_download_that_does_not_match_its_hash_is_refused_and_left_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let hf = dir.path().join("hf");
    let etags = HashMap::from([("model.safetensors".to_string(), b"other weights".to_vec())]);
    let endpoint = hub_server::serve(REPO, COMMIT, model_files(), etags);
    let output = summarize(dir.path(), &hf, &[], Some(&endpoint));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&sha256(b"other weights")), "{stderr}");
    let repo = hf.join(format!("models--{}", REPO.replace('/', "--")));
    assert!(!repo
        .join("snapshots")
        .join(COMMIT)
        .join("model.safetensors")
        .exists());
    let weights_blob = repo.join("blobs").join(sha256(b"other weights"));
    assert!(!weights_blob.exists(), "the bad blob is removed");
}

#[test]
fn a_catalogue_model_stored_as_a_folder_resolves_through_its_repository() {
    // The t5 fixture, cached as the repository the catalogue's `t5-small` names.
    let dir = tempfile::tempdir().unwrap();
    let hf = dir.path().join("hf");
    let t5 = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seq2seq/t5");
    fill_cache(&hf, "google-t5/t5-small", files_of(&t5));
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(t5.join("expected.json")).unwrap()).unwrap();
    let case = &expected["cases"][1];
    let article = dir.path().join("article.txt");
    std::fs::write(&article, case["text"].as_str().unwrap()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_abridge"))
        .args(["summarize", "--raw", "--offline", "--model", "t5-small"])
        .arg(&article)
        .env("ABRIDGE_CACHE", dir.path().join("abridge-cache"))
        .env("HF_HUB_CACHE", &hf)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        case["own_text"].as_str().unwrap().trim()
    );
}
