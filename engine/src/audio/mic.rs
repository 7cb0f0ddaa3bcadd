//! Live microphone input (feature `mic`): the sound card as a mono [`Source`] at the model's
//! sample rate, through `cpal` (ALSA on Linux, CoreAudio on macOS, WASAPI on Windows).
//!
//! This is the "cpal mic" box at the head of the pipeline in `DESIGN.md`:
//!
//! ```text
//! device callback ──▶ ringbuf SPSC ──▶ MicSource::read ──▶ Resampler ──▶ caller
//! (cpal's thread:     (sized at        (caller's thread:    (audio::resample,
//!  to f32, mono)       open)            waits, watches)      buffers sized at open)
//! ```
//!
//! This ring is the only one between the sound card and the front end: `audio::stream::run`
//! reads a device source ([`Source::is_device`]) on its consumer thread directly, without the
//! producer thread and second ring it puts in front of files and synthetic sources.
//!
//! ```text
//! ```
//!
//! * The device runs at its own default configuration (whatever rate, channel count and sample
//!   format the driver prefers), because forcing 16 kHz mono on a sound card either fails or
//!   hands the conversion to a driver-side resampler of unknown quality. We convert instead:
//!   integer samples scale to `[-1, 1)` as `soundfile` scales them (`i16 / 32768`), channels
//!   are averaged, and [`Resampler`] brings the rate to the target, the same filter the file
//!   path uses, so a live stream and a recorded clip see the same front end.
//! * The device callback is real-time code: it never allocates, locks or blocks. When the ring
//!   is full it drops the rest of the buffer and counts an overrun, as a sound card does when
//!   nobody collects its data; the reader sees a gap, never a stall of the device.
//! * A broken device must end the stream, not hang it: an error reported by the backend
//!   (device unplugged, stream invalidated) makes the next [`MicSource::read`] return
//!   [`AudioError::Device`] within a few milliseconds, and a device that silently stops
//!   delivering samples is caught by a watchdog after [`MicOptions::stall_timeout`] (1 s by
//!   default). Buffer overruns reported by the driver (xruns) are counted, not fatal.
//! * The stream ends (`read` returns 0) when the stop flag is raised (Ctrl-C) or after
//!   [`MicOptions::max_duration`]; the samples still in the ring are delivered first.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};
use ringbuf::traits::{Consumer as _, Producer as _, Split as _};
use ringbuf::{HeapCons, HeapProd, HeapRb};

use super::resample::Resampler;
use super::{AudioError, Source};

/// How long `read` sleeps when the ring is empty before it looks again: short against a device
/// period (5–50 ms), so waiting adds little latency.
const POLL: Duration = Duration::from_millis(2);
/// Samples `read` pulls from the ring per step when no resampling is needed.
const PASSTHROUGH_STEP: usize = 1024;

/// One input device as the host reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// What to pass to [`MicSource::open`]: the host's identifier of the device (on ALSA the PCM
    /// name, e.g. `default`, `hw:CARD=0,DEV=0`, or a name defined in `~/.asoundrc`).
    pub name: String,
    /// Human-readable description (may equal `name`).
    pub description: String,
    /// True for the host's default input device (what `MicSource::open(None, ..)` opens).
    pub is_default: bool,
    /// The configuration capture would use; `None` when the device could not be queried
    /// (busy, or not really an input), and then `error` says why.
    pub default_config: Option<InputConfig>,
    /// Why `default_config` is missing.
    pub error: Option<String>,
}

/// A device's capture configuration: what arrives in the callback before conversion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputConfig {
    /// Frames per second.
    pub sample_rate: u32,
    /// Interleaved channels per frame (averaged to mono).
    pub channels: u16,
    /// Sample format as `cpal` names it (`i16`, `u16`, `i24`, `f32`, ...).
    pub sample_format: String,
}

