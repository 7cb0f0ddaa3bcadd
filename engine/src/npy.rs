//! NumPy `.npy` files (format version 1.0, little-endian `<f4`/`<f8`, C order).
//!
//! Written by hand rather than through `ndarray-npy` because the writer must stream: a
//! one-hour file yields frames one at a time and the row count is only known at the end. The
//! header reserves room for a 20-digit row count and is rewritten in place by
//! [`NpyWriter::finish`], so memory stays bounded whatever the length of the audio.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

const MAGIC: &[u8] = b"\x93NUMPY";

#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: not a NumPy .npy file ({what})")]
    Format { path: String, what: String },
}

fn header(descr: &str, shape: &str) -> Vec<u8> {
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // Magic (6) + version (2) + header length (2) + dict + padding + '\n' must be a multiple of 64.
    let unpadded = 10 + dict.len() + 1;
    let total = unpadded.div_ceil(64) * 64;
    let mut h = Vec::with_capacity(total);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&[1, 0]);
    h.extend_from_slice(&((total - 10) as u16).to_le_bytes());
    h.extend_from_slice(dict.as_bytes());
    h.resize(total - 1, b' ');
    h.push(b'\n');
    h
}

fn shape_2d(rows: u64, cols: usize) -> String {
    // Fixed width so the header length never changes when the row count is patched in.
    format!("({rows:>20}, {cols})")
}

/// Streams rows of `cols` f32 values into a `.npy` file of shape `[rows, cols]`.
pub struct NpyWriter {
    path: String,
    w: BufWriter<File>,
    cols: usize,
    rows: u64,
}

impl NpyWriter {
    pub fn create(path: &Path, cols: usize) -> Result<Self, NpyError> {
        let p = path.display().to_string();
        let io = |source| NpyError::Io { path: p.clone(), source };
        let f = File::create(path).map_err(io)?;
        let mut w = BufWriter::new(f);
        w.write_all(&header("<f4", &shape_2d(0, cols))).map_err(io)?;
        Ok(NpyWriter { path: p, w, cols, rows: 0 })
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn write_row(&mut self, row: &[f32]) -> Result<(), NpyError> {
        if row.len() != self.cols {
            return Err(NpyError::Format {
                path: self.path.clone(),
                what: format!("row of {} values written to a file of {} columns", row.len(), self.cols),
            });
        }
        for v in row {
            self.w.write_all(&v.to_le_bytes()).map_err(|source| NpyError::Io { path: self.path.clone(), source })?;
        }
        self.rows += 1;
        Ok(())
    }

    /// Patches the row count into the header and flushes.
    pub fn finish(mut self) -> Result<u64, NpyError> {
        let io = |source| NpyError::Io { path: self.path.clone(), source };
        self.w.flush().map_err(io)?;
        let h = header("<f4", &shape_2d(self.rows, self.cols));
        let f = self.w.get_mut();
        f.seek(SeekFrom::Start(0)).map_err(io)?;
        f.write_all(&h).map_err(io)?;
        f.flush().map_err(io)?;
        Ok(self.rows)
    }
}

/// Writes a whole f32 array of the given shape.
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<(), NpyError> {
    let p = path.display().to_string();
    let io = |source| NpyError::Io { path: p.clone(), source };
    let n: usize = shape.iter().product();
    if n != data.len() {
        return Err(NpyError::Format { path: p.clone(), what: format!("shape {shape:?} holds {n} values, got {}", data.len()) });
    }
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_s = if shape.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut w = BufWriter::new(File::create(path).map_err(io)?);
    w.write_all(&header("<f4", &shape_s)).map_err(io)?;
    for v in data {
        w.write_all(&v.to_le_bytes()).map_err(io)?;
    }
    w.flush().map_err(io)
}

/// An array read from a `.npy` file, widened to f64.
#[derive(Debug, Clone)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

/// Reads a C-order little-endian `<f4` or `<f8` `.npy` file.
pub fn read(path: &Path) -> Result<NpyArray, NpyError> {
    let p = path.display().to_string();
    let fmt = |what: &str| NpyError::Format { path: p.clone(), what: what.to_string() };
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|source| NpyError::Io { path: p.clone(), source })?;
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(fmt("bad magic"));
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        _ => return Err(fmt("unsupported version")),
    };
    let hdr = std::str::from_utf8(bytes.get(start..start + hlen).ok_or_else(|| fmt("truncated header"))?)
        .map_err(|_| fmt("header is not text"))?;
    let width = if hdr.contains("'<f4'") {
        4
    } else if hdr.contains("'<f8'") {
        8
    } else {
        return Err(fmt("only little-endian float32/float64 arrays are supported"));
    };
    if hdr.contains("'fortran_order': True") {
        return Err(fmt("Fortran-order arrays are not supported"));
    }
    let s = hdr.find("'shape': (").ok_or_else(|| fmt("no shape"))? + 10;
    let e = s + hdr[s..].find(')').ok_or_else(|| fmt("bad shape"))?;
    let shape: Vec<usize> = hdr[s..e]
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.parse::<usize>().map_err(|_| fmt("bad shape")))
        .collect::<Result<_, _>>()?;
    let n: usize = shape.iter().product();
    let body = &bytes[start + hlen..];
    if body.len() != n * width {
        return Err(fmt(&format!("data holds {} bytes, shape {:?} needs {}", body.len(), shape, n * width)));
    }
    let data = if width == 4 {
        body.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64).collect()
    } else {
        body.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect()
    };
    Ok(NpyArray { shape, data })
}
