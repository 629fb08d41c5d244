//! `abridge serve`: a small HTTP JSON API over one loaded model. `POST /v1/summarize` takes
//! an article (`text`, or a `url` to fetch) with the options that shape its summary and
//! answers with the summary record `summarize --format json` prints; `GET /health` says
//! whether the server takes requests and how many wait. Requests go through the bounded
//! queue of [`queue`] to the model's thread, which decodes concurrent requests together;
//! a full queue answers 503 at once, a body over the cap 413, malformed JSON or options 400,
//! an article that cannot be summarized 422. Shutdown stops taking connections and answers
//! every request already taken before it returns.

pub mod queue;

use crate::input::{self, Article, Fetching};
use crate::language::LanguageChoice;
use crate::output;
use crate::summarize::{Length, Style, SummaryOptions};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use queue::{Answer, Failure, Queue, Refused};
use serde::Deserialize;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// How the server answers, besides the model: the options each summary starts from, the
/// pages it may fetch, the largest request body, and whether it says a line per request.
#[derive(Clone)]
pub struct Settings {
    /// The options of a request that sets none (the command line's).
    pub defaults: SummaryOptions,
    /// How `url` requests are fetched (`offline` refuses them).
    pub fetching: Fetching,
    /// The largest request body, in bytes.
    pub max_request_bytes: usize,
    /// A line on standard error per answered request.
    pub log: bool,
}

/// What the handlers share.
struct Shared {
    settings: Settings,
    queue: Queue,
    /// Raised when shutdown begins: `GET /health` then says so.
    stopping: AtomicBool,
}

/// One `POST /v1/summarize` body. Exactly one of `text` and `url`; the rest override the
/// server's defaults for this request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SummarizeRequest {
    /// The article's text (plain text, cleaned as a `.txt` file is).
    text: Option<String>,
    /// A web page to fetch and summarize.
    url: Option<String>,
    /// Names the article in the record's `input` (default `<text>`, or the URL).
    id: Option<String>,
    length: Option<Length>,
    words: Option<u16>,
    style: Option<Style>,
    language: Option<String>,
    report: Option<bool>,
}

/// An answer other than a summary: a status and a one-line reason, sent as
/// `{"schema_version", "error"}`.
struct Problem {
    status: StatusCode,
    error: String,
}

impl Problem {
    fn new(status: StatusCode, error: impl Into<String>) -> Problem {
        Problem {
            status,
            error: error.into(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = Json(output::versioned(
            serde_json::json!({ "error": self.error }),
        ));
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // Worth trying again soon: the queue drains a batch at a time.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        response
    }
}

/// Serves `queue`'s model on `listener` until `shutdown` completes, then stops taking
/// connections and returns once every request taken has been answered.
pub async fn serve(
    listener: tokio::net::TcpListener,
    settings: Settings,
    queue: Queue,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limit = settings.max_request_bytes;
    let shared = Arc::new(Shared {
        settings,
        queue,
        stopping: AtomicBool::new(false),
    });
    let app = Router::new()
        .route("/v1/summarize", post(summarize))
        .route("/health", get(health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(shared.clone());
    let stopping = shared.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            stopping.stopping.store(true, Ordering::SeqCst);
        })
        .await
}

async fn not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "no such endpoint: POST /v1/summarize or GET /health",
    )
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed: POST /v1/summarize or GET /health",
    )
}

/// `GET /health`: `ok` with the model and the requests waiting and running; 503 with
/// `stopping` once shutdown has begun.
async fn health(State(shared): State<Arc<Shared>>) -> Response {
    let load = shared.queue.load();
    let stopping = shared.stopping.load(Ordering::SeqCst);
    let body = output::versioned(serde_json::json!({
        "status": if stopping { "stopping" } else { "ok" },
        "model": shared.queue.model(),
        "waiting": load.waiting.load(Ordering::SeqCst),
        "running": load.running.load(Ordering::SeqCst),
    }));
    let status = if stopping {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, Json(body)).into_response()
}