impl InputConfig {
    fn from_cpal(c: &cpal::SupportedStreamConfig) -> Self {
        InputConfig {
            sample_rate: c.sample_rate(),
            channels: c.channels(),
            sample_format: c.sample_format().to_string(),
        }
    }
}

/// Lists the input devices of the default audio host, the default device first.
///
/// Each device is opened briefly to read its default configuration; a device that cannot be
/// opened is still listed, with the reason in [`DeviceInfo::error`].
pub fn list_input_devices() -> Result<Vec<DeviceInfo>, AudioError> {
    let host = cpal::default_host();
    let default = host.default_input_device();
    let default_id = default.as_ref().and_then(|d| d.id().ok());
    let mut devices: Vec<cpal::Device> = host
        .input_devices()
        .map_err(|e| AudioError::Device {
            device: "(audio host)".into(),
            reason: format!("cannot list input devices: {e}"),
        })?
        .collect();
    // ALSA lists `default` only when its configuration carries a hint; list it anyway.
    if let Some(d) = default {
        match devices.iter().position(|x| x.id().ok() == default_id) {
            Some(i) => {
                let d = devices.remove(i);
                devices.insert(0, d);
            }
            None => devices.insert(0, d),
        }
    }
    Ok(devices
        .iter()
        .map(|d| {
            let name = device_name(d);
            let (default_config, error) = match d.default_input_config() {
                Ok(c) => (Some(InputConfig::from_cpal(&c)), None),
                Err(e) => (None, Some(e.to_string())),
            };
            DeviceInfo {
                description: d.description().map(|x| x.name().to_string()).unwrap_or_else(|_| name.clone()),
                is_default: default_id.is_some() && d.id().ok() == default_id,
                name,
                default_config,
                error,
            }
        })
        .collect())
}

/// The name we show and accept for a device: the host's id (stable, unique), else its
/// description.
fn device_name(d: &cpal::Device) -> String {
    match d.id() {
        Ok(id) => id.id().to_string(),
        Err(_) => d.description().map(|x| x.name().to_string()).unwrap_or_else(|_| "(unnamed)".into()),
    }
}

/// Finds the input device `name`: its id (`hw:CARD=0,DEV=0`), the id with its host prefix
/// (`alsa:hw:CARD=0,DEV=0`) or its description, exactly, else its description ignoring case.
fn find_input_device(host: &cpal::Host, name: &str) -> Result<cpal::Device, AudioError> {
    let host_err = |e: cpal::Error| AudioError::Device {
        device: name.to_string(),
        reason: format!("cannot list input devices: {e}"),
    };
    let mut devices: Vec<cpal::Device> = host.input_devices().map_err(host_err)?.collect();
    if let Some(d) = host.default_input_device() {
        if !devices.iter().any(|x| x.id().ok() == d.id().ok()) {
            devices.insert(0, d);
        }
    }
    let description = |d: &cpal::Device| d.description().map(|x| x.name().to_string()).ok();
    let exact = |d: &cpal::Device| {
        d.id().is_ok_and(|id| id.id() == name || id.to_string() == name) || description(d).as_deref() == Some(name)
    };
    if let Some(i) = devices.iter().position(exact) {
        return Ok(devices.swap_remove(i));
    }
    let loose: Vec<usize> = (0..devices.len())
        .filter(|&i| description(&devices[i]).is_some_and(|s| s.eq_ignore_ascii_case(name)))
        .collect();
    if let [i] = loose[..] {
        return Ok(devices.swap_remove(i));
    }
    Err(AudioError::DeviceNotFound { name: name.to_string(), available: devices.iter().map(device_name).collect() })
}

