//! Reading input articles (files and stdin; folders are walked by [`crate::batch`]) and
//! turning them into clean prose: binary/encoding checks, HTML and Markdown text
//! extraction, whitespace and punctuation normalisation, removal of scraped boilerplate
//! (share prompts, source links, copyright lines), plus the word and sentence helpers the
//! rest of the crate measures text with.

use std::fmt;
use std::io::{self, Read};
use std::ops::{Range, RangeInclusive};
use std::path::Path;

use scraper::{ElementRef, Html, Node};

/// The UTF-8 byte order mark, tolerated at the start of an input.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// How many leading bytes the binary-file check looks at.
const BINARY_SNIFF_BYTES: usize = 8 * 1024;

/// Lines longer than this are never treated as boilerplate by pattern.
const MAX_BOILERPLATE_WORDS: usize = 25;

/// Lines this short without closing punctuation are "fragments" (stray labels,
/// captions); they are dropped only inside a trailing boilerplate block.
const MAX_FRAGMENT_WORDS: usize = 6;

/// A short "Please ..." line without closing punctuation is a call to action.
const MAX_PLEA_WORDS: usize = 8;

/// Widths (in characters) at which text may be hard-wrapped.
const WRAP_WIDTHS: RangeInclusive<usize> = 40..=100;

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
    NotUtf8,
    PermissionDenied,
    NotFound,
    IsDirectory,
    NoArticles,
}

impl fmt::Display for InputProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            InputProblem::Empty => "empty",
            InputProblem::Binary => "binary file",
            InputProblem::NotUtf8 => "not UTF-8",
            InputProblem::PermissionDenied => "permission denied",
            InputProblem::NotFound => "not found",
            InputProblem::IsDirectory => "is a directory",
            InputProblem::NoArticles => "no articles found in directory",
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
}

