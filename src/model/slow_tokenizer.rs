//! Tokenizers of model folders that have no `tokenizer.json`, only the files of
//! transformers' "slow" tokenizer classes, as older Hub repositories ship them: BART's
//! byte-level BPE in `vocab.json` and `merges.txt`, and the SentencePiece unigram model
//! `spiece.model` of PEGASUS and T5. Each is built as transformers' `convert_slow_tokenizer`
//! builds the fast tokenizer `AutoTokenizer` gives for such a folder (normalizer,
//! pre-tokenizer, model, post-processor, decoder and special tokens), so that abridge reads
//! an article into the ids transformers would. The special tokens' names and flags come from
//! `tokenizer_config.json` and `special_tokens_map.json` where the folder has them, else
//! from the defaults of transformers' tokenizer class for the family.

use super::folder::Folder;
use super::registry::Family;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::Path;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::decoders::metaspace::Metaspace as MetaspaceDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::{Precompiled, Replace, Sequence as Normalizers, Strip};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::sequence::Sequence as PreTokenizers;
use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;
use tokenizers::processors::roberta::RobertaProcessing;
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, NormalizerWrapper, PreTokenizerWrapper, Tokenizer};

/// SentencePiece's word-start mark, which stands for a space.
const WORD_START: char = '\u{2581}';

/// The tokenizer of a `family` model folder: its `tokenizer.json`, else the one built from
/// its slow tokenizer files.
pub(super) fn of_folder(folder: &Folder, family: Family) -> Result<Tokenizer> {
    if let Some(tokenizer) = folder.tokenizer_json()? {
        return Ok(tokenizer);
    }
    if let Some(tokenizer) = from_slow_files(folder.dir(), family)? {
        return Ok(tokenizer);
    }
    let mut expected = "tokenizer.json".to_string();
    let slow = files_of(family);
    if !slow.is_empty() {
        expected = format!("{expected} or {}", slow.join(" + "));
    }
    bail!(
        "{}: no tokenizer ({expected} expected)",
        folder.dir().display()
    )
}

/// The tokenizer built from the slow tokenizer files in `dir` for a model of `family`, or
/// `None` when the folder has none of them.
fn from_slow_files(dir: &Path, family: Family) -> Result<Option<Tokenizer>> {
    let settings = Settings::read(dir)?;
    let [vocab, merges] = BPE_FILES.map(|name| dir.join(name));
    let [spiece] = SENTENCEPIECE_FILES.map(|name| dir.join(name));
    let tokenizer = match family {
        Family::Bart if vocab.is_file() && merges.is_file() => {
            byte_level_bpe(&vocab, &merges, &settings)?
        }
        Family::Pegasus | Family::T5 if spiece.is_file() => {
            let bytes = std::fs::read(&spiece)
                .with_context(|| format!("{}: cannot read", spiece.display()))?;
            let proto = sentencepiece::ModelProto::decode(&bytes)
                .with_context(|| format!("{}: not a SentencePiece model", spiece.display()))?;
            let built = match family {
                Family::Pegasus => pegasus(&proto, &settings),
                _ => t5(&proto, &settings),
            };
            built.with_context(|| format!("{}: cannot build the tokenizer", spiece.display()))?
        }
        _ => return Ok(None),
    };
    Ok(Some(tokenizer))
}

/// A byte-level BPE's vocabulary and merges.
const BPE_FILES: [&str; 2] = ["vocab.json", "merges.txt"];
/// A SentencePiece model.
const SENTENCEPIECE_FILES: [&str; 1] = ["spiece.model"];
/// The sets of slow tokenizer files read.
pub(crate) const SLOW_TOKENIZERS: [&[&str]; 2] = [&BPE_FILES, &SENTENCEPIECE_FILES];

/// The slow tokenizer files a folder of `family` may have instead of `tokenizer.json`.
fn files_of(family: Family) -> &'static [&'static str] {
    match family {
        Family::Bart => &BPE_FILES,
        Family::Pegasus | Family::T5 => &SENTENCEPIECE_FILES,
        _ => &[],
    }
}

/// The optional files beside a slow tokenizer that name its special tokens.
pub(crate) const SETTINGS_FILES: [&str; 2] = ["tokenizer_config.json", "special_tokens_map.json"];

/// What `tokenizer_config.json` and `special_tokens_map.json` say, the first over the second.
struct Settings {
    files: Vec<Value>,
}

