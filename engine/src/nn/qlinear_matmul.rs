//! ONNX QLinearMatMul of one u8 row `[1, k]` by i8 weights `[k, n]` (row-major), with a zero
//! point and a scale per output column, as the classifier head of the shipped models uses it.

use super::requant::{requant_u8, Requant};
use super::NnError;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QLinearMatMul<'a> {
    pub k: usize,
    pub n: usize,
    /// `[k][n]`.
    pub weights: &'a [i8],
    /// Per column (one value: per tensor).
    pub w_zero: &'a [i8],
    pub x_zero: u8,
    pub y_zero: u8,
    pub requant: Requant<'a>,
}

impl QLinearMatMul<'_> {
    pub fn check(&self, step: usize) -> Result<(), NnError> {
        let len = |what, expected: usize, got: usize| {
            if expected == got {
                Ok(())
            } else {
                Err(NnError::Length { step, what, expected, got })
            }
        };
        len("weights", self.k * self.n, self.weights.len())?;
        if self.w_zero.len() != 1 {
            len("weight zero points", self.n, self.w_zero.len())?;
        }
        if let Some(c) = self.requant.channels() {
            len("requantization scales", self.n, c)?;
        }
        Ok(())
    }

    pub fn macs(&self) -> usize {
        self.k * self.n
    }

    /// `x`: `k` values; `y`: `n` values.
    pub fn run(&self, x: &[u8], y: &mut [u8]) {
        let x0 = self.x_zero as i32;
        for (j, out) in y.iter_mut().enumerate().take(self.n) {
            let w0 = if self.w_zero.len() == 1 { self.w_zero[0] } else { self.w_zero[j] } as i32;
            let mut acc = 0i32;
            for (i, &xv) in x.iter().enumerate().take(self.k) {
                acc += (xv as i32 - x0) * (self.weights[i * self.n + j] as i32 - w0);
            }
            *out = requant_u8(acc, &self.requant, j, self.y_zero as i32);
        }
    }
}
