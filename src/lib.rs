//! abridge: short abstractive summaries of news articles with small local models.
//!
//! The pipeline, one module per stage: [`article`] reads and cleans input, [`chunk`] splits
//! it by tokens, [`catalogue`] and [`fetch`] find and verify model files, [`model`] loads
//! them, [`generate`] runs the decoding loop, [`guard`] keeps articles from steering the
//! model and non-summaries from passing, [`summarize`] maps chunks and reduces partial
//! summaries, [`batch`] runs whole folders resumably, [`bench`] measures speed, [`eval`]
//! scores summaries, and [`cli`] turns command lines into calls.

pub mod article;
pub mod batch;
pub mod bench;
pub mod catalogue;
pub mod chunk;
pub mod cli;
pub mod device;
pub mod eval;
pub mod fetch;
pub mod generate;
pub mod guard;
pub mod kernels;
pub mod model;
pub mod summarize;
