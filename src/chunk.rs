//! Token-aware chunking: splits an article into pieces that each fit a model's
//! token budget, breaking at paragraph boundaries first, then sentences, then words,
//! with an optional overlap of trailing sentences between consecutive chunks.

use std::ops::Range;

use crate::text::sentence_ranges;

/// A contiguous slice of the input text and its token count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub text: String,
    pub tokens: usize,
}

/// The smallest unit a chunk is built from: a sentence, or a run of words of a
/// sentence too long for the budget.
struct Piece {
    range: Range<usize>,
    tokens: usize,
    paragraph: usize,
}

/// A paragraph as a range of piece indices, with its estimated token count.
struct Paragraph {
    pieces: Range<usize>,
    tokens: usize,
}

/// Splits `text` into chunks of at most `budget` tokens as measured by
/// `count_tokens` (a budget of 0 is treated as 1).
///
/// Whole paragraphs are packed greedily while they fit; a paragraph too long on its
/// own is packed sentence by sentence, and a sentence too long on its own word by
/// word (a single word over the budget becomes a chunk of its own). Each chunk
/// after the first starts with the trailing sentences of the previous one, up to
/// `overlap` tokens, shrunk as needed to respect the budget. Chunks are slices of
/// `text`, so paragraph breaks inside a chunk are kept.
///
/// Sentences and over-long words are counted once each and their counts summed to
/// plan a chunk; each planned chunk is then counted once for real and trimmed if
/// the sum underestimated it.
pub fn chunk_text(
    text: &str,
    budget: usize,
    overlap: usize,
    count_tokens: &dyn Fn(&str) -> usize,
) -> Vec<Chunk> {
    if text.trim().is_empty() {
        return Vec::new();
    }
    let budget = budget.max(1);
    let whole = count_tokens(text);
    if whole <= budget {
        return vec![Chunk {
            text: text.to_string(),
            tokens: whole,
        }];
    }
    let pieces = split_into_pieces(text, budget, count_tokens);
    let paragraphs = group_paragraphs(&pieces);
    let span = |pieces_range: Range<usize>| {
        &text[pieces[pieces_range.start].range.start..pieces[pieces_range.end - 1].range.end]
    };
    let estimate = |pieces_range: Range<usize>| -> usize {
        pieces[pieces_range].iter().map(|piece| piece.tokens).sum()
    };

    let mut chunks = Vec::new();
    // `next` is the first piece no chunk has covered yet; `overlap_start..next` are
    // the previous chunk's trailing pieces repeated at the start of this one.
    let mut next = 0;
    let mut overlap_start = 0;
    while next < pieces.len() {
        let mut start = overlap_start;
        let mut end = next;
        let mut planned = estimate(start..next);
        while end < pieces.len() {
            let paragraph = &paragraphs[pieces[end].paragraph];
            let step_end = if paragraph.pieces.start == end && paragraph.tokens <= budget {
                paragraph.pieces.end
            } else {
                end + 1
            };
            let step = estimate(end..step_end);
            if planned + step > budget {
                if end > next {
                    break;
                }
                while start < next && planned + step > budget {
                    planned -= pieces[start].tokens;
                    start += 1;
                }
            }
            planned += step;
            end = step_end;
        }

        let mut tokens = count_tokens(span(start..end));
        while tokens > budget && end - start > 1 {
            if start < next {
                start += 1;
            } else {
                end -= 1;
            }
            tokens = count_tokens(span(start..end));
        }
        chunks.push(Chunk {
            text: span(start..end).to_string(),
            tokens,
        });
        next = end;
        overlap_start = overlap_start_for(&pieces, start..end, overlap);
    }
    chunks
}

/// First piece of the longest proper suffix of `chunk` within `overlap` tokens
/// (`chunk.end` when nothing fits or `overlap` is 0).
fn overlap_start_for(pieces: &[Piece], chunk: Range<usize>, overlap: usize) -> usize {
    if overlap == 0 {
        return chunk.end;
    }
    let mut start = chunk.end;
    let mut total = 0;
    while start > chunk.start + 1 && total + pieces[start - 1].tokens <= overlap {
        total += pieces[start - 1].tokens;
        start -= 1;
    }
    start
}

/// Sentences of `text` with their token counts and paragraph numbers; sentences
/// over `budget` are replaced by runs of their words.
fn split_into_pieces(
    text: &str,
    budget: usize,
    count_tokens: &dyn Fn(&str) -> usize,
) -> Vec<Piece> {
    let mut pieces: Vec<Piece> = Vec::new();
    let mut paragraph = 0;
    let mut previous_end = 0;
    for sentence in sentence_ranges(text) {
        if previous_end > 0 && text[previous_end..sentence.start].matches('\n').count() >= 2 {
            paragraph += 1;
        }
        previous_end = sentence.end;
        let tokens = count_tokens(&text[sentence.clone()]);
        if tokens <= budget {
            pieces.push(Piece {
                range: sentence,
                tokens,
                paragraph,
            });
        } else {
            pieces.extend(
                split_into_word_runs(text, sentence, budget, count_tokens)
                    .into_iter()
                    .map(|(range, tokens)| Piece {
                        range,
                        tokens,
                        paragraph,
                    }),
            );
        }
    }
    pieces
}

