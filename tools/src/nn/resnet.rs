//! ResNet-18 (He et al. 2016) as 000/001 §IV-B use it on spectrograms: the map is bilinearly
//! resized to 128×128 inside the model, a 1-channel 7×7 stride-2 stem with batch norm, ReLU
//! and 3×3 stride-2 max-pool, four stages of two basic blocks (64, 128, 256, 512 channels
//! times the width multiplier; stages 2-4 start with stride 2 and a 1×1 projection shortcut),
//! global mean and a linear layer.

use super::layer::{Builder, Layer};
use super::{scaled, ModelSpec};
use crate::error::Result;

/// Side of the square map the model resizes its input to.
pub const SIDE: i64 = 128;

fn basic_block(b: &mut Builder, out: i64, stride: i64) -> Result<()> {
    let name = b.next_name();
    let mut body = b.branch(&format!("{name}_body"));
    body.conv_bn_relu(out, 3, stride, 1, 1)?.conv(out, 3, 1, 1, 1)?.bn()?;
    let mut shortcut = b.branch(&format!("{name}_shortcut"));
    if stride != 1 || b.channels() != out {
        shortcut.conv(out, 1, stride, 0, 1)?.bn()?;
    }
    b.residual(body, shortcut)?;
    Ok(())
}

pub fn resnet18(mut b: Builder, spec: &ModelSpec) -> Result<Vec<Layer>> {
    let w = spec.width;
    b.bn()?; // input standardization of the dB map
    b.resize([SIDE, SIDE])?;
    b.conv_bn_relu(scaled(64, w), 7, 2, 3, 1)?.max_pool(3, 2, 1)?;
    for (stage, c) in [64, 128, 256, 512].into_iter().enumerate() {
        let stride = if stage == 0 { 1 } else { 2 };
        basic_block(&mut b, scaled(c, w), stride)?;
        basic_block(&mut b, scaled(c, w), 1)?;
    }
    b.global_avg_pool()?.linear(spec.n_classes as i64)?;
    Ok(b.layers)
}
