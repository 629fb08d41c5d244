//! abridge as a library: summarize a text file with a model named as `--model` names it.
//!
//! ```sh
//! cargo run --release --example summarize -- examples/article.txt [MODEL] [WORDS]
//! ```

use abridge::{Summarizer, SummaryOptions};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: summarize FILE [MODEL] [WORDS]"))?;
    let model = args
        .next()
        .unwrap_or_else(|| "qwen2.5-coder-1.5b-instruct".to_string());
    let words = args.next().map(|w| w.parse()).transpose()?.unwrap_or(100);
    let text = std::fs::read_to_string(&path)?;
    let mut summarizer = Summarizer::from_name(&model)?;
    let options = SummaryOptions {
        words,
        ..SummaryOptions::default()
    };
    let summary = summarizer.summary_of(&text, &options)?;
    println!("{}", summary.summary);
    eprintln!(
        "{}: {} words in, {} tokens out, {:.1} s",
        summary.model, summary.input_words, summary.output_tokens, summary.seconds
    );
    Ok(())
}
