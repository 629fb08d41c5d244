//! The generation loop shared by every model, decoder-only or encoder-decoder: the model
//! begins each sequence from its input (see [`LanguageModel::begin`]), then the loop goes one
//! token at a time through the model's cache, choosing each token with the decoding options
//! (greedy or temperature/top-p sampling with a seed, repetition penalty, no-repeat n-gram,
//! minimum length), stopping on an end token, the token limit or the caller's say-so, and
//! streaming the decoded text as it grows. Several prompts can be decoded together, one
//! cache slot each, so that each step reads the weights once for all of them.

use crate::model::{EarlyStoppingSetting, GenerationConfig, LanguageModel, Limits, Step};
use anyhow::{bail, Result};
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde::Serialize;
use std::collections::VecDeque;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::ops::ControlFlow;
use std::time::Instant;
use tokenizers::Tokenizer;

/// How tokens are chosen and when generation stops.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecodeOptions {
    /// Most tokens to generate.
    pub max_new_tokens: usize,
    /// End tokens are ignored until this many tokens were generated.
    pub min_new_tokens: usize,
    /// 0 means greedy (deterministic); above 0 samples from the softened distribution.
    pub temperature: f64,
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches this.
    pub top_p: Option<f64>,
    /// Seed of the sampler, so sampled runs repeat.
    pub seed: u64,
    /// Divides positive logits (multiplies negative ones) of recently seen tokens; 1 = off.
    pub repeat_penalty: f32,
    /// How many recent tokens (prompt included) the repetition penalty looks at.
    pub repeat_last_n: usize,
    /// Forbids repeating any n-gram of this many generated tokens; 0 = off.
    pub no_repeat_ngram: usize,
    /// Beam search with this many beams (above 1): keeps the likeliest partial outputs and
    /// returns the finished one with the best log-probability per token; 1 = off (and left
    /// out of the serialized options, so batch records written before beam search existed
    /// stay up to date).
    #[serde(skip_serializing_if = "is_one")]
    pub beams: usize,
    /// Beam search ranks a finished output by its summed log-probability over its length
    /// (in tokens, the end token counted) to this power: above 0 favours longer outputs, 0
    /// ranks by the sum alone (left out of the serialized options at 1).
    #[serde(skip_serializing_if = "is_unit")]
    pub length_penalty: f32,
    /// When beam search stops (left out of the serialized options at its default).
    #[serde(skip_serializing_if = "EarlyStopping::is_default")]
    pub early_stopping: EarlyStopping,
    /// What `no_repeat_ngram` counts (left out of the serialized options for words).
    #[serde(skip_serializing_if = "NgramUnit::is_words")]
    pub ngram_unit: NgramUnit,
    /// The token the first output must be (an encoder-decoder's `forced_bos_token_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forced_first: Option<u32>,
    /// The token the last output allowed by `max_new_tokens` must be (its
    /// `forced_eos_token_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forced_last: Option<u32>,
    /// Ignore end tokens entirely and generate exactly `max_new_tokens` (benchmarks).
    pub ignore_end: bool,
    /// Prompt tokens run through the model per forward pass.
    pub prefill_chunk: usize,
    /// Prompt-lookup decoding: each step also checks up to this many draft tokens, those
    /// that followed the latest earlier occurrence of the output's last tokens in the prompt
    /// or the output, and keeps those the model would have chosen; 0 = off. The output is
    /// the same either way (only faster), so it is not part of the serialized options.
    #[serde(skip)]
    pub lookup: usize,
}

/// Draft tokens per step of prompt-lookup decoding, by default (`docs/performance.md`).
pub const LOOKUP_TOKENS: usize = 8;

/// Draft tokens a sequence's first step may check (see `Sequence::draft_room`).
const LOOKUP_START: usize = 3;

/// The longest and shortest runs of latest tokens prompt lookup matches against earlier
/// text: the longest that occurs wins. A single token matched too often by chance: its
/// drafts were mostly lost (`docs/performance.md`).
const LOOKUP_NGRAM: usize = 3;
const LOOKUP_MIN_NGRAM: usize = 2;

/// Up to `most` draft tokens after `sequence`: what followed the latest earlier occurrence
/// of its last `n` tokens, for the longest `n` from [`LOOKUP_NGRAM`] down to
/// [`LOOKUP_MIN_NGRAM`] that occurs.
fn lookup_drafts(sequence: &[u32], most: usize) -> Vec<u32> {
    if most == 0 {
        return Vec::new();
    }
    for n in (LOOKUP_MIN_NGRAM..=LOOKUP_NGRAM.min(sequence.len().saturating_sub(1))).rev() {
        let tail = &sequence[sequence.len() - n..];
        // Starts of earlier occurrences, the latest first; each has a token after it.
        let found = (0..sequence.len() - n)
            .rev()
            .find(|&start| &sequence[start..start + n] == tail);
        if let Some(start) = found {
            let after = start + n;
            return sequence[after..(after + most).min(sequence.len())].to_vec();
        }
    }
    Vec::new()
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            max_new_tokens: 256,
            min_new_tokens: 0,
            temperature: 0.0,
            top_p: None,
            seed: 299_792_458,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
            no_repeat_ngram: 4,
            beams: 1,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::Complete,
            ngram_unit: NgramUnit::Words,
            forced_first: None,
            forced_last: None,
            ignore_end: false,
            prefill_chunk: 128,
            lookup: LOOKUP_TOKENS,
        }
    }
}

