//! WAV files: a streaming mono reader built on `hound`, a whole-file convenience and a small
//! writer for tests and demos.
//!
//! Scaling follows `soundfile` (libsndfile) and therefore librosa exactly: an integer sample `x`
//! of `b` bits becomes `x / 2^(b-1)` (8-bit WAVs are unsigned: `(x - 128) / 128`), so values lie
//! in `[-1, 1)` (32-bit values within 64 of full scale round to 1.0 in `f32`, in soundfile
//! too); 32-bit float samples are passed through. Every one of these scalings is a
//! multiplication by a power of two, exact in `f32`, so the samples agree bit for bit with
//! `soundfile.read(path, dtype="float32")`. Several channels are downmixed to mono by averaging
//! in `f32` (channel 0 + channel 1 + … then divided by the channel count), as librosa's `to_mono`
//! (`np.mean(y, axis=0)` on float32 data) does.
//!
//! `hound` parses the header and decodes the samples. Around it this module adds what `hound`
//! does not do:
//! * a check of the header against the file length, so a truncated file is an error at `open`
//!   that says how many frames the header promises and how many the file holds (`hound` would
//!   stop with an unexplained I/O error in the middle of the stream);
//! * a check that the (container bytes, bits) pair is one we decode, so a file `hound` accepts
//!   but cannot decode (12 valid bits in a 16-bit container, …) fails at `open`, not mid-stream.
//!   24 valid bits in 32-bit containers are refused too: `hound` reads them right-justified,
//!   the WAVE_FORMAT_EXTENSIBLE rules (and libsndfile) left-justified, and files of both kinds
//!   exist, so either choice would silently give wrong numbers for some files;
//! * a NaN / infinity check on float samples;
//! * readable errors: `hound` says only "unsupported" or "ill-formed", so on failure a small
//!   header probe (`probe`, hand-written because `hound` exposes neither the format tag nor the
//!   block alignment) names the encoding (A-law, µ-law, 64-bit float, …).
//!
//! The reader holds one `BufReader` (64 KiB) and never the whole file: a one-hour file streams
//! through [`WavReader::read`] in bounded memory.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{AudioError, Clip, Source};

/// Bytes of read-ahead between the file and `hound`.
const READ_BUFFER: usize = 64 * 1024;

/// How the samples are stored in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    /// Signed integer PCM (unsigned for 8 bits, as the WAV format wants).
    Int,
    /// IEEE float.
    Float,
}

/// What a WAV header says, after validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavInfo {
    /// Frames per second.
    pub sample_rate: u32,
    /// Interleaved channels; [`WavReader::read`] averages them to one.
    pub channels: u16,
    /// Bits per sample (8, 16, 24 or 32; each in a container of as many bytes).
    pub bits_per_sample: u16,
    pub format: SampleFormat,
    /// Frames (samples per channel) in the data chunk.
    pub frames: u64,
}

impl WavInfo {
    /// Duration in seconds.
    pub fn duration_s(&self) -> f64 {
        self.frames as f64 / f64::from(self.sample_rate)
    }
}

/// Encodings [`write_wav`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WavFormat {
    /// 16-bit signed PCM: `round(x · 32768)` clamped to `[-32768, 32767]`, so any value read
    /// from a 16-bit file (a multiple of 1/32768) is written back unchanged.
    Pcm16,
    /// 32-bit IEEE float, values as given.
    Float32,
}

/// Counts the bytes `hound` consumes, so that after the header we know where the data chunk
/// starts (`hound` owns its reader and does not say). Shared through an atomic so the reader
/// stays `Send` for the streaming producer thread.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Streaming WAV reader that yields mono `f32` frames.
///
/// Built by [`WavReader::open`] (a file) or [`WavReader::from_reader`] (any `Read + Seek`, e.g. a
/// `Cursor` over bytes). All validation happens there: once a reader exists, its header is
/// consistent, its encoding is supported and the file holds every frame the header promises.
pub struct WavReader<R: Read = BufReader<File>> {
    inner: hound::WavReader<Counting<R>>,
    path: PathBuf,
    info: WavInfo,
    frames_read: u64,
}

