//! `abridge serve` end to end, over real HTTP on loopback, with the tiny random BART model
//! that `tests/hub_models.rs` proves against transformers: concurrent requests get what
//! transformers generates for each article and are decoded together; bad requests get
//! their status and a one-line JSON reason; a full queue answers 503 with Retry-After; a
//! body over the cap 413; SIGTERM answers every request already taken, then exits 0.

mod common;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A running `abridge serve` and the lines it has written on standard error.
struct Server {
    child: Child,
    address: String,
    log: Arc<Mutex<Vec<String>>>,
    _cache: tempfile::TempDir,
}

impl Server {
    /// Starts `abridge serve` on a free loopback port with the tiny BART model, its raw
    /// output (as transformers decodes it), and `args`; waits until it listens.
    fn start(args: &[&str]) -> Server {
        let cache = tempfile::tempdir().unwrap();
        let mut child = common::abridge(cache.path())
            .args(["serve", "--offline", "--raw", "--port", "0", "--model"])
            .arg(common::fixture("tests/fixtures/seq2seq/bart"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("abridge runs");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let kept = log.clone();
        thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Some(rest) = line.split(" on http://").nth(1) {
                    let address = rest.split_whitespace().next().unwrap_or_default();
                    let _ = address_tx.send(address.to_string());
                }
                kept.lock().unwrap().push(line);
            }
        });
        let address = address_rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("the server never listened: {:?}", log.lock().unwrap()));
        Server {
            child,
            address,
            log,
            _cache: cache,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Posts `body` to `/v1/summarize`: the status, the JSON answer, and its Retry-After.
    fn summarize(&self, body: &str) -> (u16, Value, Option<String>) {
        answer(
            agent()
                .post(&self.url("/v1/summarize"))
                .set("Content-Type", "application/json")
                .send_string(body),
        )
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let (status, body, _) = answer(agent().get(&self.url(path)).call());
        (status, body)
    }

    /// Waits until `GET /health` says `field` has reached `count`.
    fn wait_for(&self, field: &str, count: u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, health) = self.get("/health");
            if health[field].as_u64() >= Some(count) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{field} never reached {count}: {health}"
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    fn lines(&self, containing: &str) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.iter()
            .filter(|line| line.contains(containing))
            .cloned()
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build()
}

fn answer(result: Result<ureq::Response, ureq::Error>) -> (u16, Value, Option<String>) {
    let response = match result {
        Ok(response) => response,
        Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("no answer: {error}"),
    };
    let status = response.status();
    let retry = response.header("Retry-After").map(str::to_string);
    let text = response.into_string().unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, body, retry)
}

/// The tiny BART's test articles and what transformers generated for each with the model's
/// own settings, decoded with special tokens skipped.
fn cases() -> Vec<(String, String)> {
    let path = common::fixture("tests/fixtures/seq2seq/bart/expected.json");
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    expected["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            let text = case["text"].as_str().unwrap().to_string();
            (text, case["own_text"].as_str().unwrap().to_string())
        })
        .collect()
}

/// A request that keeps the model busy for a while: an article of many windows.
fn long_request() -> String {
    json!({ "text": common::long_article(150), "id": "long" }).to_string()
}

#[test]
fn concurrent_requests_are_decoded_together_and_each_gets_what_transformers_generates() {
    let server = Server::start(&["--batch-size", "4"]);
    let (status, health) = server.get("/health");
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "ok", "{health}");
    // While the long article runs, the short ones queue up, to be gathered into one batch.
    let busy = thread::scope(|scope| {
        let long = scope.spawn(|| server.summarize(&long_request()));
        server.wait_for("running", 1);
        let short: Vec<_> = cases()
            .into_iter()
            .enumerate()
            .map(|(index, (text, expected))| {
                let server = &server;
                scope.spawn(move || {
                    let body = json!({ "text": text, "id": format!("case-{index}") });
                    (index, expected, server.summarize(&body.to_string()))
                })
            })
            .collect();
        for handle in short {
            let (index, expected, (status, record, _)) = handle.join().unwrap();
            assert_eq!(status, 200, "case {index}: {record}");
            assert_eq!(record["input"], format!("case-{index}"), "{record}");
            assert_eq!(
                record["summary"].as_str().map(str::trim),
                Some(expected.trim())
            );
            assert!(record["schema_version"].is_u64(), "{record}");
        }
        long.join().unwrap()
    });
    assert_eq!(busy.0, 200, "{}", busy.1);
    assert!(busy.1["chunks"].as_u64() > Some(1), "{}", busy.1);
    let answered = server.lines("POST /v1/summarize 200 case-");
    assert_eq!(answered.len(), 3, "{answered:?}");
    let together: Vec<usize> = answered
        .iter()
        .map(|line| {
            let (_, after) = line.rsplit_once(", ").expect("a count decoded together");
            let count = after.strip_suffix(" decoded together)").expect("a count");
            count.parse().unwrap()
        })
        .collect();
    assert!(
        together.iter().any(|&n| n > 1),
        "no two requests were decoded together: {answered:?}"
    );
}

