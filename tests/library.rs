//! abridge as a library: `Summarizer::from_name` loads what `--model` takes (here the tiny
//! BART fixture folder), and `summary_of` gives the record `summarize --format json` prints
//! — for the fixture, the output transformers generates.

use abridge::input::InputError;
use abridge::{Summarizer, SummaryOptions};
use std::path::Path;

#[test]
fn a_model_named_as_the_cli_names_it_summarizes_a_text_as_transformers_does() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seq2seq/bart");
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("expected.json")).unwrap()).unwrap();
    let case = &expected["cases"][0];
    let mut summarizer = Summarizer::from_name(folder.to_str().unwrap()).unwrap();
    let options = SummaryOptions {
        raw: true,
        ..SummaryOptions::default()
    };
    let summary = summarizer
        .summary_of(case["text"].as_str().unwrap(), &options)
        .unwrap();
    assert_eq!(
        summary.summary.trim(),
        case["own_text"].as_str().unwrap().trim()
    );
    assert_eq!(summary.input, "<text>");
    assert_eq!(summary.chunks, 1);

    let err = summarizer.summary_of("   ", &options).unwrap_err();
    let input = err.downcast_ref::<InputError>().expect("an input error");
    assert_eq!(input.to_string(), "<text>: empty");
}
