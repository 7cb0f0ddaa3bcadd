//! The streaming path: a producer thread reads a [`Source`] in hop-sized chunks into a `ringbuf`
//! SPSC ring, and the calling thread pops the chunks and hands each one to the front end.
//!
//! The producer plays the part of an audio device callback. With [`Pacing::RealTime`] it
//! delivers each chunk when a device running at `speed`× real time would, and it behaves like a
//! real-time callback: it never blocks, never allocates and never panics; when the ring has no
//! room for a whole chunk that chunk is an *overrun*: it is dropped and counted, as a sound card
//! drops a buffer nobody collected. With [`Pacing::Unpaced`] (files) the producer waits for room
//! instead (back-pressure), so every sample arrives, in order.
//!
//! The consumer receives chunks of exactly `hop` samples (the last chunk of a stream may be
//! shorter) on the calling thread, so the front end needs neither `Send` nor a lock. Waiting on
//! either side parks the thread briefly (woken by the other side); the ring itself is lock-free.
//!
//! An error from the source or from the consumer stops both threads and is returned; the other
//! thread notices through a shared flag within one chunk.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use ringbuf::traits::{Consumer as _, Observer as _, Producer, Split as _};
use ringbuf::HeapRb;

use super::{AudioError, Source};

/// Longest a waiting thread sleeps before it looks again (it is normally woken sooner).
const PARK: Duration = Duration::from_millis(1);

/// When the producer delivers chunks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pacing {
    /// As fast as the consumer takes them; a full ring makes the producer wait (no loss).
    Unpaced,
    /// Like a device running at `speed`× real time (1.0: real time); a full ring is an overrun
    /// and the chunk is dropped.
    RealTime { speed: f64 },
}

/// Shape of a stream. Both sizes are in samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamConfig {
    /// Samples per chunk (the front end's hop is the natural choice).
    pub hop: usize,
    /// Ring capacity, at least `hop`; the slack the consumer has before a paced producer drops.
    pub capacity: usize,
    pub pacing: Pacing,
}

impl StreamConfig {
    /// `hop`-sample chunks, a ring of `chunks · hop` samples, unpaced.
    pub fn new(hop: usize, chunks: usize) -> Self {
        StreamConfig { hop, capacity: hop.saturating_mul(chunks), pacing: Pacing::Unpaced }
    }

    pub fn with_pacing(mut self, pacing: Pacing) -> Self {
        self.pacing = pacing;
        self
    }

    fn validate(&self) -> Result<(), AudioError> {
        if self.hop == 0 {
            return Err(AudioError::invalid("hop", self.hop, ">= 1 sample"));
        }
        if self.capacity < self.hop {
            return Err(AudioError::invalid("capacity", self.capacity, ">= hop (the ring must hold one chunk)"));
        }
        if let Pacing::RealTime { speed } = self.pacing {
            if !(speed.is_finite() && speed > 0.0) {
                return Err(AudioError::invalid("speed", speed, "a finite factor > 0 (1.0 is real time)"));
            }
        }
        Ok(())
    }
}

/// What happened in one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamStats {
    /// Chunks handed to the consumer.
    pub chunks: u64,
    /// Samples handed to the consumer.
    pub samples: u64,
    /// Chunks the paced producer dropped because the ring was full.
    pub overruns: u64,
    /// Samples in those chunks (`samples + dropped_samples` is what the source produced).
    pub dropped_samples: u64,
    /// Wall time from start to the end of both threads.
    pub elapsed: Duration,
}

/// Flags the two threads share.
struct Shared {
    /// Set by either side to stop the other (error, or consumer gone).
    stop: AtomicBool,
    /// Set by the producer after its last push.
    done: AtomicBool,
}

/// Sets `stop` and wakes the producer when the consumer leaves, by any path (including a panic
/// in the consumer closure, so the producer never waits forever for room).
struct StopOnDrop<'a> {
    shared: &'a Shared,
    producer: Thread,
}

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.producer.unpark();
    }
}

/// Sets `done` and wakes the consumer when the producer leaves, by any path.
struct DoneOnDrop<'a> {
    shared: &'a Shared,
    consumer: Thread,
}

impl Drop for DoneOnDrop<'_> {
    fn drop(&mut self) {
        self.shared.done.store(true, Ordering::Release);
        self.consumer.unpark();
    }
}

struct ProducerReport {
    overruns: u64,
    dropped_samples: u64,
}

