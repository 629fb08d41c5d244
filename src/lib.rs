//! abridge: short abstractive summaries of news articles with small local models.
//!
//! The pipeline, one module per stage: [`input`] reads and cleans input, [`chunk`] splits
//! it by tokens, [`catalogue`] and [`fetch`] find and verify model files, [`model`] loads
//! them, [`generate`] runs the decoding loop, [`guard`] keeps articles from steering the
//! model and non-summaries from passing, [`summarize`] maps chunks and reduces partial
//! summaries, [`batch`] runs whole folders resumably, [`bench`](mod@bench) measures speed, [`eval`]
//! scores summaries, [`serve`] answers summary requests over HTTP, and [`cli`] turns command lines into calls.
//!
//! As a library: [`Summarizer::from_name`] loads a model as `--model` names it, and
//! [`Summarizer::summary_of`] summarizes a text with [`SummaryOptions`] into a [`Summary`]
//! record (the JSON of `abridge summarize --format json`); `examples/summarize.rs` is a
//! whole program.

pub use output::Summary;
pub use summarize::{Summarizer, SummaryOptions};

pub mod batch;
pub mod bench;
pub mod catalogue;
pub mod chunk;
pub mod cli;
pub mod companies;
pub mod device;
pub mod error;
pub mod eval;
pub mod fetch;
pub mod generate;
pub mod guard;
pub mod input;
/// abridge's own CPU matmul kernels, public for its benchmarks only (not part of the
/// library's interface).
#[doc(hidden)]
pub mod kernels;
pub mod language;
pub mod model;
pub mod output;
pub mod provision;
pub mod sentiment;
pub mod serve;
pub mod summarize;
pub mod text;

/// Helpers for the unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use std::path::PathBuf;

    /// The file at `path` in the project's shared folder beside the checkout, or `None`,
    /// after a line saying the test is skipped, where the folder is absent (it exists only
    /// on the project's own machines, not in a clone).
    pub fn shared_file(path: &str) -> Option<PathBuf> {
        let file = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared")).join(path);
        if !file.exists() {
            eprintln!("skipped: ../shared/{path} is not beside the checkout");
        }
        file.exists().then_some(file)
    }
}