impl DecodeOptions {
    /// The end tokens to rule out after `generated` tokens: all of them while the minimum
    /// length is not reached (unless end tokens are ignored anyway), else none.
    fn banned_ends<'e>(&self, generated: usize, end_tokens: &'e [u32]) -> &'e [u32] {
        if generated < self.min_new_tokens && !self.ignore_end {
            end_tokens
        } else {
            &[]
        }
    }

    /// Whether `token` ends the output.
    fn ends(&self, token: u32, end_tokens: &[u32]) -> bool {
        end_tokens.contains(&token) && !self.ignore_end
    }

    /// The token the output must continue with after `generated` tokens, if any: the
    /// forced last one at the token limit's last position, else the forced first one.
    fn forced(&self, generated: usize) -> Option<u32> {
        let last = self
            .forced_last
            .filter(|_| generated + 1 == self.max_new_tokens);
        last.or(self.forced_first.filter(|_| generated == 0))
    }

    /// The options under which transformers' `generate` runs an encoder-decoder with these
    /// settings (its global defaults where they say nothing: greedy, 20 decoder tokens).
    /// Lengths count the decoder's start token there, and do not here.
    pub fn from_generation_config(config: &GenerationConfig) -> DecodeOptions {
        let max_length = config.max_length.unwrap_or(20);
        let max_new_tokens = config
            .max_new_tokens
            .unwrap_or(max_length.saturating_sub(1))
            .max(1);
        let min_new_tokens = config
            .min_new_tokens
            .unwrap_or(0)
            .max(config.min_length.unwrap_or(0).saturating_sub(1));
        let early_stopping = match config.early_stopping {
            Some(EarlyStoppingSetting::Flag(true)) => EarlyStopping::Complete,
            Some(EarlyStoppingSetting::Flag(false)) | None => EarlyStopping::Heuristic,
            Some(EarlyStoppingSetting::Word(_)) => EarlyStopping::Never,
        };
        DecodeOptions {
            max_new_tokens,
            min_new_tokens,
            repeat_penalty: config.repetition_penalty.unwrap_or(1.0),
            // transformers' penalty looks at the whole output.
            repeat_last_n: max_new_tokens + 1,
            no_repeat_ngram: config.no_repeat_ngram_size.unwrap_or(0),
            ngram_unit: NgramUnit::Tokens,
            beams: config.num_beams.unwrap_or(1).max(1),
            length_penalty: config.length_penalty.unwrap_or(1.0),
            early_stopping,
            forced_first: config.forced_bos_token_id,
            forced_last: config
                .forced_eos_token_id
                .as_ref()
                .and_then(|ids| ids.ids().first().copied()),
            ..DecodeOptions::default()
        }
    }
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

fn is_unit(x: &f32) -> bool {
    *x == 1.0
}

/// When beam search stops, as transformers' `early_stopping` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EarlyStopping {
    /// As soon as there are as many finished outputs as beams (`true`; abridge's default).
    Complete,
    /// Once no live beam can beat the worst of the finished ones, judged at its current
    /// length (`false`; transformers' default).
    Heuristic,
    /// Once no live beam can beat them even at the token limit, with a length penalty above
    /// 0 (`"never"`).
    Never,
}

impl EarlyStopping {
    fn is_default(&self) -> bool {
        *self == EarlyStopping::Complete
    }
}

/// What the no-repeat n-gram rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NgramUnit {
    /// Words, never banning inside a word or a number (abridge's rule for its instruct
    /// models: see `banned_ngram_continuations`).
    Words,
    /// Tokens, the decoder's start token included, as transformers' `no_repeat_ngram_size`
    /// does (for models whose settings come from their own generation config).
    Tokens,
}

impl NgramUnit {
    fn is_words(&self) -> bool {
        *self == NgramUnit::Words
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndToken,
    MaxTokens,
    Caller,
}

/// What one generation produced, with its timings.
#[derive(Debug, Clone)]
pub struct Generation {
    /// The output, cut where `stop_at` ended it.
    pub text: String,
    /// Every generated token: with a cut, they may run a word past `text`.
    pub tokens: Vec<u32>,
    pub prompt_tokens: usize,
    pub stop: StopReason,
    /// Seconds spent on the prompt, up to the first generated token's logits.
    pub prefill_seconds: f64,
    /// Seconds spent generating after the prompt.
    pub decode_seconds: f64,
    /// Prompt lookup's draft tokens checked, and how many of them were kept.
    pub drafted: usize,
    pub kept: usize,
}

impl Generation {
    /// The decoding work of this generation.
    pub fn work(&self) -> DecodeWork {
        DecodeWork {
            seconds: self.decode_seconds,
            drafted: self.drafted,
            kept: self.kept,
        }
    }
}

/// The decoding work of one or more generations: seconds spent after their prompts, and
/// prompt lookup's draft tokens checked and kept (see [`DecodeOptions::lookup`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct DecodeWork {
    pub seconds: f64,
    pub drafted: usize,
    pub kept: usize,
}

impl DecodeWork {
    /// No decoding at all (a summary made without a model, in tests).
    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }
}

impl std::ops::Add for DecodeWork {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            seconds: self.seconds + other.seconds,
            drafted: self.drafted + other.drafted,
            kept: self.kept + other.kept,
        }
    }
}

impl std::iter::Sum for DecodeWork {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), |a, b| a + b)
    }
}

/// Turns a growing token sequence into text pieces that are safe to print: a piece is
/// emitted only once its bytes decode to whole characters. Each token decodes only the
/// tokens since the last piece (and the one piece before them, for the spacing rules of
/// tokenizers that strip a leading space), so the work is linear in the output.
pub struct TextStream<'a> {
    tokenizer: &'a Tokenizer,
    tokens: Vec<u32>,
    /// The pieces emitted so far.
    text: String,
    /// `tokens[context..emitted]` decode to the end of `text`: the last piece's tokens.
    context: usize,
    emitted: usize,
}

impl<'a> TextStream<'a> {
    pub fn new(tokenizer: &'a Tokenizer) -> Self {
        Self {
            tokenizer,
            tokens: Vec::new(),
            text: String::new(),
            context: 0,
            emitted: 0,
        }
    }

    /// Adds a token and returns the new text it completes, if any.
    pub fn push(&mut self, token: u32) -> Result<Option<String>> {
        self.tokens.push(token);
        let before = decode(self.tokenizer, &self.tokens[self.context..self.emitted])?;
        let after = decode(self.tokenizer, &self.tokens[self.context..])?;
        if after.len() > before.len() && !after.ends_with('\u{FFFD}') {
            let piece = after[before.len()..].to_string();
            self.text.push_str(&piece);
            self.context = self.emitted;
            self.emitted = self.tokens.len();
            Ok(Some(piece))
        } else {
            Ok(None)
        }
    }

    /// The pieces emitted so far.
    pub fn so_far(&self) -> &str {
        &self.text
    }

    /// Everything decoded so far, special tokens left out, with any bytes of an unfinished
    /// character at the end.
    pub fn text(&self) -> Result<String> {
        decode(self.tokenizer, &self.tokens)
    }
}

/// The text of `tokens`, special tokens left out.
fn decode(tokenizer: &Tokenizer, tokens: &[u32]) -> Result<String> {
    tokenizer
        .decode(tokens, true)
        .map_err(|e| anyhow::anyhow!("cannot decode tokens: {e}"))
}

/// Picks the next token from logits, applying the decoding options.
struct Sampler {
    options: DecodeOptions,
    rng: StdRng,
    /// What the output continues for the token n-gram rule: an encoder-decoder's decoder
    /// start token.
    lead: Vec<u32>,
}

