//! Printing benchmark reports: an aligned table for people, one JSON object per line for
//! scripts. Nothing here measures.

use super::{DeviceReport, Measurement};
use crate::output::versioned;
use anyhow::Result;

/// How a column shows a measured device.
type Cell = fn(&Measurement) -> String;

/// Columns of text (flush left); the others are figures (flush right).
const TEXT_COLUMNS: usize = 3;

/// The table's columns: heading, and the cell of a measured device; the first
/// [`TEXT_COLUMNS`] are text.
const COLUMNS: &[(&str, Cell)] = &[
    ("DEVICE", |m| m.device.clone()),
    ("MODEL", |m| m.model.clone()),
    ("KERNELS", |m| m.kernels.clone()),
    ("THREADS", |m| m.threads.to_string()),
    ("PROMPT", |m| m.prompt_tokens.to_string()),
    ("GEN", |m| m.gen_tokens.to_string()),
    ("LOAD s", |m| format!("{:.2}", m.load_s)),
    ("PREFILL tok/s", |m| format!("{:.1}", m.prefill_tok_s)),
    ("DECODE tok/s", |m| format!("{:.1}", m.decode_tok_s)),
    ("TTFT s", |m| format!("{:.2}", m.ttft_s)),
    ("SUMMARY s", |m| format!("{:.2}", m.summary_s)),
    ("PEAK RSS MB", |m| {
        m.peak_rss_mb
            .map_or("?".to_string(), |mb| format!("{mb:.0}"))
    }),
];

/// An aligned table, one line per device: text columns flush left, figures flush right;
/// a skipped device shows its reason after its name.
pub fn table(reports: &[DeviceReport]) -> String {
    let rows: Vec<Vec<String>> = reports
        .iter()
        .filter_map(|r| match r {
            DeviceReport::Measured(m) => Some(COLUMNS.iter().map(|(_, cell)| cell(m)).collect()),
            DeviceReport::Skipped(_) => None,
        })
        .collect();
    let widths: Vec<usize> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, (heading, _))| {
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
    let mut out = line(COLUMNS.iter().map(|(h, _)| h.to_string()).collect()) + "\n";
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
        DeviceReport::Measured(Measurement {
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
            decode_tok_s: 61.04,
            ttft_s: 2.5,
            summary_s: 7.104,
            summary_tokens: 140,
            peak_rss_mb: Some(412.3),
        })
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
DEVICE  MODEL                  KERNELS  THREADS  PROMPT  GEN  LOAD s  PREFILL tok/s  DECODE tok/s  TTFT s  SUMMARY s  PEAK RSS MB
cpu     smollm2-135m-instruct  avx2           2    1032  128    0.25          412.0          61.0    2.50       7.10          412
metal   smollm2-135m-instruct  avx2           2    1032  128    0.25         5012.5          61.0    2.50       7.10          412
cuda    skipped: CUDA is not available: this build lacks the `cuda` feature
";
        assert_eq!(table, expected);
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
