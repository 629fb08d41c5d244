//! Printing benchmark reports: an aligned table for people, with the legend of its
//! columns, and one JSON object per line for scripts. Nothing here measures.

use super::{DeviceReport, Measurement};
use crate::output::versioned;
use anyhow::Result;

/// How a column shows a measured device.
type Cell = fn(&Measurement) -> String;

/// Columns of text (flush left); the others are figures (flush right).
const TEXT_COLUMNS: usize = 3;

/// The table's columns: heading, what the legend says of it, and the cell of a measured
/// device; the first [`TEXT_COLUMNS`] are text.
const COLUMNS: &[(&str, &str, Cell)] = &[
    (
        "DEVICE",
        "the device measured (one this build or machine lacks: why it was skipped)",
        |m| m.device.clone(),
    ),
    (
        "MODEL",
        "the catalogue name, or the model file's or folder's name",
        |m| m.model.clone(),
    ),
    (
        "KERNELS",
        "what ran the matmuls: abridge's CPU kernels for this instruction set, or candle",
        |m| m.kernels.clone(),
    ),
    ("THREADS", "CPU threads", |m| m.threads.to_string()),
    (
        "PROMPT",
        "tokens in the fixed-length generation's prompt",
        |m| m.prompt_tokens.to_string(),
    ),
    ("GEN", "tokens it generated, the end token ignored", |m| {
        m.gen_tokens.to_string()
    }),
    (
        "LOAD s",
        "seconds to read the model and place it on the device (once)",
        |m| format!("{:.2}", m.load_s),
    ),
    (
        "PREFILL tok/s",
        "prompt tokens per second of prefill: median (slowest–fastest round)",
        |m| with_spread(m.prefill_tok_s, m.prefill_tok_s_min, m.prefill_tok_s_max),
    ),
    (
        "DECODE tok/s",
        "tokens per second after the first, one forward pass each: median (slowest–fastest)",
        |m| with_spread(m.decode_tok_s, m.decode_tok_s_min, m.decode_tok_s_max),
    ),
    (
        "TTFT s",
        "seconds to the first token: tokenizing and prefill (median)",
        |m| format!("{:.2}", m.ttft_s),
    ),
    (
        "SUMMARY s",
        "seconds for one summary of the article as `summarize` makes it (median)",
        |m| format!("{:.2}", m.summary_s),
    ),
    (
        "PEAK RSS MB",
        "the process's peak resident memory while measuring this device (? unknown)",
        |m| {
            m.peak_rss_mb
                .map_or("?".to_string(), |mb| format!("{mb:.0}"))
        },
    ),
];

/// A median speed with the slowest and fastest round's: `98.7 (95.1–101.2)`.
fn with_spread(median: f64, min: f64, max: f64) -> String {
    format!("{median:.1} ({min:.1}–{max:.1})")
}

/// What each column of [`table`] means, a line each, after a line saying what the figures
/// are.
pub fn legend() -> String {
    let width = COLUMNS.iter().map(|(h, _, _)| h.len()).max().unwrap_or(0);
    let mut legend =
        "Medians over the measured rounds (--runs), after one warm-up round:\n".to_string();
    for (heading, meaning, _) in COLUMNS {
        legend += &format!("  {heading:<width$}  {meaning}\n");
    }
    legend
}

/// An aligned table, one line per device: text columns flush left, figures flush right;
/// a skipped device shows its reason after its name.
pub fn table(reports: &[DeviceReport]) -> String {
    let rows: Vec<Vec<String>> = reports
        .iter()
        .filter_map(|r| match r {
            DeviceReport::Measured(m) => Some(COLUMNS.iter().map(|(_, _, cell)| cell(m)).collect()),
            DeviceReport::Skipped(_) => None,
        })
        .collect();
    let widths: Vec<usize> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, (heading, _, _))| {
            rows.iter()
                .map(|row| row[i].chars().count())
                .chain([heading.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, &width))| {
                if i < TEXT_COLUMNS {
                    format!("{cell:<width$}")
                } else {
                    format!("{cell:>width$}")
                }
            })
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = line(COLUMNS.iter().map(|(h, _, _)| h.to_string()).collect()) + "\n";
    let mut rows = rows.into_iter();
    for report in reports {
        match report {
            DeviceReport::Measured(_) => {
                out += &line(rows.next().expect("one row per measured device"));
            }
            DeviceReport::Skipped(s) => {
                out += &format!(
                    "{:<width$}  skipped: {}",
                    s.device,
                    s.skipped,
                    width = widths[0]
                );
            }
        }
        out.push('\n');
    }
    out
}

