//! `abridge eval`: reads the evaluation pairs, produces the model's and the baseline's
//! predictions (`run`), scores each system's summaries (ROUGE and guard-rail metrics,
//! with the standard deviation over rows beside each mean) and renders the comparison table
//! with a legend of its columns and a warning under a small sample. Scoring knows nothing of models: it takes [`Prediction`]s.
//! Sentiment rows (headline, company, gold score) are scored in `sentiment.rs`.

mod guardrails;
mod rouge;
mod run;
mod sentiment;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::anyhow;
use serde::{Deserialize, Serialize};

pub use guardrails::unsupported_tokens;
pub use rouge::{lead3, reference_sentences, rouge, summary_sentences, RougeScores};
pub use run::{lead3_predictions, summarize_rows, write_predictions};
pub use sentiment::{
    is_sentiment_data, render_sentiment_table, score_rows as score_sentiment_rows, score_sentiment,
    sentiment_rows, write_sentiment_predictions, zero_predictions, SentimentPrediction,
    SentimentRow, SentimentScores,
};

/// One evaluation pair: an article and its reference summary (PTB-tokenised, sentences
/// joined by ` . `).
#[derive(Debug, Clone, Deserialize)]
pub struct EvalRow {
    pub id: String,
    pub article: String,
    pub reference: String,
}

/// Reads evaluation rows (pairs of article and reference, or [`SentimentRow`]s) from a JSON
/// Lines file, skipping blank lines and stopping after `limit` rows. Errors are one line
/// naming the file and line number.
pub fn read_rows<T: serde::de::DeserializeOwned>(
    path: &Path,
    limit: Option<usize>,
) -> anyhow::Result<Vec<T>> {
    let file = File::open(path).map_err(|e| anyhow!("cannot open {}: {e}", path.display()))?;
    let mut rows = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        if limit.is_some_and(|limit| rows.len() >= limit) {
            break;
        }
        let number = index + 1;
        let line = line.map_err(|e| anyhow!("{}:{number}: {e}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let row = serde_json::from_str(&line).map_err(|e| {
            // serde_json ends its message with the position inside the line; report the
            // column beside the file's line number instead.
            let message = e.to_string();
            let message = message
                .rsplit_once(" at line ")
                .map_or(message.as_str(), |(message, _)| message);
            anyhow!("{}:{number}:{}: {message}", path.display(), e.column())
        })?;
        rows.push(row);
    }
    Ok(rows)
}

/// A system's summary of one row's article.
#[derive(Debug, Clone)]
pub struct Prediction {
    /// The [`EvalRow::id`] of the article summarised.
    pub id: String,
    pub summary: String,
    /// Time taken to produce the summary; 0 where it was not timed (baselines).
    pub seconds: f64,
}

/// One system's scores, averaged over the rows it summarised; each `*_sd` is the sample
/// standard deviation over the rows of the mean before it (0 for a single row).
#[derive(Debug, Clone, Serialize)]
pub struct SystemScores {
    pub system: String,
    /// Mean ROUGE-1 F1 × 100.
    pub rouge1: f64,
    pub rouge1_sd: f64,
    /// Mean ROUGE-2 F1 × 100.
    pub rouge2: f64,
    pub rouge2_sd: f64,
    /// Mean ROUGE-Lsum F1 × 100.
    pub rouge_lsum: f64,
    pub rouge_lsum_sd: f64,
    /// Mean whitespace-separated words per summary.
    pub avg_words: f64,
    pub avg_words_sd: f64,
    /// Mean seconds per summary; `None` when no prediction was timed.
    pub avg_seconds: Option<f64>,
    pub avg_seconds_sd: Option<f64>,
    /// Share (0–1) of summary sentences of 6 words or more that occur word for word in
    /// the article.
    pub verbatim_sentence_share: f64,
    /// Share (0–1) of checkable summary tokens (numbers, names) not found in the article.
    pub unsupported_token_rate: f64,
    /// Share (0–1) of summaries that repeat a sentence.
    pub repeated_sentence_rate: f64,
    /// Rows scored: one per prediction.
    pub rows: usize,
}

