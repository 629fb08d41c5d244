//! The model interface carries encoder-decoders too: a tiny encoder-decoder with random
//! weights, written here, runs through abridge's real generation loop (greedy, batched and
//! beam search), and each result is checked against the same network run from scratch,
//! with no cache, for every prefix.

use abridge::generate::{generate, generate_batch, DecodeOptions, Request, StopReason};
use abridge::model::{LanguageModel, Limits, Step};
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::ops::ControlFlow;
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::Tokenizer;

/// Width of the network's hidden states.
const HIDDEN: usize = 16;
/// Longest input, and longest output (with the decoder's start token).
const SOURCE: usize = 24;
const TARGET: usize = 12;

/// One slot's state: the encoder's keys and values for cross-attention, and the decoder's
/// keys and values so far (its start token first).
struct Slot {
    cross_keys: Tensor,
    cross_values: Tensor,
    keys: Tensor,
    values: Tensor,
}

/// A one-layer encoder and a one-layer decoder with single-head attention and a ReLU MLP.
struct TinySeq2Seq {
    vocabulary: usize,
    start: u32,
    embedding: Tensor,
    positions: Tensor,
    /// Encoder self-attention: query, key, value, output; then the MLP's two matrices.
    encoder: [Tensor; 6],
    /// Decoder self-attention (4), cross-attention (4), MLP (2), output projection (1).
    decoder: [Tensor; 11],
    slots: Vec<Option<Slot>>,
}

fn random(rng: &mut StdRng, rows: usize, columns: usize) -> Tensor {
    let scale = 1.5 / (rows as f32).sqrt();
    let values: Vec<f32> = (0..rows * columns)
        .map(|_| rng.random_range(-scale..scale))
        .collect();
    Tensor::from_vec(values, (rows, columns), &Device::Cpu).unwrap()
}

/// Single-head attention of `queries` (n, hidden) over `keys`, `values` (m, hidden); the
/// query at row `i` sees keys up to `visible(i)` (exclusive).
fn attend(
    queries: &Tensor,
    keys: &Tensor,
    values: &Tensor,
    visible: impl Fn(usize) -> usize,
) -> Result<Tensor> {
    let (n, m) = (queries.dim(0)?, keys.dim(0)?);
    let scores = (queries.matmul(&keys.t()?.contiguous()?)? / (HIDDEN as f64).sqrt())?;
    let mask: Vec<f32> = (0..n)
        .flat_map(|i| {
            let end = visible(i);
            (0..m).map(move |j| if j < end { 0.0 } else { f32::NEG_INFINITY })
        })
        .collect();
    let scores = (scores + Tensor::from_vec(mask, (n, m), &Device::Cpu)?)?;
    Ok(candle_nn::ops::softmax_last_dim(&scores)?.matmul(values)?)
}

fn mlp(x: &Tensor, up: &Tensor, down: &Tensor) -> Result<Tensor> {
    Ok((x + x.matmul(up)?.relu()?.matmul(down)?)?)
}

impl TinySeq2Seq {
    fn new(vocabulary: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut square = || random(&mut rng, HIDDEN, HIDDEN);
        let encoder = std::array::from_fn(|_| square());
        let mut decoder: [Tensor; 11] = std::array::from_fn(|_| square());
        decoder[10] = random(&mut rng, HIDDEN, vocabulary);
        Self {
            vocabulary,
            start: 0,
            embedding: random(&mut rng, vocabulary, HIDDEN),
            positions: random(&mut rng, SOURCE.max(TARGET), HIDDEN),
            encoder,
            decoder,
            slots: Vec::new(),
        }
    }

    /// Embeddings of `tokens` at positions from `first` on.
    fn embed(&self, tokens: &[u32], first: usize) -> Result<Tensor> {
        let ids = Tensor::new(tokens, &Device::Cpu)?;
        let positions = self.positions.narrow(0, first, tokens.len())?;
        Ok((self.embedding.index_select(&ids, 0)? + positions)?)
    }

    /// The encoder's output for `input`: (input, hidden).
    fn encode(&self, input: &[u32]) -> Result<Tensor> {
        let [q, k, v, o, up, down] = &self.encoder;
        let x = self.embed(input, 0)?;
        let attended = attend(&x.matmul(q)?, &x.matmul(k)?, &x.matmul(v)?, |_| input.len())?;
        mlp(&(&x + attended.matmul(o)?)?, up, down)
    }