/// Knobs of a [`MicSource`] beyond the device and the rate; `MicOptions::default()` suits a
/// live demo.
#[derive(Debug, Clone)]
pub struct MicOptions {
    /// Capacity of the ring between the device callback and `read`, in seconds of device
    /// audio: how long the reader may fall behind before samples are dropped. Default 2 s.
    pub ring_seconds: f64,
    /// How long the device may deliver nothing before `read` calls it lost. Default 1 s; never
    /// less than four device periods. The first samples get twice as long (devices take a
    /// moment to start).
    pub stall_timeout: Duration,
    /// Ends the stream after this much audio (counted at the target rate). Default: none.
    pub max_duration: Option<Duration>,
    /// Ends the stream when set (e.g. from a Ctrl-C handler). Default: a fresh flag, see
    /// [`MicSource::stop_flag`].
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for MicOptions {
    fn default() -> Self {
        MicOptions { ring_seconds: 2.0, stall_timeout: Duration::from_secs(1), max_duration: None, stop: None }
    }
}

/// What happened at the device side of a [`MicSource`] so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MicStats {
    /// Frames the device delivered to the callback.
    pub captured_frames: u64,
    /// Callbacks that found the ring too full for their whole buffer (the reader fell behind).
    pub overruns: u64,
    /// Mono samples (device rate) those callbacks dropped.
    pub dropped_samples: u64,
    /// Overruns the driver itself reported (xruns: the callback thread was late).
    pub device_xruns: u64,
}

/// State the device callbacks share with the reader. Only atomics and a write-once slot: the
/// callback side never waits on the reader.
#[derive(Debug, Default)]
struct Shared {
    captured_frames: AtomicU64,
    overruns: AtomicU64,
    dropped_samples: AtomicU64,
    device_xruns: AtomicU64,
    /// The first fatal error the backend reported.
    fatal: OnceLock<cpal::Error>,
}

impl Shared {
    fn stats(&self) -> MicStats {
        MicStats {
            captured_frames: self.captured_frames.load(Ordering::Relaxed),
            overruns: self.overruns.load(Ordering::Relaxed),
            dropped_samples: self.dropped_samples.load(Ordering::Relaxed),
            device_xruns: self.device_xruns.load(Ordering::Relaxed),
        }
    }

    /// The backend's error callback. Xruns are glitches the backend recovers from; a route
    /// change or a refused real-time priority leaves the stream running; anything else (device
    /// gone, stream invalidated, backend failure) ends the stream.
    fn on_error(&self, e: cpal::Error) {
        match e.kind() {
            cpal::ErrorKind::Xrun => {
                self.device_xruns.fetch_add(1, Ordering::Relaxed);
            }
            cpal::ErrorKind::DeviceChanged | cpal::ErrorKind::RealtimeDenied => {}
            _ => {
                // First error wins; later ones (a failing backend repeats itself) are dropped
                // without formatting anything.
                let _ = self.fatal.set(e);
            }
        }
    }

    /// The data callback: device samples in, mono f32 into the ring. Runs on the backend's
    /// real-time thread: no allocation, no lock, no wait.
    fn on_data<T>(&self, data: &[T], channels: usize, ring: &mut HeapProd<f32>)
    where
        T: SizedSample,
        f32: FromSample<T>,
    {
        let frames = data.len() / channels;
        let scale = 1.0 / channels as f32;
        let mono =
            data.chunks_exact(channels).map(|frame| frame.iter().map(|&s| f32::from_sample_(s)).sum::<f32>() * scale);
        let pushed = ring.push_iter(mono);
        self.captured_frames.fetch_add(frames as u64, Ordering::Relaxed);
        if pushed < frames {
            self.overruns.fetch_add(1, Ordering::Relaxed);
            self.dropped_samples.fetch_add((frames - pushed) as u64, Ordering::Relaxed);
        }
    }
}

/// A cloneable view of a [`MicSource`]'s device-side counters, readable from another thread
/// while the source is streaming.
#[derive(Debug, Clone)]
pub struct MicMonitor(Arc<Shared>);

impl MicMonitor {
    pub fn stats(&self) -> MicStats {
        self.0.stats()
    }
}

