//! Qwen3 (`qwen3` GGUF): the Qwen2 block without query/key/value biases, with an RMSNorm
//! over each query and key head before rotation, and head dimensions that need not be
//! hidden / heads (`qwen3.attention.key_length`). Its chat template's thinking is switched
//! off for summaries (`crate::chat`).

use super::decoder::Recipe;
use super::layers::Rotation;

pub(super) const RECIPE: Recipe = Recipe {
    head_norms: true,
    ..Recipe::plain(Rotation::Halves)
};