/// Splits the over-long sentence `text[sentence]` into runs of whole words of at
/// most `budget` tokens each (a single longer word is a run of its own).
fn split_into_word_runs(
    text: &str,
    sentence: Range<usize>,
    budget: usize,
    count_tokens: &dyn Fn(&str) -> usize,
) -> Vec<(Range<usize>, usize)> {
    let words = word_ranges(text, sentence);
    let word_tokens: Vec<usize> = words
        .iter()
        .map(|word| count_tokens(&text[word.clone()]))
        .collect();
    let run_text = |run: Range<usize>| &text[words[run.start].start..words[run.end - 1].end];
    let mut runs = Vec::new();
    let mut first = 0;
    while first < words.len() {
        let mut last = first + 1;
        let mut planned = word_tokens[first];
        while last < words.len() && planned + word_tokens[last] <= budget {
            planned += word_tokens[last];
            last += 1;
        }
        let mut tokens = count_tokens(run_text(first..last));
        while tokens > budget && last - first > 1 {
            let word_count = last - first;
            last = first + (word_count * budget / tokens).clamp(1, word_count - 1);
            tokens = count_tokens(run_text(first..last));
        }
        runs.push((words[first].start..words[last - 1].end, tokens));
        first = last;
    }
    runs
}

/// Byte ranges (into `text`) of the whitespace-separated words of `text[range]`.
fn word_ranges(text: &str, range: Range<usize>) -> Vec<Range<usize>> {
    let mut words = Vec::new();
    let mut word_start = None;
    for (offset, character) in text[range.clone()].char_indices() {
        let position = range.start + offset;
        match (character.is_whitespace(), word_start) {
            (false, None) => word_start = Some(position),
            (true, Some(start)) => {
                words.push(start..position);
                word_start = None;
            }
            _ => {}
        }
    }
    words.extend(word_start.map(|start| start..range.end));
    words
}

