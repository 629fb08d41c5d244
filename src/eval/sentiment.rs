//! Sentiment evaluation (`abridge eval` on rows of `{"id", "text", "target", "score"}`: a
//! headline, the company it is about, a gold score on −1…1), scored as SemEval-2017 Task 5
//! scores it — the cosine similarity between the predicted and the gold score vectors —
//! with Pearson's r and the sign accuracy on rows whose gold score is at least 0.1 from 0,
//! beside a baseline that scores every row 0.

use super::{aligned, explained, read_rows};
use crate::output;
use crate::sentiment::Label;
use crate::summarize::Summarizer;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::Instant;

/// One sentiment row: a text, the company it is about, and a gold score on −1…1.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentimentRow {
    pub id: String,
    pub text: String,
    pub target: String,
    pub score: f64,
}

/// A system's score for one row.
#[derive(Debug, Clone)]
pub struct SentimentPrediction {
    pub id: String,
    pub score: f64,
    pub seconds: f64,
}

/// One system's scores over the rows.
#[derive(Debug, Clone, Serialize)]
pub struct SentimentScores {
    pub system: String,
    /// SemEval-2017 Task 5's metric: cos(predicted, gold).
    pub cosine: f64,
    /// Pearson's r; `None` when either vector is constant.
    pub pearson: Option<f64>,
    /// Share (0–1) of rows with |gold| ≥ 0.1 whose predicted score has the gold's sign.
    pub sign_accuracy: f64,
    /// Mean seconds per row; `None` when not timed (the baseline).
    pub avg_seconds: Option<f64>,
    pub rows: usize,
}

/// Gold scores this far from 0 have a sign that counts.
const SIGNED: f64 = 0.1;

/// Whether the JSON Lines file at `path` holds sentiment rows: its first row has a
/// `target` and a `score`.
pub fn is_sentiment_data(path: &Path) -> Result<bool> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    for line in BufReader::new(file).lines() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        return Ok(value.get("target").is_some() && value.get("score").is_some());
    }
    Ok(false)
}

/// The sentiment rows of `path` (see [`read_rows`]); a gold score outside −1…1 is one error
/// naming the row.
pub fn sentiment_rows(path: &Path, limit: Option<usize>) -> Result<Vec<SentimentRow>> {
    let rows: Vec<SentimentRow> = read_rows(path, limit)?;
    if let Some(row) = rows.iter().find(|row| !(-1.0..=1.0).contains(&row.score)) {
        bail!(
            "{}: row {}: score {} is outside -1…1",
            path.display(),
            row.id,
            row.score
        );
    }
    Ok(rows)
}

/// The model's score of every row, `on_row` told of each.
pub fn score_rows(
    summarizer: &mut Summarizer,
    rows: &[SentimentRow],
    on_row: &mut dyn FnMut(),
) -> Result<Vec<SentimentPrediction>> {
    rows.iter()
        .map(|row| {
            let started = Instant::now();
            let sentiment = summarizer.sentiment(&row.text, Some(&row.target))?;
            on_row();
            Ok(SentimentPrediction {
                id: row.id.clone(),
                score: sentiment.score,
                seconds: started.elapsed().as_secs_f64(),
            })
        })
        .collect()
}

/// The baseline that scores every row 0.
pub fn zero_predictions(rows: &[SentimentRow]) -> Vec<SentimentPrediction> {
    rows.iter()
        .map(|row| SentimentPrediction {
            id: row.id.clone(),
            score: 0.0,
            seconds: 0.0,
        })
        .collect()
}

/// Scores `predictions`, one per row in the rows' order.
pub fn score_sentiment(
    system: &str,
    rows: &[SentimentRow],
    predictions: &[SentimentPrediction],
) -> SentimentScores {
    assert_eq!(rows.len(), predictions.len(), "one prediction per row");
    let gold: Vec<f64> = rows.iter().map(|row| row.score).collect();
    let predicted: Vec<f64> = predictions.iter().map(|p| p.score).collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let norms = dot(&gold, &gold).sqrt() * dot(&predicted, &predicted).sqrt();
    let cosine = if norms > 0.0 {
        dot(&gold, &predicted) / norms
    } else {
        0.0
    };
    let centred = |v: &[f64]| {
        let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
        v.iter().map(|x| x - mean).collect::<Vec<f64>>()
    };
    let (g, p) = (centred(&gold), centred(&predicted));
    let spread = dot(&g, &g).sqrt() * dot(&p, &p).sqrt();
    let pearson = (spread > 0.0).then(|| dot(&g, &p) / spread);
    let signed: Vec<(f64, f64)> = gold
        .iter()
        .zip(&predicted)
        .filter(|(g, _)| g.abs() >= SIGNED)
        .map(|(&g, &p)| (g, p))
        .collect();
    let agree = signed
        .iter()
        .filter(|(g, p)| g.signum() == p.signum() && *p != 0.0)
        .count();
    let timed = predictions.iter().any(|p| p.seconds != 0.0);
    let seconds: f64 = predictions.iter().map(|p| p.seconds).sum();
    SentimentScores {
        system: system.to_string(),
        cosine,
        pearson,
        sign_accuracy: if signed.is_empty() {
            0.0
        } else {
            agree as f64 / signed.len() as f64
        },
        avg_seconds: timed.then(|| seconds / predictions.len().max(1) as f64),
        rows: rows.len(),
    }
}

