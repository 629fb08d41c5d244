//! The [`LanguageModel`] of every encoder-decoder family: an [`EncoderDecoder`] holds the
//! family's network (a [`Seq2SeqNetwork`]: encode an input, decode output tokens over a
//! slot's state), its cache slots, its limits and its decoder start token, and does what is
//! the same for all of them — a slot per input with the encoder's keys and values kept for
//! cross-attention, output positions after the start token, beam forks, the limits.

use super::layers::{DenseAttention, KvCache};
use super::{LanguageModel, Limits, Step};
use anyhow::{bail, Context, Result};
use candle_core::Tensor;

/// What an encoder-decoder family computes.
pub(super) trait Seq2SeqNetwork {
    /// The encoder's output for `input`: (seq, width).
    fn encode(&self, input: &[u32]) -> Result<Tensor>;

    /// Each decoder layer's cross-attention and self-attention, in order.
    fn attentions(&self) -> Vec<(&DenseAttention, &DenseAttention)>;

    /// Runs `steps`' tokens at decoder positions `positions` (one per step) over their
    /// slots' state, caching them there, and returns each step's last logits as f32
    /// (steps, vocabulary).
    fn decode(&self, slots: &mut CrossSlots, steps: &[Step], positions: &[usize])
        -> Result<Tensor>;
}

/// One input's state in an encoder-decoder's cache slot: the encoder output's keys and
/// values for each decoder layer's cross-attention (computed once per input), and each
/// decoder layer's own keys and values (the start token, then the outputs).
pub(super) struct CrossSlot {
    pub(super) cross: Vec<(Tensor, Tensor)>,
    pub(super) caches: Vec<KvCache>,
}

/// An encoder-decoder's cache slots.
#[derive(Default)]
pub(super) struct CrossSlots(Vec<Option<CrossSlot>>);

impl CrossSlots {
    /// Puts `state` in `slot`, forgetting what it held.
    pub(super) fn set(&mut self, slot: usize, state: CrossSlot) {
        while self.0.len() <= slot {
            self.0.push(None);
        }
        self.0[slot] = Some(state);
    }

    pub(super) fn get_mut(&mut self, slot: usize) -> Result<&mut CrossSlot> {
        self.0
            .get_mut(slot)
            .and_then(Option::as_mut)
            .with_context(|| format!("slot {slot} holds no sequence"))
    }

    /// Makes `to` continue `from` after its first `len` outputs: the same encoder state,
    /// a copy of the decoder's cache up to there (the start token and `len` outputs).
    pub(super) fn fork(&mut self, from: usize, to: usize, len: usize) -> Result<()> {
        let source = self.get_mut(from)?;
        let cross = source.cross.clone();
        let caches = source
            .caches
            .iter()
            .map(|cache| cache.prefix(len + 1))
            .collect::<Result<_>>()?;
        self.set(to, CrossSlot { cross, caches });
        Ok(())
    }

    pub(super) fn clear(&mut self) {
        self.0.clear();
    }
}

/// The decoder positions of encoder-decoder steps: output position `pos` is decoder
/// position `pos + 1`, the start token being at 0; an output past `target` is an error.
fn decoder_positions(steps: &[Step], target: usize) -> Result<Vec<usize>> {
    steps
        .iter()
        .map(|step| {
            let end = step.pos + step.tokens.len();
            if end > target {
                bail!("output position {end} is past the model's output limit of {target}");
            }
            Ok(step.pos + 1)
        })
        .collect()
}

/// A family's network with its slots, limits and start token.
pub(super) struct EncoderDecoder<N> {
    network: N,
    slots: CrossSlots,
    limits: Limits,
    start: u32,
}

impl<N: Seq2SeqNetwork> EncoderDecoder<N> {
    /// `network`, taking inputs of up to `source` tokens and giving up to `target` outputs
    /// after the decoder's start token `start`.
    pub(super) fn new(network: N, source: usize, target: usize, start: u32) -> Self {
        Self {
            network,
            slots: CrossSlots::default(),
            limits: Limits {
                source,
                target,
                shared: false,
            },
            start,
        }
    }
}

impl<N: Seq2SeqNetwork> LanguageModel for EncoderDecoder<N> {
    fn begin(&mut self, slot: usize, input: &[u32], _chunk: usize) -> Result<Vec<f32>> {
        self.limits.check(input.len(), 0)?;
        let encoded = self.network.encode(input)?;
        let mut cross = Vec::new();
        let mut caches = Vec::new();
        for (cross_attention, attention) in self.network.attentions() {
            cross.push(cross_attention.keys_values(&encoded)?);
            caches.push(KvCache::empty(
                attention.heads,
                attention.head_dim,
                encoded.device(),
            )?);
        }
        self.slots.set(slot, CrossSlot { cross, caches });
        let start = [self.start];
        let step = Step {
            slot,
            tokens: &start,
            pos: 0,
        };
        let logits = self.network.decode(&mut self.slots, &[step], &[0])?;
        Ok(logits.squeeze(0)?.to_vec1()?)
    }

    fn step(&mut self, steps: &[Step]) -> Result<Tensor> {
        let positions = decoder_positions(steps, self.limits.target)?;
        self.network.decode(&mut self.slots, steps, &positions)
    }

    fn fork(&mut self, from: usize, to: usize, len: usize) -> Result<()> {
        self.slots.fork(from, to, len)
    }

    fn reset(&mut self) {
        self.slots.clear();
    }

    fn limits(&self) -> Limits {
        self.limits
    }

    fn decoder_start(&self) -> Option<u32> {
        Some(self.start)
    }
}