impl<R: Read> std::fmt::Debug for WavReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavReader")
            .field("path", &self.path)
            .field("info", &self.info)
            .field("frames_read", &self.frames_read)
            .finish()
    }
}

impl WavReader<BufReader<File>> {
    /// Opens `path` and validates its header against the file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AudioError> {
        let path = path.as_ref();
        let open_err = |source| AudioError::Open { path: path.to_path_buf(), source };
        let meta = std::fs::metadata(path).map_err(open_err)?;
        if meta.is_dir() {
            return Err(open_err(io::Error::new(io::ErrorKind::InvalidInput, "this is a folder, not a file")));
        }
        let file = File::open(path).map_err(open_err)?;
        WavReader::from_reader(BufReader::with_capacity(READ_BUFFER, file), path)
    }
}

impl<R: Read + Seek> WavReader<R> {
    /// Reads a WAV from any seekable reader (from its current position to its end); `name`
    /// stands for the path in error messages.
    pub fn from_reader(mut reader: R, name: impl Into<PathBuf>) -> Result<Self, AudioError> {
        let path = name.into();
        let io_err = |source| AudioError::Io { path: path.clone(), source };
        let start = reader.stream_position().map_err(io_err)?;
        let end = reader.seek(SeekFrom::End(0)).map_err(io_err)?;
        let len = end.saturating_sub(start);
        if len == 0 {
            return Err(AudioError::EmptyFile { path });
        }
        reader.seek(SeekFrom::Start(start)).map_err(io_err)?;
        let probe = probe(&mut reader);
        reader.seek(SeekFrom::Start(start)).map_err(io_err)?;

        let count = Arc::new(AtomicU64::new(0));
        let counting = Counting { inner: reader, count: Arc::clone(&count) };
        let inner = match hound::WavReader::new(counting) {
            Ok(inner) => inner,
            Err(e) => return Err(header_error(e, &probe, count.load(Ordering::Relaxed), len, path)),
        };
        let data_offset = count.load(Ordering::Relaxed);

        let spec = inner.spec();
        let Some(fmt) = probe.fmt else {
            // hound parsed a header our probe could not: refuse rather than guess the layout.
            return Err(AudioError::CorruptHeader { path, reason: "the fmt chunk cannot be read consistently".into() });
        };
        let channels = spec.channels;
        // hound has checked channels > 0 and bits <= 8 · container bytes.
        let container = fmt.block_align / channels.max(1);
        let format = match spec.sample_format {
            hound::SampleFormat::Int => SampleFormat::Int,
            hound::SampleFormat::Float => SampleFormat::Float,
        };
        let supported = match format {
            // Not (4, 24): `hound` takes the low three bytes of the container, the format (and
            // libsndfile) the high three; files of both kinds exist, so either reading would
            // give wrong numbers for some of them.
            SampleFormat::Int => matches!((container, spec.bits_per_sample), (1, 8) | (2, 16) | (3, 24) | (4, 32)),
            SampleFormat::Float => (container, spec.bits_per_sample) == (4, 32),
        };
        if !supported {
            return Err(AudioError::UnsupportedEncoding { path, encoding: describe(&fmt, Some(spec.bits_per_sample)) });
        }
        if spec.sample_rate == 0 {
            return Err(AudioError::CorruptHeader { path, reason: "the sample rate is 0 Hz".into() });
        }
        let frames = u64::from(inner.duration());
        if frames == 0 {
            return Err(AudioError::ZeroLength { path });
        }
        let frame_bytes = u64::from(container) * u64::from(channels);
        let data_bytes = frames * frame_bytes;
        let available = len.saturating_sub(data_offset);
        if available < data_bytes {
            return Err(AudioError::TruncatedData { path, expected: frames, found: available / frame_bytes });
        }
        let info = WavInfo { sample_rate: spec.sample_rate, channels, bits_per_sample: spec.bits_per_sample, format, frames };
        Ok(WavReader { inner, path, info, frames_read: 0 })
    }
}

impl<R: Read> WavReader<R> {
    /// What the header says.
    pub fn info(&self) -> WavInfo {
        self.info
    }