impl Sampler {
    fn new(options: &DecodeOptions, lead: Option<u32>) -> Self {
        Self {
            options: options.clone(),
            rng: StdRng::seed_from_u64(options.seed),
            lead: lead.into_iter().collect(),
        }
    }

    fn next(
        &mut self,
        mut logits: Vec<f32>,
        history: &[u32],
        generated: &[u32],
        banned: &[u32],
        shapes: &mut TokenShapes,
    ) -> Result<u32> {
        self.restrict(&mut logits, history, generated, banned, shapes);
        if self.options.temperature <= 0.0 {
            return argmax(&logits);
        }
        self.sample(&logits)
    }

    /// Applies the repetition penalty to the recent `history`, rules out the tokens that
    /// would repeat an n-gram of `generated` (of words, see [`banned_ngram_continuations`],
    /// or of tokens) and the `banned` ones, and then, where a token is forced, rules out
    /// every other and gives it 0 (its log-probability, to beam search). Digits are left
    /// out of the penalty: a figure is copied, not varied. Works alike on logits and on
    /// log-probabilities, which beam search restricts as transformers does.
    fn restrict(
        &self,
        logits: &mut [f32],
        history: &[u32],
        generated: &[u32],
        banned: &[u32],
        shapes: &mut TokenShapes,
    ) {
        let penalty = self.options.repeat_penalty;
        if penalty != 1.0 {
            let recent = &history[history.len().saturating_sub(self.options.repeat_last_n)..];
            let seen: HashSet<u32> = recent
                .iter()
                .copied()
                .filter(|&token| shapes.shape(token).number != NumberPart::Digits)
                .collect();
            for &token in &seen {
                if let Some(l) = logits.get_mut(token as usize) {
                    *l = if *l >= 0.0 {
                        *l / penalty
                    } else {
                        *l * penalty
                    };
                }
            }
        }
        let n = self.options.no_repeat_ngram;
        let repeats = match self.options.ngram_unit {
            NgramUnit::Words => banned_ngram_continuations(generated, n, shapes),
            NgramUnit::Tokens => banned_token_continuations(&[&self.lead, generated].concat(), n),
        };
        for token in repeats.into_iter().chain(banned.iter().copied()) {
            if let Some(l) = logits.get_mut(token as usize) {
                *l = f32::NEG_INFINITY;
            }
        }
        if let Some(forced) = self.options.forced(generated.len()) {
            logits.fill(f32::NEG_INFINITY);
            if let Some(l) = logits.get_mut(forced as usize) {
                *l = 0.0;
            }
        }
    }

    fn sample(&mut self, logits: &[f32]) -> Result<u32> {
        let temperature = self.options.temperature as f32;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut probs: Vec<(u32, f32)> = logits
            .iter()
            .enumerate()
            .map(|(i, &l)| (i as u32, ((l - max) / temperature).exp()))
            .filter(|(_, p)| *p > 0.0)
            .collect();
        probs.sort_by(|a, b| b.1.total_cmp(&a.1));
        let total: f32 = probs.iter().map(|(_, p)| p).sum();
        if let Some(top_p) = self.options.top_p {
            let mut cumulative = 0.0;
            let keep = probs
                .iter()
                .position(|(_, p)| {
                    cumulative += p / total;
                    cumulative >= top_p as f32
                })
                .map_or(probs.len(), |i| i + 1);
            probs.truncate(keep);
        }
        let total: f32 = probs.iter().map(|(_, p)| p).sum();
        let mut target = self.rng.random::<f32>() * total;
        for &(token, p) in &probs {
            if target < p {
                return Ok(token);
            }
            target -= p;
        }
        probs
            .last()
            .map(|(t, _)| *t)
            .ok_or_else(|| anyhow::anyhow!("no token can be sampled"))
    }
}

fn argmax(logits: &[f32]) -> Result<u32> {
    logits
        .iter()
        .enumerate()
        .filter(|(_, l)| l.is_finite())
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i as u32)
        .ok_or_else(|| anyhow::anyhow!("every token was excluded"))
}

/// What a token is to a number: digits, a separator that continues a number when digits
/// come on both sides (`,` and `.` of "14,000" or "2.5", a thin space), or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumberPart {
    Digits,
    Separator,
    Other,
}

/// How a token sits in the words of a text, read from the token's own text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TokenShape {
    /// It begins with whitespace (or the tokenizer's mark for it, `Ġ` or `▁`).
    space_before: bool,
    /// Its first and last characters are letters or digits (a token that holds part of a
    /// character's bytes counts as both: it is inside a word).
    alphanumeric_start: bool,
    alphanumeric_end: bool,
    number: NumberPart,
}

impl TokenShape {
    fn of(raw: &str, text: &str) -> Self {
        let space_before = raw.starts_with(['Ġ', '▁']) || text.starts_with(char::is_whitespace);
        let trimmed = text.trim_start();
        let partial = trimmed.contains('\u{FFFD}');
        let alphanumeric = |c: Option<char>| partial || c.is_some_and(char::is_alphanumeric);
        TokenShape {
            space_before,
            alphanumeric_start: alphanumeric(trimmed.chars().next()),
            alphanumeric_end: alphanumeric(trimmed.chars().next_back()),
            number: number_part(trimmed),
        }
    }

    /// Whether a token of this shape, after one of shape `previous`, goes on the same word
    /// (separators between digits aside: see [`words`]).
    fn continues(self, previous: TokenShape) -> bool {
        !self.space_before && previous.alphanumeric_end && self.alphanumeric_start
    }
}

/// The [`NumberPart`] of a token's text (leading whitespace removed).
fn number_part(text: &str) -> NumberPart {
    if text.is_empty() {
        NumberPart::Other
    } else if text.chars().all(char::is_numeric) {
        NumberPart::Digits
    } else if text
        .chars()
        .all(|c| matches!(c, ',' | '.' | '\'' | '\u{a0}' | '\u{202f}'))
    {
        NumberPart::Separator
    } else {
        NumberPart::Other
    }
}

/// The [`TokenShape`] of each token met, read once from its text: tokenizers cut words and
/// numbers in their own ways (Qwen and Gemma split numbers digit by digit, Llama 3 in
/// groups of three, GPT-2 anyhow; a long name is several tokens in all of them), so the
/// tokens' text is the one rule that holds for every tokenizer.
struct TokenShapes<'t> {
    tokenizer: &'t Tokenizer,
    known: HashMap<u32, TokenShape>,
}

impl<'t> TokenShapes<'t> {
    fn new(tokenizer: &'t Tokenizer) -> Self {
        Self {
            tokenizer,
            known: HashMap::new(),
        }
    }