/// A live input device as a mono [`Source`] at a chosen sample rate.
///
/// Everything is allocated in [`open`](MicSource::open); `read` does not allocate.
pub struct MicSource {
    /// The running capture; `None` once the stream has ended (dropping it stops the device).
    stream: Option<cpal::Stream>,
    ring: HeapCons<f32>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    device: String,
    config: InputConfig,
    resampler: Resampler,
    /// Device-rate samples popped from the ring, one resampler block at most.
    in_buf: Vec<f32>,
    /// Target-rate samples not yet handed out: `pending[pos..]`.
    pending: Vec<f32>,
    pos: usize,
    /// Target-rate samples `read` may still return (`u64::MAX`: no limit).
    remaining: u64,
    stall_timeout: Duration,
    last_data: Instant,
    got_data: bool,
    stopping: bool,
    finished: bool,
    /// Set when the stream failed: every later `read` returns this error again.
    failure: Option<String>,
}

impl std::fmt::Debug for MicSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MicSource")
            .field("device", &self.device)
            .field("config", &self.config)
            .field("target_rate", &self.resampler.to_rate())
            .field("stats", &self.shared.stats())
            .field("finished", &self.finished)
            .finish()
    }
}

impl MicSource {
    /// Opens input device `device` (`None`: the host's default input device), starts capturing
    /// at the device's default configuration and delivers mono audio at `target_rate` Hz.
    ///
    /// A name that matches no device gives [`AudioError::DeviceNotFound`], which lists the
    /// names that exist; a device that cannot be opened or started gives
    /// [`AudioError::Device`].
    pub fn open(device: Option<&str>, target_rate: u32) -> Result<Self, AudioError> {
        MicSource::open_with(device, target_rate, MicOptions::default())
    }

    /// [`open`](MicSource::open) with explicit [`MicOptions`].
    pub fn open_with(device: Option<&str>, target_rate: u32, options: MicOptions) -> Result<Self, AudioError> {
        if target_rate == 0 {
            return Err(AudioError::invalid("target_rate", target_rate, ">= 1 Hz"));
        }
        let host = cpal::default_host();
        let dev = match device {
            Some(name) => find_input_device(&host, name)?,
            None => host.default_input_device().ok_or_else(|| AudioError::Device {
                device: "default".into(),
                reason: "the audio host has no default input device; connect a microphone, or name a device (`soundproof devices` lists them)".into(),
            })?,
        };
        let name = device.map_or_else(|| device_name(&dev), str::to_string);
        let dev_err =
            |what: &str, e: cpal::Error| AudioError::Device { device: name.clone(), reason: format!("{what}: {e}") };
        let supported = dev.default_input_config().map_err(|e| dev_err("cannot read its input configuration", e))?;
        let config = InputConfig::from_cpal(&supported);
        if config.channels == 0 || config.sample_rate == 0 {
            return Err(AudioError::Device {
                device: name,
                reason: format!("the device reports an unusable configuration ({config:?})"),
            });
        }
        let resampler = Resampler::new(config.sample_rate, target_rate)?;
        let capacity = ring_capacity(options.ring_seconds, config.sample_rate)?;
        let (producer, consumer) = HeapRb::<f32>::new(capacity).split();
        let shared = Arc::new(Shared::default());
        let stream = build_stream(&dev, &supported, producer, &shared).map_err(|e| match e {
            BuildError::Format(f) => AudioError::Device {
                device: name.clone(),
                reason: format!(
                    "its default sample format {f} is not PCM audio this reader converts (integer or float samples)"
                ),
            },
            BuildError::Cpal(e) => dev_err("cannot open the input stream", e),
        })?;
        stream.play().map_err(|e| dev_err("cannot start capturing", e))?;
        // A backend with large periods legitimately stays silent for a few of them.
        let period = stream
            .buffer_size()
            .map(|frames| Duration::from_secs_f64(f64::from(frames) / f64::from(config.sample_rate)))
            .unwrap_or_default();
        let stall_timeout = options.stall_timeout.max(period * 4);
        Ok(MicSource::assemble(Some(stream), consumer, shared, name, config, resampler, stall_timeout, &options))
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        stream: Option<cpal::Stream>,
        ring: HeapCons<f32>,
        shared: Arc<Shared>,
        device: String,
        config: InputConfig,
        resampler: Resampler,
        stall_timeout: Duration,
        options: &MicOptions,
    ) -> Self {
        let step = if resampler.is_identity() { PASSTHROUGH_STEP } else { resampler.block_len() };
        // One push of at most one block yields at most one block out (or the push itself, for
        // the passthrough); the flush adds at most `max_flush_len`: `pending` never regrows.
        let pending_cap = step.max(resampler.block_out_len()) + resampler.max_flush_len();
        let to = resampler.to_rate();
        let remaining = options.max_duration.map_or(u64::MAX, |d| (d.as_secs_f64() * f64::from(to)).round() as u64);
        MicSource {
            stream,
            ring,
            shared,
            stop: options.stop.clone().unwrap_or_default(),
            device,
            config,
            resampler,
            in_buf: vec![0.0; step],
            pending: Vec::with_capacity(pending_cap),
            pos: 0,
            remaining,
            stall_timeout,
            last_data: Instant::now(),
            got_data: false,
            stopping: false,
            finished: false,
            failure: None,
        }
    }

