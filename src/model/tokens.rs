//! Text to token ids, keeping text from outside apart from the prompt's control tokens:
//! [`encode_text`] never yields an added or special token, whatever the text spells (an
//! article that contains `<|im_end|>` cannot close its chat turn), while
//! [`encode_template`] turns the template's own `<|im_start|>` and the like into the
//! control tokens they name.

use anyhow::{anyhow, Result};
use tokenizers::{
    Encoding, Model, Normalizer, OffsetType, PreTokenizedString, PreTokenizer, Tokenizer,
};

/// The ids of `text` as plain text: the tokenizer's normalizer, pre-tokenizer and model,
/// without its added vocabulary (special tokens, chat markers) and without the post-processor
/// (no BOS/EOS). Ordinary text gets the ids [`Tokenizer::encode`] gives it.
pub fn encode_text(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    Ok(plain_encoding(tokenizer, text)?.get_ids().to_vec())
}

/// The ids of `text` as an encoder-decoder's input: plain text as [`encode_text`] reads it,
/// with the special tokens the tokenizer's post-processor puts around an input (BART's
/// `<s>` … `</s>`, PEGASUS's and T5's closing `</s>`), as transformers' tokenizer call does.
pub fn encode_source(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    let encoding = plain_encoding(tokenizer, text)?;
    Ok(tokenizer
        .post_process(encoding, None, true)
        .map_err(|e| anyhow!("cannot tokenize: {e}"))?
        .get_ids()
        .to_vec())
}

/// The encoding of `text` by the tokenizer's normalizer, pre-tokenizer and model alone.
fn plain_encoding(tokenizer: &Tokenizer, text: &str) -> Result<Encoding> {
    let failed = |e| anyhow!("cannot tokenize: {e}");
    let mut normalized = tokenizers::NormalizedString::from(text);
    if let Some(normalizer) = tokenizer.get_normalizer() {
        normalizer.normalize(&mut normalized).map_err(failed)?;
    }
    let mut pieces = PreTokenizedString::from(normalized);
    if let Some(pre_tokenizer) = tokenizer.get_pre_tokenizer() {
        pre_tokenizer.pre_tokenize(&mut pieces).map_err(failed)?;
    }
    let model = tokenizer.get_model();
    pieces
        .tokenize(|piece| model.tokenize(piece.get()))
        .map_err(failed)?;
    pieces
        .into_encoding(None, 0, OffsetType::Byte)
        .map_err(failed)
}

/// The ids of a template's own text, whose control-token spellings are the tokens.
pub fn encode_template(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    Ok(tokenizer
        .encode(text, false)
        .map_err(|e| anyhow!("cannot tokenize: {e}"))?
        .get_ids()
        .to_vec())
}
