//! Output: the [`Summary`] record of one article and its renderings — the summary text,
//! one JSON object, one JSON Lines row with a status (failures included) — used alike by
//! single runs and batches; the `schema_version` every JSON record abridge prints begins
//! with ([`Versioned`]); and the atomic file writes that keep a reader from ever seeing a
//! partial file.

use crate::companies::Company;
use crate::generate::DecodeWork;
use crate::sentiment::Sentiment;
use serde::Serialize;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// The version of the JSON records abridge prints, their `schema_version` field: raised
/// when a field changes meaning or goes away, not when one is added (readers ignore the
/// fields they do not know).
pub const SCHEMA_VERSION: u32 = 1;

/// A JSON record as abridge prints it: `schema_version` ([`SCHEMA_VERSION`]), then the
/// record's own fields.
#[derive(Debug, Clone, Serialize)]
pub struct Versioned<T> {
    schema_version: u32,
    #[serde(flatten)]
    record: T,
}

/// `record` with the current `schema_version`.
pub fn versioned<T: Serialize>(record: T) -> Versioned<T> {
    Versioned {
        schema_version: SCHEMA_VERSION,
        record,
    }
}

/// One article's summary and how it was made; this is the JSON output's schema.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub input: String,
    pub summary: String,
    pub model: String,
    pub device: String,
    pub input_words: usize,
    pub input_tokens: usize,
    pub output_tokens: usize,
    /// Chunks the article was split into (1 when it fit in one window).
    pub chunks: usize,
    pub seconds: f64,
    /// The decoding part of `seconds` (every model call's output, the prompts left out)
    /// and prompt lookup's draft tokens checked and kept.
    #[serde(skip_serializing_if = "DecodeWork::is_none")]
    pub decoding: DecodeWork,
    /// Sentences of the article left out because they read as orders to the model (see
    /// `crate::guard::without_instructions`); only in the JSON when there were some.
    #[serde(skip_serializing_if = "is_zero")]
    pub instructions_left_out: usize,
    /// The language the summary was asked for in (ISO 639-1): the article's own as
    /// detected, or `--language`; absent where it could not be told, and for a model that
    /// takes the text itself (an encoder-decoder), which is asked for none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The article report (`summarize --report`): its fields follow the summary's, and
    /// are absent without it.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
}

/// The rest of an article's report: the long summary, the overall sentiment, and each
/// company the article is about with its own.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub long_summary: String,
    pub sentiment: Sentiment,
    pub companies: Vec<CompanyReport>,
}

/// One company of a report: name, ticker (`null` where the article gives none and the
/// shipped table has none), mentions, relevance, and its sentiment.
#[derive(Debug, Clone, Serialize)]
pub struct CompanyReport {
    #[serde(flatten)]
    pub company: Company,
    pub sentiment: Sentiment,
}

impl Summary {
    /// One line of how the summary went, for `-v`: tokens in and out, seconds, the decoding
    /// speed, and prompt lookup's drafts kept.
    pub fn speed(&self) -> String {
        let decoding = &self.decoding;
        let mut line = format!(
            "{}: {} input tokens, {} output tokens in {:.2} s",
            self.input, self.input_tokens, self.output_tokens, self.seconds
        );
        if decoding.seconds > 0.0 {
            let rate = self.output_tokens as f64 / decoding.seconds;
            line += &format!(" (decoding {:.2} s, {rate:.1} tokens/s", decoding.seconds);
            if decoding.drafted > 0 {
                line += &format!(
                    "; prompt lookup kept {} of {} draft tokens",
                    decoding.kept, decoding.drafted
                );
            }
            line += ")";
        }
        line
    }
}

impl Report {
    /// The report as text, after the summary: the long summary, the sentiment, and a line
    /// per company, each part after a blank line.
    pub fn text(&self) -> String {
        let mut text = format!(
            "\nLong summary: {}\n\nSentiment: {}\n",
            self.long_summary,
            describe(&self.sentiment)
        );
        if self.companies.is_empty() {
            text.push_str("\nCompanies: none named\n");
            return text;
        }
        text.push_str("\nCompanies:\n");
        let named: Vec<String> = self
            .companies
            .iter()
            .map(|c| match &c.company.ticker {
                Some(ticker) => format!("{} ({ticker})", c.company.name),
                None => c.company.name.clone(),
            })
            .collect();
        let width = named.iter().map(|n| n.chars().count()).max().unwrap_or(0);
        for (name, company) in named.iter().zip(&self.companies) {
            let pad = width - name.chars().count();
            text.push_str(&format!(
                "  {name}{:pad$}  {}, relevance {:.2}\n",
                "",
                describe(&company.sentiment),
                company.company.relevance
            ));
        }
        text
    }
}

