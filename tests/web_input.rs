//! `abridge summarize URL`: web pages fetched from a local HTTP server on loopback serving
//! pages written here — a news page whose story sits among navigation and teasers, a
//! redirect to it, a 404, a server too slow to answer, a page over the size cap — and
//! `--offline`, which fetches nothing. The model is the tiny BART fixture: `--show-prompt`
//! shows exactly which text of the page the model would be given.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const STORY: &str = "The harbour board of Lindmouth approved a new ferry terminal on Tuesday, \
    after two years of debate about its cost.";
const SECOND: &str = "The terminal will cost 48 million euros and open in 2028, the board's \
    chair said.";
const NAVIGATION: &str = "Home World Business Sport Weather";
const TEASER: &str = "Celebrity chef opens third restaurant in the old town";

fn page() -> String {
    format!(
        "<!doctype html><html><head><title>Ferry terminal</title></head><body>\
         <nav><a href=/>{NAVIGATION}</a></nav>\
         <header><p>Lindmouth Gazette, the paper of the coast since 1881</p></header>\
         <main><article><h1>Ferry terminal approved</h1><p>{STORY}</p><p>{SECOND}</p></article>\
         <section><h2>More news</h2><article><p>{TEASER}</p></article></section></main>\
         <footer>Copyright Lindmouth Gazette</footer></body></html>"
    )
}

/// Serves the test pages on loopback; returns the base URL and a count of the requests.
fn serve() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            counted.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || answer(stream));
        }
    });
    (base, requests)
}

fn answer(mut stream: TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
    }
    let (status, extra, content_type, body) = match path.as_str() {
        "/story" => (
            "200 OK",
            "",
            "text/html; charset=utf-8",
            page().into_bytes(),
        ),
        "/moved" => (
            "302 Found",
            "Location: /story\r\n",
            "text/plain",
            Vec::new(),
        ),
        "/slow" => {
            std::thread::sleep(Duration::from_secs(4));
            ("200 OK", "", "text/html", page().into_bytes())
        }
        "/huge" => {
            let body = format!("{STORY} ").repeat((2 << 20) / STORY.len());
            ("200 OK", "", "text/plain", body.into_bytes())
        }
        _ => ("404 Not Found", "", "text/plain", b"no such page".to_vec()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

fn bart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seq2seq/bart")
}

fn summarize(args: &[&str]) -> Output {
    let cache = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_abridge"))
        .arg("summarize")
        .arg("--model")
        .arg(bart())
        .args(args)
        .env("ABRIDGE_CACHE", cache.path())
        .env_remove("ABRIDGE_OFFLINE")
        .env_remove("HF_HUB_OFFLINE")
        .output()
        .unwrap()
}

/// An input failure: exit 2 and one line naming the URL with `reason`.
fn assert_refused(output: &Output, url: &str, reason: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("{url}: ")), "{stderr}");
    assert!(stderr.contains(reason), "{reason}: {stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn a_page_gives_the_model_its_story_without_navigation_or_teasers() {
    let (base, _) = serve();
    for path in ["/story", "/moved"] {
        let url = format!("{base}{path}");
        let output = summarize(&["--show-prompt", &url]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{path}: {stderr}");
        let prompt = String::from_utf8_lossy(&output.stdout);
        for wanted in ["Ferry terminal approved", STORY, SECOND] {
            assert!(
                prompt.contains(wanted),
                "{path}: {wanted} missing from {prompt}"
            );
        }
        for unwanted in [NAVIGATION, TEASER, "Copyright", "since 1881"] {
            assert!(!prompt.contains(unwanted), "{path}: {unwanted} in {prompt}");
        }
    }
}

#[test]
fn a_pages_summary_record_names_the_url_as_its_input() {
    let (base, _) = serve();
    let url = format!("{base}/story");
    let output = summarize(&["--raw", "--format", "json", &url]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let record: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(record["input"], url.as_str());
    assert!(record["input_tokens"].as_u64().unwrap() > 20, "{record}");
}

#[test]
fn a_missing_page_a_slow_server_and_a_huge_page_are_one_line_each() {
    let (base, _) = serve();
    let missing = format!("{base}/missing");
    assert_refused(
        &summarize(&[&missing]),
        &missing,
        "the server answered HTTP 404",
    );
    let slow = format!("{base}/slow");
    assert_refused(
        &summarize(&["--fetch-timeout", "1", &slow]),
        &slow,
        "timed out",
    );
    let huge = format!("{base}/huge");
    assert_refused(
        &summarize(&["--max-input-mb", "1", &huge]),
        &huge,
        "larger than 1 MB",
    );
    let nowhere = "http://127.0.0.1:9/story";
    assert_refused(&summarize(&[nowhere]), nowhere, "cannot connect");
}

#[test]
fn offline_no_page_is_fetched() {
    let (base, requests) = serve();
    let url = format!("{base}/story");
    assert_refused(
        &summarize(&["--offline", &url]),
        &url,
        "not fetched offline",
    );
    assert_eq!(requests.load(Ordering::SeqCst), 0);
}

#[test]
fn a_batch_of_pages_is_a_usage_error() {
    let (base, requests) = serve();
    let out = tempfile::tempdir().unwrap();
    let url = format!("{base}/story");
    let output = summarize(&["--out", out.path().to_str().unwrap(), &url]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("web pages are summarized to standard output"),
        "{stderr}"
    );
    assert_eq!(requests.load(Ordering::SeqCst), 0);
}
