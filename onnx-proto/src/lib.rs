//! Small constructors and readers for tract-onnx's ONNX protobuf types: nodes, attributes,
//! initializers, value infos and a model card's metadata. The one ONNX writer of the project:
//! `soundproof-tools` builds its exports with it, the end-to-end tests their toy models.

use anyhow::{bail, Context};
use soundproof::model::ModelCard;
use half::f16;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::{dimension, Dimension};
use tract_onnx::pb::type_proto::{self, Tensor as TensorType};
use tract_onnx::pb::{
    AttributeProto, NodeProto, StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

pub use tract_onnx::pb;

/// Dense row-major f32 array, independent of tch.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Array {
    /// An array of `shape` holding `data`; fails when the lengths disagree.
    pub fn new(shape: &[usize], data: Vec<f32>) -> anyhow::Result<Self> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            bail!(
                "array of shape {shape:?} needs {n} values, got {}",
                data.len()
            );
        }
        Ok(Array {
            shape: shape.to_vec(),
            data,
        })
    }

    pub fn zeros(shape: &[usize]) -> Self {
        Array {
            shape: shape.to_vec(),
            data: vec![0.0; shape.iter().product()],
        }
    }

    /// Number of elements the shape promises.
    pub fn volume(&self) -> usize {
        self.shape.iter().product()
    }

    /// Largest absolute value (0 for an empty array).
    pub fn max_abs(&self) -> f32 {
        self.data.iter().fold(0.0f32, |m, v| m.max(v.abs()))
    }
}

/// `card` as `metadata_props` entries (`soundproof.*` keys), sorted by key. Written as given:
/// checking the card against a graph is the exporter's job (`soundproof-tools`' `set_card`).
pub fn card_props(card: &ModelCard) -> Vec<StringStringEntryProto> {
    let mut entries: Vec<_> = card.metadata_props().into_iter().map(|(key, value)| StringStringEntryProto { key, value }).collect();
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    entries
}


/// Name of the dynamic batch dimension in the input's value info.
pub const BATCH_DIM: &str = "N";

pub fn node(
    op: &str,
    name: &str,
    inputs: &[String],
    outputs: &[&str],
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: op.to_string(),
        name: name.to_string(),
        input: inputs.to_vec(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

pub fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

pub fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

pub fn attr_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f: v,
        ..Default::default()
    }
}

pub fn attr_string(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: v.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// Integer attribute `name` of `n`, if present.
pub fn get_int(n: &NodeProto, name: &str) -> Option<i64> {
    n.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

/// A tensor from little-endian raw bytes.
pub fn tensor_raw(name: &str, dt: DataType, dims: &[usize], raw: Vec<u8>) -> TensorProto {
    TensorProto {
        name: name.to_string(),
        data_type: dt as i32,
        dims: dims.iter().map(|&d| d as i64).collect(),
        raw_data: raw,
        ..Default::default()
    }
}

pub fn tensor_f32(name: &str, a: &Array) -> TensorProto {
    tensor_raw(
        name,
        DataType::Float,
        &a.shape,
        a.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
    )
}

pub fn tensor_f16(name: &str, a: &Array) -> TensorProto {
    tensor_raw(
        name,
        DataType::Float16,
        &a.shape,
        a.data
            .iter()
            .flat_map(|v| f16::from_f32(*v).to_le_bytes())
            .collect(),
    )
}

pub fn tensor_i64(name: &str, dims: &[usize], v: &[i64]) -> TensorProto {
    tensor_raw(
        name,
        DataType::Int64,
        dims,
        v.iter().flat_map(|v| v.to_le_bytes()).collect(),
    )
}

pub fn tensor_i32(name: &str, dims: &[usize], v: &[i32]) -> TensorProto {
    tensor_raw(
        name,
        DataType::Int32,
        dims,
        v.iter().flat_map(|v| v.to_le_bytes()).collect(),
    )
}

pub fn tensor_i8(name: &str, dims: &[usize], v: &[i8]) -> TensorProto {
    tensor_raw(
        name,
        DataType::Int8,
        dims,
        v.iter().map(|v| *v as u8).collect(),
    )
}

pub fn tensor_u8(name: &str, dims: &[usize], v: &[u8]) -> TensorProto {
    tensor_raw(name, DataType::Uint8, dims, v.to_vec())
}

/// The values of an f32 (or f16) initializer, widened to f32.
pub fn tensor_to_array(t: &TensorProto) -> anyhow::Result<Array> {
    let shape: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
    let data: Vec<f32> = match DataType::try_from(t.data_type) {
        Ok(DataType::Float) if !t.raw_data.is_empty() => t
            .raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Ok(DataType::Float) => t.float_data.clone(),
        Ok(DataType::Float16) if !t.raw_data.is_empty() => t
            .raw_data
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        // int32_data carries f16 bit patterns when raw_data is not used.
        Ok(DataType::Float16) => t
            .int32_data
            .iter()
            .map(|&b| f16::from_bits(b as u16).to_f32())
            .collect(),
        _ => bail!(
            "initializer `{}` has data type {} (expected float or float16)",
            t.name,
            t.data_type
        ),
    };
    Array::new(&shape, data).with_context(|| format!("initializer `{}`", t.name))
}

/// A value info of element type `elem` (ONNX `DataType` code) with `shape` (`-1` = the dynamic
/// batch), or no shape when `None`.
pub fn value_info(name: &str, elem: i32, shape: Option<&[i64]>) -> ValueInfoProto {
    let shape = shape.map(|s| TensorShapeProto {
        dim: s
            .iter()
            .map(|&d| Dimension {
                value: Some(if d < 0 {
                    dimension::Value::DimParam(BATCH_DIM.into())
                } else {
                    dimension::Value::DimValue(d)
                }),
                ..Default::default()
            })
            .collect(),
    });
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(TensorType {
                elem_type: elem,
                shape,
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Shape of a value info (`-1` for a symbolic dimension), if it has one.
pub fn value_info_shape(v: &ValueInfoProto) -> Option<Vec<i64>> {
    let Some(TypeProto {
        value: Some(type_proto::Value::TensorType(t)),
        ..
    }) = &v.r#type
    else {
        return None;
    };
    let s = t.shape.as_ref()?;
    Some(
        s.dim
            .iter()
            .map(|d| match &d.value {
                Some(dimension::Value::DimValue(v)) => *v,
                _ => -1,
            })
            .collect(),
    )
}

/// Element type code of a value info (0 when absent).
pub fn value_info_elem(v: &ValueInfoProto) -> i32 {
    match &v.r#type {
        Some(TypeProto {
            value: Some(type_proto::Value::TensorType(t)),
            ..
        }) => t.elem_type,
        _ => 0,
    }
}