/// One report as a single line of JSON, `schema_version` first (no trailing newline).
pub fn json_line(report: &DeviceReport) -> Result<String> {
    Ok(serde_json::to_string(&versioned(report))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Skipped;

    fn measured(device: &str, prefill: f64) -> DeviceReport {
        DeviceReport::Measured(Box::new(Measurement {
            device: device.into(),
            model: "smollm2-135m-instruct".into(),
            model_mb: 98.4,
            threads: 2,
            kernels: "avx2".into(),
            weights: "quantized".into(),
            cpu: "AMD EPYC (family 25, model 1)".into(),
            prompt_tokens: 1032,
            gen_tokens: 128,
            prefill_chunk: 128,
            runs: 3,
            load_s: 0.25,
            prefill_tok_s: prefill,
            prefill_tok_s_min: prefill - 3.55,
            prefill_tok_s_max: prefill + 1.2,
            decode_tok_s: 61.04,
            decode_tok_s_min: 60.5,
            decode_tok_s_max: 61.71,
            ttft_s: 2.5,
            summary_s: 7.104,
            summary_tokens: 140,
            peak_rss_mb: Some(412.3),
        }))
    }

    fn skipped() -> DeviceReport {
        DeviceReport::Skipped(Skipped {
            device: "cuda".into(),
            skipped: "CUDA is not available: this build lacks the `cuda` feature".into(),
        })
    }

    #[test]
    fn table_aligns_columns_and_lists_skipped_devices() {
        let table = table(&[measured("cpu", 412.0), measured("metal", 5012.5), skipped()]);
        let expected = "\
DEVICE  MODEL                  KERNELS  THREADS  PROMPT  GEN  LOAD s           PREFILL tok/s      DECODE tok/s  TTFT s  SUMMARY s  PEAK RSS MB
cpu     smollm2-135m-instruct  avx2           2    1032  128    0.25     412.0 (408.4–413.2)  61.0 (60.5–61.7)    2.50       7.10          412
metal   smollm2-135m-instruct  avx2           2    1032  128    0.25  5012.5 (5008.9–5013.7)  61.0 (60.5–61.7)    2.50       7.10          412
cuda    skipped: CUDA is not available: this build lacks the `cuda` feature
";
        assert_eq!(table, expected);
    }

    #[test]
    fn the_legend_explains_every_column_once() {
        let legend = legend();
        let lines: Vec<&str> = legend.lines().collect();
        assert_eq!(lines.len(), COLUMNS.len() + 1, "{legend}");
        for ((heading, meaning, _), line) in COLUMNS.iter().zip(&lines[1..]) {
            assert!(line.trim_start().starts_with(heading), "{line}");
            assert!(line.ends_with(meaning), "{line}");
        }
        assert!(
            lines[4].starts_with("  THREADS        CPU threads"),
            "{legend}"
        );
    }

    #[test]
    fn reports_from_before_the_spread_was_kept_still_parse() {
        let old = r#"{"device":"cpu","model":"m","model_mb":1117.3,"threads":2,"kernels":"avx2","weights":"quantized","cpu":"c","prompt_tokens":1032,"gen_tokens":128,"prefill_chunk":128,"runs":3,"load_s":1.02,"prefill_tok_s":98.7,"decode_tok_s":14.1,"ttft_s":10.59,"summary_s":25.31,"summary_tokens":150,"peak_rss_mb":3370.2}"#;
        let DeviceReport::Measured(m) = serde_json::from_str(old).unwrap() else {
            panic!("a measured device");
        };
        assert_eq!(
            (m.prefill_tok_s, m.prefill_tok_s_min, m.decode_tok_s_max),
            (98.7, 0.0, 0.0)
        );
    }

    #[test]
    fn table_with_only_skipped_devices_still_has_its_heading() {
        let table = table(&[skipped()]);
        assert!(table.starts_with("DEVICE  MODEL  KERNELS  THREADS"));
        assert!(table.ends_with(
            "cuda    skipped: CUDA is not available: this build lacks the `cuda` feature\n"
        ));
    }

    #[test]
    fn json_lines_round_trip_and_keep_unknown_memory_as_null() {
        let mut report = measured("cpu", 412.0);
        if let DeviceReport::Measured(m) = &mut report {
            m.peak_rss_mb = None;
        }
        let line = json_line(&report).unwrap();
        assert!(!line.contains('\n'));
        assert!(line.contains(r#""peak_rss_mb":null"#));
        assert!(
            line.starts_with(r#"{"schema_version":1,"device":"cpu","#),
            "{line}"
        );
        assert_eq!(serde_json::from_str::<DeviceReport>(&line).unwrap(), report);
        let line = json_line(&skipped()).unwrap();
        assert_eq!(
            serde_json::from_str::<DeviceReport>(&line).unwrap(),
            skipped()
        );
    }
}
