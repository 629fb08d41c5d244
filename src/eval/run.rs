//! The run of `abridge eval`: every row's article summarized by the model, decoded a batch
//! at a time, a failed summary scored as an empty one; the LEAD-3 baseline's predictions;
//! and the predictions file.

use super::{lead3, EvalRow, Prediction};
use crate::input::{self, Format};
use crate::output;
use crate::summarize::{Summarizer, SummaryOptions};
use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// Summarizes the article of every row, `batch_size` rows decoded together, and returns
/// one prediction per row, in order. `on_row` hears of each row as it is done, with the
/// error that failed its summary, if one did: such a row (say, its output was not a
/// summary) scores as an empty summary, as a user would have had none. Only a model
/// failure is an error.
pub fn summarize_rows(
    summarizer: &mut Summarizer,
    rows: &[EvalRow],
    options: &SummaryOptions,
    batch_size: usize,
    on_row: &mut dyn FnMut(&EvalRow, Option<&anyhow::Error>),
) -> Result<Vec<Prediction>> {
    let mut predictions = Vec::with_capacity(rows.len());
    for group in rows.chunks(batch_size.max(1)) {
        let articles = group
            .iter()
            .map(|row| input::from_bytes(&row.id, row.article.as_bytes(), Format::Text))
            .collect::<Result<Vec<_>, _>>()?;
        let started = Instant::now();
        let summaries = summarizer.summarize_many(&articles, options)?;
        // Summaries decoded together share the wall time.
        let seconds = started.elapsed().as_secs_f64() / group.len() as f64;
        for (row, summary) in group.iter().zip(summaries) {
            let summary = match summary {
                Ok(summary) => {
                    on_row(row, None);
                    summary.summary
                }
                Err(error) => {
                    on_row(row, Some(&error));
                    String::new()
                }
            };
            predictions.push(Prediction {
                id: row.id.clone(),
                summary,
                seconds,
            });
        }
    }
    Ok(predictions)
}

/// The LEAD-3 baseline's prediction for every row: its article's first three sentences.
pub fn lead3_predictions(rows: &[EvalRow]) -> Vec<Prediction> {
    rows.iter()
        .map(|row| Prediction {
            id: row.id.clone(),
            summary: lead3(&row.article),
            seconds: 0.0,
        })
        .collect()
}

/// Writes `{"id", "summary"}` lines to `path` atomically.
pub fn write_predictions(path: &Path, predictions: &[Prediction]) -> Result<()> {
    let mut lines = Vec::new();
    for prediction in predictions {
        let line = serde_json::json!({ "id": prediction.id, "summary": prediction.summary });
        writeln!(lines, "{line}")?;
    }
    output::write_atomically(path, &lines)
        .with_context(|| format!("{}: cannot write", path.display()))
}