    fn shape(&mut self, token: u32) -> TokenShape {
        let tokenizer = self.tokenizer;
        *self.known.entry(token).or_insert_with(|| {
            let raw = tokenizer.id_to_token(token).unwrap_or_default();
            let text = tokenizer.decode(&[token], false).unwrap_or_default();
            TokenShape::of(&raw, &text)
        })
    }
}

/// A word of generated text for the n-gram rule: its tokens' key, its first token, and
/// whether it is a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Word {
    key: u64,
    first: u32,
    number: bool,
}

/// The words of `tokens`: a token starts a word unless it goes on the one before it (no
/// space between them, letters or digits on both sides), and the digits and separators of
/// one number ("14,000", "2.5") are one word. A separator at the very end is a word of its
/// own: the n-gram rule only asks about tokens that start a new word there.
fn words(tokens: &[u32], shapes: &mut TokenShapes) -> Vec<Word> {
    let shape: Vec<TokenShape> = tokens.iter().map(|&t| shapes.shape(t)).collect();
    let digits = |i: usize| {
        shape
            .get(i)
            .is_some_and(|s| s.number == NumberPart::Digits && !s.space_before)
    };
    let goes_on = |i: usize| match shape[i].number {
        NumberPart::Separator => shape[i - 1].number == NumberPart::Digits && digits(i + 1),
        _ if shape[i - 1].number == NumberPart::Separator => {
            i >= 2 && shape[i - 2].number == NumberPart::Digits && digits(i)
        }
        _ => shape[i].continues(shape[i - 1]),
    };
    let mut words = Vec::new();
    let mut start = 0;
    for end in 1..=tokens.len() {
        if end < tokens.len() && goes_on(end) {
            continue;
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        tokens[start..end].hash(&mut hasher);
        words.push(Word {
            key: hasher.finish(),
            first: tokens[start],
            number: shape[start].number == NumberPart::Digits,
        });
        start = end;
    }
    words
}

/// Tokens that would begin a word completing an n-gram of words already present in
/// `generated` (see [`words`]). The rule works on words, not tokens, and bans only at the
/// start of a word: banning a token inside one misspells it ("Adebayor" became
/// "Adebayeur" when its last piece was banned), and inside a number it changes the figure
/// ("3,000" after "14,000" ended "3,00"). For the same reason it never bans a number: a
/// phrase that repeats with a number in it is still caught at the word after the number.
fn banned_ngram_continuations(generated: &[u32], n: usize, shapes: &mut TokenShapes) -> Vec<u32> {
    if n == 0 {
        return Vec::new();
    }
    let words = words(generated, shapes);
    if words.len() < n {
        return Vec::new();
    }
    let last = shapes.shape(*generated.last().expect("words were found"));
    let prefix = &words[words.len() - (n - 1)..];
    let mut banned = Vec::new();
    for window in words.windows(n) {
        let (context, word) = window.split_at(n - 1);
        let same = context.iter().zip(prefix).all(|(a, b)| a.key == b.key);
        if !same || word[0].number {
            continue;
        }
        let shape = shapes.shape(word[0].first);
        let goes_on_the_last_word = shape.continues(last)
            || (shape.number == NumberPart::Separator && last.number == NumberPart::Digits);
        if !goes_on_the_last_word {
            banned.push(word[0].first);
        }
    }
    banned
}

/// The tokens that would complete an n-gram of tokens already in `sequence` after its last
/// `n - 1` tokens (transformers' `NoRepeatNGramLogitsProcessor`).
fn banned_token_continuations(sequence: &[u32], n: usize) -> Vec<u32> {
    if n == 0 || sequence.len() < n {
        return Vec::new();
    }
    let prefix = &sequence[sequence.len() - (n - 1)..];
    sequence
        .windows(n)
        .filter(|window| &window[..n - 1] == prefix)
        .map(|window| window[n - 1])
        .collect()
}

/// Called with each new piece of generated text and the whole text so far; breaking stops
/// the generation.
pub type OnText<'a> = Box<dyn FnMut(&str, &str) -> ControlFlow<()> + 'a>;

/// Says where the text generated so far completes an output: `Some(length)` ends the
/// generation and keeps the text's first `length` bytes (leaving out, say, the word that
/// confirmed a sentence end; the cut must fall within the newest piece of text, as what came
/// before it was already passed to `on_text`); `None` goes on.
pub type StopAt<'a> = Box<dyn Fn(&str) -> Option<usize> + 'a>;

/// One input to generate from (a decoder's prompt, an encoder-decoder's source text): its
/// decoding options; `on_text`, called with each new piece
/// of text and the whole text so far, which can stop the generation; and `stop_at`, which
/// ends an output where it says (`on_text` never sees text past that point; with beam
/// search it sees only the chosen output, whole).
pub struct Request<'a> {
    pub prompt: &'a [u32],
    pub options: &'a DecodeOptions,
    pub on_text: OnText<'a>,
    pub stop_at: Option<StopAt<'a>>,
}

impl Request<'_> {
    /// Why this request cannot run on a model with these limits, if it cannot.
    fn check(&self, limits: Limits) -> Result<()> {
        limits.check(self.prompt.len(), self.options.max_new_tokens)
    }

    /// The tokens the repetition penalty looks back on before any output: the prompt's
    /// last ones where the output continues the prompt (a decoder), else the decoder's start
    /// token (which transformers counts).
    fn penalty_context(&self, model: &dyn LanguageModel) -> Vec<u32> {
        if model.limits().shared {
            self.prompt[self.prompt.len().saturating_sub(self.options.repeat_last_n)..].to_vec()
        } else {
            model.decoder_start().into_iter().collect()
        }
    }
}

/// Runs the prompt, then generates until an end token, the limit, or until `on_text`
/// (called with each new piece of text and the whole text so far) breaks.
pub fn generate(
    model: &mut dyn LanguageModel,
    tokenizer: &Tokenizer,
    prompt: &[u32],
    end_tokens: &[u32],
    options: &DecodeOptions,
    on_text: &mut dyn FnMut(&str, &str) -> ControlFlow<()>,
) -> Result<Generation> {
    let request = Request {
        prompt,
        options,
        on_text: Box::new(on_text),
        stop_at: None,
    };
    generate_batch(model, tokenizer, end_tokens, vec![request], 1)?
        .pop()
        .expect("one request, one result")
}

