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
    fixture_named("bart")
}

fn fixture_named(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/seq2seq")
        .join(name)
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
    first_case_of(&fixture())
}

fn first_case_of(folder: &Path) -> (String, String) {
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("expected.json")).unwrap()).unwrap();
    let case = &expected["cases"][0];
    (
        case["text"].as_str().unwrap().to_string(),
        case["own_text"].as_str().unwrap().to_string(),
    )
}

fn summarize(dir: &Path, hf_cache: &Path, extra: &[&str], endpoint: Option<&str>) -> Output {
    summarize_repo(dir, hf_cache, REPO, &first_case().0, extra, endpoint)
}

/// `abridge summarize --raw --model REPO` of `text`, with `hf_cache` as the Hugging Face
/// cache and `endpoint` (if any) as the hub.
fn summarize_repo(
    dir: &Path,
    hf_cache: &Path,
    repo: &str,
    text: &str,
    extra: &[&str],
    endpoint: Option<&str>,
) -> Output {
    let article = dir.join("article.txt");
    std::fs::write(&article, text).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_abridge"));
    command
        .args(["summarize", "--raw", "--model", repo])
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
fn a_repository_in_the_old_layout_is_downloaded_and_summarizes_as_transformers_does() {
    // As google/pegasus-cnn_dailymail and sshleifer/distilbart-cnn-12-6 are stored: no
    // tokenizer.json and no safetensors, only the slow tokenizer's files and
    // pytorch_model.bin.
    for (name, repo, wanted) in [
        ("pegasus-legacy", "old-org/tiny-pegasus", "spiece.model"),
        ("bart-legacy", "old-org/tiny-distilbart", "merges.txt"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let hf = dir.path().join("hf");
        let folder = fixture_named(name);
        let files: HashMap<String, Vec<u8>> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|file| file != "expected.json")
            .map(|file| (file.clone(), std::fs::read(folder.join(&file)).unwrap()))
            .collect();
        assert!(!files.contains_key("tokenizer.json") && !files.contains_key("model.safetensors"));
        let endpoint = hub_server::serve(repo, COMMIT, files, HashMap::new());
        let (text, expected) = first_case_of(&folder);
        for (extra, endpoint) in [
            (&[][..], Some(endpoint.as_str())),
            (&["--offline"][..], None),
        ] {
            let output = summarize_repo(dir.path(), &hf, repo, &text, extra, endpoint);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "{name}: {stderr}");
            assert_eq!(
                String::from_utf8_lossy(&output.stdout).trim(),
                expected.trim()
            );
        }
        let snapshot = hf
            .join(format!("models--{}", repo.replace('/', "--")))
            .join("snapshots")
            .join(COMMIT);
        for file in [wanted, "pytorch_model.bin", "tokenizer_config.json"] {
            assert!(
                snapshot.join(file).is_file(),
                "{name}: {file} is in the cache"
            );
        }
    }
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