impl InputError {
    pub(crate) fn rejected(name: &str, problem: InputProblem) -> InputError {
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
        }
    }

    /// The path as given, or `"<stdin>"`.
    pub fn source_name(&self) -> &str {
        match self {
            InputError::Rejected { name, .. } | InputError::Unreadable { name, .. } => name,
        }
    }

    /// The problem, or `None` for an I/O failure outside the known categories.
    pub fn problem(&self) -> Option<InputProblem> {
        match self {
            InputError::Rejected { problem, .. } => Some(*problem),
            InputError::Unreadable { .. } => None,
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

/// Reads and cleans one article file; the format comes from its extension.
pub fn read_path(path: &Path) -> Result<Article, InputError> {
    let bytes = read_file(path)?;
    from_bytes(&path.display().to_string(), &bytes, Format::from_path(path))
}

/// The raw bytes of an article file, with I/O failures classified (`not found`,
/// `permission denied`, …) and named after the path.
pub fn read_file(path: &Path) -> Result<Vec<u8>, InputError> {
    std::fs::read(path).map_err(|error| InputError::from_io(&path.display().to_string(), error))
}

/// Reads and cleans an article from standard input (HTML is recognised by its
/// opening tag, anything else is plain text).
pub fn read_stdin() -> Result<Article, InputError> {
    const STDIN: &str = "<stdin>";
    let mut bytes = Vec::new();
    io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .map_err(|error| InputError::from_io(STDIN, error))?;
    from_bytes(STDIN, &bytes, Format::sniff(&bytes))
}

/// Validates `bytes` (not binary, UTF-8 with an optional BOM), extracts the
/// readable text for `format`, cleans it and rejects inputs left empty.
pub fn from_bytes(source: &str, bytes: &[u8], format: Format) -> Result<Article, InputError> {
    if looks_binary(bytes) {
        return Err(InputError::rejected(source, InputProblem::Binary));
    }
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let raw = std::str::from_utf8(bytes)
        .map_err(|_| InputError::rejected(source, InputProblem::NotUtf8))?;
    let text = match format {
        Format::Text => clean(raw),
        Format::Markdown => clean(&markdown_to_text(raw)),
        Format::Html => clean(&html_to_text(raw)),
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

/// Number of whitespace-separated words.
pub fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

// ---------------------------------------------------------------------------
// Sentences
// ---------------------------------------------------------------------------

/// Words (lower-case, without the final period) after which a period does not end
/// a sentence.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "mx", "dr", "prof", "sr", "jr", "st", "mt", "ft", "gen", "gov", "sen",
    "rep", "rev", "col", "lt", "sgt", "capt", "cmdr", "adm", "maj", "vs", "inc", "corp", "ltd",
    "co", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "fig", "approx", "dept",
];

/// Splits `text` into trimmed sentences (see [`sentence_ranges`]).
pub fn split_sentences(text: &str) -> Vec<&str> {
    sentence_ranges(text)
        .into_iter()
        .map(|range| &text[range])
        .collect()
}

/// Byte ranges of the sentences of `text`, in order, each trimmed and non-empty.
///
/// A sentence ends at `.`, `!`, `?` or `…` (plus any closing quotes/brackets) when
/// whitespace and an uppercase letter, digit or opening quote/bracket follow, and at
/// every paragraph break (a blank line). Periods after abbreviations, initials
/// ("J. K.") and inside numbers do not end sentences. Together the ranges cover every
/// non-whitespace character of `text` exactly once.
pub fn sentence_ranges(text: &str) -> Vec<Range<usize>> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let byte_at = |index: usize| chars.get(index).map_or(text.len(), |&(byte, _)| byte);
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut index = 0;
    while index < chars.len() {
        let (byte, character) = chars[index];
        if character == '\n' {
            let mut next = index + 1;
            while next < chars.len() && chars[next].1 != '\n' && chars[next].1.is_whitespace() {
                next += 1;
            }
            if next < chars.len() && chars[next].1 == '\n' {
                push_trimmed(&mut ranges, text, start..byte);
                start = chars[next].0;
                index = next + 1;
                continue;
            }
        } else if is_terminal(character) {
            let mut end = index;
            while end < chars.len() && is_terminal(chars[end].1) {
                end += 1;
            }
            let single_period = character == '.' && end == index + 1;
            while end < chars.len() && is_closing(chars[end].1) {
                end += 1;
            }
            let mut next = end;
            while next < chars.len() && chars[next].1.is_whitespace() {
                next += 1;
            }
            let next_starts_sentence = next > end
                && chars
                    .get(next)
                    .is_some_and(|&(_, next_character)| starts_sentence(next_character));
            if next_starts_sentence
                && !(single_period && is_abbreviation(&text[start..byte], chars[next].1))
            {
                push_trimmed(&mut ranges, text, start..byte_at(end));
                start = byte_at(end);
            }
            index = end;
            continue;
        }
        index += 1;
    }
    push_trimmed(&mut ranges, text, start..text.len());
    ranges
}

fn push_trimmed(ranges: &mut Vec<Range<usize>>, text: &str, range: Range<usize>) {
    let slice = &text[range.clone()];
    let trimmed = slice.trim_start();
    let start = range.start + (slice.len() - trimmed.len());
    let end = start + trimmed.trim_end().len();
    if end > start {
        ranges.push(start..end);
    }
}

fn is_terminal(character: char) -> bool {
    matches!(character, '.' | '!' | '?' | '…')
}

fn is_closing(character: char) -> bool {
    matches!(character, '"' | '\'' | ')' | ']' | '”' | '’' | '»')
}

fn starts_sentence(character: char) -> bool {
    (character.is_alphanumeric() && !character.is_lowercase())
        || matches!(character, '"' | '\'' | '(' | '[' | '“' | '‘' | '«')
}

/// Whether the period ending `before` belongs to an abbreviation rather than ending
/// the sentence; `next` is the first character after the following whitespace.
fn is_abbreviation(before: &str, next: char) -> bool {
    let word = before
        .rsplit(char::is_whitespace)
        .next()
        .unwrap_or_default()
        .trim_start_matches(|character: char| !character.is_alphanumeric());
    let lower = word.to_lowercase();
    let is_initial = word.chars().count() == 1 && word.chars().all(char::is_uppercase);
    // "U.S", "e.g", "i.e": single letters joined by periods.
    let is_dotted = word.contains('.')
        && word
            .split('.')
            .all(|part| part.chars().count() == 1 && part.chars().all(char::is_alphabetic));
    is_initial
        || is_dotted
        || ABBREVIATIONS.contains(&lower.as_str())
        || (lower == "no" && next.is_ascii_digit())
}

// ---------------------------------------------------------------------------
// Cleaning
// ---------------------------------------------------------------------------

/// Normalises scraped text into paragraphs joined by `"\n\n"`: unified line
/// endings, straight quotes, single spaces, trimmed lines, boilerplate removed.
/// Every non-empty line is a paragraph, except in text hard-wrapped at a fixed
/// width, where the lines of each blank-line-separated block are rejoined.
pub fn clean(text: &str) -> String {
    let normalised = normalise_characters(text);
    let lines: Vec<String> = normalised
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let blocks: Vec<&[String]> = lines
        .split(String::is_empty)
        .filter(|block| !block.is_empty())
        .collect();
    let paragraphs: Vec<String> = if is_hard_wrapped(&blocks) {
        blocks.iter().map(|block| block.join(" ")).collect()
    } else {
        blocks.concat()
    };
    drop_boilerplate(paragraphs).join("\n\n")
}

/// Line endings to `\n`, curly quotes to straight ones, invisible characters and
/// control characters removed.
fn normalise_characters(text: &str) -> String {
    let mut normalised = String::with_capacity(text.len());
    let mut characters = text.chars().peekable();
    while let Some(character) = characters.next() {
        match character {
            '\r' if characters.peek() == Some(&'\n') => {}
            '\r' | '\u{0B}' | '\u{0C}' | '\u{2028}' | '\u{2029}' => normalised.push('\n'),
            '‘' | '’' | '‚' | '‛' => normalised.push('\''),
            '“' | '”' | '„' | '‟' => normalised.push('"'),
            '\t' => normalised.push(' '),
            '\u{200B}' | '\u{2060}' | '\u{FEFF}' | '\u{AD}' => {}
            _ if character.is_control() && character != '\n' => {}
            _ => normalised.push(character),
        }
    }
    normalised
}

/// Text wrapped at a terminal-like width (e-mail, `fmt` output): the widest line
/// is [`WRAP_WIDTHS`] wide, and of the lines that continue onto a next line most
/// are nearly that wide and most stop mid-sentence.
fn is_hard_wrapped(blocks: &[&[String]]) -> bool {
    let width = blocks
        .iter()
        .flat_map(|block| block.iter())
        .map(|line| line.chars().count())
        .max()
        .unwrap_or(0);
    if !WRAP_WIDTHS.contains(&width) {
        return false;
    }
    let continued: Vec<&String> = blocks
        .iter()
        .flat_map(|block| &block[..block.len() - 1])
        .collect();
    let near_full = continued
        .iter()
        .filter(|line| line.chars().count() * 10 >= width * 6)
        .count();
    let mid_sentence = continued.iter().filter(|line| !ends_sentence(line)).count();
    continued.len() >= 3
        && near_full * 3 >= continued.len() * 2
        && mid_sentence * 2 > continued.len()
}

/// Removes boilerplate paragraphs anywhere, plus short unpunctuated fragments that
/// sit inside the trailing boilerplate block.
fn drop_boilerplate(mut paragraphs: Vec<String>) -> Vec<String> {
    let mut kept = paragraphs.len();
    let mut in_trailing_block = false;
    while kept > 0 {
        let paragraph = &paragraphs[kept - 1];
        if is_boilerplate(paragraph) {
            in_trailing_block = true;
        } else if !(in_trailing_block && is_fragment(paragraph)) {
            break;
        }
        kept -= 1;
    }
    paragraphs.truncate(kept);
    paragraphs.retain(|paragraph| !is_boilerplate(paragraph));
    paragraphs
}

/// Labels that make up a whole boilerplate line, alone or followed by `:`/`-`/`|`.
const BOILERPLATE_LABELS: &[&str] = &[
    "advertisement",
    "advertisements",
    "sponsored",
    "sponsored content",
    "promoted",
    "source link",
    "source links",
    "read more",
    "read next",
    "read also",
    "also read",
    "continue reading",
    "see also",
    "related",
    "related articles",
    "related stories",
    "related posts",
    "related content",
    "related news",
    "related reading",
    "recommended",
    "recommended for you",
    "you may also like",
    "more stories",
    "more from this author",
    "tags",
    "topics",
    "share",
    "share this",
    "share this article",
    "share this story",
    "print",
    "email",
    "comments",
    "leave a comment",
    "trending now",
];

/// Openings of share/subscribe/follow prompts (after an optional lead-in such as
/// "please" or "want to").
const CALL_TO_ACTION_OPENINGS: &[&str] = &[
    "share this",
    "share the story",
    "share the article",
    "share on",
    "share with",
    "share your",
    "subscribe",
    "sign up",
    "sign in to",
    "log in to",
    "follow us",
    "follow me",
    "follow @",
    "click here",
    "click to",
    "tap here",
    "tap to",
    "join our",
    "join us",
    "download our",
    "download the app",
    "submit your",
    "like us",
    "like and share",
    "get the latest",
    "don't miss",
    "never miss",
];

const CALL_TO_ACTION_LEAD_INS: &[&str] = &[
    "please",
    "want to",
    "don't forget to",
    "be sure to",
    "why not",
];

fn is_boilerplate(line: &str) -> bool {
    if !line.chars().any(char::is_alphanumeric) {
        return true;
    }
    let words = word_count(line);
    if words > MAX_BOILERPLATE_WORDS {
        return false;
    }
    // Lower-case, with leading emoji/bullets removed (quotes kept: a quoted line is
    // somebody speaking, not a prompt).
    let key = line.to_lowercase();
    let key = key.trim_start_matches(|character: char| {
        !character.is_alphanumeric() && !matches!(character, '"' | '\'' | '(' | '©')
    });
    is_label(key) || is_call_to_action(key) || is_copyright(key) || is_plea(key, words)
}

fn is_label(key: &str) -> bool {
    let bare = key.trim_end_matches(|character: char| !character.is_alphanumeric());
    BOILERPLATE_LABELS.iter().any(|label| {
        bare == *label
            || key.strip_prefix(label).is_some_and(|rest| {
                rest.starts_with(':')
                    || (rest.starts_with(' ')
                        && rest
                            .trim_start()
                            .starts_with([':', '-', '–', '—', '|', '»', '>']))
            })
    })
}

fn is_call_to_action(key: &str) -> bool {
    let prompt = CALL_TO_ACTION_LEAD_INS
        .iter()
        .find_map(|lead_in| strip_phrase(key, lead_in))
        .map_or(key, str::trim_start);
    CALL_TO_ACTION_OPENINGS
        .iter()
        .any(|opening| strip_phrase(prompt, opening).is_some())
}

fn is_copyright(key: &str) -> bool {
    key.contains('©')
        || key.contains("all rights reserved")
        || ["copyright", "(c)"].iter().any(|mark| {
            strip_phrase(key, mark).is_some_and(|rest| {
                rest.trim_start()
                    .starts_with(|character: char| character.is_ascii_digit() || character == '(')
            })
        })
}

/// "Please attract attention": a short unpunctuated plea.
fn is_plea(key: &str, words: usize) -> bool {
    words <= MAX_PLEA_WORDS && strip_phrase(key, "please").is_some() && !ends_sentence(key)
}

fn is_fragment(line: &str) -> bool {
    word_count(line) <= MAX_FRAGMENT_WORDS && !ends_sentence(line)
}

fn ends_sentence(line: &str) -> bool {
    line.trim_end()
        .ends_with(['.', '!', '?', '…', '"', '\'', ')'])
}

/// `text` without its leading `phrase`, if `phrase` is a whole-word prefix.
fn strip_phrase<'a>(text: &'a str, phrase: &str) -> Option<&'a str> {
    let rest = text.strip_prefix(phrase)?;
    let ends_in_word = phrase.ends_with(char::is_alphanumeric);
    let continues_word = rest.starts_with(char::is_alphanumeric);
    (!(ends_in_word && continues_word)).then_some(rest)
}

