//! Articles from the web: `abridge summarize https://…` fetches the page with a bounded
//! request (connect and whole-request timeouts, a few redirects, a size cap, a User-Agent
//! naming abridge), then reads it as an article file of the type the server names (HTML's
//! readable text, Markdown, plain text). Nothing is fetched offline. The page is as
//! untrusted as any file: its bytes go through the same checks.

use super::{from_bytes, read_capped, Article, Format, InputError, InputProblem};
use std::io;
use std::time::Duration;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the whole request may take by default, the body included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How many redirects are followed.
const MAX_REDIRECTS: u32 = 5;

/// Whether a command-line argument names a web page rather than a file.
pub fn is_url(argument: &str) -> bool {
    let lower = argument.get(..8).unwrap_or(argument).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// How pages are fetched.
#[derive(Debug, Clone, Copy)]
pub struct Fetching {
    /// The most bytes a page may have.
    pub max_bytes: u64,
    /// Refuse to fetch (`--offline`).
    pub offline: bool,
    /// How long the whole request may take, the body included.
    pub timeout: Duration,
}

/// The article at `url`: fetched, checked and cleaned like a file, named by the URL as given.
pub fn read_url(url: &str, fetching: Fetching) -> Result<Article, InputError> {
    if fetching.offline {
        return Err(InputError::rejected(url, InputProblem::Offline));
    }
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(CONNECT_TIMEOUT.min(fetching.timeout))
        .timeout(fetching.timeout)
        .redirects(MAX_REDIRECTS)
        .user_agent(&format!(
            "abridge/{} (article summarizer)",
            env!("CARGO_PKG_VERSION")
        ))
        .build();
    let response = match agent.get(url).call() {
        Ok(response) => response,
        Err(ureq::Error::Status(status, _)) => {
            return Err(InputError::rejected(url, InputProblem::HttpStatus(status)))
        }
        Err(ureq::Error::Transport(transport)) => {
            return Err(InputError::Unreadable {
                name: url.to_string(),
                error: io::Error::other(transport_reason(&transport)),
            })
        }
    };
    let format = format_of(response.content_type());
    let bytes = read_capped(url, response.into_reader(), fetching.max_bytes)?;
    let format = format.unwrap_or_else(|| Format::sniff(&bytes));
    from_bytes(url, &bytes, format)
}

/// The format a `Content-Type` names; `None` for types that say nothing useful (the bytes
/// are then sniffed).
fn format_of(content_type: &str) -> Option<Format> {
    match content_type.trim().to_ascii_lowercase().as_str() {
        "text/html" | "application/xhtml+xml" => Some(Format::Html),
        "text/markdown" | "text/x-markdown" => Some(Format::Markdown),
        "text/plain" => Some(Format::Text),
        _ => None,
    }
}

/// One line on why a request failed before any HTTP status: no such host, refused, timed
/// out, too many redirects, a bad URL.
fn transport_reason(transport: &ureq::Transport) -> String {
    let detail = std::error::Error::source(transport)
        .map(|source| source.to_string())
        .or_else(|| transport.message().map(str::to_string))
        .unwrap_or_default();
    let kind = match transport.kind() {
        ureq::ErrorKind::InvalidUrl | ureq::ErrorKind::UnknownScheme => "not a usable URL",
        ureq::ErrorKind::Dns => "host not found",
        ureq::ErrorKind::ConnectionFailed => "cannot connect",
        ureq::ErrorKind::TooManyRedirects => "too many redirects",
        ureq::ErrorKind::Io if detail.to_ascii_lowercase().contains("timed out") => "timed out",
        _ => "fetch failed",
    };
    match detail.is_empty() {
        true => kind.to_string(),
        false => format!("{kind} ({detail})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_paths() {
        assert!(is_url("https://example.org/news/1"));
        assert!(is_url("HTTP://EXAMPLE.ORG"));
        assert!(!is_url("news/https.txt"));
        assert!(!is_url("./http://x"));
        assert!(!is_url("-"));
    }

    #[test]
    fn content_types_choose_the_reader() {
        assert_eq!(format_of("text/html"), Some(Format::Html));
        assert_eq!(format_of("TEXT/PLAIN"), Some(Format::Text));
        assert_eq!(format_of("text/markdown"), Some(Format::Markdown));
        assert_eq!(format_of("application/octet-stream"), None);
    }

    #[test]
    fn nothing_is_fetched_offline() {
        let fetching = Fetching {
            max_bytes: 1 << 20,
            offline: true,
            timeout: DEFAULT_TIMEOUT,
        };
        // Port 9 (discard) on loopback: would fail differently if it were tried.
        let err = read_url("http://127.0.0.1:9/a", fetching).unwrap_err();
        assert_eq!(err.problem(), Some(InputProblem::Offline));
        assert!(
            err.to_string().starts_with("http://127.0.0.1:9/a: "),
            "{err}"
        );
    }
}