/// Scores a system's predictions against their rows.
///
/// ROUGE compares [`summary_sentences`] of each summary with the
/// [`reference_sentences`] of its row, the way the published figures were computed; the
/// guard-rail metrics use the project's sentence splitter.
///
/// # Panics
///
/// If a prediction's id names no row.
pub fn score_system(system: &str, rows: &[EvalRow], predictions: &[Prediction]) -> SystemScores {
    let rows_by_id: HashMap<&str, &EvalRow> =
        rows.iter().map(|row| (row.id.as_str(), row)).collect();
    let (mut rouge1, mut rouge2, mut rouge_lsum) = (Vec::new(), Vec::new(), Vec::new());
    let (mut words, mut seconds) = (Vec::new(), Vec::new());
    let (mut verbatim, mut long_sentences) = (0, 0);
    let (mut unsupported, mut checkable) = (0, 0);
    let mut repeating_summaries = 0;
    for prediction in predictions {
        let row = rows_by_id
            .get(prediction.id.as_str())
            .unwrap_or_else(|| panic!("prediction for unknown row id {:?}", prediction.id));
        let summary = &prediction.summary;
        let scores = rouge(
            &summary_sentences(summary),
            &reference_sentences(&row.reference),
        );
        rouge1.push(scores.rouge1);
        rouge2.push(scores.rouge2);
        rouge_lsum.push(scores.rouge_lsum);
        words.push(summary.split_whitespace().count() as f64);
        seconds.push(prediction.seconds);
        let (row_verbatim, row_long) = guardrails::verbatim_sentences(summary, &row.article);
        verbatim += row_verbatim;
        long_sentences += row_long;
        let tokens = guardrails::check_tokens(summary, &row.article);
        unsupported += tokens.unsupported.len();
        checkable += tokens.checkable;
        repeating_summaries += usize::from(guardrails::has_repeated_sentence(summary));
    }
    let count = predictions.len();
    let timed = predictions
        .iter()
        .any(|prediction| prediction.seconds != 0.0);
    let [rouge1, rouge2, rouge_lsum, words, seconds] =
        [rouge1, rouge2, rouge_lsum, words, seconds].map(|values| mean_sd(&values));
    SystemScores {
        system: system.to_string(),
        rouge1: rouge1.0,
        rouge1_sd: rouge1.1,
        rouge2: rouge2.0,
        rouge2_sd: rouge2.1,
        rouge_lsum: rouge_lsum.0,
        rouge_lsum_sd: rouge_lsum.1,
        avg_words: words.0,
        avg_words_sd: words.1,
        avg_seconds: timed.then_some(seconds.0),
        avg_seconds_sd: timed.then_some(seconds.1),
        verbatim_sentence_share: ratio(verbatim as f64, long_sentences),
        unsupported_token_rate: ratio(unsupported as f64, checkable),
        repeated_sentence_rate: ratio(repeating_summaries as f64, count),
        rows: count,
    }
}

/// The mean of `values` and their sample standard deviation (n − 1 in the denominator; 0
/// for fewer than two values); (0, 0) when there are none.
fn mean_sd(values: &[f64]) -> (f64, f64) {
    let mean = ratio(values.iter().sum(), values.len());
    let squares: f64 = values.iter().map(|value| (value - mean).powi(2)).sum();
    let sd = ratio(squares, values.len().saturating_sub(1)).sqrt();
    (mean, sd)
}

/// Fewer rows than this make a sample too small to compare systems on: the tables say so.
pub const SMALL_SAMPLE: usize = 20;

/// `table`, then the legend of its columns (heading, meaning), then a warning when fewer
/// than [`SMALL_SAMPLE`] rows were scored.
fn explained(table: String, columns: &[(&str, &str)], rows: usize) -> String {
    let width = columns.iter().map(|(h, _)| h.len()).max().unwrap_or(0);
    let mut out = table + "\n";
    for (heading, meaning) in columns {
        out += &format!("  {heading:<width$}  {meaning}\n");
    }
    if rows < SMALL_SAMPLE {
        out += &format!(
            "warning: only {rows} rows evaluated: under {SMALL_SAMPLE}, the means and their \
             spread say little, and a difference between systems may be chance\n"
        );
    }
    out
}