/// `POST /v1/summarize`.
async fn summarize(
    State(shared): State<Arc<Shared>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let (outcome, together) = match answer(&shared, body).await {
        Ok(Answer { outcome, together }) => (outcome.map_err(Problem::from), Some(together)),
        Err(problem) => (Err(problem), None),
    };
    if shared.settings.log {
        let (status, input) = match &outcome {
            Ok(summary) => (StatusCode::OK, summary.input.as_str()),
            Err(problem) => (problem.status, problem.error.as_str()),
        };
        let together = together.map_or(String::new(), |n| format!(", {n} decoded together"));
        eprintln!(
            "abridge: POST /v1/summarize {} {input} ({:.2} s{together})",
            status.as_u16(),
            started.elapsed().as_secs_f64()
        );
    }
    match outcome {
        Ok(summary) => Json(output::versioned(summary)).into_response(),
        Err(problem) => problem.into_response(),
    }
}

impl From<Failure> for Problem {
    fn from(failure: Failure) -> Problem {
        match failure {
            Failure::Request(reason) => Problem::new(StatusCode::BAD_REQUEST, reason),
            Failure::Input(reason) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, reason),
            Failure::Model(reason) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, reason),
        }
    }
}

/// The model's answer to a request body, or why the body never reached the model.
async fn answer(shared: &Shared, body: Result<Bytes, BytesRejection>) -> Result<Answer, Problem> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            let limit = shared.settings.max_request_bytes;
            Problem::new(status, format!("the request is over {limit} bytes"))
        } else {
            Problem::new(status, rejection.body_text())
        }
    })?;
    let request: SummarizeRequest = serde_json::from_slice(&body).map_err(|error| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not a summarize request: {error}"),
        )
    })?;
    let options = options(&shared.settings.defaults, &request)?;
    let article = article(request, shared.settings.fetching).await?;
    let waiting = shared.queue.submit(article, options).map_err(|refused| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            match refused {
                Refused::Full => "the queue is full: try again shortly",
                Refused::Closed => "the server is stopping",
            },
        )
    })?;
    waiting.await.map_err(|_| {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the model's thread ended before answering",
        )
    })
}

/// The server's default options with the request's own on top.
fn options(
    defaults: &SummaryOptions,
    request: &SummarizeRequest,
) -> Result<SummaryOptions, Problem> {
    let bad = |message: String| Problem::new(StatusCode::BAD_REQUEST, message);
    let words = match (request.words, request.length) {
        (Some(words), _) if !(10..=1000).contains(&words) => {
            return Err(bad(format!("`words` is {words}: it must be 10 to 1000")))
        }
        (Some(words), _) => Some(usize::from(words)),
        (None, Some(length)) => Some(length.words()),
        (None, None) => None,
    };
    let language = match &request.language {
        Some(name) => name
            .parse::<LanguageChoice>()
            .map_err(|error| bad(format!("`language`: {error}")))?,
        None => defaults.language,
    };
    let mut options = SummaryOptions {
        words: words.unwrap_or(defaults.words),
        style: request.style.unwrap_or(defaults.style),
        report: request.report.unwrap_or(defaults.report),
        language,
        ..defaults.clone()
    };
    options.given.words |= words.is_some();
    Ok(options)
}

/// The request's article: its text read as a plain-text file, or its page fetched.
async fn article(request: SummarizeRequest, fetching: Fetching) -> Result<Article, Problem> {
    let unusable = |error: input::InputError| {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, error.to_string())
    };
    match (request.text, request.url) {
        (Some(text), None) => {
            let name = request.id.unwrap_or_else(|| "<text>".to_string());
            input::from_bytes(&name, text.as_bytes(), input::Format::Text).map_err(unusable)
        }
        (None, Some(url)) if input::is_url(&url) => {
            let read = tokio::task::spawn_blocking(move || input::read_url(&url, fetching));
            let mut article = read
                .await
                .map_err(|_| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "fetch failed"))?
                .map_err(unusable)?;
            if let Some(id) = request.id {
                article.source = id;
            }
            Ok(article)
        }
        (None, Some(url)) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            format!("`url` is {url:?}: an http:// or https:// URL"),
        )),
        (Some(_), Some(_)) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "give `text` or `url`, not both",
        )),
        (None, None) => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "give the article as `text`, or a page to fetch as `url`",
        )),
    }
}
