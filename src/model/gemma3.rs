//! Gemma 3 (`gemma3` GGUF), as llama.cpp runs it: embeddings scaled by √hidden, per-head
//! query/key RMSNorms, an RMSNorm after the attention and after the MLP as well as before
//! them (llama.cpp's converter has already added Gemma's `1 +` to every norm weight), a
//! tanh-GELU gate, tied embeddings, and five local layers of every six that see only the
//! last `gemma3.attention.sliding_window` positions with a rotary base of their own
//! (`rope.local_freq_base`, 10,000 when absent). Gemma has no system role: its template
//! folds the system text into the first user turn.

use super::decoder::Recipe;
use super::layers::{Activation, Rotation};

pub(super) const RECIPE: Recipe = Recipe {
    head_norms: true,
    post_norms: true,
    activation: Activation::GeluTanh,
    scale_embeddings: true,
    sliding_layers: true,
    ..Recipe::plain(Rotation::Halves)
};