impl Settings {
    fn read(dir: &Path) -> Result<Self> {
        let mut files = Vec::new();
        for name in SETTINGS_FILES {
            let path = dir.join(name);
            if path.is_file() {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("{}: cannot read", path.display()))?;
                files.push(
                    serde_json::from_str(&text)
                        .with_context(|| format!("{}: not valid JSON", path.display()))?,
                );
            }
        }
        Ok(Self { files })
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.files
            .iter()
            .find_map(|file| file.get(key).filter(|v| !v.is_null()))
    }

    /// A special token's spelling: a string, or an added token's `content`.
    fn token(&self, key: &str, default: &str) -> String {
        match self.get(key) {
            Some(Value::String(name)) => name.clone(),
            Some(value) => value
                .get("content")
                .and_then(Value::as_str)
                .unwrap_or(default)
                .to_string(),
            None => default.to_string(),
        }
    }

    fn flag(&self, key: &str, default: bool) -> bool {
        self.get(key).and_then(Value::as_bool).unwrap_or(default)
    }

    fn number(&self, key: &str, default: usize) -> usize {
        self.get(key)
            .and_then(Value::as_u64)
            .map_or(default, |n| n as usize)
    }

    /// The special tokens as transformers registers them: the config's
    /// `added_tokens_decoder` where it has one (newer files), else `defaults`.
    fn special_tokens(&self, defaults: Vec<AddedToken>) -> Vec<AddedToken> {
        let Some(decoder) = self.get("added_tokens_decoder").and_then(Value::as_object) else {
            return defaults;
        };
        let flag = |token: &Value, key: &str| token.get(key).and_then(Value::as_bool);
        decoder
            .values()
            .filter_map(|token| {
                let content = token.get("content")?.as_str()?;
                Some(
                    AddedToken::from(content.to_string(), flag(token, "special").unwrap_or(true))
                        .lstrip(flag(token, "lstrip").unwrap_or(false))
                        .rstrip(flag(token, "rstrip").unwrap_or(false))
                        .single_word(flag(token, "single_word").unwrap_or(false))
                        .normalized(flag(token, "normalized").unwrap_or(false)),
                )
            })
            .collect()
    }
}

fn add_special_tokens(tokenizer: &mut Tokenizer, tokens: Vec<AddedToken>) -> Result<()> {
    tokenizer
        .add_special_tokens(tokens)
        .map_err(|e| anyhow::anyhow!("cannot add the special tokens ({e})"))?;
    Ok(())
}

fn special(content: &str) -> AddedToken {
    AddedToken::from(content.to_string(), true)
}

/// transformers' `RobertaConverter`, which BART's tokenizer uses: byte-level BPE,
/// `<s> … </s>` around an input.
fn byte_level_bpe(vocab: &Path, merges: &Path, settings: &Settings) -> Result<Tokenizer> {
    let bpe = BPE::from_file(&vocab.to_string_lossy(), &merges.to_string_lossy())
        .build()
        .map_err(|e| {
            anyhow::anyhow!(
                "{} and {}: not a BPE vocabulary ({e})",
                vocab.display(),
                merges.display()
            )
        })?;
    let add_prefix_space = settings.flag("add_prefix_space", false);
    let names = [
        "bos_token",
        "eos_token",
        "unk_token",
        "pad_token",
        "mask_token",
    ]
    .map(|key| settings.token(key, default_bart_token(key)));
    let [bos, eos, unk, pad, mask] = names.clone();
    let sep = settings.token("sep_token", &eos);
    let cls = settings.token("cls_token", &bos);
    let id = |token: &str| {
        tokenizers::Model::token_to_id(&bpe, token)
            .with_context(|| format!("{}: no special token {token}", vocab.display()))
    };
    let processor = RobertaProcessing::new((sep.clone(), id(&sep)?), (cls.clone(), id(&cls)?))
        .trim_offsets(true)
        .add_prefix_space(add_prefix_space);
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer
        .with_pre_tokenizer(Some(ByteLevel::new(add_prefix_space, true, true)))
        .with_post_processor(Some(processor))
        .with_decoder(Some(ByteLevelDecoder::default()));
    // BartTokenizer's mask token takes the space before it.
    let defaults = vec![
        special(&bos),
        special(&pad),
        special(&eos),
        special(&unk),
        special(&mask).lstrip(true),
    ];
    add_special_tokens(&mut tokenizer, settings.special_tokens(defaults))?;
    Ok(tokenizer)
}

fn default_bart_token(key: &str) -> &'static str {
    match key {
        "bos_token" => "<s>",
        "eos_token" => "</s>",
        "unk_token" => "<unk>",
        "pad_token" => "<pad>",
        _ => "<mask>",
    }
}