    /// The path (or name) the reader was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frames returned so far.
    pub fn position(&self) -> u64 {
        self.frames_read
    }

    /// Frames still to read.
    pub fn remaining(&self) -> u64 {
        self.info.frames - self.frames_read
    }

    /// Fails with [`AudioError::WrongSampleRate`] unless the file runs at `rate` Hz.
    pub fn require_sample_rate(&self, rate: u32) -> Result<(), AudioError> {
        if self.info.sample_rate == rate {
            Ok(())
        } else {
            Err(AudioError::WrongSampleRate { path: self.path.clone(), found: self.info.sample_rate, expected: rate })
        }
    }

    /// Reads up to `out.len()` mono frames into the front of `out`; returns how many, 0 at the
    /// end. Returns fewer than `out.len()` only at the end of the file. Does not allocate.
    ///
    /// After an error the position in the file is undefined: drop the reader.
    pub fn read(&mut self, out: &mut [f32]) -> Result<usize, AudioError> {
        let n = (out.len() as u64).min(self.remaining()) as usize;
        if n == 0 {
            return Ok(0);
        }
        let out = &mut out[..n];
        let channels = usize::from(self.info.channels);
        let result = match self.info.format {
            SampleFormat::Int => {
                // 2^-(bits-1): a power of two, so the product is exact (see the module doc).
                let scale = 1.0 / (1u64 << (self.info.bits_per_sample - 1)) as f32;
                decode(&mut self.inner.samples::<i32>(), out, channels, |s| s as f32 * scale)
            }
            SampleFormat::Float => decode(&mut self.inner.samples::<f32>(), out, channels, |s| s),
        };
        match result {
            Ok(()) => {
                self.frames_read += n as u64;
                Ok(n)
            }
            Err(fail) => Err(self.decode_error(fail)),
        }
    }

    fn decode_error(&self, fail: DecodeFail) -> AudioError {
        let path = self.path.clone();
        match fail {
            DecodeFail::NonFinite { frame, channel, value } => {
                AudioError::NonFinite { path, frame: self.frames_read + frame as u64, channel, value }
            }
            // The length was checked at open, so running dry means the file shrank under us.
            DecodeFail::End { frame } | DecodeFail::Hound { frame, error: hound::Error::IoError(_) } => {
                AudioError::TruncatedData { path, expected: self.info.frames, found: self.frames_read + frame as u64 }
            }
            DecodeFail::Hound { error, .. } => AudioError::CorruptHeader { path, reason: error.to_string() },
        }
    }
}

enum DecodeFail {
    Hound { frame: usize, error: hound::Error },
    End { frame: usize },
    NonFinite { frame: usize, channel: u16, value: f32 },
}

/// Decodes `out.len()` frames of `channels` interleaved samples and averages each frame.
fn decode<S, I>(samples: &mut I, out: &mut [f32], channels: usize, to_f32: impl Fn(S) -> f32) -> Result<(), DecodeFail>
where
    I: Iterator<Item = hound::Result<S>>,
{
    for (frame, o) in out.iter_mut().enumerate() {
        // Start from channel 0 itself (not 0.0 + x) so a mono -0.0 stays -0.0, as in soundfile.
        let mut acc = 0.0f32;
        // The same sum in f64, for float files whose f32 sum overflows (numpy would return inf,
        // a wrong number: the mean of finite samples is finite).
        let mut acc64 = 0.0f64;
        for channel in 0..channels {
            let v = match samples.next() {
                Some(Ok(s)) => to_f32(s),
                Some(Err(error)) => return Err(DecodeFail::Hound { frame, error }),
                None => return Err(DecodeFail::End { frame }),
            };
            if !v.is_finite() {
                return Err(DecodeFail::NonFinite { frame, channel: channel as u16, value: v });
            }
            acc = if channel == 0 { v } else { acc + v };
            acc64 += f64::from(v);
        }
        *o = if channels == 1 {
            acc
        } else if acc.is_finite() {
            acc / channels as f32
        } else {
            (acc64 / channels as f64) as f32
        };
    }
    Ok(())
}