    /// The decoder over `tokens` at decoder positions from `first` on, with the keys and
    /// values of the positions before them: returns the logits of every token and the keys
    /// and values of all positions so far.
    fn decode(
        &self,
        tokens: &[u32],
        first: usize,
        past: Option<(&Tensor, &Tensor)>,
        cross: (&Tensor, &Tensor),
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let [q, k, v, o, cq, _, _, co, up, down, out] = &self.decoder;
        let y = self.embed(tokens, first)?;
        let (mut keys, mut values) = (y.matmul(k)?, y.matmul(v)?);
        if let Some((past_keys, past_values)) = past {
            keys = Tensor::cat(&[past_keys, &keys], 0)?;
            values = Tensor::cat(&[past_values, &values], 0)?;
        }
        let attended = attend(&y.matmul(q)?, &keys, &values, |i| first + i + 1)?;
        let y = (&y + attended.matmul(o)?)?;
        let crossed = attend(&y.matmul(cq)?, cross.0, cross.1, |_| {
            cross.0.dim(0).unwrap()
        })?;
        let y = mlp(&(&y + crossed.matmul(co)?)?, up, down)?;
        Ok((y.matmul(out)?, keys, values))
    }

    /// The encoder's keys and values for cross-attention.
    fn cross(&self, encoded: &Tensor) -> Result<(Tensor, Tensor)> {
        Ok((
            encoded.matmul(&self.decoder[5])?,
            encoded.matmul(&self.decoder[6])?,
        ))
    }

    /// The reference: the logits after `output` for `input`, computed from scratch.
    fn uncached(&self, input: &[u32], output: &[u32]) -> Vec<f32> {
        let encoded = self.encode(input).unwrap();
        let (cross_keys, cross_values) = self.cross(&encoded).unwrap();
        let tokens = [&[self.start], output].concat();
        let (logits, _, _) = self
            .decode(&tokens, 0, None, (&cross_keys, &cross_values))
            .unwrap();
        logits.get(tokens.len() - 1).unwrap().to_vec1().unwrap()
    }

    fn slot(&self, slot: usize) -> Result<&Slot> {
        self.slots
            .get(slot)
            .and_then(Option::as_ref)
            .with_context(|| format!("slot {slot} holds no sequence"))
    }
}

impl LanguageModel for TinySeq2Seq {
    fn begin(&mut self, slot: usize, input: &[u32], _chunk: usize) -> Result<Vec<f32>> {
        let encoded = self.encode(input)?;
        let (cross_keys, cross_values) = self.cross(&encoded)?;
        let (logits, keys, values) =
            self.decode(&[self.start], 0, None, (&cross_keys, &cross_values))?;
        while self.slots.len() <= slot {
            self.slots.push(None);
        }
        self.slots[slot] = Some(Slot {
            cross_keys,
            cross_values,
            keys,
            values,
        });
        Ok(logits.get(0)?.to_vec1()?)
    }

    fn step(&mut self, steps: &[Step]) -> Result<Tensor> {
        let mut rows = Vec::with_capacity(steps.len());
        for step in steps {
            let state = self.slot(step.slot)?;
            // Output position `pos` is decoder position `pos + 1`, after the start token.
            let first = step.pos + 1;
            if first > state.keys.dim(0)? {
                bail!("position {} is past the cached positions", step.pos);
            }
            let past = (
                &state.keys.narrow(0, 0, first)?,
                &state.values.narrow(0, 0, first)?,
            );
            let cross = (&state.cross_keys, &state.cross_values);
            let (logits, keys, values) = self.decode(step.tokens, first, Some(past), cross)?;
            rows.push(logits.get(step.tokens.len() - 1)?);
            let state = self.slots[step.slot].as_mut().expect("checked above");
            state.keys = keys;
            state.values = values;
        }
        Ok(Tensor::stack(&rows, 0)?)
    }

    fn fork(&mut self, from: usize, to: usize, len: usize) -> Result<()> {
        let state = self.slot(from)?;
        let copy = Slot {
            cross_keys: state.cross_keys.clone(),
            cross_values: state.cross_values.clone(),
            keys: state.keys.narrow(0, 0, len + 1)?,
            values: state.values.narrow(0, 0, len + 1)?,
        };
        while self.slots.len() <= to {
            self.slots.push(None);
        }
        self.slots[to] = Some(copy);
        Ok(())
    }

