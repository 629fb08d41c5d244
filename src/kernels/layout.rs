//! The layout of quantized activations as every kernel reads them (the packed weights' layouts
//! are `repack`'s): one row's 8-bit values, its scales and the sums the min/offset corrections
//! use. Kept apart from the code that fills it, so the kernels depend on the layout alone.

/// One quantized activation row, as the dot-product kernels read it.
#[derive(Clone, Copy)]
pub struct ActRow<'a> {
    pub qs: &'a [i8],
    pub d: &'a [f32],
    pub bsums: &'a [i16],
    pub sums: &'a [f32],
    pub sums32: &'a [i16],
}
