//! Phi-3 and Phi-3.5 (`phi3` GGUF): the Llama block with query, key and value in one matrix
//! (`attn_qkv`) and gate and up in one (`ffn_up`), rotated GPT-NeoX style. A long-context
//! file's rotary factors (`rope_factors_short`, `rope.scaling.attn_factor`) are applied,
//! and abridge keeps to the original context they are for
//! (`rope.scaling.original_context_length`, 4,096 for Phi-3.5-mini), as llama.cpp does with
//! a context that size. Like llama.cpp, it ignores the file's sliding window.

use super::decoder::Recipe;
use super::layers::Rotation;

pub(super) const RECIPE: Recipe = Recipe {
    fused: true,
    ..Recipe::plain(Rotation::Halves)
};
