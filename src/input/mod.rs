//! Reading input articles and turning them into clean prose: files, standard input, web
//! pages (`web`) and the articles found under folders (`discover`), binary and encoding
//! checks, HTML
//! (`html`) and Markdown (`markdown`) text extraction, and cleaning (`clean`:
//! normalised whitespace and punctuation, scraped boilerplate removed).

mod clean;
mod decode;
mod discover;
mod html;
mod markdown;
mod rows;
mod web;

pub use discover::{find_articles, Input, Row, Selection};
pub use rows::{expand_rows, Fields, InputFormat};
pub use web::{is_url, read_url, Fetching, DEFAULT_TIMEOUT as DEFAULT_FETCH_TIMEOUT};

use clean::clean;
use html::html_to_text;
use markdown::markdown_to_text;
use std::fmt;
use std::io::{self, Read};
use std::path::Path;

/// The UTF-8 byte order mark, tolerated at the start of an input.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// How many leading bytes the binary-file check looks at.
const BINARY_SNIFF_BYTES: usize = 8 * 1024;

/// How the bytes of an input are to be interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Html,
}

impl Format {
    /// The format implied by the file extension; anything unknown is plain text.
    pub fn from_path(path: &Path) -> Format {
        let extension = path
            .extension()
            .map(|extension| extension.to_string_lossy().to_ascii_lowercase());
        match extension.as_deref() {
            Some("md" | "markdown") => Format::Markdown,
            Some("html" | "htm") => Format::Html,
            _ => Format::Text,
        }
    }

    /// Guesses the format of unnamed input (stdin): HTML documents are recognised
    /// by their opening tag, everything else is plain text.
    fn sniff(bytes: &[u8]) -> Format {
        let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
        let start = bytes
            .iter()
            .position(|byte| !byte.is_ascii_whitespace())
            .unwrap_or(bytes.len());
        let head = String::from_utf8_lossy(&bytes[start..bytes.len().min(start + 64)])
            .to_ascii_lowercase();
        if head.starts_with("<!doctype html") || head.starts_with("<html") {
            Format::Html
        } else {
            Format::Text
        }
    }
}

/// Why an input could not be used as an article.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputProblem {
    Empty,
    Binary,
    /// Bytes that are not text in the encoding their BOM or declaration names.
    Undecodable,
    /// More than the bytes one input may have.
    TooLarge {
        max_bytes: u64,
    },
    PermissionDenied,
    NotFound,
    /// A web page named while offline.
    Offline,
    /// A web server's answer other than success.
    HttpStatus(u16),
    IsDirectory,
    NoArticles,
    /// Fewer words of prose than a summary needs (`crate::guard::not_prose`).
    FewWords {
        words: usize,
        needed: usize,
    },
    /// Code or markup rather than prose: this many code symbols per thousand characters,
    /// where prose has at most `most`.
    Code {
        per_mille: usize,
        most: usize,
    },
}

impl fmt::Display for InputProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputProblem::FewWords { words, needed } => {
                return write!(
                    formatter,
                    "too little prose to summarize ({words} words of prose; at least {needed} \
                     needed)"
                )
            }
            InputProblem::Code { per_mille, most } => {
                return write!(
                    formatter,
                    "reads as code or markup, not prose ({:.1}% of its characters are code \
                     symbols; at most {:.1}% in prose)",
                    *per_mille as f64 / 10.0,
                    *most as f64 / 10.0
                )
            }
            InputProblem::HttpStatus(status) => {
                return write!(formatter, "the server answered HTTP {status}")
            }
            _ => {}
        }
        if let InputProblem::TooLarge { max_bytes } = self {
            let megabytes = *max_bytes as f64 / f64::from(1u32 << 20);
            return write!(
                formatter,
                "larger than {megabytes} MB (--max-input-mb allows more)"
            );
        }
        formatter.write_str(match self {
            InputProblem::Empty => "empty",
            InputProblem::Binary => "binary file",
            InputProblem::Undecodable => "not text in the encoding it declares",
            InputProblem::PermissionDenied => "permission denied",
            InputProblem::NotFound => "not found",
            InputProblem::Offline => "a web page, not fetched offline (--offline, ABRIDGE_OFFLINE)",
            InputProblem::IsDirectory => "is a directory",
            InputProblem::NoArticles => "no articles found in directory",
            InputProblem::TooLarge { .. }
            | InputProblem::HttpStatus(_)
            | InputProblem::FewWords { .. }
            | InputProblem::Code { .. } => unreachable!("written above"),
        })
    }
}