/// A sentiment as its label and signed score: `somewhat positive (+0.42)`.
fn describe(sentiment: &Sentiment) -> String {
    format!("{} ({:+.2})", sentiment.label.name(), sentiment.score)
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// How a summary is written: as a file under `--out`, or to standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The summary text and a newline (`<relative path>.summary.txt` under `--out`).
    Text,
    /// The summary's JSON object and a newline (`<relative path>.summary.json`).
    Json,
}

impl Format {
    /// What the file name of a summary in this format ends with.
    pub fn suffix(self) -> &'static str {
        match self {
            Format::Text => ".summary.txt",
            Format::Json => ".summary.json",
        }
    }

    /// `summary` in this format, ending in a newline; the text of one with a report is
    /// the summary, then [`Report::text`].
    pub fn render(self, summary: &Summary) -> String {
        match self {
            Format::Text => format!(
                "{}\n{}",
                summary.summary,
                summary.report.as_ref().map_or(String::new(), Report::text)
            ),
            Format::Json => format!(
                "{}\n",
                serde_json::to_string(&versioned(summary)).expect("a summary serializes")
            ),
        }
    }
}

/// What became of an article, as the `status` field of a JSON line says it.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Failed,
}

/// One line of `--format jsonl`: a summary's fields then `status`, or, for an article that
/// failed, `input`, `status` and `error`.
#[derive(Serialize)]
#[serde(untagged)]
enum Row<'a> {
    Summarized {
        #[serde(flatten)]
        summary: &'a Summary,
        status: Status,
    },
    Failed {
        input: &'a str,
        status: Status,
        error: &'a str,
    },
}

/// Writes the JSON Lines row of a summary (`"status": "ok"`) and flushes.
pub fn write_summary_row(out: &mut dyn Write, summary: &Summary) -> io::Result<()> {
    write_row(
        out,
        &Row::Summarized {
            summary,
            status: Status::Ok,
        },
    )
}

/// Writes the JSON Lines row of an article that failed (`"status": "failed"`, its `input`
/// and the `error`) and flushes.
pub fn write_failure_row(out: &mut dyn Write, input: &str, error: &str) -> io::Result<()> {
    write_row(
        out,
        &Row::Failed {
            input,
            status: Status::Failed,
            error,
        },
    )
}

fn write_row(out: &mut dyn Write, row: &Row) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &versioned(row))?;
    writeln!(out)?;
    out.flush()
}

/// A temporary file in `dir` to be renamed over an output file. Made readable by everyone
/// the umask allows (`0644` before it), like any file a program writes, rather than the
/// owner-only mode of a temporary file.
pub fn temporary_file_in(dir: &Path) -> io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    builder.tempfile_in(dir)
}

/// Writes `bytes` to a temporary file beside `path` and renames it into place, creating
/// the folders on the way, so `path` never holds a partial file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut file = temporary_file_in(dir)?;
    file.write_all(bytes)?;
    file.persist(path).map_err(|error| error.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        Summary {
            input: "a.txt".into(),
            summary: "The council voted.".into(),
            model: "m".into(),
            device: "cpu".into(),
            input_words: 5,
            input_tokens: 7,
            output_tokens: 4,
            chunks: 1,
            seconds: 0.5,
            decoding: DecodeWork::default(),
            instructions_left_out: 0,
            language: None,
            report: None,
        }
    }

    #[test]
    fn renderings_keep_their_fields_and_end_in_a_newline() {
        assert_eq!(Format::Text.render(&summary()), "The council voted.\n");
        let json = Format::Json.render(&summary());
        assert!(
            json.ends_with("}\n") && !json.contains("instructions_left_out"),
            "{json}"
        );
        let mut rows = Vec::new();
        write_summary_row(&mut rows, &summary()).unwrap();
        write_failure_row(&mut rows, "b.txt", "empty").unwrap();
        let rows = String::from_utf8(rows).unwrap();
        let lines: Vec<serde_json::Value> = rows
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines[0]["schema_version"], SCHEMA_VERSION);
        assert!(
            json.starts_with(r#"{"schema_version":1,"input":"a.txt","#),
            "{json}"
        );
        assert_eq!(lines[1]["schema_version"], SCHEMA_VERSION);
        assert_eq!(lines[0]["status"], "ok");
        assert_eq!(lines[0]["summary"], "The council voted.");
        assert_eq!(lines[1]["status"], "failed");
        assert_eq!(lines[1]["error"], "empty");
    }
}