/// transformers' `T5Converter`: the SentencePiece pieces, then the sentinel tokens
/// `<extra_id_N>` last to first, `</s>` after an input.
fn t5(proto: &sentencepiece::ModelProto, settings: &Settings) -> Result<Tokenizer> {
    let extra_ids = settings.number("extra_ids", 100);
    let mut vocab = proto.vocab();
    vocab.extend(
        (0..extra_ids)
            .rev()
            .map(|i| (format!("<extra_id_{i}>"), 0.0)),
    );
    let unk_id = proto.unk_id();
    let eos = settings.token("eos_token", "</s>");
    // T5Tokenizer's `legacy` mode (its default) puts a word start before every text.
    let scheme = match settings.flag("add_prefix_space", true) {
        false => PrependScheme::Never,
        true if settings.flag("legacy", true) => PrependScheme::Always,
        true => PrependScheme::First,
    };
    let mut tokenizer = sentencepiece_tokenizer(proto, vocab, unk_id, Some(scheme), &eos)?;
    let mut defaults = vec![
        special(&eos),
        special(&settings.token("unk_token", "<unk>")),
        special(&settings.token("pad_token", "<pad>")),
    ];
    defaults.extend((0..extra_ids).map(|i| special(&format!("<extra_id_{i}>"))));
    add_special_tokens(&mut tokenizer, settings.special_tokens(defaults))?;
    Ok(tokenizer)
}

/// transformers' `PegasusConverter`: `<pad>`, `</s>`, the two mask tokens and the reserved
/// `<unk_2>` … before the SentencePiece pieces (shifted by the tokenizer's `offset`), words
/// split at white space first, `</s>` after an input.
fn pegasus(proto: &sentencepiece::ModelProto, settings: &Settings) -> Result<Tokenizer> {
    let offset = settings.number("offset", 103);
    let pad = settings.token("pad_token", "<pad>");
    let eos = settings.token("eos_token", "</s>");
    let mask_sent = settings.token("mask_token_sent", "<mask_1>");
    let mask = settings.token("mask_token", "<mask_2>");
    let mut defaults = vec![
        special(&pad),
        special(&eos),
        special(&mask_sent),
        special(&mask),
    ];
    let reserved: Vec<String> = (2..offset).map(|i| format!("<unk_{i}>")).collect();
    defaults.extend(reserved.iter().map(|token| special(token)));
    let mut vocab = vec![
        (pad, 0.0),
        (eos.clone(), 0.0),
        (mask_sent, 0.0),
        (mask, 0.0),
    ];
    vocab.extend(reserved.into_iter().map(|token| (token, -100.0)));
    vocab.extend(proto.vocab().into_iter().skip(2));
    let unk_id = proto.unk_id() + offset;
    let mut tokenizer = sentencepiece_tokenizer(proto, vocab, unk_id, None, &eos)?;
    add_special_tokens(&mut tokenizer, settings.special_tokens(defaults))?;
    Ok(tokenizer)
}

