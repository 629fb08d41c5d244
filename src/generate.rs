//! The generation loop shared by every model: chunked prefill of the prompt, then one token
//! at a time through the key/value cache, choosing each token with the decoding options
//! (greedy or temperature/top-p sampling with a seed, repetition penalty, no-repeat n-gram,
//! minimum length), stopping on an end token, the token limit or the caller's say-so, and
//! streaming the decoded text as it grows.

use crate::model::LanguageModel;
use anyhow::{bail, Result};
use candle_core::Tensor;
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde::Serialize;
use std::collections::HashSet;
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
    /// Ignore end tokens entirely and generate exactly `max_new_tokens` (benchmarks).
    pub ignore_end: bool,
    /// Prompt tokens run through the model per forward pass.
    pub prefill_chunk: usize,
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
            ignore_end: false,
            prefill_chunk: 128,
        }
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
    pub text: String,
    pub tokens: Vec<u32>,
    pub prompt_tokens: usize,
    pub stop: StopReason,
    /// Seconds spent on the prompt, up to the first generated token's logits.
    pub prefill_seconds: f64,
    /// Seconds spent generating after the prompt.
    pub decode_seconds: f64,
}

/// Turns a growing token sequence into text pieces that are safe to print: a piece is
/// emitted only once its bytes decode to whole characters.
pub struct TextStream<'a> {
    tokenizer: &'a Tokenizer,
    tokens: Vec<u32>,
    printed: usize,
}

impl<'a> TextStream<'a> {
    pub fn new(tokenizer: &'a Tokenizer) -> Self {
        Self {
            tokenizer,
            tokens: Vec::new(),
            printed: 0,
        }
    }

    /// Adds a token and returns the new text it completes, if any.
    pub fn push(&mut self, token: u32) -> Result<Option<String>> {
        self.tokens.push(token);
        let text = self.text()?;
        if text.len() > self.printed && !text.ends_with('\u{FFFD}') {
            let piece = text[self.printed..].to_string();
            self.printed = text.len();
            Ok(Some(piece))
        } else {
            Ok(None)
        }
    }

    /// Everything decoded so far, special tokens left out.
    pub fn text(&self) -> Result<String> {
        self.tokenizer
            .decode(&self.tokens, true)
            .map_err(|e| anyhow::anyhow!("cannot decode tokens: {e}"))
    }
}

/// Picks the next token from logits, applying the decoding options.
struct Sampler {
    options: DecodeOptions,
    rng: StdRng,
}

impl Sampler {
    fn new(options: &DecodeOptions) -> Self {
        Self {
            options: options.clone(),
            rng: StdRng::seed_from_u64(options.seed),
        }
    }

    fn next(
        &mut self,
        logits: &Tensor,
        history: &[u32],
        generated: &[u32],
        banned: &[u32],
    ) -> Result<u32> {
        let mut logits: Vec<f32> = logits.to_vec1()?;
        let penalty = self.options.repeat_penalty;
        if penalty != 1.0 {
            let recent = &history[history.len().saturating_sub(self.options.repeat_last_n)..];
            let seen: HashSet<u32> = recent.iter().copied().collect();
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
        for token in banned_ngram_continuations(generated, self.options.no_repeat_ngram)
            .into_iter()
            .chain(banned.iter().copied())
        {
            if let Some(l) = logits.get_mut(token as usize) {
                *l = f32::NEG_INFINITY;
            }
        }
        if self.options.temperature <= 0.0 {
            return argmax(&logits);
        }
        self.sample(&logits)
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

/// Tokens that would complete an n-gram already present in `generated`.
fn banned_ngram_continuations(generated: &[u32], n: usize) -> Vec<u32> {
    if n == 0 || generated.len() < n {
        return Vec::new();
    }
    let prefix = &generated[generated.len() - (n - 1)..];
    generated
        .windows(n)
        .filter(|w| &w[..n - 1] == prefix)
        .map(|w| w[n - 1])
        .collect()
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
    if prompt.is_empty() {
        bail!("the prompt is empty");
    }
    let limit = model.context_length();
    if prompt.len() + options.max_new_tokens > limit {
        bail!(
            "a prompt of {} tokens plus {} new tokens exceeds the model's context of {limit}",
            prompt.len(),
            options.max_new_tokens
        );
    }
    model.clear_kv_cache();
    let started = Instant::now();
    let mut logits = None;
    for (i, chunk) in prompt.chunks(options.prefill_chunk.max(1)).enumerate() {
        logits = Some(model.forward(chunk, i * options.prefill_chunk.max(1))?);
    }
    let mut logits = logits.expect("prompt is not empty");
    let prefill_seconds = started.elapsed().as_secs_f64();

    let decode_start = Instant::now();
    let mut sampler = Sampler::new(options);
    let mut history = prompt.to_vec();
    let mut stream = TextStream::new(tokenizer);
    let mut generated = Vec::new();
    let mut stop = StopReason::MaxTokens;
    while generated.len() < options.max_new_tokens {
        let banned = if generated.len() < options.min_new_tokens && !options.ignore_end {
            end_tokens
        } else {
            &[]
        };
        let token = sampler.next(&logits, &history, &generated, banned)?;
        if end_tokens.contains(&token) && !options.ignore_end {
            stop = StopReason::EndToken;
            break;
        }
        generated.push(token);
        history.push(token);
        if let Some(piece) = stream.push(token)? {
            if on_text(&piece, &stream.text()?).is_break() {
                stop = StopReason::Caller;
                break;
            }
        }
        if generated.len() < options.max_new_tokens {
            logits = model.forward(&[token], history.len() - 1)?;
        }
    }
    Ok(Generation {
        text: stream.text()?,
        tokens: generated,
        prompt_tokens: prompt.len(),
        stop,
        prefill_seconds,
        decode_seconds: decode_start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_repeat_ngram_bans_the_token_that_would_repeat() {
        // "1 2 3 1 2" with n = 3: the 3-gram "1 2 3" exists, so after "1 2" the 3 is banned.
        assert_eq!(banned_ngram_continuations(&[1, 2, 3, 1, 2], 3), vec![3]);
        assert!(banned_ngram_continuations(&[1, 2, 3, 1, 2], 0).is_empty());
        assert!(banned_ngram_continuations(&[1, 2, 3, 4, 5], 3).is_empty());
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
        let mut sampler = Sampler::new(&options);
        for _ in 0..20 {
            assert_eq!(sampler.sample(&logits).unwrap(), 0);
        }
        let flat = [1.0; 8];
        let draws = |seed| {
            let mut s = Sampler::new(&DecodeOptions {
                seed,
                top_p: None,
                ..options.clone()
            });
            (0..16)
                .map(|_| s.sample(&flat).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert!(draws(7).iter().collect::<HashSet<_>>().len() > 1);
    }

    #[test]
    fn repeat_penalty_lowers_seen_tokens() {
        let options = DecodeOptions {
            repeat_penalty: 2.0,
            no_repeat_ngram: 0,
            ..DecodeOptions::default()
        };
        let mut sampler = Sampler::new(&options);
        let logits = Tensor::new(&[3.0f32, 2.0], &candle_core::Device::Cpu).unwrap();
        // Token 0 was seen: 3.0 / 2 = 1.5 < 2.0, so greedy picks token 1.
        assert_eq!(sampler.next(&logits, &[0], &[], &[]).unwrap(), 1);
        assert_eq!(sampler.next(&logits, &[], &[], &[]).unwrap(), 0);
    }
}