/// Generates from every request, decoding up to `batch_size` sequences together: each has
/// its own key/value cache slot, and every decoding step runs one token of each through the
/// model in a single pass, so the weights are read once for all of them. A sequence that
/// ends frees its slot for the next request, whose prompt is run in that slot first (where
/// the caller turned prefix reuse on, a decoder runs only what no slot holds of it).
/// Results come back in the requests' order; a request that cannot run (an empty prompt, or
/// one longer than the context) gets its error and the others go on. A model error ends
/// the whole batch.
pub fn generate_batch(
    model: &mut dyn LanguageModel,
    tokenizer: &Tokenizer,
    end_tokens: &[u32],
    requests: Vec<Request>,
    batch_size: usize,
) -> Result<Vec<Result<Generation>>> {
    if requests.iter().any(|r| r.options.beams > 1) {
        // A beam search fills the batch with its own beams, so such requests run in turn.
        return requests
            .into_iter()
            .map(|request| match request.check(model.limits()) {
                Err(error) => Ok(Err(error)),
                Ok(()) if request.options.beams > 1 => {
                    beam_search(model, tokenizer, end_tokens, request).map(Ok)
                }
                Ok(()) => Ok(
                    generate_batch(model, tokenizer, end_tokens, vec![request], 1)?
                        .pop()
                        .expect("one request, one result"),
                ),
            })
            .collect();
    }
    let mut results: Vec<Option<Result<Generation>>> = requests.iter().map(|_| None).collect();
    let mut pending = requests.into_iter().enumerate();
    let mut free_slots: Vec<usize> = (0..batch_size.max(1)).rev().collect();
    let mut active: Vec<Sequence> = Vec::new();
    let mut shapes = TokenShapes::new(tokenizer);
    loop {
        while !free_slots.is_empty() {
            let Some((index, request)) = pending.next() else {
                break;
            };
            if let Err(error) = request.check(model.limits()) {
                results[index] = Some(Err(error));
                continue;
            }
            let slot = free_slots.pop().expect("checked non-empty");
            active.push(Sequence::start(model, tokenizer, index, slot, request)?);
        }
        let mut i = 0;
        while i < active.len() {
            if active[i].advance_all(end_tokens, &mut shapes)? {
                i += 1;
            } else {
                let done = active.swap_remove(i);
                free_slots.push(done.slot);
                let index = done.index;
                results[index] = Some(done.finish());
            }
        }
        if active.is_empty() {
            if pending.len() == 0 {
                break;
            }
            continue;
        }
        let lookup = model.checks_drafts();
        let context = model.limits().source;
        for sequence in &mut active {
            let used = sequence.request.prompt.len() + sequence.generated.len();
            sequence.prepare_step(lookup, context.saturating_sub(used));
        }
        let steps: Vec<Step> = active.iter().map(Sequence::next_step).collect();
        let logits = if steps.iter().any(|step| step.tokens.len() > 1) {
            model.step_all(&steps)?
        } else {
            model.step(&steps)?
        };
        let mut rows = logits.to_vec2::<f32>()?.into_iter();
        for sequence in &mut active {
            sequence.take_logits(&mut rows);
        }
    }
    Ok(results
        .into_iter()
        .map(|r| r.expect("every request was finished"))
        .collect())
}

/// A partial output of beam search: its tokens, their summed log-probability, and the cache
/// slot holding its keys and values.
struct Beam {
    tokens: Vec<u32>,
    log_prob: f32,
    slot: usize,
}

/// A finished output of beam search with its score (see [`DecodeOptions::length_penalty`])
/// and the length its text is cut to, if `stop_at` ended it.
struct Finished {
    tokens: Vec<u32>,
    score: f32,
    stop: StopReason,
    cut: Option<usize>,
}

/// One extension of a beam: summed log-probability, the beam, the token.
#[derive(Clone, Copy)]
struct Candidate {
    log_prob: f32,
    beam: usize,
    token: u32,
}

