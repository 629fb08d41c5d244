//! Guard-rail checks on one summary against its article, beside ROUGE: copied sentences,
//! numbers and names the article does not contain, and repeated sentences.

use std::collections::HashSet;

use crate::text::split_sentences;

/// Summary sentences shorter than this many words are not checked for copying.
pub const MIN_VERBATIM_WORDS: usize = 6;

/// Number words whose digits count as present when the article spells them out.
const NUMBER_WORDS: [&str; 21] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
];

/// How a summary's checkable tokens fared against its article.
#[derive(Debug, Default, PartialEq)]
pub struct TokenCheck {
    /// Numbers, and capitalised words not at the start of a sentence.
    pub checkable: usize,
    /// The checkable tokens the article does not contain, as written in the summary.
    pub unsupported: Vec<String>,
}

/// Checks the summary's numbers and names against the article.
///
/// A token with a digit (`14`, `$14`, `49%`, `2016`, `28-year-old`) is found when some
/// article token has the same digits, or the article spells the number out (up to twenty).
/// A capitalised word that does not open a sentence is found when each of its
/// alphanumeric parts occurs in the article, ignoring case and a possessive `'s`. The
/// pronoun "I" is not checked.
pub fn check_tokens(summary: &str, article: &str) -> TokenCheck {
    let vocabulary = ArticleVocabulary::new(article);
    let mut check = TokenCheck::default();
    for sentence in split_sentences(summary) {
        for (position, word) in sentence.split_whitespace().enumerate() {
            let token = word.trim_matches(|c: char| {
                !c.is_alphanumeric() && !matches!(c, '$' | '£' | '€' | '%')
            });
            let found = if token.chars().any(|c| c.is_ascii_digit()) {
                vocabulary.numbers.contains(&digits(token))
            } else if position > 0 && is_name(token) {
                name_parts(token).all(|part| vocabulary.words.contains(&part))
            } else {
                continue;
            };
            check.checkable += 1;
            if !found {
                check.unsupported.push(token.to_string());
            }
        }
    }
    check
}

/// The summary's numbers and names that the article does not contain (see
/// `check_tokens`), in summary order.
pub fn unsupported_tokens(summary: &str, article: &str) -> Vec<String> {
    check_tokens(summary, article).unsupported
}

/// Counts the summary's sentences of at least [`MIN_VERBATIM_WORDS`] words, and how many
/// of them occur word for word in the article, ignoring case, spacing, quote style and the
/// closing `.`, `!` or `?`. Returns `(verbatim, long)`.
pub fn verbatim_sentences(summary: &str, article: &str) -> (usize, usize) {
    let article = normalise(article);
    let long: Vec<String> = split_sentences(summary)
        .into_iter()
        .filter(|sentence| sentence.split_whitespace().count() >= MIN_VERBATIM_WORDS)
        .map(normalise_sentence)
        .collect();
    let verbatim = long
        .iter()
        .filter(|sentence| article.contains(sentence.as_str()))
        .count();
    (verbatim, long.len())
}

/// Whether some sentence occurs twice in the summary (compared as in
/// [`verbatim_sentences`]).
pub fn has_repeated_sentence(summary: &str) -> bool {
    let mut seen = HashSet::new();
    split_sentences(summary)
        .into_iter()
        .map(normalise_sentence)
        .filter(|sentence| !sentence.is_empty())
        .any(|sentence| !seen.insert(sentence))
}

/// Lower-cased words and digit strings of an article, for looking tokens up.
struct ArticleVocabulary {
    words: HashSet<String>,
    numbers: HashSet<String>,
}

impl ArticleVocabulary {
    fn new(article: &str) -> Self {
        let words: HashSet<String> = article
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(str::to_lowercase)
            .collect();
        let numbers = article
            .split_whitespace()
            .map(digits)
            .filter(|digits| !digits.is_empty())
            .chain(
                NUMBER_WORDS
                    .iter()
                    .enumerate()
                    .filter(|(_, word)| words.contains(**word))
                    .map(|(n, _)| n.to_string()),
            )
            .collect();
        ArticleVocabulary { words, numbers }
    }
}

fn digits(token: &str) -> String {
    token.chars().filter(char::is_ascii_digit).collect()
}

fn is_name(token: &str) -> bool {
    token.chars().next().is_some_and(char::is_uppercase)
        && token != "I"
        && !token.starts_with("I'")
        && !token.starts_with("I’")
}

/// The lower-cased alphanumeric parts of a name, without a possessive `'s` or `s'`.
fn name_parts(token: &str) -> impl Iterator<Item = String> + '_ {
    let stem = ["'s", "’s", "'", "’"]
        .iter()
        .find_map(|suffix| token.strip_suffix(suffix))
        .unwrap_or(token);
    stem.split(|c: char| !c.is_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(str::to_lowercase)
}

/// Lower-cases the text, makes curly quotes straight and collapses whitespace to single
/// spaces.
fn normalise(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .join(" ")
        .to_lowercase()
        .replace(['‘', '’'], "'")
        .replace(['“', '”'], "\"")
}

fn normalise_sentence(sentence: &str) -> String {
    normalise(sentence.trim_end_matches(['.', '!', '?']))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARTICLE: &str = "Emmanuel Adebayor's video was posted on Sunday. The Togo \
        international, 31, joined Spurs in 2011 for £5million, and his form dropped 49 per \
        cent. Three clubs want him. O'Neill said: 'He is eccentric.'";

    #[test]
    fn supported_numbers_and_names_pass() {
        let summary = "Adebayor's video shows the Togo striker, 31. He joined Spurs in \
            2011 for $5 million, scoring 49% less, and 3 clubs want him, O’Neill said.";
        assert_eq!(
            check_tokens(summary, ARTICLE),
            TokenCheck {
                checkable: 8,
                unsupported: vec![]
            }
        );
    }

    #[test]
    fn invented_numbers_and_names_are_reported() {
        let summary = "Adebayor, 32, joined Tottenham in 2016 for £14m. Fans in Paris \
            cheered Adebayor's dance.";
        assert_eq!(
            unsupported_tokens(summary, ARTICLE),
            ["32", "Tottenham", "2016", "£14m", "Paris"]
        );
    }

    #[test]
    fn sentence_openers_and_the_pronoun_are_not_checked() {
        let summary = "Yesterday I saw it. Meanwhile, I'm told nothing happened.";
        assert_eq!(check_tokens(summary, ARTICLE), TokenCheck::default());
    }

    #[test]
    fn verbatim_sentences_ignore_case_spacing_and_short_sentences() {
        let summary = "the togo international,  31, JOINED spurs in 2011 for £5million! \
            His form improved a lot this year. Three clubs want him.";
        assert_eq!(verbatim_sentences(summary, ARTICLE), (1, 2));
    }

    #[test]
    fn repeated_sentences_are_detected() {
        assert!(has_repeated_sentence(
            "He joined Spurs. He scored. He joined  spurs!"
        ));
        assert!(!has_repeated_sentence("He joined Spurs. He scored."));
    }
}
