//! Turning extracted text into clean prose: whitespace, quotes and line endings
//! normalised, hard-wrapped lines rejoined, and scraped boilerplate (share prompts, source
//! links, copyright lines, stray fragments at the end) removed.

use crate::text::{ends_sentence, word_count};
use std::ops::RangeInclusive;

/// Lines longer than this are never treated as boilerplate by pattern.
const MAX_BOILERPLATE_WORDS: usize = 25;

/// Lines this short without closing punctuation are "fragments" (stray labels,
/// captions); they are dropped only inside a trailing boilerplate block.
const MAX_FRAGMENT_WORDS: usize = 6;

/// A short "Please ..." line without closing punctuation is a call to action.
const MAX_PLEA_WORDS: usize = 8;

/// Widths (in characters) at which text may be hard-wrapped.
const WRAP_WIDTHS: RangeInclusive<usize> = 40..=100;

/// Normalises scraped text into paragraphs joined by `"\n\n"`: unified line
/// endings, straight quotes, single spaces, trimmed lines, boilerplate removed.
/// Every non-empty line is a paragraph, except in text hard-wrapped at a fixed
/// width, where the lines of each blank-line-separated block are rejoined.
pub(super) fn clean(text: &str) -> String {
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

/// `text` without its leading `phrase`, if `phrase` is a whole-word prefix.
fn strip_phrase<'a>(text: &'a str, phrase: &str) -> Option<&'a str> {
    let rest = text.strip_prefix(phrase)?;
    let ends_in_word = phrase.ends_with(char::is_alphanumeric);
    let continues_word = rest.starts_with(char::is_alphanumeric);
    (!(ends_in_word && continues_word)).then_some(rest)
}
