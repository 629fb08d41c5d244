//! PEGASUS: BART's encoder-decoder (`bart.rs`) with the layer norms before each sub-layer and
//! after each stack, no norm over the embeddings, and fixed sinusoidal positions — the
//! layout of transformers' `PegasusForConditionalGeneration`, whose weights have the same
//! names as BART's.

use super::bart::{Positions, Shape};

/// Where PEGASUS normalizes and how it embeds positions.
pub(super) const SHAPE: Shape = Shape {
    positions: Positions::Sinusoidal,
    pre_norm: true,
    embedding_norm: false,
    final_norm: true,
};