/// An input that could not be read as an article; displays as one line,
/// `"{source}: {reason}"`.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{name}: {}", self.reason())]
    Rejected { name: String, problem: InputProblem },
    #[error("{name}: {}", self.reason())]
    Unreadable { name: String, error: io::Error },
    /// A row of a structured file without its text; `reason` names the file and line.
    #[error("{reason}")]
    BadRow { name: String, reason: String },
}

impl InputError {
    pub fn rejected(name: &str, problem: InputProblem) -> InputError {
        InputError::Rejected {
            name: name.to_string(),
            problem,
        }
    }

    /// Classifies an I/O failure on `name`.
    pub(crate) fn from_io(name: &str, error: io::Error) -> InputError {
        let problem = match error.kind() {
            io::ErrorKind::NotFound => InputProblem::NotFound,
            io::ErrorKind::PermissionDenied => InputProblem::PermissionDenied,
            io::ErrorKind::IsADirectory => InputProblem::IsDirectory,
            _ => {
                return InputError::Unreadable {
                    name: name.to_string(),
                    error,
                }
            }
        };
        InputError::rejected(name, problem)
    }

    /// The reason alone, without the source name (e.g. `"binary file"`).
    pub fn reason(&self) -> String {
        match self {
            InputError::Rejected { problem, .. } => problem.to_string(),
            InputError::Unreadable { error, .. } => format!("unreadable: {error}"),
            InputError::BadRow { reason, .. } => reason.clone(),
        }
    }

    /// The path as given, or `"<stdin>"`.
    pub fn source_name(&self) -> &str {
        match self {
            InputError::Rejected { name, .. }
            | InputError::Unreadable { name, .. }
            | InputError::BadRow { name, .. } => name,
        }
    }

    /// The problem, or `None` for an I/O failure outside the known categories.
    pub fn problem(&self) -> Option<InputProblem> {
        match self {
            InputError::Rejected { problem, .. } => Some(*problem),
            InputError::Unreadable { .. } | InputError::BadRow { .. } => None,
        }
    }
}

/// A cleaned article ready for chunking and summarisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article {
    /// The path as given, or `"<stdin>"`.
    pub source: String,
    /// Cleaned text, paragraphs separated by `"\n\n"`.
    pub text: String,
}

/// The most bytes of one input read unless the user allows more (`--max-input-mb`): far
/// above any news article, far below what would fill memory (an endless `/dev/zero`).
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 16 << 20;

/// Reads and cleans one input of at most `max_bytes`: a row's text, or a file of the format
/// its extension names; with the sha256 of what was read (for batch records).
pub fn read_input(input: &Input, max_bytes: u64) -> Result<(Article, String), InputError> {
    let Some(row) = &input.row else {
        let bytes = read_file(&input.path, max_bytes)?;
        let article = from_bytes(&input.name(), &bytes, Format::from_path(&input.path))?;
        return Ok((article, sha256_hex(&bytes)));
    };
    let text = row.text.as_ref().map_err(|reason| InputError::BadRow {
        name: input.name(),
        reason: reason.clone(),
    })?;
    if text.len() as u64 > max_bytes {
        return Err(InputError::rejected(
            &input.name(),
            InputProblem::TooLarge { max_bytes },
        ));
    }
    let article = from_bytes(&input.name(), text.as_bytes(), Format::Text)?;
    Ok((article, sha256_hex(text.as_bytes())))
}

/// Lower-case hex sha256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

/// Reads and cleans one article file of at most `max_bytes`; the format comes from its
/// extension.
pub fn read_path(path: &Path, max_bytes: u64) -> Result<Article, InputError> {
    let bytes = read_file(path, max_bytes)?;
    from_bytes(&path.display().to_string(), &bytes, Format::from_path(path))
}

/// The raw bytes of an article file, with I/O failures classified (`not found`,
/// `permission denied`, …) and named after the path; a file of more than `max_bytes` is
/// refused after reading that many, never read whole.
pub fn read_file(path: &Path, max_bytes: u64) -> Result<Vec<u8>, InputError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|error| InputError::from_io(&name, error))?;
    read_capped(&name, file, max_bytes)
}

/// Reads and cleans an article of at most `max_bytes` from standard input (HTML is
/// recognised by its opening tag, anything else is plain text).
pub fn read_stdin(max_bytes: u64) -> Result<Article, InputError> {
    const STDIN: &str = "<stdin>";
    let bytes = read_capped(STDIN, io::stdin().lock(), max_bytes)?;
    from_bytes(STDIN, &bytes, Format::sniff(&bytes))
}

