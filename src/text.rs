//! Words and sentences, as every stage measures text: word counts, the sentence splitter
//! (abbreviations, initials and numbers kept whole) and the one rule for what ends a
//! sentence.

use std::ops::Range;

/// Number of whitespace-separated words.
pub fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Words of prose in `text`: whitespace-separated words made of letters once the
/// punctuation around them is taken off (an apostrophe or a hyphen between letters
/// allowed). A URL, code (`main()`, `x.split()`), markup, a hash or a number is none.
pub fn prose_word_count(text: &str) -> usize {
    const OPENING: &[char] = &['(', '[', '"', '\'', '“', '‘', '«', '¿', '¡'];
    const CLOSING: &[char] = &[
        '.', ',', ';', ':', '!', '?', ')', ']', '"', '\'', '”', '’', '»', '…',
    ];
    text.split_whitespace()
        .filter(|word| {
            let core = word.trim_start_matches(OPENING).trim_end_matches(CLOSING);
            let chars: Vec<char> = core.chars().collect();
            !chars.is_empty()
                && chars.iter().enumerate().all(|(i, &c)| {
                    c.is_alphabetic()
                        || (matches!(c, '\'' | '’' | '-')
                            && i > 0
                            && chars[i - 1].is_alphabetic()
                            && chars.get(i + 1).is_some_and(|n| n.is_alphabetic()))
                })
        })
        .count()
}

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

/// Whether `text` ends a sentence: after any closing quotes and brackets, its last
/// character is a sentence-ending mark (`.`, `!`, `?` or `…`). The one rule for "ends a
/// sentence" in abridge: the splitter above, the cleaner's fragments and wrapped lines, and
/// the summary's length stop all use it.
pub fn ends_sentence(text: &str) -> bool {
    text.trim_end()
        .trim_end_matches(is_closing)
        .ends_with(is_terminal)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn sentence_ends_are_recognised_through_closing_quotes_and_brackets() {
        assert!(ends_sentence("He said \"yes.\" "));
        assert!(ends_sentence("Done!"));
        assert!(ends_sentence("It ended (at last.)"));
        assert!(ends_sentence("And then…"));
        assert!(!ends_sentence("The figure was 3"));
        assert!(!ends_sentence("Reuters (AP)"));
        assert!(!ends_sentence(""));
    }

    #[test]
    fn prose_words_leave_out_urls_code_and_numbers() {
        let prose = "The council's well-known plan (\"phase two\") costs $4 million.";
        assert_eq!(prose_word_count(prose), 8);
        assert_eq!(prose_word_count("https://example.org/story?id=7"), 0);
        assert_eq!(
            prose_word_count("fn main() { let x = vec![1, 2]; x.len() }"),
            3
        );
        assert_eq!(prose_word_count("2024 9-4 38,000 — #ai"), 0);
    }
}