    /// The device's name, as given to `open` (or the default device's name).
    pub fn device_name(&self) -> &str {
        &self.device
    }

    /// The configuration the device captures at (before downmix and resampling).
    pub fn device_config(&self) -> &InputConfig {
        &self.config
    }

    /// Latency the resampler adds, in target-rate samples (0 when no resampling is needed).
    pub fn resampler_delay(&self) -> usize {
        self.resampler.delay_frames()
    }

    /// Device-side counters so far (overruns, dropped samples, driver xruns).
    pub fn stats(&self) -> MicStats {
        self.shared.stats()
    }

    /// A handle to the same counters that can move to another thread.
    pub fn monitor(&self) -> MicMonitor {
        MicMonitor(Arc::clone(&self.shared))
    }

    /// The flag that ends the stream when set: give it to a Ctrl-C handler. It is the flag of
    /// [`MicOptions::stop`] when one was given.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// The stream is over: stop the device and keep nothing running.
    fn finish(&mut self) {
        self.finished = true;
        self.stream = None;
    }

    /// The stream failed. The device is released when the source is dropped, not here: a
    /// backend thread stuck in a driver call would make the release wait, and the caller
    /// must hear about the failure now.
    fn fail(&mut self, reason: String) -> AudioError {
        self.finished = true;
        self.failure = Some(reason.clone());
        AudioError::Device { device: self.device.clone(), reason }
    }

    fn fatal_reason(e: &cpal::Error) -> String {
        match e.kind() {
            cpal::ErrorKind::DeviceNotAvailable => {
                format!("the device disappeared while capturing ({e}); reconnect it and start again")
            }
            cpal::ErrorKind::StreamInvalidated => {
                format!("the audio system invalidated the stream ({e}), e.g. after a configuration change; start again")
            }
            _ => format!("the audio backend reported an error while capturing: {e}"),
        }
    }
}

/// Ring capacity in samples for `seconds` of audio at `rate`.
fn ring_capacity(seconds: f64, rate: u32) -> Result<usize, AudioError> {
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 3600.0) {
        return Err(AudioError::invalid("ring_seconds", seconds, "a duration in (0, 3600] seconds"));
    }
    Ok(((seconds * f64::from(rate)).ceil() as usize).max(1))
}

enum BuildError {
    Format(SampleFormat),
    Cpal(cpal::Error),
}

