//! ONNX export: a small graph builder over tract-onnx's protobuf types, the model card in
//! `metadata_props`, and quantization (f16, int8).
//!
//! Placeholder with the builder's interface until the `onnx` branch lands: every builder call
//! records nothing and [`Graph::finish`] reports that export is unavailable, so the training
//! code compiles and trains, and `export` fails with a clear message.

use soundproof::model::ModelCard;
use std::path::Path;
pub use tract_onnx::pb::ModelProto;

const UNAVAILABLE: &str = "ONNX export is not in this build yet (the graph builder arrives with the onnx branch)";

/// A dense f32 tensor (weights, calibration inputs).
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

pub struct Graph {
    input: String,
    next: usize,
}

impl Graph {
    pub fn new(input_name: &str, _input_shape: &[i64]) -> Self {
        Graph { input: input_name.to_string(), next: 0 }
    }
    pub fn input(&self) -> String {
        self.input.clone()
    }
    fn name(&mut self) -> String {
        self.next += 1;
        format!("t{}", self.next)
    }
    #[allow(clippy::too_many_arguments)]
    pub fn conv(&mut self, _x: &str, _w: Array, _b: Option<Array>, _s: &[i64], _p: &[i64], _d: &[i64], _g: i64) -> String {
        self.name()
    }
    pub fn batch_norm(&mut self, _x: &str, _scale: Array, _bias: Array, _mean: Array, _var: Array, _eps: f32) -> String {
        self.name()
    }
    pub fn relu(&mut self, _x: &str) -> String {
        self.name()
    }
    pub fn global_average_pool(&mut self, _x: &str) -> String {
        self.name()
    }
    pub fn flatten(&mut self, _x: &str) -> String {
        self.name()
    }
    pub fn abs(&mut self, _x: &str) -> String {
        self.name()
    }
    pub fn log(&mut self, _x: &str) -> String {
        self.name()
    }
    pub fn max_pool(&mut self, _x: &str, _k: &[i64], _s: &[i64], _p: &[i64]) -> String {
        self.name()
    }
    pub fn avg_pool(&mut self, _x: &str, _k: &[i64], _s: &[i64], _p: &[i64]) -> String {
        self.name()
    }
    pub fn linear(&mut self, _x: &str, _w: Array, _b: Option<Array>) -> String {
        self.name()
    }
    pub fn add(&mut self, _a: &str, _b: &str) -> String {
        self.name()
    }
    pub fn resize_bilinear(&mut self, _x: &str, _out_hw: [i64; 2]) -> String {
        self.name()
    }
    pub fn reduce_mean(&mut self, _x: &str, _axes: &[i64], _keepdims: bool) -> String {
        self.name()
    }
    pub fn finish(self, _output: &str, _card: &ModelCard) -> anyhow::Result<ModelProto> {
        anyhow::bail!(UNAVAILABLE)
    }
}

pub fn save(_model: &ModelProto, _path: &Path) -> anyhow::Result<()> {
    anyhow::bail!(UNAVAILABLE)
}
pub fn load(_path: &Path) -> anyhow::Result<ModelProto> {
    anyhow::bail!(UNAVAILABLE)
}
pub fn set_card(_model: &mut ModelProto, _card: &ModelCard) -> anyhow::Result<()> {
    anyhow::bail!(UNAVAILABLE)
}
pub fn card_of(_model: &ModelProto) -> anyhow::Result<ModelCard> {
    anyhow::bail!(UNAVAILABLE)
}

pub mod quantize {
    use super::{Array, ModelProto, UNAVAILABLE};
    pub fn to_f16(model: &ModelProto) -> ModelProto {
        model.clone()
    }
    pub fn to_int8(_model: &ModelProto, _calibration: &[Array]) -> anyhow::Result<ModelProto> {
        anyhow::bail!(UNAVAILABLE)
    }
}
