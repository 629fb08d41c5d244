//! ROUGE scoring as Google's `rouge-score` 0.1.2 computes it (Porter stemmer on, F1 × 100),
//! through the `rougers` crate, plus the sentence handling the published figures rely on:
//! references split on the PTB ` . ` joiner, and the LEAD-3 baseline.

use std::sync::LazyLock;

use rougers::{Document, RougeScorer, RougeType};
use serde::Serialize;

/// ROUGE F1 scores, each × 100.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RougeScores {
    pub rouge1: f64,
    pub rouge2: f64,
    pub rouge_lsum: f64,
}

static SCORER: LazyLock<RougeScorer> = LazyLock::new(|| {
    RougeScorer::new(["rouge1", "rouge2", "rougeLsum"], true)
        .expect("rouge1, rouge2 and rougeLsum are valid ROUGE types")
});

/// Scores a prediction against a reference, each given as its sentences.
///
/// ROUGE-1 and ROUGE-2 see the sentences as one token stream; ROUGE-Lsum takes the union
/// LCS of each reference sentence against the prediction sentences, as `rouge-score` does
/// for newline-separated texts.
pub fn rouge(prediction_sentences: &[&str], reference_sentences: &[&str]) -> RougeScores {
    let prediction = document(prediction_sentences);
    let reference = document(reference_sentences);
    let scores = SCORER.score_documents(&reference, &prediction);
    let f1 = |rouge_type| {
        scores
            .get(rouge_type)
            .expect("the scorer computes every requested type")
            .fmeasure
            * 100.0
    };
    RougeScores {
        rouge1: f1(RougeType::N(1)),
        rouge2: f1(RougeType::N(2)),
        rouge_lsum: f1(RougeType::LSum),
    }
}

/// Tokenizes each sentence; sentences without tokens add nothing to any score, so they
/// are dropped, like `rouge-score` drops empty lines.
fn document(sentences: &[&str]) -> Document {
    let sentences: Vec<Vec<String>> = sentences
        .iter()
        .map(|sentence| SCORER.tokenizer().tokenize(sentence))
        .filter(|tokens| !tokens.is_empty())
        .collect();
    Document {
        tokens: sentences.concat(),
        sentences,
    }
}

/// Sentences of a CNN/DailyMail reference in Penn-Treebank form, whose highlights are
/// joined by ` . ` (the last one keeps its closing ` .`).
pub fn reference_sentences(reference: &str) -> Vec<&str> {
    reference
        .split(" . ")
        .map(str::trim)
        .filter(|sentence| !sentence.is_empty())
        .collect()
}

/// The LEAD-3 baseline: the article's first three sentences by [`summary_sentences`], one
/// per line.
///
/// This splitter, not a smarter one, is what reproduces the published LEAD-3 figures
/// (they were computed with Python's `re.split(r"(?<=[.!?])\s+", article)[:3]`); it
/// splits "the U.S. from Ukraine" after "U.S." and keeps "poverty.' Scroll" together.
pub fn lead3(article: &str) -> String {
    summary_sentences(article)
        .into_iter()
        .take(3)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Splits text into sentences for ROUGE-Lsum: at every line break, and after `.`, `!` or
/// `?` directly followed by whitespace, whatever comes next. Sentences are trimmed and
/// empty ones dropped. Every system's summary is split this way, so that LEAD-3 (whose
/// sentences it recovers exactly) and model outputs are scored alike.
pub fn summary_sentences(text: &str) -> Vec<&str> {
    let mut sentences = Vec::new();
    let mut start = 0;
    let mut previous = None;
    for (at, c) in text.char_indices() {
        if c == '\n' || (c.is_whitespace() && matches!(previous, Some('.' | '!' | '?'))) {
            sentences.push(text[start..at].trim());
            start = at;
        }
        previous = Some(c);
    }
    sentences.push(text[start..].trim());
    sentences.retain(|sentence| !sentence.is_empty());
    sentences
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_scores(scores: RougeScores, rouge1: f64, rouge2: f64, rouge_lsum: f64) {
        let expected = [rouge1, rouge2, rouge_lsum];
        let actual = [scores.rouge1, scores.rouge2, scores.rouge_lsum];
        for (actual, expected) in actual.iter().zip(expected) {
            assert!(
                (actual - expected).abs() < 1e-9,
                "{scores:?}, expected {expected:?}"
            );
        }
    }

    #[test]
    fn identical_texts_score_100() {
        let sentences = ["Police arrested a man on Monday.", "He was released."];
        assert_scores(rouge(&sentences, &sentences), 100.0, 100.0, 100.0);
    }

    #[test]
    fn disjoint_texts_score_0() {
        assert_scores(
            rouge(&["Cats sleep all day."], &["Markets fell sharply."]),
            0.0,
            0.0,
            0.0,
        );
    }

    #[test]
    fn stemming_matches_inflected_forms() {
        // Stemmed tokens: [the cat were run] against [the cat run].
        // R-1: 3 shared, P 3/4, R 3/3, F 6/7. R-2: "the cat" shared, P 1/3, R 1/2, F 2/5.
        // Lsum: the LCS is "the cat run", as R-1.
        assert_scores(
            rouge(&["The cats were running."], &["The cat runs."]),
            600.0 / 7.0,
            40.0,
            600.0 / 7.0,
        );
    }

    #[test]
    fn lsum_unions_per_sentence_matches() {
        // Reference (8 tokens): "police arrested the man" / "he was released later";
        // prediction (7 tokens): "he was released" / "police arrested a man".
        // R-1: 6 shared, P 6/7, R 6/8, F 4/5. R-2: "police arrested", "he was" and
        // "was released" shared of 6 and 7 bigrams, F 6/13. Lsum: 3 + 3 LCS hits, F 4/5,
        // where one LCS over the concatenations would find only 3.
        assert_scores(
            rouge(
                &["He was released.", "Police arrested a man."],
                &["Police arrested the man", "he was released later"],
            ),
            80.0,
            600.0 / 13.0,
            80.0,
        );
    }

    #[test]
    fn reference_sentences_split_on_ptb_joiner() {
        assert_eq!(
            reference_sentences("He did n't go . Locke 's dog ran . It was 5.30 pm ."),
            ["He did n't go", "Locke 's dog ran", "It was 5.30 pm ."]
        );
    }

    #[test]
    fn summary_sentences_split_after_terminator_and_whitespace() {
        let text = "Moved to the U.S. from Ukraine. 'Stop.' Scroll down!  Why?\nNext line\n\nEnd";
        assert_eq!(
            summary_sentences(text),
            [
                "Moved to the U.S.",
                "from Ukraine.",
                "'Stop.' Scroll down!",
                "Why?",
                "Next line",
                "End"
            ]
        );
    }

    #[test]
    fn lead3_takes_first_three_sentences_one_per_line() {
        let article = "One. Two is\u{a0}here! Three? Four.";
        assert_eq!(lead3(article), "One.\nTwo is\u{a0}here!\nThree?");
        assert_eq!(lead3("Only one"), "Only one");
    }
}