impl<R: Read> Source for WavReader<R> {
    fn sample_rate(&self) -> u32 {
        self.info.sample_rate
    }
    fn read(&mut self, buf: &mut [f32]) -> Result<usize, AudioError> {
        WavReader::read(self, buf)
    }
}

/// Reads a whole WAV file as one mono clip at its own sample rate.
pub fn read_mono(path: impl AsRef<Path>) -> Result<Clip, AudioError> {
    let mut reader = WavReader::open(path)?;
    let info = reader.info();
    // `frames` was checked against the file length, so this allocation is bounded by the file.
    let mut samples = vec![0.0f32; info.frames as usize];
    let mut filled = 0;
    while filled < samples.len() {
        let n = reader.read(&mut samples[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    samples.truncate(filled);
    Ok(Clip { samples, sample_rate: info.sample_rate })
}

/// Writes mono `samples` to `path` as a WAV file in `format` (see [`WavFormat`] for the
/// quantization). Refuses non-finite samples.
pub fn write_wav(path: impl AsRef<Path>, samples: &[f32], sample_rate: u32, format: WavFormat) -> Result<(), AudioError> {
    let path = path.as_ref();
    if sample_rate == 0 {
        return Err(AudioError::invalid("sample_rate", 0, ">= 1 Hz"));
    }
    if let Some(i) = samples.iter().position(|x| !x.is_finite()) {
        return Err(AudioError::NonFinite { path: path.to_path_buf(), frame: i as u64, channel: 0, value: samples[i] });
    }
    let (bits_per_sample, sample_format) = match format {
        WavFormat::Pcm16 => (16, hound::SampleFormat::Int),
        WavFormat::Float32 => (32, hound::SampleFormat::Float),
    };
    let spec = hound::WavSpec { channels: 1, sample_rate, bits_per_sample, sample_format };
    let write_err = |e: hound::Error| AudioError::Write { path: path.to_path_buf(), reason: e.to_string() };
    let mut writer = hound::WavWriter::create(path, spec).map_err(write_err)?;
    for &x in samples {
        match format {
            WavFormat::Pcm16 => writer.write_sample((f64::from(x) * 32768.0).round().clamp(-32768.0, 32767.0) as i16),
            WavFormat::Float32 => writer.write_sample(x),
        }
        .map_err(write_err)?;
    }
    writer.finalize().map_err(write_err)
}

/// The little `hound` does not tell us about a header: the first bytes and the fmt chunk.
#[derive(Debug, Clone, Default)]
struct Probe {
    head: [u8; 12],
    head_len: usize,
    fmt: Option<FmtChunk>,
}

#[derive(Debug, Clone, Copy)]
struct FmtChunk {
    /// `wFormatTag`; for WAVE_FORMAT_EXTENSIBLE the first two bytes of the sub-format GUID.
    tag: u16,
    extensible: bool,
    block_align: u16,
    /// `wBitsPerSample` (container bits).
    bits: u16,
}

const WAVE_FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// Reads the RIFF header and the fmt chunk, walking the chunks the way `hound` does (fmt, a
/// 4-byte fact, unknown chunks skipped by their length) so both see the same fmt chunk. Never
/// fails: whatever it cannot read stays `None`; `hound` has the final word on validity.
fn probe<R: Read + Seek>(r: &mut R) -> Probe {
    let mut p = Probe::default();
    p.head_len = read_up_to(r, &mut p.head);
    if p.head_len < 12 || &p.head[0..4] != b"RIFF" || &p.head[8..12] != b"WAVE" {
        return p;
    }
    // A bound on the walk, so a file of thousands of tiny chunks cannot keep us here.
    for _ in 0..4096 {
        let mut header = [0u8; 8];
        if read_up_to(r, &mut header) < 8 {
            return p;
        }
        let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        match &header[0..4] {
            b"fmt " => {
                let mut f = [0u8; 40];
                let want = (len as usize).min(40);
                if len < 16 || read_up_to(r, &mut f[..want]) < want {
                    return p;
                }
                let le16 = |i: usize| u16::from_le_bytes([f[i], f[i + 1]]);
                let format_tag = le16(0);
                let extensible = format_tag == WAVE_FORMAT_EXTENSIBLE && want >= 40;
                p.fmt = Some(FmtChunk {
                    tag: if extensible { le16(24) } else { format_tag },
                    extensible,
                    block_align: le16(12),
                    bits: le16(14),
                });
                return p;
            }
            b"data" => return p,
            b"fact" => {
                if r.seek(SeekFrom::Current(4)).is_err() {
                    return p;
                }
            }
            _ => {
                if r.seek(SeekFrom::Current(i64::from(len))).is_err() {
                    return p;
                }
            }
        }
    }
    p
}

/// Reads until `buf` is full or the input ends; returns the bytes read (errors end the read).
fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    n
}

/// A human name for a fmt chunk's encoding, e.g. "A-law (format tag 0x0006), 8 bits per sample".
fn describe(fmt: &FmtChunk, valid_bits: Option<u16>) -> String {
    let name = match fmt.tag {
        0x0001 => "integer PCM",
        0x0002 => "Microsoft ADPCM",
        0x0003 => "IEEE float",
        0x0006 => "A-law",
        0x0007 => "µ-law",
        0x0011 => "IMA ADPCM",
        0x0031 => "GSM 6.10",
        0x0050 => "MPEG",
        0x0055 => "MPEG layer 3 (MP3)",
        _ => "an unknown codec",
    };
    let kind = if fmt.extensible { " inside WAVE_FORMAT_EXTENSIBLE" } else { "" };
    let bits = valid_bits.unwrap_or(fmt.bits);
    if bits == 0 {
        format!("{name} (format tag 0x{:04X}{kind})", fmt.tag)
    } else if bits == fmt.bits {
        format!("{name} (format tag 0x{:04X}{kind}), {bits} bits per sample", fmt.tag)
    } else {
        format!("{name} (format tag 0x{:04X}{kind}), {bits} valid bits in {}-bit containers", fmt.tag, fmt.bits)
    }
}

/// Turns `hound`'s header error into one that says what is wrong with the file.
fn header_error(e: hound::Error, probe: &Probe, consumed: u64, len: u64, path: PathBuf) -> AudioError {
    let starts_like_wav = {
        let n = probe.head_len;
        let riff = b"RIFF"[..n.min(4)] == probe.head[..n.min(4)];
        let wave = n < 12 || &probe.head[8..12] == b"WAVE";
        riff && wave
    };
    let not_wav = |reason: &str| AudioError::NotWav { path: path.clone(), reason: reason.to_string() };
    match e {
        hound::Error::IoError(source) => {
            if consumed < len {
                AudioError::Io { path, source }
            } else if !starts_like_wav {
                not_wav("it does not start with a RIFF/WAVE header")
            } else {
                AudioError::TruncatedHeader { path, bytes: len }
            }
        }
        hound::Error::FormatError(reason) => {
            if !starts_like_wav || reason.contains("RIFF") || reason.contains("WAVE tag") {
                return not_wav("it does not start with a RIFF/WAVE header");
            }
            match probe.fmt {
                // hound applies PCM rules (whole bytes, at most 32 bits) to every header, so a
                // codec (4-bit ADPCM), 12-bit PCM or 64-bit float fails as "ill-formed". They are
                // well-formed files in an encoding we do not decode: say so, and name it.
                Some(f) if !matches!(f.tag, 0x0001 | 0x0003) || (f.tag == 0x0003 && f.bits != 32) || f.bits % 8 != 0 || f.bits > 32 => {
                    AudioError::UnsupportedEncoding { path, encoding: describe(&f, None) }
                }
                _ => AudioError::CorruptHeader { path, reason: reason.to_string() },
            }
        }
        hound::Error::Unsupported => {
            let encoding = match probe.fmt {
                Some(f) => describe(&f, None),
                None => "an encoding hound does not decode".to_string(),
            };
            AudioError::UnsupportedEncoding { path, encoding }
        }
        other => AudioError::CorruptHeader { path, reason: other.to_string() },
    }
}