// ---------------------------------------------------------------------------
// HTML
// ---------------------------------------------------------------------------

/// Elements whose content is never article text.
const SKIPPED_ELEMENTS: &[&str] = &[
    "head", "script", "style", "noscript", "template", "nav", "footer", "header", "aside", "form",
    "iframe", "svg", "button", "select", "dialog",
];

/// ARIA landmark roles of page chrome.
const SKIPPED_ROLES: &[&str] = &["navigation", "banner", "contentinfo", "complementary"];

/// Elements that start and end a paragraph.
const BLOCK_ELEMENTS: &[&str] = &[
    "address",
    "article",
    "blockquote",
    "body",
    "caption",
    "dd",
    "details",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "li",
    "main",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tr",
    "ul",
    "html",
];

/// Readable text of an HTML document: blocks separated by blank lines, `<br>` as a
/// line break, whitespace collapsed outside `<pre>`, entities decoded.
fn html_to_text(html: &str) -> String {
    enum Step<'a> {
        Enter(ElementRef<'a>),
        Text(&'a str),
        Leave(&'a str),
    }
    let document = Html::parse_document(html);
    let mut text = String::new();
    let mut preformatted_depth = 0usize;
    let mut steps = vec![Step::Enter(document.root_element())];
    while let Some(step) = steps.pop() {
        match step {
            Step::Enter(element) => {
                let name = element.value().name();
                if is_page_chrome(element) {
                    continue;
                }
                if name == "br" {
                    text.push('\n');
                    continue;
                }
                text.push_str(html_separator(name));
                if name == "pre" {
                    preformatted_depth += 1;
                }
                steps.push(Step::Leave(name));
                for child in element.children().rev() {
                    match child.value() {
                        Node::Text(child_text) => steps.push(Step::Text(child_text)),
                        Node::Element(_) => steps.extend(ElementRef::wrap(child).map(Step::Enter)),
                        _ => {}
                    }
                }
            }
            Step::Text(fragment) if preformatted_depth > 0 => text.push_str(fragment),
            Step::Text(fragment) => text.extend(fragment.chars().map(|character| {
                if character.is_whitespace() {
                    ' '
                } else {
                    character
                }
            })),
            Step::Leave(name) => {
                text.push_str(html_separator(name));
                if name == "pre" {
                    preformatted_depth -= 1;
                }
            }
        }
    }
    text
}

fn is_page_chrome(element: ElementRef<'_>) -> bool {
    SKIPPED_ELEMENTS.contains(&element.value().name())
        || element.attr("hidden").is_some()
        || element.attr("aria-hidden") == Some("true")
        || element
            .attr("role")
            .is_some_and(|role| SKIPPED_ROLES.contains(&role))
}

/// What goes around an element's text: a paragraph break for blocks, a space
/// between table cells, nothing for inline elements.
fn html_separator(name: &str) -> &'static str {
    if BLOCK_ELEMENTS.contains(&name) {
        "\n\n"
    } else if matches!(name, "td" | "th") {
        " "
    } else {
        ""
    }
}

// ---------------------------------------------------------------------------
// Markdown
// ---------------------------------------------------------------------------

/// Plain text of a Markdown document: front matter removed, headings, list items
/// and paragraphs as separate paragraphs (soft-wrapped lines rejoined), code block
/// lines kept verbatim, inline markup stripped.
fn markdown_to_text(markdown: &str) -> String {
    let mut paragraphs: Vec<String> = Vec::new();
    let mut paragraph: Vec<String> = Vec::new();
    let mut fence: Option<&str> = None;
    let flush = |paragraph: &mut Vec<String>, paragraphs: &mut Vec<String>| {
        if !paragraph.is_empty() {
            paragraphs.push(paragraph.join(" "));
            paragraph.clear();
        }
    };
    for line in strip_front_matter(markdown).lines() {
        let trimmed = line.trim();
        if let Some(marker) = fence {
            if trimmed.starts_with(marker) {
                fence = None;
            } else {
                paragraphs.push(line.to_string());
            }
            continue;
        }
        let quoted = trimmed
            .trim_start_matches(|character: char| character == '>' || character.is_whitespace());
        if let Some(marker) = ["```", "~~~"]
            .into_iter()
            .find(|marker| quoted.starts_with(marker))
        {
            flush(&mut paragraph, &mut paragraphs);
            fence = Some(marker);
        } else if quoted.is_empty() || is_markdown_rule(quoted) {
            flush(&mut paragraph, &mut paragraphs);
        } else if let Some(heading) = markdown_heading(quoted) {
            flush(&mut paragraph, &mut paragraphs);
            paragraphs.push(markdown_inline(heading));
        } else if let Some(item) = markdown_list_item(quoted) {
            flush(&mut paragraph, &mut paragraphs);
            paragraph.push(markdown_inline(item));
        } else if !is_reference_definition(quoted) {
            paragraph.push(markdown_inline(quoted));
        }
    }
    flush(&mut paragraph, &mut paragraphs);
    paragraphs.join("\n\n")
}

/// `markdown` without a leading `---` … `---` (or `...`) front-matter block.
fn strip_front_matter(markdown: &str) -> &str {
    let Some(rest) = markdown
        .strip_prefix("---\n")
        .or_else(|| markdown.strip_prefix("---\r\n"))
    else {
        return markdown;
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        offset += line.len();
        if matches!(line.trim_end(), "---" | "...") {
            return &rest[offset..];
        }
    }
    markdown
}

/// A thematic break or setext underline: three or more of one of `-*_=`.
fn is_markdown_rule(line: &str) -> bool {
    let marks: Vec<char> = line.chars().filter(|character| *character != ' ').collect();
    marks.len() >= 3
        && matches!(marks[0], '-' | '*' | '_' | '=')
        && marks.iter().all(|mark| *mark == marks[0])
}

/// `[label]: url` lines.
fn is_reference_definition(line: &str) -> bool {
    line.starts_with('[') && line.contains("]:")
}

/// Heading text of an ATX heading (`## Title ##`).
fn markdown_heading(line: &str) -> Option<&str> {
    let level = line
        .chars()
        .take_while(|character| *character == '#')
        .count();
    let rest = &line[level..];
    ((1..=6).contains(&level) && (rest.is_empty() || rest.starts_with(' ')))
        .then(|| rest.trim().trim_end_matches('#').trim_end())
}

/// Content of a bullet (`-`, `*`, `+`) or numbered (`1.`, `1)`) list item.
fn markdown_list_item(line: &str) -> Option<&str> {
    let marker_length = if line.starts_with(['-', '*', '+']) {
        1
    } else {
        let digits = line.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 || !line[digits..].starts_with(['.', ')']) {
            return None;
        }
        digits + 1
    };
    let rest = &line[marker_length..];
    rest.starts_with(' ').then(|| rest.trim_start())
}

/// Inline Markdown to text: links become their text, images disappear, emphasis
/// and code markers are removed, backslash escapes are resolved.
fn markdown_inline(line: &str) -> String {
    let characters: Vec<char> = line.chars().collect();
    let mut text = String::with_capacity(line.len());
    let mut index = 0;
    while index < characters.len() {
        let character = characters[index];
        let next = characters.get(index + 1).copied();
        match character {
            '\\' if next.is_some_and(|next| next.is_ascii_punctuation()) => {
                text.extend(next);
                index += 2;
            }
            '`' => {
                let run = run_length(&characters, index);
                let code_start = index + run;
                match find_backtick_run(&characters, code_start, run) {
                    Some(code_end) => {
                        let code: String = characters[code_start..code_end].iter().collect();
                        text.push_str(code.trim());
                        index = code_end + run;
                    }
                    None => {
                        text.extend(&characters[index..code_start]);
                        index = code_start;
                    }
                }
            }
            '!' if next == Some('[') => match parse_link(&characters, index + 1) {
                Some((_, end)) => index = end,
                None => {
                    text.push('!');
                    index += 1;
                }
            },
            '[' => match parse_link(&characters, index) {
                Some((label, end)) => {
                    let label: String = characters[label].iter().collect();
                    text.push_str(&markdown_inline(&label));
                    index = end;
                }
                None => {
                    text.push('[');
                    index += 1;
                }
            },
            '<' => match parse_autolink(&characters, index) {
                Some((url, end)) => {
                    text.extend(&characters[url]);
                    index = end;
                }
                None => {
                    text.push('<');
                    index += 1;
                }
            },
            '*' | '_' | '~' => {
                let run = run_length(&characters, index);
                if !is_emphasis_marker(&characters, index, run) {
                    text.extend(&characters[index..index + run]);
                }
                index += run;
            }
            _ => {
                text.push(character);
                index += 1;
            }
        }
    }
    text
}

/// Length of the run of the character at `start`.
fn run_length(characters: &[char], start: usize) -> usize {
    characters[start..]
        .iter()
        .take_while(|character| **character == characters[start])
        .count()
}

/// Start of the next run of exactly `length` backticks at or after `from`.
fn find_backtick_run(characters: &[char], from: usize, length: usize) -> Option<usize> {
    let mut index = from;
    while index < characters.len() {
        if characters[index] == '`' {
            let run = run_length(characters, index);
            if run == length {
                return Some(index);
            }
            index += run;
        } else {
            index += 1;
        }
    }
    None
}

/// Index just past the bracket matching the opening one at `open`.
fn matching_bracket(characters: &[char], open: usize, close: char) -> Option<usize> {
    let opening = characters[open];
    let mut depth = 0usize;
    let mut index = open;
    while index < characters.len() {
        match characters[index] {
            '\\' => index += 1,
            character if character == opening => depth += 1,
            character if character == close => {
                depth -= 1;
                if depth == 0 {
                    return Some(index + 1);
                }
            }
            _ => {}
        }
        index += 1;
    }
    None
}

/// `[label](url)` or `[label][reference]` starting at `open`: the label's range
/// and the index just past the link.
fn parse_link(characters: &[char], open: usize) -> Option<(Range<usize>, usize)> {
    let label_end = matching_bracket(characters, open, ']')?;
    let end = match characters.get(label_end) {
        Some('(') => matching_bracket(characters, label_end, ')')?,
        Some('[') => matching_bracket(characters, label_end, ']')?,
        _ => return None,
    };
    Some((open + 1..label_end - 1, end))
}

/// `<https://…>` starting at `open`: the URL's range and the index past `>`.
fn parse_autolink(characters: &[char], open: usize) -> Option<(Range<usize>, usize)> {
    let length = characters[open + 1..]
        .iter()
        .take_while(|character| !matches!(character, '>' | ' '))
        .count();
    let close = open + 1 + length;
    let url: String = characters[open + 1..close].iter().collect();
    let is_url = ["http://", "https://", "mailto:"]
        .iter()
        .any(|scheme| url.starts_with(scheme));
    (is_url && characters.get(close) == Some(&'>')).then_some((open + 1..close, close + 1))
}

/// A run of `*`, `_` (or `~~`) opens or closes emphasis when it touches a word on
/// exactly one side; runs inside words (`snake_case`) or between spaces (`2 * 3`)
/// are literal.
fn is_emphasis_marker(characters: &[char], start: usize, run: usize) -> bool {
    let is_boundary = |neighbour: Option<&char>| {
        neighbour
            .is_none_or(|character| character.is_whitespace() || character.is_ascii_punctuation())
    };
    let before = start.checked_sub(1).and_then(|index| characters.get(index));
    let after = characters.get(start + run);
    (characters[start] != '~' || run >= 2) && is_boundary(before) != is_boundary(after)
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
        assert_eq!(problem_of(b"caf\xE9 au lait"), Some(InputProblem::NotUtf8));
        let error = from_bytes("x.txt", b"\xff", Format::Text).unwrap_err();
        assert_eq!(error.to_string(), "x.txt: not UTF-8");
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
        let error = read_path(&missing).unwrap_err();
        assert_eq!(error.reason(), "not found");
        assert_eq!(error.source_name(), missing.display().to_string());
        assert_eq!(
            read_path(dir.path()).unwrap_err().reason(),
            "is a directory"
        );

        let page = dir.path().join("page.htm");
        std::fs::write(&page, "<p>The council met.</p><p>It voted.</p>").unwrap();
        let article = read_path(&page).unwrap();
        assert_eq!(article.source, page.display().to_string());
        assert_eq!(article.text, "The council met.\n\nIt voted.");
    }

    #[test]
    fn word_count_counts_whitespace_separated_words() {
        assert_eq!(word_count("  one two\n\nthree\tfour "), 4);
        assert_eq!(word_count(""), 0);
    }

    #[test]
    fn sentences_split_on_terminal_punctuation() {
        assert_eq!(
            split_sentences("It rained. Was it cold? Yes! \"Very,\" he said. 2024 was wet."),
            vec![
                "It rained.",
                "Was it cold?",
                "Yes!",
                "\"Very,\" he said.",
                "2024 was wet."
            ]
        );
        assert_eq!(
            split_sentences("He said \"Stop.\" Then he left (quietly.) Done"),
            vec!["He said \"Stop.\"", "Then he left (quietly.)", "Done"]
        );
    }

    #[test]
    fn sentences_do_not_split_on_abbreviations_initials_or_numbers() {
        let text = "Mr. Smith met Dr. Jones at St. Mary's in the U.S. on Jan. 5 at 3.5 degrees. \
                    J. K. Rowling wrote it, e.g. Book No. 7 vs. Acme Inc. Today it ended.";
        assert_eq!(
            split_sentences(text),
            vec![
                "Mr. Smith met Dr. Jones at St. Mary's in the U.S. on Jan. 5 at 3.5 degrees.",
                "J. K. Rowling wrote it, e.g. Book No. 7 vs. Acme Inc. Today it ended.",
            ]
        );
        assert_eq!(
            split_sentences("Say no. Then leave."),
            vec!["Say no.", "Then leave."]
        );
        assert_eq!(
            split_sentences("wait... what? no way"),
            vec!["wait... what? no way"]
        );
    }

    #[test]
    fn sentences_split_on_paragraph_breaks_and_cover_the_input() {
        let text = "  First line without stop\n \nSecond. Third\nstill third.\n\n\n";
        let sentences = split_sentences(text);
        assert_eq!(
            sentences,
            vec!["First line without stop", "Second.", "Third\nstill third."]
        );
        let covered: String = sentences.concat().split_whitespace().collect();
        let original: String = text.split_whitespace().collect();
        assert_eq!(covered, original);
        assert!(split_sentences(" \n\n ").is_empty());
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
        assert_eq!(
            markdown_inline(r"\*literal\* <https://example.com> [sic] ~~gone~~ ~5"),
            "*literal* https://example.com [sic] gone ~5"
        );
    }
}