    fn reset(&mut self) {
        self.slots.clear();
    }

    fn limits(&self) -> Limits {
        Limits {
            source: SOURCE,
            target: TARGET - 1,
            shared: false,
        }
    }
}

/// A word-level tokenizer of `vocabulary` words `w0`, `w1`, …; the last is the end token.
fn tokenizer(vocabulary: usize) -> Tokenizer {
    let vocab = (0..vocabulary)
        .map(|i| (format!("w{i}"), i as u32))
        .collect();
    let model = WordLevel::builder()
        .vocab(vocab)
        .unk_token("w0".into())
        .build()
        .unwrap();
    Tokenizer::new(model)
}

/// Plain decoding: no penalty, no n-gram rule, stopping at the end token.
fn plain(max_new_tokens: usize, beams: usize) -> DecodeOptions {
    DecodeOptions {
        max_new_tokens,
        repeat_penalty: 1.0,
        no_repeat_ngram: 0,
        beams,
        ..DecodeOptions::default()
    }
}

fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let log_sum = max + logits.iter().map(|l| (l - max).exp()).sum::<f32>().ln();
    logits.iter().map(|l| l - log_sum).collect()
}

fn argmax(values: &[f32]) -> u32 {
    (0..values.len())
        .max_by(|&a, &b| values[a].total_cmp(&values[b]))
        .unwrap() as u32
}

/// Greedy decoding from scratch at every step: the tokens until the end token or the limit.
fn greedy_reference(model: &TinySeq2Seq, input: &[u32], end: u32, limit: usize) -> Vec<u32> {
    let mut output = Vec::new();
    while output.len() < limit {
        let token = argmax(&model.uncached(input, &output));
        if token == end {
            break;
        }
        output.push(token);
    }
    output
}

fn generate_plain(
    model: &mut TinySeq2Seq,
    tokenizer: &Tokenizer,
    input: &[u32],
    end: u32,
    options: &DecodeOptions,
) -> abridge::generate::Generation {
    generate(model, tokenizer, input, &[end], options, &mut |_, _| {
        ControlFlow::Continue(())
    })
    .unwrap()
}

#[test]
fn greedy_decoding_of_an_encoder_decoder_matches_decoding_from_scratch() {
    let vocabulary = 12;
    let end = vocabulary as u32 - 1;
    let tokenizer = tokenizer(vocabulary);
    let mut model = TinySeq2Seq::new(vocabulary, 1);
    let inputs: [Vec<u32>; 3] = [
        vec![3, 1, 4, 1, 5, 9, 2, 6],
        vec![2, 7, 1, 8],
        vec![10, 9, 8, 7, 6, 5, 4, 3, 2, 1],
    ];
    let mut outputs = Vec::new();
    for input in &inputs {
        let generation = generate_plain(&mut model, &tokenizer, input, end, &plain(10, 1));
        let expected = greedy_reference(&model, input, end, 10);
        assert_eq!(generation.tokens, expected, "input {input:?}");
        assert_eq!(generation.prompt_tokens, input.len());
        let stop = if expected.len() == 10 {
            StopReason::MaxTokens
        } else {
            StopReason::EndToken
        };
        assert_eq!(generation.stop, stop);
        outputs.push(generation.tokens);
    }
    // Each input has an output of its own (cross-attention is used), and within one output
    // the tokens vary (the decoder's own history is used).
    assert!(
        outputs[0] != outputs[1] && outputs[1] != outputs[2] && outputs[0] != outputs[2],
        "{outputs:?}"
    );
    assert!(
        outputs.iter().all(|o| o.iter().any(|&t| t != o[0])),
        "{outputs:?}"
    );
}

#[test]
fn batched_encoder_decoder_sequences_equal_each_alone() {
    let vocabulary = 12;
    let end = vocabulary as u32 - 1;
    let tokenizer = tokenizer(vocabulary);
    let mut model = TinySeq2Seq::new(vocabulary, 11);
    let inputs: Vec<Vec<u32>> = vec![
        vec![1, 2, 3, 4, 5],
        vec![9, 9, 8],
        vec![4, 6, 8, 10, 3, 5, 7],
        vec![6],
    ];
    let options: Vec<DecodeOptions> = [8, 5, 11, 3].into_iter().map(|n| plain(n, 1)).collect();
    let alone: Vec<Vec<u32>> = inputs
        .iter()
        .zip(&options)
        .map(|(input, options)| generate_plain(&mut model, &tokenizer, input, end, options).tokens)
        .collect();
    let requests = inputs
        .iter()
        .zip(&options)
        .map(|(prompt, options)| Request {
            prompt,
            options,
            on_text: Box::new(|_: &str, _: &str| ControlFlow::Continue(())),
            stop_at: None,
        })
        .collect();
    let batched = generate_batch(&mut model, &tokenizer, &[end], requests, 2).unwrap();
    for (i, (batched, alone)) in batched.into_iter().zip(alone).enumerate() {
        assert_eq!(batched.unwrap().tokens, alone, "request {i}");
    }
}

