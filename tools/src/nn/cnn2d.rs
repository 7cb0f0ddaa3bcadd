//! The 2-D CNN of 002 §II, Table I: two 3×3 convolutions (32), 2×2 max-pool, two 3×3
//! convolutions (64), 2×2 max-pool, a 1024-unit dense layer with ReLU and dropout 0.4, and the
//! output layer. Convolutions are unpadded ("valid", as the table's shapes show) with batch
//! norm between them and ReLU after each. Our maps are `[frames, bins]` where Table I lists
//! `[bins, frames]`: the same network on the transposed map.

use super::layer::{Builder, Layer};
use super::{scaled, ModelSpec};
use crate::error::Result;

pub fn cnn2d(mut b: Builder, spec: &ModelSpec) -> Result<Vec<Layer>> {
    let w = spec.width;
    b.bn()?; // input standardization of the dB map
    for c in [32, 64] {
        b.conv_bn_relu(scaled(c, w), 3, 1, 0, 1)?.conv_bn_relu(scaled(c, w), 3, 1, 0, 1)?.max_pool(2, 2, 0)?;
    }
    b.flatten()?.linear(scaled(1024, w))?.relu()?.dropout(0.4)?.linear(spec.n_classes as i64)?;
    Ok(b.layers)
}