/// `total / count`, or 0 when there is nothing to divide by.
fn ratio(total: f64, count: usize) -> f64 {
    if count == 0 {
        0.0
    } else {
        total / count as f64
    }
}

/// The columns of [`render_table`]: heading, and what the legend says of it.
const COLUMNS: [(&str, &str); 10] = [
    ("system", "the model, or the baseline (lead3: the article's first three sentences)"),
    ("R-1", "ROUGE-1 F1 × 100 against the reference: mean over rows ± standard deviation"),
    ("R-2", "ROUGE-2 F1 × 100, mean ± standard deviation"),
    ("R-Lsum", "ROUGE-Lsum F1 × 100 (longest common subsequences, sentence by sentence), mean ± sd"),
    ("words", "words per summary, mean ± standard deviation"),
    ("s/article", "seconds per summary, mean ± sd (rows decoded together share their time; - untimed)"),
    ("verbatim", "of all summary sentences of 6 words or more, those found word for word in the article (case, spacing, quotes and the closing .!? ignored)"),
    ("unsupported", "of all numbers and names in the summaries (capitalised words not opening a sentence, \"I\" aside), those the article lacks: same digits or spelt out up to twenty; a name's parts, case and 's ignored"),
    ("repeated", "summaries with a sentence that occurs twice (compared as for verbatim)"),
    ("rows", "rows scored; the ± is the spread of single rows: the mean's own uncertainty is about 2 sd / √rows"),
];

/// Renders systems' scores as an aligned text table, one system a row, with a legend of
/// its columns under it and a warning when fewer than [`SMALL_SAMPLE`] rows were scored.
pub fn render_table(rows: &[SystemScores]) -> String {
    let percent = |share: f64| format!("{:.1}%", share * 100.0);
    let header = COLUMNS.map(|(heading, _)| heading.to_string());
    let body = rows.iter().map(|scores| {
        [
            scores.system.clone(),
            format!("{:.2} ±{:.1}", scores.rouge1, scores.rouge1_sd),
            format!("{:.2} ±{:.1}", scores.rouge2, scores.rouge2_sd),
            format!("{:.2} ±{:.1}", scores.rouge_lsum, scores.rouge_lsum_sd),
            format!("{:.1} ±{:.1}", scores.avg_words, scores.avg_words_sd),
            match (scores.avg_seconds, scores.avg_seconds_sd) {
                (Some(mean), Some(sd)) => format!("{mean:.2} ±{sd:.2}"),
                _ => "-".to_string(),
            },
            percent(scores.verbatim_sentence_share),
            percent(scores.unsupported_token_rate),
            percent(scores.repeated_sentence_rate),
            scores.rows.to_string(),
        ]
    });
    let lines: Vec<[String; 10]> = std::iter::once(header).chain(body).collect();
    let scored = rows.iter().map(|scores| scores.rows).max().unwrap_or(0);
    explained(aligned(&lines), &COLUMNS, scored)
}