/// Beam search over `request.options.beams` beams, one cache slot each, all advanced in one
/// forward pass per step, as transformers' `generate` does it. Each step takes every beam's
/// log-probabilities, restricted by the decoding rules (repetition penalty, n-grams,
/// minimum length, forced tokens), and ranks all extensions by summed log-probability. Of
/// the best `(1 + end tokens) × beams` (at least twice the beams), an extension that ends
/// the output (an end token, `stop_at`, the token limit) becomes a finished output if it
/// ranks among the first `beams` (scored by [`DecodeOptions::length_penalty`]; the best
/// `beams` finished outputs are kept), and the best `beams` that do not end go on. The
/// search stops as [`DecodeOptions::early_stopping`] says, or when no extension goes on,
/// and returns the best finished output; `on_text` then sees its whole text at once.
fn beam_search(
    model: &mut dyn LanguageModel,
    tokenizer: &Tokenizer,
    end_tokens: &[u32],
    mut request: Request,
) -> Result<Generation> {
    let options = request.options;
    let width = options.beams.max(1);
    let started = Instant::now();
    let mut logits = vec![model.begin(0, request.prompt, options.prefill_chunk)?];
    let prefill_seconds = started.elapsed().as_secs_f64();
    let decode_start = Instant::now();
    let rules = Sampler::new(options, model.decoder_start());
    let mut shapes = TokenShapes::new(tokenizer);
    let prompt_tail = request.penalty_context(model);
    let ends = if options.ignore_end {
        0
    } else {
        end_tokens.len()
    };
    let kept = 2.max(1 + ends) * width;
    let mut live = vec![Beam {
        tokens: Vec::new(),
        log_prob: 0.0,
        slot: 0,
    }];
    // The best `width` finished outputs, best first.
    let mut finished: Vec<Finished> = Vec::new();
    loop {
        let mut candidates: Vec<Candidate> = Vec::new();
        for (index, (beam, logits)) in live.iter().zip(logits).enumerate() {
            let history = [prompt_tail.as_slice(), &beam.tokens].concat();
            let banned = options.banned_ends(beam.tokens.len(), end_tokens);
            let mut log_probs = log_softmax(&logits);
            rules.restrict(&mut log_probs, &history, &beam.tokens, banned, &mut shapes);
            let mut ranked: Vec<(usize, f32)> = log_probs
                .into_iter()
                .enumerate()
                .filter(|(_, l)| l.is_finite())
                .collect();
            let keep = kept.min(ranked.len());
            if keep == 0 {
                continue;
            }
            ranked.select_nth_unstable_by(keep - 1, |a, b| b.1.total_cmp(&a.1));
            candidates.extend(ranked[..keep].iter().map(|&(token, log_prob)| Candidate {
                log_prob: beam.log_prob + log_prob,
                beam: index,
                token: token as u32,
            }));
        }
        if candidates.is_empty() {
            bail!("every token was excluded");
        }
        candidates.sort_by(|a, b| {
            (b.log_prob.total_cmp(&a.log_prob))
                .then(a.beam.cmp(&b.beam))
                .then(a.token.cmp(&b.token))
        });
        candidates.truncate(kept);
        let mut next: Vec<Beam> = Vec::with_capacity(width);
        for (rank, candidate) in candidates.into_iter().enumerate() {
            // Past the first `width`, a candidate can only go on, and only while beams are
            // missing.
            if rank >= width && next.len() == width {
                break;
            }
            let parent = &live[candidate.beam];
            let tokens = [parent.tokens.as_slice(), &[candidate.token]].concat();
            let ending = if options.ends(candidate.token, end_tokens) {
                Some((StopReason::EndToken, None))
            } else {
                let cut = match &request.stop_at {
                    Some(stop) => stop(&decode(tokenizer, &tokens)?),
                    None => None,
                };
                match cut {
                    Some(cut) => Some((StopReason::Caller, Some(cut))),
                    None if tokens.len() >= options.max_new_tokens => {
                        Some((StopReason::MaxTokens, None))
                    }
                    None => None,
                }
            };
            match ending {
                // Only the first `width` extensions may finish; the rest are spares.
                Some((stop, cut)) if rank < width => {
                    let length = tokens.len() as f32;
                    let score = candidate.log_prob / length.powf(options.length_penalty);
                    let mut tokens = tokens;
                    if stop == StopReason::EndToken {
                        tokens.pop();
                    }
                    let at = finished.partition_point(|f| f.score >= score);
                    finished.insert(
                        at,
                        Finished {
                            tokens,
                            score,
                            stop,
                            cut,
                        },
                    );
                    finished.truncate(width);
                }
                Some(_) => {}
                None if next.len() < width => next.push(Beam {
                    tokens,
                    log_prob: candidate.log_prob,
                    slot: parent.slot,
                }),
                None => {}
            }
        }
        let Some(best) = next.first() else { break };
        if finished.len() == width {
            let length = match options.early_stopping {
                EarlyStopping::Never if options.length_penalty > 0.0 => options.max_new_tokens,
                _ => best.tokens.len(),
            };
            let best_possible = best.log_prob / (length as f32).powf(options.length_penalty);
            let worst = finished.last().map_or(f32::NEG_INFINITY, |f| f.score);
            if best_possible <= worst || options.early_stopping == EarlyStopping::Complete {
                break;
            }
        }
        // The first beam descended from a slot keeps it; its siblings get copies in the
        // slots no beam descends from.
        let mut taken = vec![false; width];
        let mut forks = Vec::new();
        for (index, beam) in next.iter().enumerate() {
            if taken[beam.slot] {
                forks.push(index);
            } else {
                taken[beam.slot] = true;
            }
        }
        for index in forks {
            let free = taken.iter().position(|t| !t).expect("a slot per beam");
            taken[free] = true;
            let beam = &mut next[index];
            model.fork(beam.slot, free, beam.tokens.len() - 1)?;
            beam.slot = free;
        }
        let steps: Vec<Step> = next
            .iter()
            .map(|beam| Step {
                slot: beam.slot,
                tokens: &beam.tokens[beam.tokens.len() - 1..],
                pos: beam.tokens.len() - 1,
            })
            .collect();
        logits = model.step(&steps)?.to_vec2::<f32>()?;
        live = next;
    }
    let best = match finished.into_iter().next() {
        Some(best) => best,
        None => bail!("beam search ended with no finished output"),
    };
    let mut text = decode(tokenizer, &best.tokens)?;
    if let Some(cut) = best.cut {
        text.truncate(cut);
    }
    let _ = (request.on_text)(&text, &text);
    Ok(Generation {
        text,
        tokens: best.tokens,
        prompt_tokens: request.prompt.len(),
        stop: best.stop,
        prefill_seconds,
        decode_seconds: decode_start.elapsed().as_secs_f64(),
        drafted: 0,
        kept: 0,
    })
}

/// Log-probabilities from logits; ruled-out tokens (minus infinity) stay minus infinity.
fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|&l| (l - max).exp()).sum();
    let log_sum = max + sum.ln();
    logits.iter().map(|&l| l - log_sum).collect()
}

/// One request being generated, in its key/value cache slot.
struct Sequence<'a, 't> {
    index: usize,
    slot: usize,
    request: Request<'a>,
    sampler: Sampler,
    history: Vec<u32>,
    stream: TextStream<'t>,
    generated: Vec<u32>,
    stop: StopReason,
    /// Where `stop_at` cut the text, if it ended the sequence.
    cut: Option<usize>,
    logits: Vec<f32>,
    /// The draft tokens the latest step checked after its token and not yet confirmed, and
    /// the logits after each of them.
    drafts: VecDeque<(u32, Vec<f32>)>,
    /// What the next step runs: the latest token, then its draft tokens.
    step_tokens: Vec<u32>,
    /// Draft tokens the next step may check: grows by 2 after a step whose drafts were all
    /// kept, shrinks by 1 after one that lost some (as transformers' assisted decoding
    /// sizes its drafts).
    draft_room: usize,
    drafted: usize,
    kept: usize,
    prefill_seconds: f64,
    decode_start: Instant,
}

impl<'a, 't> Sequence<'a, 't> {
    /// Begins the request's sequence in `slot`.
    fn start(
        model: &mut dyn LanguageModel,
        tokenizer: &'t Tokenizer,
        index: usize,
        slot: usize,
        request: Request<'a>,
    ) -> Result<Self> {
        let started = Instant::now();
        let logits = model.begin(slot, request.prompt, request.options.prefill_chunk)?;
        Ok(Self {
            index,
            slot,
            sampler: Sampler::new(request.options, model.decoder_start()),
            history: request.penalty_context(model),
            stream: TextStream::new(tokenizer),
            generated: Vec::new(),
            stop: StopReason::MaxTokens,
            cut: None,
            logits,
            drafts: VecDeque::new(),
            step_tokens: Vec::new(),
            draft_room: LOOKUP_START,
            drafted: 0,
            kept: 0,
            prefill_seconds: started.elapsed().as_secs_f64(),
            decode_start: Instant::now(),
            request,
        })
    }