/// Builds the capture stream for the device's sample format; the callback owns the producer.
fn build_stream(
    dev: &cpal::Device,
    supported: &cpal::SupportedStreamConfig,
    producer: HeapProd<f32>,
    shared: &Arc<Shared>,
) -> Result<cpal::Stream, BuildError> {
    let config: cpal::StreamConfig = supported.config();
    match supported.sample_format() {
        SampleFormat::I8 => typed::<i8>(dev, config, producer, shared),
        SampleFormat::I16 => typed::<i16>(dev, config, producer, shared),
        SampleFormat::I24 => typed::<cpal::I24>(dev, config, producer, shared),
        SampleFormat::I32 => typed::<i32>(dev, config, producer, shared),
        SampleFormat::I64 => typed::<i64>(dev, config, producer, shared),
        SampleFormat::U8 => typed::<u8>(dev, config, producer, shared),
        SampleFormat::U16 => typed::<u16>(dev, config, producer, shared),
        SampleFormat::U24 => typed::<cpal::U24>(dev, config, producer, shared),
        SampleFormat::U32 => typed::<u32>(dev, config, producer, shared),
        SampleFormat::U64 => typed::<u64>(dev, config, producer, shared),
        SampleFormat::F32 => typed::<f32>(dev, config, producer, shared),
        SampleFormat::F64 => typed::<f64>(dev, config, producer, shared),
        other => Err(BuildError::Format(other)),
    }
}

fn typed<T>(
    dev: &cpal::Device,
    config: cpal::StreamConfig,
    mut producer: HeapProd<f32>,
    shared: &Arc<Shared>,
) -> Result<cpal::Stream, BuildError>
where
    T: SizedSample + Send + 'static,
    f32: FromSample<T>,
{
    let channels = usize::from(config.channels.max(1));
    let (data_shared, error_shared) = (Arc::clone(shared), Arc::clone(shared));
    dev.build_input_stream::<T, _, _>(
        config,
        move |data: &[T], _: &cpal::InputCallbackInfo| data_shared.on_data(data, channels, &mut producer),
        move |e: cpal::Error| error_shared.on_error(e),
        None,
    )
    .map_err(BuildError::Cpal)
}

impl Source for MicSource {
    fn sample_rate(&self) -> u32 {
        self.resampler.to_rate()
    }

    /// The device paces itself and its callback already fills a real-time ring: a stream reads
    /// it directly (one ring between the sound card and the front end, not two).
    fn is_device(&self) -> bool {
        true
    }

