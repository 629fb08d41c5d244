//! Structured input: a JSON Lines or CSV file whose every row is an article (a dataset
//! exported for summarization), as `--input-format` asks or its extension says. Each row
//! becomes an [`Input`] of its own, named `FILE#ID` (the row's id field, else its line or
//! record number), so that batches, `--out` and resume work per row. A row without its
//! text is a failed article of its own; a file whose header or first line cannot be read as
//! rows is an input error.

use super::{read_file, Input, InputError, InputProblem, Row};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// How a file named on the command line is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputFormat {
    /// By extension: `.jsonl`/`.ndjson` JSON Lines, `.csv` CSV, anything else an article.
    #[default]
    Auto,
    /// Every file is one article.
    Text,
    Jsonl,
    Csv,
}

/// The fields of a row that hold its text and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    /// The text's field; `None` takes `article`, else `text`.
    pub text: Option<String>,
    /// The id's field; a row without it is numbered.
    pub id: String,
}

/// The text fields looked for when none is named, in order.
const TEXT_FIELDS: [&str; 2] = ["article", "text"];

impl InputFormat {
    /// The names `--input-format` takes.
    pub const NAMES: [&'static str; 4] = ["auto", "text", "jsonl", "csv"];

    /// Whether `path` is read as rows, and as which.
    fn rows_of(self, path: &Path) -> Option<InputFormat> {
        let extension = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match (self, extension.as_deref()) {
            (InputFormat::Jsonl | InputFormat::Csv, _) => Some(self),
            (InputFormat::Auto, Some("jsonl" | "ndjson")) => Some(InputFormat::Jsonl),
            (InputFormat::Auto, Some("csv")) => Some(InputFormat::Csv),
            _ => None,
        }
    }
}

impl std::str::FromStr for InputFormat {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "auto" => Ok(InputFormat::Auto),
            "text" => Ok(InputFormat::Text),
            "jsonl" => Ok(InputFormat::Jsonl),
            "csv" => Ok(InputFormat::Csv),
            _ => Err(format!(
                "`{name}` is none of {}",
                InputFormat::NAMES.join(", ")
            )),
        }
    }
}

/// `inputs` with every structured file (see [`InputFormat`]) replaced by its rows, in
/// order.
pub fn expand_rows(
    inputs: Vec<Input>,
    format: InputFormat,
    fields: &Fields,
    max_bytes: u64,
) -> Result<Vec<Input>, InputError> {
    let mut expanded = Vec::with_capacity(inputs.len());
    for input in inputs {
        let Some(rows_format) = format.rows_of(&input.path) else {
            expanded.push(input);
            continue;
        };
        let bytes = read_file(&input.path, max_bytes)?;
        let name = input.path.display().to_string();
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| InputError::rejected(&name, InputProblem::Undecodable))?;
        let rows = match rows_format {
            InputFormat::Csv => csv_rows(&name, text, fields)?,
            _ => jsonl_rows(&name, text, fields),
        };
        expanded.extend(rows.into_iter().map(|row| Input {
            path: input.path.clone(),
            relative: input.relative.join(file_name_of(&row.id)),
            row: Some(row),
        }));
    }
    Ok(expanded)
}

/// An id as a file name: characters other than letters, digits, `-`, `_` and `.` become
/// `_`, and a leading `.` too, so that no id leaves the output folder or hides its file.
fn file_name_of(id: &str) -> PathBuf {
    let mut name: String = id
        .chars()
        .map(
            |c| match c.is_alphanumeric() || matches!(c, '-' | '_' | '.') {
                true => c,
                false => '_',
            },
        )
        .collect();
    if name.is_empty() || name.starts_with('.') {
        name.insert(0, '_');
    }
    PathBuf::from(name)
}

/// The text field's name for a row that has `has` fields.
fn text_field(fields: &Fields, has: impl Fn(&str) -> bool) -> Option<&str> {
    match &fields.text {
        Some(field) => has(field).then_some(field.as_str()),
        None => TEXT_FIELDS.into_iter().find(|field| has(field)),
    }
}

fn missing_text(fields: &Fields) -> String {
    match &fields.text {
        Some(field) => format!("no `{field}` field (--text-field)"),
        None => "no `article` or `text` field (--text-field names another)".to_string(),
    }
}

/// The rows of a JSON Lines file: each non-blank line one object.
fn jsonl_rows(name: &str, text: &str, fields: &Fields) -> Vec<Row> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            let number = (index + 1).to_string();
            let Ok(Value::Object(object)) = serde_json::from_str::<Value>(line) else {
                return Row {
                    id: number,
                    text: Err(format!("{name} line {}: not a JSON object", index + 1)),
                };
            };
            let id = match object.get(&fields.id) {
                Some(Value::String(id)) => id.clone(),
                Some(Value::Number(id)) => id.to_string(),
                _ => number,
            };
            let field = text_field(fields, |f| matches!(object.get(f), Some(Value::String(_))));
            let text = match field.and_then(|f| object.get(f)).and_then(Value::as_str) {
                Some(text) => Ok(text.to_string()),
                None => Err(format!(
                    "{name} line {}: {}",
                    index + 1,
                    missing_text(fields)
                )),
            };
            Row { id, text }
        })
        .collect()
}