/// Everything `reader` holds, or the refusal of an input longer than `max_bytes`.
fn read_capped(name: &str, reader: impl Read, max_bytes: u64) -> Result<Vec<u8>, InputError> {
    let mut bytes = Vec::new();
    reader
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|error| InputError::from_io(name, error))?;
    if bytes.len() as u64 > max_bytes {
        return Err(InputError::rejected(
            name,
            InputProblem::TooLarge { max_bytes },
        ));
    }
    Ok(bytes)
}

/// Validates `bytes` (not binary), decodes them (see `decode.rs`: a BOM, UTF-8, a declared
/// charset, else a detected legacy encoding), extracts the readable text for `format`,
/// cleans it and rejects inputs left empty.
pub fn from_bytes(source: &str, bytes: &[u8], format: Format) -> Result<Article, InputError> {
    if !decode::has_utf16_bom(bytes) && looks_binary(bytes) {
        return Err(InputError::rejected(source, InputProblem::Binary));
    }
    let raw = decode::decode(bytes, format == Format::Html)
        .ok_or_else(|| InputError::rejected(source, InputProblem::Undecodable))?;
    let text = match format {
        Format::Text => clean(&raw),
        Format::Markdown => clean(&markdown_to_text(&raw)),
        Format::Html => clean(&html_to_text(&raw)),
    };
    if text.is_empty() {
        return Err(InputError::rejected(source, InputProblem::Empty));
    }
    Ok(Article {
        source: source.to_string(),
        text,
    })
}

