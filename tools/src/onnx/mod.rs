//! ONNX export: a small graph builder over tract-onnx's protobuf types, the model card in
//! `metadata_props`, and quantization (f16, int8).