/// `lines` as a text table: the first line the header, a rule under it, the first column
/// left-aligned and the others right-aligned.
fn aligned<const N: usize>(lines: &[[String; N]]) -> String {
    let mut widths = [0; N];
    for line in lines {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let render = |line: &[String; N]| {
        let cells: Vec<String> = line
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(column, (cell, width))| match column {
                0 => format!("{cell:<width$}"),
                _ => format!("{cell:>width$}"),
            })
            .collect();
        cells.join(" | ")
    };
    let rule: Vec<String> = widths.iter().map(|&width| "-".repeat(width)).collect();
    let mut table = render(&lines[0]);
    table.push('\n');
    table.push_str(&rule.join("-+-"));
    table.push('\n');
    for line in &lines[1..] {
        table.push_str(&render(line));
        table.push('\n');
    }
    table
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn row(id: &str, article: &str, reference: &str) -> EvalRow {
        EvalRow {
            id: id.to_string(),
            article: article.to_string(),
            reference: reference.to_string(),
        }
    }

    fn prediction(id: &str, summary: &str, seconds: f64) -> Prediction {
        Prediction {
            id: id.to_string(),
            summary: summary.to_string(),
            seconds,
        }
    }

    fn jsonl(lines: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(lines.as_bytes()).unwrap();
        file
    }

    #[test]
    fn lead3_reproduces_published_figures() {
        // The CNN/DailyMail evaluation pairs in the shared folder.
        let Some(data) = crate::test_support::shared_file("eval/cnndm-test-a.jsonl") else {
            return;
        };
        let rows: Vec<EvalRow> = read_rows(&data, None).unwrap();
        let predictions: Vec<Prediction> = rows
            .iter()
            .map(|row| prediction(&row.id, &lead3(&row.article), 0.0))
            .collect();
        let scores = score_system("LEAD-3", &rows, &predictions);
        assert_eq!(scores.rows, 25);
        for (actual, published) in [
            (scores.rouge1, 40.54),
            (scores.rouge2, 17.25),
            (scores.rouge_lsum, 36.63),
        ] {
            assert!((actual - published).abs() < 0.1, "{scores:?}");
        }
        assert!((scores.avg_words - 81.0).abs() < 0.5, "{scores:?}");
        assert_eq!(scores.avg_seconds, None);
        // Copied sentences hold only the article's own numbers and names.
        assert_eq!(scores.verbatim_sentence_share, 1.0);
        assert_eq!(scores.unsupported_token_rate, 0.0);
        assert_eq!(scores.repeated_sentence_rate, 0.0);
    }

    #[test]
    fn score_system_averages_rouge_and_guard_rails() {
        let rows = [
            row(
                "a",
                "Police arrested a man in Leeds on Monday. He was released on bail.",
                "police arrested a man in Leeds . he was released",
            ),
            row("b", "Markets fell sharply.", "markets fell"),
        ];
        let predictions = [
            prediction(
                "a",
                "Police arrested a man in Leeds on Monday. He was freed in York after 12 hours.",
                1.0,
            ),
            prediction("b", "Markets fell. Markets fell.", 3.0),
        ];
        let scores = score_system("test", &rows, &predictions);
        let expected_rouge1 = (rouge(
            &summary_sentences(&predictions[0].summary),
            &reference_sentences(&rows[0].reference),
        )
        .rouge1
            + rouge(&["Markets fell.", "Markets fell."], &["markets fell"]).rouge1)
            / 2.0;
        assert!((scores.rouge1 - expected_rouge1).abs() < 1e-9);
        assert_eq!(scores.avg_words, 10.0);
        // Words 16 and 4: each 6 from the mean, sd √(2·36 / 1).
        assert!((scores.avg_words_sd - 72f64.sqrt()).abs() < 1e-12);
        assert_eq!(scores.avg_seconds, Some(2.0));
        assert!((scores.avg_seconds_sd.unwrap() - 2f64.sqrt()).abs() < 1e-12);
        let r1 = [&predictions[0], &predictions[1]].map(|p| {
            let row = rows.iter().find(|row| row.id == p.id).unwrap();
            rouge(
                &summary_sentences(&p.summary),
                &reference_sentences(&row.reference),
            )
            .rouge1
        });
        let sd = (r1[0] - r1[1]).abs() / 2f64.sqrt();
        assert!((scores.rouge1_sd - sd).abs() < 1e-9, "{scores:?}");
        // Of the two sentences of 6+ words, only the first is copied.
        assert_eq!(scores.verbatim_sentence_share, 0.5);
        // Checkable: Leeds, Monday, York, 12; the article lacks York and 12.
        assert_eq!(scores.unsupported_token_rate, 0.5);
        assert_eq!(scores.repeated_sentence_rate, 0.5);
        assert_eq!(scores.rows, 2);
    }

    #[test]
    #[should_panic(expected = "prediction for unknown row id \"missing\"")]
    fn score_system_rejects_unknown_ids() {
        score_system("test", &[], &[prediction("missing", "Text.", 0.0)]);
    }

    #[test]
    fn read_rows_skips_blank_lines_and_honours_limit() {
        let file = jsonl(concat!(
            r#"{"id":"1","source":"s","article":"A.","reference":"a"}"#,
            "\n\n",
            r#"{"id":"2","article":"B.","reference":"b"}"#,
            "\n",
            "not json\n"
        ));
        let rows: Vec<EvalRow> = read_rows(file.path(), Some(2)).unwrap();
        let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
        assert_eq!(ids, ["1", "2"]);
        assert_eq!(read_rows::<EvalRow>(file.path(), Some(0)).unwrap().len(), 0);
    }

    #[test]
    fn read_rows_names_file_and_line_of_bad_json() {
        let file = jsonl(concat!(
            r#"{"id":"1","article":"A.","reference":"a"}"#,
            "\n",
            r#"{"id":"2","article":"B.""#,
            "\n"
        ));
        let error = read_rows::<EvalRow>(file.path(), None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            format!(
                "{}:2:24: EOF while parsing an object",
                file.path().display()
            )
        );
    }

    #[test]
    fn read_rows_names_missing_field() {
        let file = jsonl(concat!(r#"{"id":"1","article":"A."}"#, "\n"));
        let error = read_rows::<EvalRow>(file.path(), None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            format!("{}:1:25: missing field `reference`", file.path().display())
        );
    }

    #[test]
    fn read_rows_reports_missing_file() {
        let error = read_rows::<EvalRow>(Path::new("/nonexistent/rows.jsonl"), None)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("cannot open /nonexistent/rows.jsonl: "),
            "{error}"
        );
        assert!(!error.contains('\n'));
    }

    #[test]
    fn render_table_aligns_columns() {
        let scores = |system: &str, rouge1: f64, avg_seconds: Option<f64>| SystemScores {
            system: system.to_string(),
            rouge1,
            rouge1_sd: 12.34,
            rouge2: 17.25,
            rouge2_sd: 9.0,
            rouge_lsum: 36.63,
            rouge_lsum_sd: 11.96,
            avg_words: 81.32,
            avg_words_sd: 20.04,
            avg_seconds,
            avg_seconds_sd: avg_seconds.map(|_| 1.5),
            verbatim_sentence_share: 1.0,
            unsupported_token_rate: 0.0612,
            repeated_sentence_rate: 0.0,
            rows: 25,
        };
        let table = render_table(&[
            scores("LEAD-3", 40.54, None),
            scores("qwen2.5-0.5b", 7.5, Some(12.3)),
        ]);
        let lines: Vec<&str> = table.lines().take(4).collect();
        assert_eq!(
            lines,
            [
                "system       |         R-1 |        R-2 |      R-Lsum |      words |   s/article | verbatim | unsupported | repeated | rows",
                "-------------+-------------+------------+-------------+------------+-------------+----------+-------------+----------+-----",
                "LEAD-3       | 40.54 ±12.3 | 17.25 ±9.0 | 36.63 ±12.0 | 81.3 ±20.0 |           - |   100.0% |        6.1% |     0.0% |   25",
                "qwen2.5-0.5b |  7.50 ±12.3 | 17.25 ±9.0 | 36.63 ±12.0 | 81.3 ±20.0 | 12.30 ±1.50 |   100.0% |        6.1% |     0.0% |   25",
            ]
        );
        // Then a blank line and the legend, a line per column; 25 rows is no small sample.
        let legend: Vec<&str> = table.lines().skip(5).collect();
        assert_eq!(table.lines().nth(4), Some(""));
        assert_eq!(legend.len(), COLUMNS.len(), "{table}");
        for ((heading, meaning), line) in COLUMNS.iter().zip(&legend) {
            assert_eq!(line.split_whitespace().next(), heading.split(' ').next());
            assert!(line.ends_with(meaning), "{line}");
        }
        assert!(legend[7].contains("numbers and names"), "{table}");
        assert!(!table.contains("warning"));
        let mut few = scores("LEAD-3", 40.54, None);
        few.rows = 19;
        let table = render_table(&[few]);
        assert!(
            table.ends_with("warning: only 19 rows evaluated: under 20, the means and their spread say little, and a difference between systems may be chance\n"),
            "{table}"
        );
    }
}