#[test]
fn beam_search_over_an_encoder_decoder_finds_the_best_output() {
    // Two words and the end token, at most three output tokens: sixteen beams keep every
    // partial output, so the search must return the best-scoring of all 15 outputs.
    let vocabulary = 3;
    let end = 2;
    let tokenizer = tokenizer(vocabulary);
    let mut model = TinySeq2Seq::new(vocabulary, 5);
    for input in [
        vec![0u32, 1, 1, 0, 1],
        vec![1, 0],
        vec![1, 1, 1, 0, 0, 0, 1],
    ] {
        let mut outputs: Vec<(Vec<u32>, bool)> = vec![(Vec::new(), true)];
        for length in 1..=3 {
            for tokens in 0..1u32 << length {
                let output: Vec<u32> = (0..length).map(|bit| (tokens >> bit) & 1).collect();
                outputs.push((output, length < 3));
            }
        }
        // Scored as beam search scores a finished output: its log-probability (the end
        // token's included) per output token (the end token counted too).
        let score = |(output, ended): &(Vec<u32>, bool)| {
            let mut total = 0.0;
            for i in 0..output.len() {
                total += log_softmax(&model.uncached(&input, &output[..i]))[output[i] as usize];
            }
            if *ended {
                total += log_softmax(&model.uncached(&input, output))[end as usize];
            }
            total / (output.len() + usize::from(*ended)) as f32
        };
        let scored: Vec<(f32, &(Vec<u32>, bool))> = outputs.iter().map(|o| (score(o), o)).collect();
        let best = scored
            .iter()
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, (output, _))| output.clone())
            .unwrap();
        let searched = generate_plain(&mut model, &tokenizer, &input, end, &plain(3, 16));
        assert_eq!(searched.tokens, best, "input {input:?}: {scored:?}");
    }
}

#[test]
fn an_encoder_decoder_has_an_input_limit_and_an_output_limit_of_its_own() {
    let tokenizer = tokenizer(12);
    let mut model = TinySeq2Seq::new(12, 3);
    let run = |model: &mut TinySeq2Seq, input: &[u32], max_new_tokens| {
        generate(
            model,
            &tokenizer,
            input,
            &[11],
            &plain(max_new_tokens, 1),
            &mut |_, _| ControlFlow::Continue(()),
        )
        .map(|g| g.tokens.len())
        .map_err(|e| e.to_string())
    };
    // Input and output do not share a window: a full input still has its whole output.
    assert!(run(&mut model, &[1; SOURCE], TARGET - 1).is_ok());
    let long_input = run(&mut model, &[1; SOURCE + 1], 4).unwrap_err();
    assert!(long_input.contains("input limit of 24"), "{long_input}");
    let long_output = run(&mut model, &[1; 4], TARGET).unwrap_err();
    assert!(long_output.contains("output limit of 11"), "{long_output}");
}

#[test]
fn cached_steps_of_the_tiny_encoder_decoder_match_its_run_from_scratch() {
    let mut model = TinySeq2Seq::new(12, 1);
    let logits = model.begin(0, &[1, 2, 3], 1).unwrap();
    assert_eq!(logits.len(), model.vocabulary);
    assert_eq!(logits, model.uncached(&[1, 2, 3], &[]));
    let row = model
        .step(&[Step {
            slot: 0,
            tokens: &[4, 5],
            pos: 0,
        }])
        .unwrap();
    assert_eq!(row.dims(), &[1, 12]);
    let expected = model.uncached(&[1, 2, 3], &[4, 5]);
    let got: Vec<f32> = row.get(0).unwrap().to_vec1().unwrap();
    let difference = got
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(difference < 1e-5, "{difference}");
    assert!(model
        .step(&[Step {
            slot: 1,
            tokens: &[4],
            pos: 0
        }])
        .is_err());
}