#[test]
fn bad_requests_get_their_status_and_a_one_line_reason() {
    let server = Server::start(&["--max-request-kb", "1"]);
    let bad: [(&str, u16, &str); 10] = [
        ("{\"text\": ", 400, "not a summarize request"),
        ("{\"text\": \"A story.\", \"colour\": 1}", 400, "unknown field"),
        ("{\"text\": \"A story.\", \"url\": \"http://127.0.0.1:9/\"}", 400, "not both"),
        ("{}", 400, "give the article"),
        ("{\"text\": \"The mayor spoke.\", \"words\": 5}", 400, "10 to 1000"),
        ("{\"url\": \"file:///etc/passwd\"}", 400, "http:// or https://"),
        ("{\"text\": \"The mayor spoke.\", \"language\": \"xx-klingon\"}", 400, "`language`"),
        ("{\"text\": \"   \"}", 422, "<text>: empty"),
        ("{\"text\": \"<<>> 12 ## $$\", \"id\": \"s\"}", 422, "s: too little prose"),
        ("{\"text\": \"The council approved the plan. The mayor said the homes would be ready in two years.\", \"report\": true}", 400, "only summarizes"),
    ];
    for (body, expected, reason) in bad {
        let (status, answer, _) = server.summarize(body);
        assert_eq!(status, expected, "{body}: {answer}");
        let error = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"));
        assert!(
            error.contains(reason) && !error.contains('\n'),
            "{body}: {error}"
        );
    }
    let big = json!({ "text": "word ".repeat(400) }).to_string();
    let (status, answer, _) = server.summarize(&big);
    assert_eq!(status, 413, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("1024 bytes"),
        "{answer}"
    );
    let (status, answer) = server.get("/v1/nothing");
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = server.get("/v1/summarize");
    assert_eq!(status, 405, "{answer}");
    // Nothing bad reached the model, which still answers.
    let (text, expected) = cases().remove(0);
    let (status, record, _) = server.summarize(&json!({ "text": text }).to_string());
    assert_eq!(status, 200, "{record}");
    assert_eq!(
        record["summary"].as_str().map(str::trim),
        Some(expected.trim())
    );
    assert_eq!(record["input"], "<text>");
}

#[test]
fn a_full_queue_answers_503_with_retry_after() {
    let server = Server::start(&["--queue", "1", "--batch-size", "1"]);
    thread::scope(|scope| {
        let running = scope.spawn(|| server.summarize(&long_request()));
        server.wait_for("running", 1);
        let waiting = scope.spawn(|| server.summarize(&long_request()));
        server.wait_for("waiting", 1);
        let (text, _) = cases().remove(0);
        let (status, answer, retry) = server.summarize(&json!({ "text": text }).to_string());
        assert_eq!(status, 503, "{answer}");
        assert_eq!(retry.as_deref(), Some("1"));
        assert!(
            answer["error"].as_str().unwrap().contains("queue is full"),
            "{answer}"
        );
        // The requests taken are answered all the same.
        assert_eq!(running.join().unwrap().0, 200);
        assert_eq!(waiting.join().unwrap().0, 200);
    });
}

#[cfg(unix)]
#[test]
fn sigterm_answers_every_request_taken_then_exits_0() {
    let mut server = Server::start(&["--batch-size", "1"]);
    let statuses = thread::scope(|scope| {
        let first = scope.spawn(|| server.summarize(&long_request()).0);
        server.wait_for("running", 1);
        let second = scope.spawn(|| server.summarize(&long_request()).0);
        server.wait_for("waiting", 1);
        let pid = libc::pid_t::try_from(server.child.id()).unwrap();
        // SAFETY: `kill` only sends a signal to the server this test started.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        [first.join().unwrap(), second.join().unwrap()]
    });
    assert_eq!(statuses, [200, 200]);
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{:?}", server.log.lock().unwrap());
    // The reader thread may still be taking the last lines; give it a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.lines("abridge: stopped").is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(server.lines("abridge: stopping").len(), 1);
    assert_eq!(server.lines("abridge: stopped").len(), 1);
    assert!(
        agent().get(&server.url("/health")).call().is_err(),
        "still listening after it stopped"
    );
}