/// Streams `source` through a ring of `config.capacity` samples into `consume`, called on this
/// thread once per chunk of `config.hop` samples (the last may be shorter).
///
/// Returns the stream's statistics, or the first error: a source error (converted into `E`) or
/// the consumer's own. Either stops both threads.
pub fn run<S, E, F>(source: &mut S, config: &StreamConfig, mut consume: F) -> Result<StreamStats, E>
where
    S: Source + Send + ?Sized,
    E: From<AudioError>,
    F: FnMut(&[f32]) -> Result<(), E>,
{
    config.validate()?;
    if source.is_device() {
        return run_device(source, config.hop, consume);
    }
    let hop = config.hop;
    let (mut prod, mut cons) = HeapRb::<f32>::new(config.capacity).split();
    let shared = Shared { stop: AtomicBool::new(false), done: AtomicBool::new(false) };
    let consumer_thread = thread::current();
    let mut chunk = vec![0.0f32; hop];
    let producer_chunk = vec![0.0f32; hop];
    let start = Instant::now();

    let (consumed, produced) = thread::scope(|s| {
        let shared = &shared;
        let pacing = config.pacing;
        let handle = s.spawn(move || {
            // Tells the consumer the stream is over on every exit, a panic included.
            let _done = DoneOnDrop { shared, consumer: consumer_thread.clone() };
            let result = produce(source, &mut prod, producer_chunk, pacing, shared, &consumer_thread);
            if result.is_err() {
                shared.stop.store(true, Ordering::Release);
            }
            result
        });
        let guard = StopOnDrop { shared, producer: handle.thread().clone() };

        let mut stats = StreamStats::default();
        let consumed: Result<StreamStats, E> = loop {
            if shared.stop.load(Ordering::Acquire) {
                break Ok(stats);
            }
            // Read `done` before the occupancy: everything pushed before `done` is then visible.
            let done = shared.done.load(Ordering::Acquire);
            let available = cons.occupied_len();
            let n = if available >= hop {
                hop
            } else if done {
                available
            } else {
                thread::park_timeout(PARK);
                continue;
            };
            if n == 0 {
                break Ok(stats);
            }
            let got = cons.pop_slice(&mut chunk[..n]);
            guard.producer.unpark();
            stats.chunks += 1;
            stats.samples += got as u64;
            if let Err(e) = consume(&chunk[..got]) {
                break Err(e);
            }
        };
        drop(guard);
        let produced = handle.join();
        (consumed, produced)
    });

    // The first failure wins: a consumer error stops the producer, not the other way round.
    let mut stats = consumed?;
    let report = match produced {
        Ok(Ok(report)) => report,
        Ok(Err(source_error)) => return Err(E::from(source_error)),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_string());
            return Err(E::from(AudioError::ProducerPanicked { message }));
        }
    };
    stats.overruns = report.overruns;
    stats.dropped_samples = report.dropped_samples;
    stats.elapsed = start.elapsed();
    Ok(stats)
}

/// The producer loop. `chunk` is allocated by the caller; nothing here allocates.
fn produce<S: Source + ?Sized>(
    source: &mut S,
    prod: &mut impl Producer<Item = f32>,
    mut chunk: Vec<f32>,
    pacing: Pacing,
    shared: &Shared,
    consumer: &Thread,
) -> Result<ProducerReport, AudioError> {
    let mut report = ProducerReport { overruns: 0, dropped_samples: 0 };
    let rate = f64::from(source.sample_rate().max(1));
    let start = Instant::now();
    let mut produced: u64 = 0;
    let hop = chunk.len();
    loop {
        if shared.stop.load(Ordering::Acquire) {
            return Ok(report);
        }
        let n = fill(source, &mut chunk)?;
        if n == 0 {
            return Ok(report);
        }
        produced += n as u64;
        match pacing {
            Pacing::RealTime { speed } => {
                // A device hands over a buffer once its last sample has been recorded.
                let due = Duration::try_from_secs_f64(produced as f64 / rate / speed).unwrap_or(Duration::MAX);
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    thread::sleep(wait);
                }
                if prod.vacant_len() >= n {
                    prod.push_slice(&chunk[..n]);
                } else {
                    report.overruns += 1;
                    report.dropped_samples += n as u64;
                }
            }
            Pacing::Unpaced => {
                let mut sent = 0;
                while sent < n {
                    sent += prod.push_slice(&chunk[sent..n]);
                    if sent < n {
                        consumer.unpark();
                        if shared.stop.load(Ordering::Acquire) {
                            return Ok(report);
                        }
                        thread::park_timeout(PARK);
                    }
                }
            }
        }
        consumer.unpark();
        if n < hop {
            return Ok(report);
        }
    }
}

/// Reads from `source` until `buf` is full or the source ends; returns the samples read.
fn fill<S: Source + ?Sized>(source: &mut S, buf: &mut [f32]) -> Result<usize, AudioError> {
    let mut n = 0;
    while n < buf.len() {
        let k = source.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}

/// [`run`] for a device source: the device paces itself and buffers in its own real-time ring
/// (its callback counts that ring's overruns), so the chunks are read here, on the consumer's
/// thread, `hop` samples at a time: no second ring, no producer thread. `overruns` stays 0 (the
/// device's own statistics hold them).
fn run_device<S, E, F>(source: &mut S, hop: usize, mut consume: F) -> Result<StreamStats, E>
where
    S: Source + ?Sized,
    E: From<AudioError>,
    F: FnMut(&[f32]) -> Result<(), E>,
{
    let start = Instant::now();
    let mut chunk = vec![0.0f32; hop];
    let mut stats = StreamStats::default();
    loop {
        let mut k = 0;
        while k < hop {
            let n = source.read(&mut chunk[k..])?;
            if n == 0 {
                break;
            }
            k += n;
        }
        if k == 0 {
            break;
        }
        stats.chunks += 1;
        stats.samples += k as u64;
        consume(&chunk[..k])?;
        if k < hop {
            break;
        }
    }
    stats.elapsed = start.elapsed();
    Ok(stats)
}