fn group_paragraphs(pieces: &[Piece]) -> Vec<Paragraph> {
    let mut paragraphs: Vec<Paragraph> = Vec::new();
    for (index, piece) in pieces.iter().enumerate() {
        match paragraphs.get_mut(piece.paragraph) {
            Some(paragraph) => {
                paragraph.pieces.end = index + 1;
                paragraph.tokens += piece.tokens;
            }
            None => paragraphs.push(Paragraph {
                pieces: index..index + 1,
                tokens: piece.tokens,
            }),
        }
    }
    paragraphs
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::text::split_sentences;

    fn words(text: &str) -> usize {
        text.split_whitespace().count()
    }

    fn quarter_chars(text: &str) -> usize {
        text.chars().count().div_ceil(4)
    }

    /// Paragraphs of distinct eight-word sentences, e.g. "Item 2 of part 1 was
    /// checked today."
    fn sample_text(sentences_per_paragraph: &[usize]) -> String {
        sentences_per_paragraph
            .iter()
            .enumerate()
            .map(|(paragraph, &sentences)| {
                (0..sentences)
                    .map(|sentence| {
                        format!("Item {sentence} of part {paragraph} was checked today.")
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    /// Chunks are slices of `text` that start in order, leave no gap and together
    /// reach from its first to its last non-whitespace character.
    fn assert_covers_in_order(text: &str, chunks: &[Chunk]) {
        let mut covered_to = text.len() - text.trim_start().len();
        let mut previous_start = None;
        for chunk in chunks {
            let search_from = previous_start.map_or(0, |start: usize| start + 1);
            let start = search_from
                + text[search_from..]
                    .find(&chunk.text)
                    .unwrap_or_else(|| panic!("chunk {:?} is not a slice of the text", chunk.text));
            assert!(
                text[covered_to.min(start)..start].trim().is_empty(),
                "gap before {:?}",
                chunk.text
            );
            covered_to = covered_to.max(start + chunk.text.len());
            previous_start = Some(start);
        }
        assert_eq!(covered_to, text.trim_end().len());
    }

    #[test]
    fn text_that_fits_is_one_chunk_equal_to_the_text() {
        let text = "Short one. Another.\n\nNew paragraph.\n";
        assert_eq!(
            chunk_text(text, 100, 10, &words),
            vec![Chunk {
                text: text.to_string(),
                tokens: 5
            }]
        );
    }

    #[test]
    fn empty_text_has_no_chunks() {
        assert!(chunk_text("", 10, 2, &words).is_empty());
        assert!(chunk_text(" \n\n \t", 10, 2, &words).is_empty());
    }

    #[test]
    fn chunks_respect_budget_and_cover_the_text_for_both_counters() {
        let text = sample_text(&[3, 1, 7, 2, 12, 4]);
        let counters: [&dyn Fn(&str) -> usize; 2] = [&words, &quarter_chars];
        for count_tokens in counters {
            for budget in [5, 9, 20, 37, 64] {
                for overlap in [0, 3, 10, 80] {
                    let chunks = chunk_text(&text, budget, overlap, count_tokens);
                    assert!(chunks.len() > 1);
                    for chunk in &chunks {
                        assert_eq!(chunk.tokens, count_tokens(&chunk.text));
                        assert!(chunk.tokens <= budget, "{chunk:?} over {budget}");
                    }
                    assert_covers_in_order(&text, &chunks);
                }
            }
        }
    }

    #[test]
    fn every_sentence_appears_whole_when_sentences_fit() {
        let text = sample_text(&[4, 9, 2]);
        let chunks = chunk_text(&text, 20, 0, &words);
        for sentence in split_sentences(&text) {
            assert!(
                chunks.iter().any(|chunk| chunk.text.contains(sentence)),
                "{sentence:?} missing"
            );
        }
    }

    #[test]
    fn overlap_repeats_trailing_sentences_only_when_requested() {
        let text = sample_text(&[20]);
        let with_overlap = chunk_text(&text, 24, 8, &words);
        assert!(with_overlap.len() > 2);
        for pair in with_overlap.windows(2) {
            let last_sentence = *split_sentences(&pair[0].text).last().unwrap();
            assert!(pair[1].text.starts_with(last_sentence), "{pair:?}");
        }

        let without_overlap = chunk_text(&text, 24, 0, &words);
        for pair in without_overlap.windows(2) {
            for sentence in split_sentences(&pair[1].text) {
                assert!(!pair[0].text.contains(sentence), "{sentence:?} repeated");
            }
        }
        assert!(without_overlap.len() < with_overlap.len());
    }

    #[test]
    fn paragraph_boundaries_are_preferred_over_sentence_boundaries() {
        // 24 + 16 words: the first sentence of the second paragraph would still fit
        // after the first paragraph, but the chunk ends at the paragraph break.
        let text = sample_text(&[3, 2]);
        let chunks = chunk_text(&text, 32, 0, &words);
        let paragraphs: Vec<&str> = text.split("\n\n").collect();
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].text, paragraphs[0]);
        assert_eq!(chunks[1].text, paragraphs[1]);
    }

    #[test]
    fn paragraph_breaks_inside_a_chunk_are_kept() {
        let text = sample_text(&[1, 1, 6]);
        let chunks = chunk_text(&text, 20, 0, &words);
        assert_eq!(
            chunks[0].text,
            text.split("\n\n").take(2).collect::<Vec<_>>().join("\n\n")
        );
    }

    #[test]
    fn an_oversized_paragraph_is_packed_sentence_by_sentence() {
        let text = sample_text(&[2, 10]);
        let chunks = chunk_text(&text, 40, 0, &words);
        assert_eq!(
            chunks.iter().map(|chunk| chunk.tokens).collect::<Vec<_>>(),
            vec![40, 40, 16]
        );
        assert!(chunks[0].text.contains("\n\n"));
    }

    #[test]
    fn a_giant_sentence_is_split_between_words() {
        let sentence = (1..=30)
            .map(|n| format!("word{n}"))
            .collect::<Vec<_>>()
            .join(" ")
            + ".";
        let text = format!("Intro here.\n\n{sentence}");
        let chunks = chunk_text(&text, 7, 0, &words);
        let rejoined: Vec<&str> = chunks
            .iter()
            .flat_map(|chunk| chunk.text.split_whitespace())
            .collect();
        assert_eq!(rejoined, text.split_whitespace().collect::<Vec<_>>());
        assert!(chunks.iter().all(|chunk| chunk.tokens <= 7));
    }

    #[test]
    fn a_word_longer_than_the_budget_is_its_own_chunk() {
        let long_word = "x".repeat(40);
        let text = format!("Tiny start. {long_word} tiny end.");
        let chunks = chunk_text(&text, 4, 2, &quarter_chars);
        let long_chunk = chunks
            .iter()
            .find(|chunk| chunk.text.contains(&long_word))
            .unwrap();
        assert_eq!(long_chunk.text, long_word);
        assert_eq!(long_chunk.tokens, 10);
        assert_covers_in_order(&text, &chunks);
    }

    #[test]
    fn overlap_larger_than_budget_still_terminates_within_budget() {
        let text = sample_text(&[5, 5]);
        let chunks = chunk_text(&text, 10, 50, &words);
        assert!(chunks.iter().all(|chunk| chunk.tokens <= 10));
        assert_covers_in_order(&text, &chunks);
        assert!(chunk_text(&text, 0, 50, &words)
            .iter()
            .all(|chunk| chunk.tokens == 1));
    }

    #[test]
    fn token_counting_is_linear_in_sentences() {
        let text = sample_text(&[40, 40, 40]);
        let calls = Cell::new(0usize);
        let counting = |text: &str| {
            calls.set(calls.get() + 1);
            words(text)
        };
        let chunks = chunk_text(&text, 50, 10, &counting);
        let sentences = split_sentences(&text).len();
        assert_eq!(calls.get(), 1 + sentences + chunks.len());
    }
}