/// The rows of a CSV file with a header row.
fn csv_rows(name: &str, text: &str, fields: &Fields) -> Result<Vec<Row>, InputError> {
    let unreadable = |reason: String| InputError::Unreadable {
        name: name.to_string(),
        error: std::io::Error::new(std::io::ErrorKind::InvalidData, reason),
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| unreadable(format!("not CSV ({e})")))?
        .clone();
    let column = |field: &str| header.iter().position(|h| h.trim() == field);
    let text_column = text_field(fields, |f| column(f).is_some())
        .and_then(column)
        .ok_or_else(|| unreadable(missing_text(fields).replace("field", "column")))?;
    let id_column = column(&fields.id);
    Ok(reader
        .records()
        .enumerate()
        .map(|(index, record)| {
            let number = (index + 1).to_string();
            match record {
                Ok(record) => Row {
                    id: id_column
                        .and_then(|c| record.get(c))
                        .filter(|id| !id.is_empty())
                        .map_or(number, str::to_string),
                    text: record
                        .get(text_column)
                        .map(str::to_string)
                        .ok_or_else(|| format!("{name} record {}: no text", index + 1)),
                },
                Err(e) => Row {
                    id: number,
                    text: Err(format!("{name} record {}: not CSV ({e})", index + 1)),
                },
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Fields {
        Fields {
            text: None,
            id: "id".into(),
        }
    }

    #[test]
    fn json_lines_give_a_row_each_with_its_id_or_number() {
        let text = "{\"id\": \"a1\", \"article\": \"One.\"}\n\n{\"text\": \"Two.\", \"id\": 7}\n\
                    {\"title\": \"no text\"}\nnot json\n";
        let rows = jsonl_rows("feed.jsonl", text, &fields());
        assert_eq!(rows.len(), 4);
        assert_eq!(
            (rows[0].id.as_str(), rows[0].text.as_deref()),
            ("a1", Ok("One."))
        );
        assert_eq!(
            (rows[1].id.as_str(), rows[1].text.as_deref()),
            ("7", Ok("Two."))
        );
        assert_eq!(rows[2].id, "4");
        assert_eq!(
            rows[2].text,
            Err(
                "feed.jsonl line 4: no `article` or `text` field (--text-field names another)"
                    .to_string()
            )
        );
        assert_eq!(
            rows[3].text,
            Err("feed.jsonl line 5: not a JSON object".to_string())
        );
        let named = Fields {
            text: Some("title".into()),
            ..fields()
        };
        assert_eq!(
            jsonl_rows("f", text, &named)[2].text.as_deref(),
            Ok("no text")
        );
    }

    #[test]
    fn csv_rows_read_quoted_fields_and_refuse_a_file_without_the_text_column() {
        let text = "id,article\nx,\"A story, with a comma.\"\n,\"Another \"\"quoted\"\" one.\"\n";
        let rows = csv_rows("feed.csv", text, &fields()).unwrap();
        assert_eq!(rows[0].id, "x");
        assert_eq!(rows[0].text.as_deref(), Ok("A story, with a comma."));
        assert_eq!(rows[1].id, "2");
        assert_eq!(rows[1].text.as_deref(), Ok("Another \"quoted\" one."));
        let err = csv_rows("feed.csv", "id,title\n1,x\n", &fields()).unwrap_err();
        assert!(err.to_string().starts_with("feed.csv: "), "{err}");
        assert!(
            err.to_string().contains("no `article` or `text` column"),
            "{err}"
        );
    }

    #[test]
    fn ids_become_file_names_that_stay_in_the_folder() {
        assert_eq!(file_name_of("a1"), PathBuf::from("a1"));
        assert_eq!(
            file_name_of("../../etc/passwd"),
            PathBuf::from("_.._.._etc_passwd")
        );
        assert_eq!(file_name_of(".hidden"), PathBuf::from("_.hidden"));
        assert_eq!(file_name_of(""), PathBuf::from("_"));
    }

    #[test]
    fn the_format_comes_from_the_extension_unless_named() {
        let path = Path::new("news/feed.JSONL");
        assert_eq!(InputFormat::Auto.rows_of(path), Some(InputFormat::Jsonl));
        assert_eq!(InputFormat::Text.rows_of(path), None);
        assert_eq!(InputFormat::Auto.rows_of(Path::new("a.txt")), None);
        assert_eq!(
            InputFormat::Csv.rows_of(Path::new("a.txt")),
            Some(InputFormat::Csv)
        );
    }
}