    /// Delivers captured audio, waiting (in 2 ms sleeps) while the device has not produced
    /// any. Returns 0 once the stream was stopped (stop flag, `max_duration`) and drained;
    /// returns [`AudioError::Device`] when the device failed or stalled.
    fn read(&mut self, buf: &mut [f32]) -> Result<usize, AudioError> {
        if let Some(reason) = &self.failure {
            return Err(AudioError::Device { device: self.device.clone(), reason: reason.clone() });
        }
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.remaining == 0 && !self.finished {
                self.finish();
            }
            if self.pos < self.pending.len() && self.remaining > 0 {
                let n = buf
                    .len()
                    .min(self.pending.len() - self.pos)
                    .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
                self.pos += n;
                if self.remaining != u64::MAX {
                    self.remaining -= n as u64;
                }
                return Ok(n);
            }
            if self.finished {
                return Ok(0);
            }
            if let Some(e) = self.shared.fatal.get() {
                let reason = MicSource::fatal_reason(e);
                return Err(self.fail(reason));
            }
            if !self.stopping && self.stop.load(Ordering::Acquire) {
                // Stop the device first so the ring stops growing, then drain it.
                self.stopping = true;
                self.stream = None;
            }
            self.pending.clear();
            self.pos = 0;
            let pending = &mut self.pending;
            let collect = |chunk: &[f32]| -> Result<(), AudioError> {
                pending.extend_from_slice(chunk);
                Ok(())
            };
            let got = self.ring.pop_slice(&mut self.in_buf);
            if got > 0 {
                self.last_data = Instant::now();
                self.got_data = true;
                self.resampler.push(&self.in_buf[..got], collect)?;
                continue;
            }
            if self.stopping {
                self.resampler.flush(collect)?;
                self.finished = true;
                continue;
            }
            let limit = if self.got_data { self.stall_timeout } else { self.stall_timeout * 2 };
            let silent = self.last_data.elapsed();
            if silent > limit {
                let reason = format!(
                    "no audio from the device for {:.1} s (it stopped delivering samples: unplugged, suspended, or taken over by another program)",
                    silent.as_secs_f64()
                );
                return Err(self.fail(reason));
            }
            thread::sleep(POLL);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The reader and the callback logic without a sound card: the tests play the device by
    //! calling the callbacks directly. `tests/tests/mic_alsa.rs` runs the same code against a
    //! real (virtual) ALSA device.

    use super::*;

    fn fake(
        channels: usize,
        device_rate: u32,
        target_rate: u32,
        capacity: usize,
        options: MicOptions,
    ) -> (MicSource, HeapProd<f32>, Arc<Shared>) {
        let (producer, consumer) = HeapRb::<f32>::new(capacity).split();
        let shared = Arc::new(Shared::default());
        let config = InputConfig { sample_rate: device_rate, channels: channels as u16, sample_format: "i16".into() };
        let resampler = Resampler::new(device_rate, target_rate).unwrap();
        let stall = options.stall_timeout;
        let src =
            MicSource::assemble(None, consumer, Arc::clone(&shared), "fake".into(), config, resampler, stall, &options);
        (src, producer, shared)
    }

    fn read_n(src: &mut MicSource, n: usize) -> Result<Vec<f32>, AudioError> {
        let mut out = vec![0.0; n];
        let mut got = 0;
        while got < n {
            let k = src.read(&mut out[got..])?;
            if k == 0 {
                break;
            }
            got += k;
        }
        out.truncate(got);
        Ok(out)
    }

    #[test]
    fn a_mic_source_can_feed_a_stream_thread() {
        fn send<T: Send>() {}
        send::<MicSource>();
        send::<MicMonitor>();
    }

    #[test]
    fn integer_stereo_is_scaled_and_averaged() {
        let (mut src, mut prod, shared) = fake(2, 16_000, 16_000, 64, MicOptions::default());
        // Frames (L, R): the mean of the two, each scaled by 1/32768 as soundfile does.
        shared.on_data::<i16>(&[16384, 0, -32768, -32768, 100, 300], 2, &mut prod);
        src.stop_flag().store(true, Ordering::Release);
        let got = read_n(&mut src, 10).unwrap();
        assert_eq!(got, vec![0.25, -1.0, 200.0 / 32768.0]);
        assert_eq!(src.stats().captured_frames, 3);
        let unsigned = fake(1, 16_000, 16_000, 8, MicOptions::default());
        let (mut src, mut prod, shared) = unsigned;
        shared.on_data::<u16>(&[32768, 0, 49152], 1, &mut prod);
        src.stop_flag().store(true, Ordering::Release);
        assert_eq!(read_n(&mut src, 10).unwrap(), vec![0.0, -1.0, 0.5]);
    }

    #[test]
    fn a_full_ring_counts_an_overrun_and_never_blocks() {
        let (mut src, mut prod, shared) = fake(1, 16_000, 16_000, 100, MicOptions::default());
        let block: Vec<f32> = (0..60).map(|i| i as f32 / 100.0).collect();
        shared.on_data::<f32>(&block, 1, &mut prod);
        shared.on_data::<f32>(&block, 1, &mut prod);
        let stats = src.stats();
        assert_eq!((stats.captured_frames, stats.overruns, stats.dropped_samples), (120, 1, 20));
        src.stop_flag().store(true, Ordering::Release);
        let got = read_n(&mut src, 1000).unwrap();
        // The first block whole, then the part of the second that fitted: a gap, no reorder.
        assert_eq!(got.len(), 100);
        assert_eq!(&got[..60], &block[..]);
        assert_eq!(&got[60..], &block[..40]);
    }

    #[test]
    fn resampled_output_matches_the_whole_clip_resampler() {
        let (mut src, mut prod, shared) = fake(1, 48_000, 16_000, 48_000, MicOptions::default());
        let tone: Vec<f32> = (0..24_000).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
        for chunk in tone.chunks(480) {
            shared.on_data::<f32>(chunk, 1, &mut prod);
        }
        src.stop_flag().store(true, Ordering::Release);
        let got = read_n(&mut src, 100_000).unwrap();
        let want = super::super::resample(&tone, 48_000, 16_000).unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn max_duration_cuts_the_stream_exactly() {
        let options = MicOptions { max_duration: Some(Duration::from_millis(10)), ..MicOptions::default() };
        let (mut src, mut prod, shared) = fake(1, 16_000, 16_000, 1000, options);
        shared.on_data::<f32>(&[0.5; 400], 1, &mut prod);
        assert_eq!(read_n(&mut src, 1000).unwrap().len(), 160);
        assert_eq!(src.read(&mut [0.0; 8]).unwrap(), 0);
    }

    #[test]
    fn a_backend_error_ends_the_stream_at_once() {
        // A stall timeout far beyond any scheduling delay: only the error can end this read.
        let options = MicOptions { stall_timeout: Duration::from_secs(60), ..MicOptions::default() };
        let (mut src, _prod, shared) = fake(1, 16_000, 16_000, 100, options);
        // Xruns and route changes are not fatal.
        shared.on_error(cpal::ErrorKind::Xrun.into());
        shared.on_error(cpal::ErrorKind::DeviceChanged.into());
        assert_eq!(src.stats().device_xruns, 1);
        let erroring = thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            shared.on_error(cpal::Error::with_message(cpal::ErrorKind::DeviceNotAvailable, "Device disconnected"));
        });
        // The waiting read ends with the device's error, not with the stall timeout's "no audio
        // from the device" (what it would say had the error been missed): no clock needed.
        let err = read_n(&mut src, 100).unwrap_err();
        erroring.join().unwrap();
        let msg = err.to_string();
        assert!(matches!(err, AudioError::Device { .. }), "{msg}");
        assert!(msg.contains("fake") && msg.contains("disappeared") && msg.contains("Device disconnected"), "{msg}");
        // And it stays failed.
        assert!(matches!(src.read(&mut [0.0; 4]), Err(AudioError::Device { .. })));
    }