    /// Chooses the next token from the latest logits; `false` when the sequence is over.
    fn advance(&mut self, end_tokens: &[u32], shapes: &mut TokenShapes) -> Result<bool> {
        let options = self.request.options;
        if self.generated.len() >= options.max_new_tokens {
            self.stop = StopReason::MaxTokens;
            return Ok(false);
        }
        let banned = options.banned_ends(self.generated.len(), end_tokens);
        let logits = std::mem::take(&mut self.logits);
        let token = self
            .sampler
            .next(logits, &self.history, &self.generated, banned, shapes)?;
        if options.ends(token, end_tokens) {
            self.stop = StopReason::EndToken;
            return Ok(false);
        }
        self.generated.push(token);
        self.history.push(token);
        if let Some(piece) = self.stream.push(token)? {
            let text = self.stream.so_far();
            self.cut = self.request.stop_at.as_ref().and_then(|stop| stop(text));
            let end = self.cut.unwrap_or(text.len());
            let start = (text.len() - piece.len()).min(end);
            let caller_stops =
                start < end && (self.request.on_text)(&text[start..end], &text[..end]).is_break();
            if caller_stops || self.cut.is_some() {
                self.stop = StopReason::Caller;
                return Ok(false);
            }
        }
        Ok(self.generated.len() < options.max_new_tokens)
    }

    /// Chooses tokens while the logits for them are at hand: from the latest logits, then,
    /// as long as each chosen token is the next draft token, from the logits after it.
    /// `false` when the sequence is over.
    fn advance_all(&mut self, end_tokens: &[u32], shapes: &mut TokenShapes) -> Result<bool> {
        loop {
            if !self.advance(end_tokens, shapes)? {
                return Ok(false);
            }
            let chosen = self.generated.last().copied();
            match self.drafts.pop_front() {
                Some((draft, logits)) if Some(draft) == chosen => {
                    self.kept += 1;
                    self.logits = logits;
                }
                Some(_) => {
                    self.draft_room = self.draft_room.saturating_sub(1).max(1);
                    self.drafts.clear();
                    return Ok(true);
                }
                None => {
                    if self.step_tokens.len() > 1 {
                        self.draft_room = (self.draft_room + 2).min(self.request.options.lookup);
                    }
                    return Ok(true);
                }
            }
        }
    }

    /// Sets what the next step runs: the latest token, and with prompt lookup up to
    /// `options.lookup` draft tokens, no more than the output and the context still have
    /// room for (`room`: positions left in the context after the output so far).
    fn prepare_step(&mut self, lookup: bool, room: usize) {
        let last = *self
            .generated
            .last()
            .expect("a step follows a generated token");
        self.step_tokens.clear();
        self.step_tokens.push(last);
        if lookup {
            let options = self.request.options;
            let left = options
                .max_new_tokens
                .saturating_sub(self.generated.len() + 1);
            let most = options.lookup.min(self.draft_room).min(left).min(room);
            if most == 0 {
                return;
            }
            let mut sequence = Vec::with_capacity(self.request.prompt.len() + self.generated.len());
            sequence.extend_from_slice(self.request.prompt);
            sequence.extend_from_slice(&self.generated);
            self.step_tokens.extend(lookup_drafts(&sequence, most));
        }
    }