/// NUL bytes, or more than 10% control characters, in the first 8 KiB.
fn looks_binary(bytes: &[u8]) -> bool {
    let sample = &bytes[..bytes.len().min(BINARY_SNIFF_BYTES)];
    let control_bytes = sample
        .iter()
        .filter(|byte| byte.is_ascii_control() && !byte.is_ascii_whitespace())
        .count();
    sample.contains(&0) || control_bytes * 10 > sample.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed article of the shared folder, if it is beside the checkout.
    fn seed_article() -> Option<String> {
        let path = crate::test_support::shared_file("seeds/article.txt")?;
        Some(std::fs::read_to_string(path).expect("the seed article is readable"))
    }

    fn text_of(source: &str, format: Format) -> String {
        from_bytes("test", source.as_bytes(), format)
            .expect("article should be accepted")
            .text
    }

    fn text_of_bytes(bytes: &[u8]) -> String {
        from_bytes("test", bytes, Format::Text)
            .expect("article should be accepted")
            .text
    }

    fn problem_of(bytes: &[u8]) -> Option<InputProblem> {
        from_bytes("input.txt", bytes, Format::Text)
            .expect_err("input should be rejected")
            .problem()
    }

    #[test]
    fn format_follows_extension() {
        assert_eq!(Format::from_path(Path::new("a.txt")), Format::Text);
        assert_eq!(Format::from_path(Path::new("a.TEXT")), Format::Text);
        assert_eq!(Format::from_path(Path::new("notes")), Format::Text);
        assert_eq!(Format::from_path(Path::new("a.md")), Format::Markdown);
        assert_eq!(Format::from_path(Path::new("a.Markdown")), Format::Markdown);
        assert_eq!(Format::from_path(Path::new("a.html")), Format::Html);
        assert_eq!(Format::from_path(Path::new("dir/a.HTM")), Format::Html);
        assert_eq!(Format::from_path(Path::new("a.csv")), Format::Text);
    }

    #[test]
    fn stdin_sniffing_recognises_html_documents() {
        assert_eq!(Format::sniff(b"  <!DOCTYPE html><p>x</p>"), Format::Html);
        assert_eq!(
            Format::sniff(b"\xEF\xBB\xBF<html><body>x</body></html>"),
            Format::Html
        );
        assert_eq!(Format::sniff(b"# Title\n\nText"), Format::Text);
    }

    #[test]
    fn error_display_is_one_line_source_and_reason() {
        let error = from_bytes("feed/a.txt", b" \n\t ", Format::Text).unwrap_err();
        assert_eq!(error.to_string(), "feed/a.txt: empty");
        assert_eq!(error.reason(), "empty");
        assert_eq!(error.source_name(), "feed/a.txt");
        let unreadable = InputError::from_io("x", io::Error::other("disk on fire"));
        assert_eq!(unreadable.to_string(), "x: unreadable: disk on fire");
        assert_eq!(unreadable.problem(), None);
    }

    #[test]
    fn rejects_empty_binary_and_non_utf8_input() {
        assert_eq!(problem_of(b""), Some(InputProblem::Empty));
        assert_eq!(problem_of(b"\n\n   \r\n"), Some(InputProblem::Empty));
        assert_eq!(problem_of(b"---\n***\n"), Some(InputProblem::Empty));
        assert_eq!(
            problem_of(b"PK\x03\x04\x00\x00text"),
            Some(InputProblem::Binary)
        );
        let mostly_control: Vec<u8> = (0..100)
            .map(|i| if i % 5 == 0 { 0x01 } else { b'a' })
            .collect();
        assert_eq!(problem_of(&mostly_control), Some(InputProblem::Binary));
        assert_eq!(text_of_bytes(b"caf\xE9 au lait"), "café au lait");
        let error = from_bytes("x.txt", &[0xFE, 0xFF, 0x00], Format::Text).unwrap_err();
        assert_eq!(
            error.to_string(),
            "x.txt: not text in the encoding it declares"
        );
    }

    #[test]
    fn reading_stops_one_byte_past_the_cap() {
        let endless = io::repeat(b'a');
        let error = read_capped("zero", endless, 1000).unwrap_err();
        assert_eq!(
            error.problem(),
            Some(InputProblem::TooLarge { max_bytes: 1000 })
        );
        assert_eq!(read_capped("a", &b"abc"[..], 3).unwrap(), b"abc");
    }

    #[test]
    fn accepts_bom_and_stray_control_characters() {
        assert_eq!(
            text_of("\u{FEFF}Hello there.", Format::Text),
            "Hello there."
        );
        assert_eq!(
            text_of("The bell\u{07} rang loudly.", Format::Text),
            "The bell rang loudly."
        );
    }

    #[test]
    fn read_path_reports_missing_directory_and_reads_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.txt");
        let error = read_path(&missing, DEFAULT_MAX_INPUT_BYTES).unwrap_err();
        assert_eq!(error.reason(), "not found");
        assert_eq!(error.source_name(), missing.display().to_string());
        assert_eq!(
            read_path(dir.path(), DEFAULT_MAX_INPUT_BYTES)
                .unwrap_err()
                .reason(),
            "is a directory"
        );

        let page = dir.path().join("page.htm");
        std::fs::write(&page, "<p>The council met.</p><p>It voted.</p>").unwrap();
        let article = read_path(&page, DEFAULT_MAX_INPUT_BYTES).unwrap();
        assert_eq!(article.source, page.display().to_string());
        assert_eq!(article.text, "The council met.\n\nIt voted.");
    }

    #[test]
    fn clean_normalises_quotes_spaces_and_lines() {
        let raw = "\u{201C}Hi,\u{201D}\tshe said\u{00A0}\u{00A0}at Bob\u{2019}s.\r\nNext  line.\r\n\r\n\r\n\r\nLast\u{200B} one.";
        assert_eq!(
            clean(raw),
            "\"Hi,\" she said at Bob's.\n\nNext line.\n\nLast one."
        );
    }

    #[test]
    fn clean_rejoins_hard_wrapped_text() {
        let raw = "The harbour authority said on Tuesday that the new pier would\n\
                   open in spring, after two years of delays caused by storms and\n\
                   a dispute over funding with the regional government.\n\n\
                   Local fishers welcomed the news but asked for more berths and\n\
                   lower fees for small boats using the harbour in winter months.";
        let cleaned = clean(raw);
        let paragraphs: Vec<&str> = cleaned.split("\n\n").collect();
        assert_eq!(paragraphs.len(), 2);
        assert!(paragraphs[0].starts_with("The harbour authority said"));
        assert!(paragraphs[0].contains("would open in spring"));
        assert!(paragraphs[1].ends_with("in winter months."));
    }

    #[test]
    fn clean_drops_boilerplate_lines() {
        let raw = "Advertisement\n\
                   The mayor opened the bridge on Monday.\n\
                   \u{1F4E2} Share this article\n\
                   Related: Ten bridges worth a visit\n\
                   Traffic is expected to ease by summer.\n\
                   * * *\n\
                   Subscribe to our newsletter for daily updates!\n\
                   Follow us on Mastodon\n\
                   Click here to read the full report\n\
                   Sign up for The Morning Digest\n\
                   \u{00A9} 2024 Example Media Group. All rights reserved.\n\
                   Read more \u{00BB}";
        assert_eq!(
            clean(raw),
            "The mayor opened the bridge on Monday.\n\nTraffic is expected to ease by summer."
        );
    }

    #[test]
    fn clean_keeps_article_sentences_that_resemble_boilerplate() {
        let raw = "Share prices fell 3% on Monday.\n\
                   Subscribers will pay more next year, the company said.\n\
                   \"Follow us on this journey,\" the founder told staff.\n\
                   Follow the money: how the deal was funded\n\
                   Please note that the figures are estimates.\n\
                   Readers who want to share the story can do so freely, and the paper says it will keep publishing it without a paywall for as long as the investigation into the contracts continues, according to its editor and the board.";
        let cleaned = clean(raw);
        assert_eq!(cleaned.split("\n\n").count(), 6, "{cleaned}");
    }

    #[test]
    fn clean_drops_fragments_only_inside_the_trailing_block() {
        let raw = "Budget talks\nThe budget passed.\nPhoto gallery\nSource link";
        assert_eq!(clean(raw), "Budget talks\n\nThe budget passed.");
    }

    #[test]
    fn seed_article_loses_its_trailer_and_keeps_its_body() {
        let Some(seed) = seed_article() else {
            return;
        };
        let article = from_bytes("article.txt", seed.as_bytes(), Format::Text).unwrap();
        let paragraphs: Vec<&str> = article.text.split("\n\n").collect();
        assert!(paragraphs[0].starts_with("Mark Zuckerberg is waiting."));
        assert!(paragraphs.contains(&"AI Founder and CEO Scale: Alexandr Wang"));
        assert!(paragraphs
            .iter()
            .any(|paragraph| paragraph.starts_with("\"When Meta is buying them, they're buying")));
        assert!(paragraphs
            .last()
            .unwrap()
            .starts_with("It remains to be seen whether the King's presence"));
        for gone in [
            "share the story",
            "Submit your stories",
            "attract attention",
            "Source link",
        ] {
            assert!(!article.text.contains(gone), "{gone:?} survived");
        }
        let body_lines = seed.lines().filter(|line| !line.trim().is_empty()).count();
        assert_eq!(paragraphs.len(), body_lines - 4);
    }

    #[test]
    fn html_extracts_readable_blocks() {
        let html = "<!DOCTYPE html><html><head><title>Site</title><style>p{}</style></head>\
                    <body><header>Logo</header><nav><a href=\"/\">Home</a></nav>\
                    <article><h1>Storm &amp; flood</h1>\
                    <p>Rain fell   for\n three <b>days</b> in\u{00A0}a row.</p>\
                    <p>Roads <a href=\"x\">closed</a>.<br>Schools too.</p>\
                    <script>var x = 1;</script><aside>Ad</aside>\
                    <ul><li>First item</li><li>Second item</li></ul>\
                    <pre>line one\nline two</pre></article>\
                    <form>Search</form><footer>Copyright</footer></body></html>";
        assert_eq!(
            text_of(html, Format::Html),
            "Storm & flood\n\nRain fell for three days in a row.\n\nRoads closed.\n\nSchools too.\n\n\
             First item\n\nSecond item\n\nline one\n\nline two"
        );
    }

    #[test]
    fn html_skips_hidden_and_landmark_chrome() {
        let html = "<div role=\"navigation\">Menu</div><div hidden>Secret</div>\
                    <span aria-hidden=\"true\">Icon</span><p>Body text.</p>";
        assert_eq!(text_of(html, Format::Html), "Body text.");
    }

    #[test]
    fn markdown_is_stripped_to_text() {
        let markdown = "---\ntitle: Harbour\ndate: 2024-01-01\n---\n\
                        # The *new* pier ##\n\n\
                        The pier, built by [Acme Works](https://example.com/a \"x\"), opens\n\
                        in **spring**. ![A photo](pier.jpg) See `code_here` and snake_case.\n\n\
                        > Quoted _words_ here.\n\n\
                        - first point\n\
                        2. second point\n\n\
                        ***\n\n\
                        ```rust\nlet x = 2 * 3;\n```\n\
                        Costs rose 2 * 3 times, per [the report][1].\n\n\
                        [1]: https://example.com/report\n";
        assert_eq!(
            text_of(markdown, Format::Markdown),
            "The new pier\n\n\
             The pier, built by Acme Works, opens in spring. See code_here and snake_case.\n\n\
             Quoted words here.\n\nfirst point\n\nsecond point\n\nlet x = 2 * 3;\n\n\
             Costs rose 2 * 3 times, per the report."
        );
    }

    #[test]
    fn markdown_without_closed_front_matter_keeps_everything() {
        assert_eq!(
            text_of("---\nNot front matter.\n", Format::Markdown),
            "Not front matter."
        );
    }
}