/// `SpmConverter`'s common part: a unigram model over `vocab`; the model's character map,
/// trailing spaces dropped and longer runs of spaces made one word start; words marked by
/// their leading word start (after splitting at white space when `scheme` is `None`, as
/// PEGASUS does, always prepending); `eos` after an input; the model's control and
/// user-defined pieces as added tokens.
fn sentencepiece_tokenizer(
    proto: &sentencepiece::ModelProto,
    vocab: Vec<(String, f64)>,
    unk_id: usize,
    scheme: Option<PrependScheme>,
    eos: &str,
) -> Result<Tokenizer> {
    if proto.model_type() != sentencepiece::UNIGRAM {
        bail!(
            "a SentencePiece model of type {} (only unigram models are read)",
            proto.model_type()
        );
    }
    let eos_id = vocab
        .iter()
        .position(|(piece, _)| piece == eos)
        .with_context(|| format!("no end token {eos} in the vocabulary"))? as u32;
    let model = Unigram::from(vocab, Some(unk_id), false)
        .map_err(|e| anyhow::anyhow!("not a usable unigram vocabulary ({e})"))?;
    let mut normalizers: Vec<NormalizerWrapper> = Vec::new();
    let charsmap = proto.charsmap();
    if !charsmap.is_empty() {
        let precompiled = Precompiled::from(charsmap)
            .map_err(|e| anyhow::anyhow!("an unreadable character map ({e})"))?;
        normalizers.push(precompiled.into());
    }
    normalizers.push(Strip::new(false, true).into());
    let spaces = Replace::new(
        tokenizers::normalizers::replace::ReplacePattern::Regex(" {2,}".to_string()),
        WORD_START.to_string(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    normalizers.push(spaces.into());
    let metaspace = Metaspace::new(WORD_START, scheme.unwrap_or(PrependScheme::Always), true);
    let pre_tokenizer: PreTokenizerWrapper = match scheme {
        Some(_) => metaspace.into(),
        None => PreTokenizers::new(vec![WhitespaceSplit.into(), metaspace.into()]).into(),
    };
    let processor = TemplateProcessing::builder()
        .try_single(format!("$A {eos}"))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .special_tokens(vec![(eos.to_string(), eos_id)])
        .build()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut tokenizer = Tokenizer::new(model);
    tokenizer
        .with_normalizer(Some(Normalizers::new(normalizers)))
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .with_pre_tokenizer(Some(pre_tokenizer))
        .with_post_processor(Some(processor))
        .with_decoder(Some(MetaspaceDecoder::new(
            WORD_START,
            scheme.unwrap_or(PrependScheme::Always),
            true,
        )));
    let (control, user_defined): (Vec<_>, Vec<_>) = proto
        .added_pieces()
        .into_iter()
        .partition(|(_, special)| *special);
    let unnormalized = |pieces: Vec<(String, bool)>| -> Vec<AddedToken> {
        pieces
            .into_iter()
            .map(|(piece, special)| AddedToken::from(piece, special).normalized(false))
            .collect()
    };
    tokenizer
        .add_tokens(unnormalized(user_defined))
        .map_err(|e| anyhow::anyhow!("cannot add the user-defined pieces ({e})"))?;
    add_special_tokens(&mut tokenizer, unnormalized(control))?;
    Ok(tokenizer)
}

/// The parts of SentencePiece's `ModelProto` (sentencepiece_model.proto) a converter reads.
mod sentencepiece {
    use prost::Message;

    /// `TrainerSpec.ModelType.UNIGRAM`.
    pub const UNIGRAM: i32 = 1;
    /// `SentencePiece.Type.CONTROL` and `USER_DEFINED`.
    const CONTROL: i32 = 3;
    const USER_DEFINED: i32 = 4;

    #[derive(Clone, PartialEq, Message)]
    pub struct ModelProto {
        #[prost(message, repeated, tag = "1")]
        pieces: Vec<Piece>,
        #[prost(message, optional, tag = "2")]
        trainer_spec: Option<TrainerSpec>,
        #[prost(message, optional, tag = "3")]
        normalizer_spec: Option<NormalizerSpec>,
    }

    #[derive(Clone, PartialEq, Message)]
    struct Piece {
        #[prost(string, optional, tag = "1")]
        piece: Option<String>,
        #[prost(float, optional, tag = "2")]
        score: Option<f32>,
        #[prost(int32, optional, tag = "3", default = "1")]
        kind: Option<i32>,
    }

    #[derive(Clone, PartialEq, Message)]
    struct TrainerSpec {
        #[prost(int32, optional, tag = "3", default = "1")]
        model_type: Option<i32>,
        #[prost(int32, optional, tag = "40", default = "0")]
        unk_id: Option<i32>,
    }

    #[derive(Clone, PartialEq, Message)]
    struct NormalizerSpec {
        #[prost(bytes = "vec", optional, tag = "2")]
        precompiled_charsmap: Option<Vec<u8>>,
    }

    impl ModelProto {
        pub fn decode(bytes: &[u8]) -> Result<Self, prost::DecodeError> {
            <Self as Message>::decode(bytes)
        }

        /// Each piece with its score, in id order.
        pub fn vocab(&self) -> Vec<(String, f64)> {
            self.pieces
                .iter()
                .map(|p| (p.piece().to_string(), f64::from(p.score())))
                .collect()
        }

        pub fn unk_id(&self) -> usize {
            let id = self.trainer_spec.as_ref().map_or(0, TrainerSpec::unk_id);
            usize::try_from(id).unwrap_or(0)
        }

        pub fn model_type(&self) -> i32 {
            self.trainer_spec
                .as_ref()
                .map_or(UNIGRAM, TrainerSpec::model_type)
        }

        pub fn charsmap(&self) -> &[u8] {
            self.normalizer_spec
                .as_ref()
                .map_or(&[], NormalizerSpec::precompiled_charsmap)
        }

        /// The control pieces (special) and user-defined ones (not special), in id order.
        pub fn added_pieces(&self) -> Vec<(String, bool)> {
            self.pieces
                .iter()
                .filter(|p| matches!(p.kind(), CONTROL | USER_DEFINED))
                .map(|p| (p.piece().to_string(), p.kind() == CONTROL))
                .collect()
        }
    }
}
