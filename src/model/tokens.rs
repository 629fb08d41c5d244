//! Text to token ids, keeping text from outside apart from the prompt's control tokens:
//! [`encode_text`] never yields a special token, whatever the text spells (an article that
//! contains `<|im_end|>` cannot close its chat turn), while [`encode_template`] turns the
//! template's own `<|im_start|>` and the like into the control tokens they name. Added
//! tokens that are not special (Gemma's whitespace runs) are matched in either, as the
//! model's own tokenizer matches them.

use anyhow::{anyhow, Result};
use std::borrow::Cow;
use tokenizers::{Encoding, Tokenizer};

/// `tokenizer` made to read every special token's spelling as plain text (the loader sets
/// this on every model's tokenizer; [`encode_text`] checks it).
pub fn literal_specials(mut tokenizer: Tokenizer) -> Tokenizer {
    tokenizer.set_encode_special_tokens(true);
    tokenizer
}

/// The ids of `text` as plain text: the tokenizer's normalizer, pre-tokenizer and model and
/// its non-special added tokens, never a special token, and without the post-processor (no
/// BOS/EOS). Ordinary text gets the ids `Tokenizer::encode` gives it.
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

/// The encoding of `text` with every special token's spelling read as plain text.
fn plain_encoding(tokenizer: &Tokenizer, text: &str) -> Result<Encoding> {
    let tokenizer = match tokenizer.get_encode_special_tokens() {
        true => Cow::Borrowed(tokenizer),
        false => Cow::Owned(literal_specials(tokenizer.clone())),
    };
    tokenizer
        .encode(text, false)
        .map_err(|e| anyhow!("cannot tokenize: {e}"))
}

/// The ids of a template's own text, whose special-token spellings are the tokens (the
/// longest spelling where several start at one place); the text between them is read as
/// [`encode_text`] reads it.
pub fn encode_template(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    let mut specials: Vec<(String, u32)> = tokenizer
        .get_added_tokens_decoder()
        .into_iter()
        .filter(|(_, token)| token.special && !token.content.is_empty())
        .map(|(id, token)| (token.content, id))
        .collect();
    specials.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
    let mut ids = Vec::new();
    let mut plain = 0;
    let mut at = 0;
    while at < text.len() {
        let found = specials
            .iter()
            .find(|(content, _)| text[at..].starts_with(content.as_str()));
        match found {
            Some((content, id)) => {
                if plain < at {
                    ids.extend(encode_text(tokenizer, &text[plain..at])?);
                }
                ids.push(*id);
                at += content.len();
                plain = at;
            }
            None => at += text[at..].chars().next().map_or(1, char::len_utf8),
        }
    }
    if plain < text.len() {
        ids.extend(encode_text(tokenizer, &text[plain..])?);
    }
    Ok(ids)
}
