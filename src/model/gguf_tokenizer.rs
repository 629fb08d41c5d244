//! The tokenizer a GGUF file describes in its `tokenizer.ggml.*` metadata, as a
//! `tokenizers::Tokenizer`: GPT-2-style byte-level BPE (`gpt2`: Qwen, SmolLM2, Llama 3)
//! through candle's `TokenizerFromGguf`, with Llama 3's `llama-bpe` pre-tokenizer named as
//! candle knows it; and SentencePiece BPE (`llama`: Gemma, Phi-3, Llama 2), which candle does
//! not build, as llama.cpp runs it — pieces merged by the score of what they merge into,
//! spaces written `▁`, bytes outside the vocabulary as `<0xXX>` tokens.
//!
//! Control tokens (and user-defined ones that are not whitespace) are special: text from
//! outside never yields them (see `super::tokens`). Whitespace user-defined tokens (Gemma's
//! runs of newlines, spaces and tabs) are matched in any text, as llama.cpp matches them.

use anyhow::{anyhow, bail, Context, Result};
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::tokenizer::TokenizerFromGguf;
use std::collections::HashMap;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::{Prepend, Replace, Sequence as NormalizerSequence};
use tokenizers::{AddedToken, DecoderWrapper, NormalizerWrapper, Tokenizer};

/// llama.cpp's token types (`tokenizer.ggml.token_type`).
const NORMAL: u32 = 1;
const USER_DEFINED: u32 = 4;
const BYTE: u32 = 6;

/// SentencePiece's space.
const SPACE: &str = "\u{2581}";

/// The tokenizer of a GGUF file's content.
pub fn from_gguf(content: &gguf_file::Content) -> Result<Tokenizer> {
    let kind = string(content, "tokenizer.ggml.model")?;
    match kind.as_str() {
        "gpt2" => byte_level(content),
        "llama" => sentencepiece(content),
        other => bail!("unsupported tokenizer model `{other}` (supported: gpt2, llama)"),
    }
}

fn metadata<'a>(content: &'a gguf_file::Content, key: &str) -> Result<&'a Value> {
    content
        .metadata
        .get(key)
        .with_context(|| format!("missing tokenizer metadata `{key}`"))
}

fn string(content: &gguf_file::Content, key: &str) -> Result<String> {
    Ok(metadata(content, key)?.to_string()?.clone())
}

fn flag(content: &gguf_file::Content, key: &str, default: bool) -> bool {
    content
        .metadata
        .get(key)
        .and_then(|v| v.to_bool().ok())
        .unwrap_or(default)
}

fn id(content: &gguf_file::Content, key: &str) -> Option<u32> {
    content.metadata.get(key).and_then(|v| number(v).ok())
}

/// A token id or type, stored as any of GGUF's integer types.
fn number(value: &Value) -> Result<u32> {
    Ok(match value {
        Value::U8(v) => u32::from(*v),
        Value::U16(v) => u32::from(*v),
        Value::U32(v) => *v,
        Value::I8(v) => u32::try_from(*v)?,
        Value::I16(v) => u32::try_from(*v)?,
        Value::I32(v) => u32::try_from(*v)?,
        Value::U64(v) => u32::try_from(*v)?,
        Value::I64(v) => u32::try_from(*v)?,
        other => bail!("expected a token id or type, found {other:?}"),
    })
}

/// Byte-level BPE through candle. llama.cpp's converter names Llama 3's pre-tokenizer
/// `llama-bpe`, which candle knows as `llama3`; candle would otherwise fall back to plain
/// GPT-2 splitting.
fn byte_level(content: &gguf_file::Content) -> Result<Tokenizer> {
    let renamed;
    let content = match content.metadata.get("tokenizer.ggml.pre") {
        Some(Value::String(pre)) if pre == "llama-bpe" => {
            let metadata = content
                .metadata
                .iter()
                .filter(|(key, _)| key.starts_with("tokenizer.ggml."))
                .map(|(key, value)| (key.clone(), value.clone()))
                .chain([(
                    "tokenizer.ggml.pre".to_string(),
                    Value::String("llama3".to_string()),
                )])
                .collect();
            renamed = gguf_file::Content {
                magic: content.magic,
                metadata,
                tensor_infos: HashMap::new(),
                tensor_data_offset: 0,
            };
            &renamed
        }
        _ => content,
    };
    Tokenizer::from_gguf(content).map_err(|e| anyhow!("{e}"))
}