    #[test]
    fn a_silent_device_is_reported_lost_after_the_stall_timeout() {
        let options = MicOptions { stall_timeout: Duration::from_millis(200), ..MicOptions::default() };
        let (mut src, mut prod, shared) = fake(1, 16_000, 16_000, 100, options);
        shared.on_data::<f32>(&[0.1; 10], 1, &mut prod);
        let start = Instant::now();
        assert_eq!(read_n(&mut src, 10).unwrap().len(), 10);
        let err = src.read(&mut [0.0; 10]).unwrap_err();
        let waited = start.elapsed();
        // Never before the timeout; after it by whatever a loaded machine adds (a generous bound
        // only catches a read that never gives up).
        assert!(waited >= Duration::from_millis(200) && waited < Duration::from_secs(20), "{waited:?}");
        assert!(err.to_string().contains("no audio from the device"), "{err}");
    }

    #[test]
    fn the_stop_flag_ends_a_waiting_read() {
        let (mut src, _prod, _shared) = fake(1, 16_000, 16_000, 100, MicOptions::default());
        let stop = src.stop_flag();
        let stopper = thread::spawn(move || {
            thread::sleep(Duration::from_millis(30));
            stop.store(true, Ordering::Release);
        });
        assert_eq!(src.read(&mut [0.0; 10]).unwrap(), 0);
        stopper.join().unwrap();
    }
}