    /// The step that produces the logits after the latest token (and its draft tokens).
    fn next_step(&self) -> Step<'_> {
        Step {
            slot: self.slot,
            tokens: &self.step_tokens,
            pos: self.generated.len() - 1,
        }
    }

    /// Takes the step's logits rows: the first is after the latest token, each further one
    /// after one of its draft tokens.
    fn take_logits(&mut self, rows: &mut impl Iterator<Item = Vec<f32>>) {
        self.logits = rows.next().expect("a logits row per step token");
        for &draft in &self.step_tokens[1..] {
            self.drafts
                .push_back((draft, rows.next().expect("a logits row per draft")));
        }
        self.drafted += self.step_tokens.len() - 1;
    }

    fn finish(self) -> Result<Generation> {
        let mut text = self.stream.text()?;
        if let Some(cut) = self.cut {
            text.truncate(cut);
        }
        Ok(Generation {
            text,
            tokens: self.generated,
            prompt_tokens: self.request.prompt.len(),
            stop: self.stop,
            prefill_seconds: self.prefill_seconds,
            decode_seconds: self.decode_start.elapsed().as_secs_f64(),
            drafted: self.drafted,
            kept: self.kept,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A word-level tokenizer over `words` (token id = position), whose tokens decode to
    /// themselves, and the ids of a space-separated text in it.
    fn word_tokenizer(words: &[&str]) -> Tokenizer {
        let vocab = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.to_string(), i as u32))
            .collect();
        let model = tokenizers::models::wordlevel::WordLevel::builder()
            .vocab(vocab)
            .unk_token(words[0].to_string())
            .build()
            .unwrap();
        Tokenizer::new(model)
    }

    const WORDS: &[&str] = &[
        "?",
        "0",
        "1",
        "3",
        "4",
        "9",
        " 1",
        " 3",
        " 9",
        ",",
        ".",
        " panels",
        " the",
        " a",
        " x",
        " y",
        " z",
        " said",
        " Emmanuel",
        " Ade",
        "bay",
        "or",
        "é",
    ];

    fn ids(tokens: &[&str]) -> Vec<u32> {
        tokens
            .iter()
            .map(|w| WORDS.iter().position(|k| k == w).unwrap() as u32)
            .collect()
    }

    fn banned(tokens: &[&str], n: usize) -> Vec<&'static str> {
        let tokenizer = word_tokenizer(WORDS);
        let mut shapes = TokenShapes::new(&tokenizer);
        let mut banned = banned_ngram_continuations(&ids(tokens), n, &mut shapes);
        banned.sort_unstable();
        banned.dedup();
        banned.into_iter().map(|t| WORDS[t as usize]).collect()
    }

    #[test]
    fn lookup_drafts_follow_the_latest_earlier_occurrence_of_the_longest_tail() {
        // "b c" occurred twice before; the latest is followed by "x y".
        let seq = [1, 2, 3, 4, 5, 2, 3, 8, 9, 6, 2, 3];
        assert_eq!(lookup_drafts(&seq, 8), vec![8, 9, 6, 2, 3]);
        assert_eq!(lookup_drafts(&seq, 2), vec![8, 9]);
        assert_eq!(lookup_drafts(&seq, 0), Vec::<u32>::new());
        // The three-token tail "6 2 3" never occurred before, but "2 3" did; a longer
        // match wins over a later shorter one.
        let seq = [1, 2, 3, 7, 4, 1, 2, 3, 9, 2, 3, 1, 2, 3];
        assert_eq!(lookup_drafts(&seq, 3), vec![9, 2, 3]);
        // A single matching token is not enough.
        assert_eq!(lookup_drafts(&[5, 6, 7, 8, 6], 4), Vec::<u32>::new());
        assert_eq!(lookup_drafts(&[5], 4), Vec::<u32>::new());
    }

    #[test]
    fn no_repeat_ngram_bans_the_word_that_would_repeat() {
        // " x y z x y" with n = 3: the 3-gram "x y z" exists, so after "x y" the z is banned.
        let xyzxy = [" x", " y", " z", " x", " y"];
        assert_eq!(banned(&xyzxy, 3), [" z"]);
        assert!(banned(&xyzxy, 0).is_empty());
        assert!(banned(&[" x", " y", " z", " a", " the"], 3).is_empty());
        // Punctuation is a word of its own.
        assert_eq!(banned(&[" x", " y", " z", ",", " x", " y", " z"], 4), [","]);
    }

    #[test]
    fn no_repeat_ngram_never_bans_inside_a_word() {
        let name = [" said", " Emmanuel", " Ade", "bay", "or", " x"];
        // Within the repeated name its last piece is allowed: banning it misspells the name.
        let again = [&name[..], &[" said", " Emmanuel", " Ade", "bay"]].concat();
        assert!(banned(&again, 3).is_empty());
        assert!(banned(&again, 2).is_empty());
        // The phrase "said Emmanuel Adebayor" is banned where it would start its last word.
        let before = [&name[..], &[" said", " Emmanuel"]].concat();
        assert_eq!(banned(&before, 3), [" Ade"]);
        // Neither a word of several pieces nor a split character ends early.
        let accented = [" x", " Ade", "é", " y", " x", " Ade"];
        assert!(banned(&accented, 3).is_empty());
    }

    #[test]
    fn no_repeat_ngram_never_changes_a_figure() {
        // Digit by digit, "14,000 ... 3,00" repeats ", 0 0" and once banned the last 0.
        let figures = [
            " 1", "4", ",", "0", "0", "0", " panels", " the", " 3", ",", "0", "0",
        ];
        assert!(banned(&figures, 4).is_empty());
        assert!(banned(&figures, 2).is_empty());
        // A separator after digits may go on the number, so it is not banned either.
        assert!(banned(&[" x", " 1", "3", ",", "0", " x", " 1", "3"], 3).is_empty());
        // A number is one word: "the 14,000 panels" does not ban "panels" after "the 9,000".
        let fourteen = [" a", " the", " 1", "4", ",", "0", "0", "0", " panels"];
        let nine = [" a", " the", " 9", ",", "0", "0", "0"];
        assert!(banned(&[&fourteen[..], &nine].concat(), 4).is_empty());
        // But a phrase with the same number in it is still a repetition...
        let again = [" a", " the", " 1", "4", ",", "0", "0", "0"];
        assert_eq!(banned(&[&fourteen[..], &again].concat(), 4), [" panels"]);
        // ...and the number itself is never banned.
        assert!(banned(&[&fourteen[..], &[" a", " the"]].concat(), 3).is_empty());
    }

    #[test]
    fn token_shapes_are_read_from_the_token_text() {
        assert_eq!(number_part("0"), NumberPart::Digits);
        assert_eq!(number_part("2024"), NumberPart::Digits);
        assert_eq!(
            number_part("\u{ff10}"),
            NumberPart::Digits,
            "a full-width zero"
        );
        assert_eq!(number_part(","), NumberPart::Separator);
        assert_eq!(number_part("."), NumberPart::Separator);
        assert_eq!(number_part("homes"), NumberPart::Other);
        assert_eq!(number_part("3rd"), NumberPart::Other);
        assert_eq!(number_part(""), NumberPart::Other);
        // Byte-level BPE and SentencePiece mark a leading space in the raw token.
        assert!(TokenShape::of("Ġpanels", "panels").space_before);
        assert!(TokenShape::of("▁panels", "panels").space_before);
        let piece = TokenShape::of("bay", "bay");
        assert!(!piece.space_before && piece.continues(TokenShape::of("ĠAde", " Ade")));
        assert!(!TokenShape::of(",", ",").continues(piece));
        let split_char = TokenShape::of("Ã", "\u{FFFD}");
        assert!(split_char.continues(piece) && piece.continues(split_char));
    }

    #[test]
    fn argmax_skips_banned_tokens() {
        assert_eq!(argmax(&[0.5, f32::NEG_INFINITY, 0.7]).unwrap(), 2);
        assert!(argmax(&[f32::NEG_INFINITY]).is_err());
    }

    #[test]
    fn sampling_repeats_with_the_same_seed_and_respects_top_p() {
        let options = DecodeOptions {
            temperature: 1.0,
            top_p: Some(0.5),
            ..DecodeOptions::default()
        };
        // Token 0 alone carries more than half the mass, so top-p 0.5 keeps only it.
        let logits = [5.0, 1.0, 1.0, 1.0];
        let mut sampler = Sampler::new(&options, None);
        for _ in 0..20 {
            assert_eq!(sampler.sample(&logits).unwrap(), 0);
        }
        let flat = [1.0; 8];
        let draws = |seed| {
            let mut s = Sampler::new(
                &DecodeOptions {
                    seed,
                    top_p: None,
                    ..options.clone()
                },
                None,
            );
            (0..16)
                .map(|_| s.sample(&flat).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert!(draws(7).iter().collect::<HashSet<_>>().len() > 1);
    }

    #[test]
    fn repeat_penalty_lowers_seen_tokens_but_not_digits() {
        let options = DecodeOptions {
            repeat_penalty: 2.0,
            no_repeat_ngram: 0,
            ..DecodeOptions::default()
        };
        let tokenizer = word_tokenizer(WORDS);
        let mut shapes = TokenShapes::new(&tokenizer);
        let mut sampler = Sampler::new(&options, None);
        let [x, y, zero, one] = ids(&[" x", " y", "0", "1"])[..] else {
            unreachable!()
        };
        let mut logits = vec![0.0f32; WORDS.len()];
        logits[x as usize] = 3.0;
        logits[y as usize] = 2.0;
        // x was seen: 3.0 / 2 = 1.5 < 2.0, so greedy picks y.
        let mut pick = |logits: &[f32], history: &[u32]| {
            sampler
                .next(logits.to_vec(), history, &[], &[], &mut shapes)
                .unwrap()
        };
        assert_eq!(pick(&logits, &[x]), y);
        assert_eq!(pick(&logits, &[]), x);
        // A digit seen before keeps its logit: the 0 of "3,000" after "14,000".
        let mut logits = vec![0.0f32; WORDS.len()];
        logits[zero as usize] = 3.0;
        logits[one as usize] = 2.0;
        assert_eq!(pick(&logits, &[zero, zero]), zero);
    }
}