/// SentencePiece BPE: the merges are every split of a normal token into two normal tokens,
/// ranked by the merged token's score (highest first), which is the order llama.cpp's
/// tokenizer merges in.
fn sentencepiece(content: &gguf_file::Content) -> Result<Tokenizer> {
    let tokens: Vec<String> = metadata(content, "tokenizer.ggml.tokens")?
        .to_vec()?
        .iter()
        .map(|v| Ok(v.to_string()?.clone()))
        .collect::<Result<_>>()?;
    let scores: Vec<f32> = metadata(content, "tokenizer.ggml.scores")?
        .to_vec()?
        .iter()
        .map(|v| Ok(v.to_f32()?))
        .collect::<Result<_>>()?;
    let types: Vec<u32> = metadata(content, "tokenizer.ggml.token_type")?
        .to_vec()?
        .iter()
        .map(number)
        .collect::<Result<_>>()?;
    if scores.len() != tokens.len() || types.len() != tokens.len() {
        bail!(
            "{} tokens with {} scores and {} types",
            tokens.len(),
            scores.len(),
            types.len()
        );
    }
    if !types.contains(&BYTE) {
        bail!("a SentencePiece vocabulary without byte tokens is not supported");
    }
    let mut vocab: HashMap<String, u32> = HashMap::with_capacity(tokens.len());
    for (i, token) in tokens.iter().enumerate() {
        vocab.entry(token.clone()).or_insert(i as u32);
    }
    let normal = |piece: &str| {
        vocab
            .get(piece)
            .is_some_and(|&id| types[id as usize] == NORMAL)
    };
    let mut merges: Vec<(f32, u32, String, String)> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        if types[i] != NORMAL || vocab.get(token) != Some(&(i as u32)) {
            continue;
        }
        for (split, _) in token.char_indices().skip(1) {
            let (left, right) = token.split_at(split);
            if normal(left) && normal(right) {
                merges.push((scores[i], i as u32, left.to_string(), right.to_string()));
            }
        }
    }
    merges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let merges: Vec<(String, String)> = merges.into_iter().map(|(_, _, l, r)| (l, r)).collect();

    let mut model = BPE::builder()
        .vocab_and_merges(vocab.into_iter().collect::<Vocab>(), merges)
        .byte_fallback(true)
        .fuse_unk(true);
    if let Some(unk) =
        id(content, "tokenizer.ggml.unknown_token_id").and_then(|id| tokens.get(id as usize))
    {
        model = model.unk_token(unk.clone());
    }
    let model = model.build().map_err(|e| anyhow!("{e}"))?;
    let mut tokenizer = Tokenizer::new(model);

    let space_prefix = flag(content, "tokenizer.ggml.add_space_prefix", true);
    let escape = Replace::new(" ", SPACE).map_err(|e| anyhow!("{e}"))?;
    let mut normalizers: Vec<NormalizerWrapper> = Vec::new();
    if space_prefix {
        normalizers.push(Prepend::new(SPACE.to_string()).into());
    }
    normalizers.push(escape.into());
    tokenizer
        .with_normalizer(Some(NormalizerSequence::new(normalizers)))
        .map_err(|e| anyhow!("{e}"))?;
    let unescape = Replace::new(SPACE, " ").map_err(|e| anyhow!("{e}"))?;
    let mut decoders: Vec<DecoderWrapper> = vec![
        unescape.into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if space_prefix {
        decoders.push(Strip::new(' ', 1, 0).into());
    }
    tokenizer.with_decoder(Some(DecoderSequence::new(decoders)));

    let mut special = Vec::new();
    let mut matched = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        match types[i] {
            NORMAL | BYTE => {}
            USER_DEFINED if !token.is_empty() && token.chars().all(char::is_whitespace) => {
                matched.push(AddedToken::from(token.clone(), false).normalized(false));
            }
            _ => special.push(AddedToken::from(token.clone(), true)),
        }
    }
    tokenizer
        .add_special_tokens(special)
        .map_err(|e| anyhow!("{e}"))?;
    tokenizer.add_tokens(matched).map_err(|e| anyhow!("{e}"))?;
    Ok(tokenizer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tokens;

    /// A SentencePiece vocabulary: control tokens, the 256 byte tokens, single characters
    /// and merges scored so that `▁h`+`ello` beats `▁he`+`llo`, a user-defined `\n\n`.
    fn content(space_prefix: bool) -> gguf_file::Content {
        let mut tokens: Vec<(String, f32, u32)> = vec![
            ("<pad>".into(), 0.0, 3),
            ("<eos>".into(), 0.0, 3),
            ("<bos>".into(), 0.0, 3),
            ("<unk>".into(), 0.0, 2),
            ("<start_of_turn>".into(), 0.0, 3),
            ("\n\n".into(), 0.0, 4),
            ("[img]".into(), 0.0, 4),
        ];
        tokens.extend((0..=255u8).map(|b| (format!("<0x{b:02X}>"), 0.0, 6)));
        for (piece, score) in [
            ("▁", -1.0),
            ("h", -2.0),
            ("e", -3.0),
            ("l", -4.0),
            ("o", -5.0),
            ("w", -6.0),
            ("r", -7.0),
            ("d", -8.0),
            ("ll", -10.0),
            ("ello", -11.0),
            ("el", -12.0),
            ("▁h", -13.0),
            ("▁hello", -14.0),
            ("▁he", -15.0),
            ("llo", -16.0),
            ("or", -17.0),
            ("▁w", -18.0),
        ] {
            tokens.push((piece.into(), score, 1));
        }
        let array = |values: Vec<Value>| Value::Array(values);
        let metadata = [
            ("tokenizer.ggml.model", Value::String("llama".into())),
            (
                "tokenizer.ggml.tokens",
                array(tokens.iter().map(|t| Value::String(t.0.clone())).collect()),
            ),
            (
                "tokenizer.ggml.scores",
                array(tokens.iter().map(|t| Value::F32(t.1)).collect()),
            ),
            (
                "tokenizer.ggml.token_type",
                array(tokens.iter().map(|t| Value::I32(t.2 as i32)).collect()),
            ),
            ("tokenizer.ggml.unknown_token_id", Value::U32(3)),
            ("tokenizer.ggml.add_space_prefix", Value::Bool(space_prefix)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        gguf_file::Content {
            magic: gguf_file::VersionedMagic::GgufV3,
            metadata,
            tensor_infos: HashMap::new(),
            tensor_data_offset: 0,
        }
    }

    fn pieces(tokenizer: &Tokenizer, text: &str) -> Vec<String> {
        tokens::encode_text(tokenizer, text)
            .unwrap()
            .into_iter()
            .map(|id| tokenizer.id_to_token(id).unwrap())
            .collect()
    }

    #[test]
    fn sentencepiece_merges_by_score_falls_back_to_bytes_and_keeps_specials_plain() {
        let tokenizer = tokens::literal_specials(from_gguf(&content(true)).unwrap());
        // `▁hello` is reached through the best-scored merges; `wor` has no token, so `▁w`
        // and `or`; `d` is a piece of its own.
        assert_eq!(
            pieces(&tokenizer, "hello world"),
            ["▁hello", "▁w", "or", "l", "d"]
        );
        // A character outside the vocabulary is its UTF-8 bytes.
        assert_eq!(pieces(&tokenizer, "é"), ["▁", "<0xC3>", "<0xA9>"]);
        // A whitespace user-defined token is matched in any text; control tokens and other
        // user-defined ones are never made from it.
        assert!(pieces(&tokenizer, "he\n\nlo").contains(&"\n\n".to_string()));
        let forged = pieces(&tokenizer, "<start_of_turn>[img]");
        assert!(!forged
            .iter()
            .any(|p| p == "<start_of_turn>" || p == "[img]"));
        assert_eq!(
            tokens::encode_template(&tokenizer, "<bos><start_of_turn>").unwrap(),
            [2, 4]
        );
        let ids = tokens::encode_text(&tokenizer, "hello world").unwrap();
        assert_eq!(tokenizer.decode(&ids, true).unwrap(), "hello world");
    }

    #[test]
    fn without_a_space_prefix_the_first_word_has_none() {
        let tokenizer = tokens::literal_specials(from_gguf(&content(false)).unwrap());
        assert_eq!(pieces(&tokenizer, "hello"), ["h", "ello"]);
        let ids = tokens::encode_text(&tokenizer, "hello world").unwrap();
        assert_eq!(tokenizer.decode(&ids, true).unwrap(), "hello world");
    }

    #[test]
    fn an_unknown_tokenizer_model_is_named() {
        let mut content = content(true);
        content
            .metadata
            .insert("tokenizer.ggml.model".into(), Value::String("bert".into()));
        let err = from_gguf(&content).unwrap_err().to_string();
        assert_eq!(
            err,
            "unsupported tokenizer model `bert` (supported: gpt2, llama)"
        );
    }
}