/// Writes `{"id", "score", "label"}` lines to `path` atomically.
pub fn write_sentiment_predictions(path: &Path, predictions: &[SentimentPrediction]) -> Result<()> {
    let mut lines = Vec::new();
    for p in predictions {
        let line =
            serde_json::json!({ "id": p.id, "score": p.score, "label": Label::of(p.score).name() });
        writeln!(lines, "{line}")?;
    }
    output::write_atomically(path, &lines)
        .with_context(|| format!("{}: cannot write", path.display()))
}

/// The columns of [`render_sentiment_table`]: heading, and what the legend says of it.
const COLUMNS: [(&str, &str); 6] = [
    (
        "system",
        "the model, or the baseline (zero: every row scored 0)",
    ),
    (
        "cosine",
        "SemEval-2017 Task 5's metric: cosine of the predicted and the gold score vectors",
    ),
    (
        "pearson",
        "Pearson's r of predicted and gold scores (- when either is constant)",
    ),
    (
        "sign acc",
        "of the rows with |gold| ≥ 0.1, those whose predicted score has the gold's sign",
    ),
    ("s/row", "seconds per row, mean (- untimed)"),
    ("rows", "rows scored"),
];

/// Renders systems' sentiment scores as a text table, with the legend of its columns and
/// a warning under a small sample.
pub fn render_sentiment_table(systems: &[SentimentScores]) -> String {
    let header = COLUMNS.map(|(heading, _)| heading.to_string());
    let body = systems.iter().map(|s| {
        [
            s.system.clone(),
            format!("{:.3}", s.cosine),
            s.pearson
                .map_or_else(|| "-".to_string(), |r| format!("{r:.3}")),
            format!("{:.1}%", s.sign_accuracy * 100.0),
            s.avg_seconds
                .map_or_else(|| "-".to_string(), |t| format!("{t:.2}")),
            s.rows.to_string(),
        ]
    });
    let lines: Vec<[String; 6]> = std::iter::once(header).chain(body).collect();
    let scored = systems.iter().map(|s| s.rows).max().unwrap_or(0);
    explained(aligned(&lines), &COLUMNS, scored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(gold: &[f64]) -> Vec<SentimentRow> {
        gold.iter()
            .enumerate()
            .map(|(i, &score)| SentimentRow {
                id: i.to_string(),
                text: String::new(),
                target: String::new(),
                score,
            })
            .collect()
    }

    fn predictions(scores: &[f64]) -> Vec<SentimentPrediction> {
        scores
            .iter()
            .enumerate()
            .map(|(i, &score)| SentimentPrediction {
                id: i.to_string(),
                score,
                seconds: 1.0,
            })
            .collect()
    }

    #[test]
    fn cosine_pearson_and_sign_are_those_computed_by_hand() {
        let gold = rows(&[0.5, -0.5, 0.05, 1.0]);
        let s = score_sentiment("m", &gold, &predictions(&[0.4, -0.2, -0.3, 0.8]));
        // dot 0.2 + 0.1 − 0.015 + 0.8 = 1.085, |gold| √1.5025, |pred| √0.93.
        assert!((s.cosine - 1.085 / (1.5025f64.sqrt() * 0.93f64.sqrt())).abs() < 1e-12);
        // Means 0.2625 and 0.175; centred dot 0.90125, spreads √1.226875 and √0.8075.
        let r = 0.90125 / (1.226875f64.sqrt() * 0.8075f64.sqrt());
        assert!((s.pearson.unwrap() - r).abs() < 1e-12);
        // The 0.05 row does not count; the other three agree in sign.
        assert_eq!(s.sign_accuracy, 1.0);
        let zero = score_sentiment("zero", &gold, &zero_predictions(&gold));
        assert_eq!(
            (zero.cosine, zero.pearson, zero.sign_accuracy),
            (0.0, None, 0.0)
        );
        assert_eq!(zero.avg_seconds, None);
    }

    #[test]
    fn bad_rows_are_one_error_naming_the_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.jsonl");
        std::fs::write(
            &path,
            "{\"id\": \"7\", \"text\": \"t\", \"target\": \"X\", \"score\": 1.5}\n",
        )
        .unwrap();
        assert!(is_sentiment_data(&path).unwrap());
        let err = sentiment_rows(&path, None).unwrap_err().to_string();
        assert!(err.ends_with("row 7: score 1.5 is outside -1…1"), "{err}");
        std::fs::write(
            &path,
            "{\"id\": \"7\", \"text\": \"t\", \"target\": \"X\"}\n",
        )
        .unwrap();
        let err = sentiment_rows(&path, None).unwrap_err().to_string();
        assert!(
            err.contains(":1:") && err.contains("missing field `score`"),
            "{err}"
        );
    }
}
