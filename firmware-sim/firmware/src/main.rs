//! soundproof on a simulated Cortex-M4F (QEMU mps2-an386): audio through a DMA double buffer
//! driven by the SysTick interrupt, the log-mel front end and int8 inference of the generated
//! model in the main loop, results and a report over semihosting. No allocator is linked.
//!
//! Protocol (semihosting, file `input.bin` in QEMU's working directory, little-endian):
//! `b"SPFW"`, u32 version 1, f32 gain, u32 samples, u32 instructions per DMA half at the
//! simulated clock, then the samples as f32. Output: one line per record on stdout (`calib`,
//! `win`, `deadline`, `stages`, `dma`, `stack`, `done`), parsed by `firmware-sim`.
//!
//! Time: the CMSDK APB TIMER0 free-running at the 25 MHz system clock of the board. Under
//! `qemu -icount shift=0` the virtual clock advances exactly 1 ns per executed instruction, so
//! a timer tick is a fixed number of instructions; the firmware measures it at boot on a loop
//! of known length (`calib`) and the runner converts ticks to instructions.
#![no_std]
#![no_main]

use core::cell::{RefCell, UnsafeCell};
use core::sync::atomic::{AtomicBool, Ordering};
use cortex_m::interrupt::{self, Mutex};
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::{debug, hprintln, syscall};
use firmware_sim_core::{Clock, DmaDoubleBuffer, Engine, FrontParts, LoopConfig, WindowOut, FRAME_CAPACITY, MAX_BINS};
use soundproof::dsp::{framer::Framer, MelFilterbank, MelParams, Stft, StftParams};

#[allow(dead_code, clippy::all)]
mod model {
    include!(concat!(env!("OUT_DIR"), "/model.rs"));
}
use model::*;

const TIMER0_CTRL: *mut u32 = 0x4000_0000 as *mut u32;
const TIMER0_VALUE: *mut u32 = 0x4000_0004 as *mut u32;
const TIMER0_RELOAD: *mut u32 = 0x4000_0008 as *mut u32;
const STACK_PAINT: u32 = 0x5AFE_C0DE;

/// Ticks of TIMER0 since boot (it counts down from u32::MAX).
struct Ticks;
impl Clock for Ticks {
    #[inline]
    fn now(&self) -> u64 {
        // SAFETY: a read of a memory-mapped timer register.
        (u32::MAX - unsafe { core::ptr::read_volatile(TIMER0_VALUE) }) as u64
    }
}

/// The two DMA halves. Access follows the ownership protocol of [`DmaDoubleBuffer`]: the
/// interrupt writes only a half the DMA owns, the main loop reads only a half it was handed
/// and has not released; the owner field is changed inside critical sections.
struct Halves(UnsafeCell<[[f32; HOP_SAMPLES]; 2]>);
// SAFETY: see above; a single core, and the protocol gives each half one user at a time.
unsafe impl Sync for Halves {}
static HALVES: Halves = Halves(UnsafeCell::new([[0.0; HOP_SAMPLES]; 2]));

/// A static handed out once as `&'static mut` (a [`cortex_m::singleton!`] without its
/// by-value initializer, which would pass the value through the stack): the initial value is a
/// constant, so it lands in .bss.
struct Once<T>(UnsafeCell<T>, AtomicBool);
// SAFETY: the value is reachable only through the one `&mut` that `take` hands out.
unsafe impl<T> Sync for Once<T> {}
impl<T> Once<T> {
    const fn new(v: T) -> Self {
        Once(UnsafeCell::new(v), AtomicBool::new(false))
    }
    fn take(&'static self) -> &'static mut T {
        if self.1.swap(true, Ordering::AcqRel) {
            fail("static taken twice");
        }
        // SAFETY: the flag makes this the only reference ever handed out.
        unsafe { &mut *self.0.get() }
    }
}
static RING: Once<[u8; INPUT_LEN]> = Once::new([0; INPUT_LEN]);
static ARENA: Once<[u8; ARENA_LEN]> = Once::new([0; ARENA_LEN]);
static FRAMER: Once<Framer<FRAME_CAPACITY>> = Once::new(Framer::empty());
static STFT: Once<Stft<FRAME_CAPACITY>> = Once::new(Stft::empty());
static BANK: Once<MelFilterbank<FRAME_CAPACITY>> = Once::new(MelFilterbank::empty());
static POWER: Once<[f32; FRAME_CAPACITY / 2 + 1]> = Once::new([0.0; FRAME_CAPACITY / 2 + 1]);
static MEL: Once<[f32; MAX_BINS]> = Once::new([0.0; MAX_BINS]);

struct Stream {
    dma: DmaDoubleBuffer,
    fd: usize,
    samples: u32,
    blocks: u64,
    /// Tick at which each half was last handed to the CPU.
    handed_at: [u64; 2],
}
static STREAM: Mutex<RefCell<Option<Stream>>> = Mutex::new(RefCell::new(None));
static STREAM_DONE: AtomicBool = AtomicBool::new(false);

const HEADER: usize = 20;

fn sh_read(fd: usize, buf: &mut [u8]) -> bool {
    // SAFETY: SYS_READ into a buffer we own; returns the count not read.
    unsafe { syscall!(READ, fd, buf.as_mut_ptr(), buf.len()) == 0 }
}
fn sh_seek(fd: usize, pos: usize) {
    // SAFETY: SYS_SEEK on an open handle.
    unsafe {
        syscall!(SEEK, fd, pos);
    }
}

fn fail(msg: &str) -> ! {
    hprintln!("error {}", msg);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("error panic {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {}
}

#[exception]
unsafe fn HardFault(_frame: &cortex_m_rt::ExceptionFrame) -> ! {
    fail("hard fault");
}

/// The DMA engine: at the end of each half period, the block it was writing lands in its half
/// (read from the host file, standing in for the codec) and the half-transfer /
/// transfer-complete interrupt hands it to the CPU.
#[exception]
fn SysTick() {
    interrupt::free(|cs| {
        let mut s = STREAM.borrow(cs).borrow_mut();
        let Some(s) = s.as_mut() else { return };
        let (half, block) = s.dma.writing();
        if block >= s.blocks {
            STREAM_DONE.store(true, Ordering::Release);
            return;
        }
        if !s.dma.dropping() {
            let start = block as usize * HOP_SAMPLES;
            let n = (s.samples as usize - start).min(HOP_SAMPLES);
            // SAFETY: the DMA owns `half` (not dropping), so the main loop does not read it.
            let dst = unsafe { &mut (*HALVES.0.get())[half] };
            sh_seek(s.fd, HEADER + 4 * start);
            // SAFETY: viewing n f32 as bytes for the read.
            let bytes = unsafe { core::slice::from_raw_parts_mut(dst.as_mut_ptr() as *mut u8, 4 * n) };
            if !sh_read(s.fd, bytes) {
                fail("short read of input.bin");
            }
        }
        let t = s.dma.end_of_half();
        if let Some((h, _)) = t.handed {
            s.handed_at[h] = Ticks.now();
        }
    });
}

/// Instructions per timer tick: a loop of exactly two instructions per iteration, timed.
fn calibrate() -> (u64, u64) {
    let iters: u32 = 1_000_000;
    let t0 = Ticks.now();
    // SAFETY: a register-only countdown loop.
    unsafe {
        core::arch::asm!("2:", "subs {0}, {0}, #1", "bne 2b", inout(reg) iters => _, options(nomem, nostack));
    }
    let t1 = Ticks.now();
    (t1 - t0, 2 * iters as u64)
}

extern "C" {
    static mut __sheap: u32;
    static _stack_start: u32;
}

fn paint_stack() {
    let sp = cortex_m::register::msp::read() as usize;
    // SAFETY: the words between the end of the statics and 256 bytes below the current stack
    // pointer are unused stack.
    unsafe {
        let mut p = core::ptr::addr_of_mut!(__sheap) as usize;
        while p < sp - 256 {
            core::ptr::write_volatile(p as *mut u32, STACK_PAINT);
            p += 4;
        }
    }
}

fn stack_high_water() -> usize {
    // SAFETY: reading words of the stack region, below the live stack.
    unsafe {
        let top = core::ptr::addr_of!(_stack_start) as usize;
        let mut p = core::ptr::addr_of!(__sheap) as usize;
        while p < top && core::ptr::read_volatile(p as *const u32) == STACK_PAINT {
            p += 4;
        }
        top - p
    }
}

#[entry]
fn main() -> ! {
    let mut cp = cortex_m::Peripherals::take().unwrap_or_else(|| fail("peripherals"));
    paint_stack();
    // SAFETY: TIMER0 of the CMSDK APB subsystem, free-running from u32::MAX, no interrupt.
    unsafe {
        core::ptr::write_volatile(TIMER0_RELOAD, u32::MAX);
        core::ptr::write_volatile(TIMER0_VALUE, u32::MAX);
        core::ptr::write_volatile(TIMER0_CTRL, 1);
    }
    let (cal_ticks, cal_insns) = calibrate();
    hprintln!("calib ticks={} insns={}", cal_ticks, cal_insns);

    // The input file.
    let name = b"input.bin\0";
    // SAFETY: SYS_OPEN with a NUL-terminated name, mode 1 ("rb").
    let fd = unsafe { syscall!(OPEN, name.as_ptr(), 1, name.len() - 1) } as isize;
    if fd < 0 {
        fail("cannot open input.bin");
    }
    let fd = fd as usize;
    let mut header = [0u8; HEADER];
    if !sh_read(fd, &mut header) || &header[..4] != b"SPFW" || header[4..8] != 1u32.to_le_bytes() {
        fail("input.bin: bad header");
    }
    let word = |i: usize| [header[i], header[i + 1], header[i + 2], header[i + 3]];
    let gain = f32::from_le_bytes(word(8));
    let samples = u32::from_le_bytes(word(12));
    let insns_per_half = u32::from_le_bytes(word(16)) as u64;
    let reload = (insns_per_half * cal_ticks / cal_insns).clamp(1, 0x00FF_FFFF) as u32;
    hprintln!("clip gain={} samples={} reload={}", gain, samples, reload);

    let cfg = LoopConfig {
        stft: StftParams { sample_rate: SAMPLE_RATE, n_fft: N_FFT, win_length: WIN_LENGTH, hop_length: HOP_LENGTH, center: CENTER },
        mel: MelParams { n_mels: N_MELS, fmin: FMIN, fmax: FMAX, mel_scale: MEL_SCALE, norm: MEL_NORM, amin: AMIN },
        window_samples: WINDOW_SAMPLES,
        hop_samples: HOP_SAMPLES,
    };
    // The feature ring, the arena and the front-end state (~24 KiB) live in zero-initialized
    // statics (.bss) and the front end is set up in place: no large value is ever built on the
    // stack and moved (that boot-time copy was the stack's high-water mark).
    let ring = RING.take();
    let arena = ARENA.take();
    let framer = FRAMER.take();
    let stft = STFT.take();
    let bank = BANK.take();
    let power = POWER.take();
    let mel = MEL.take();
    if cfg.init_front(framer, stft, bank).is_err() {
        fail("front end (framer, stft, mel filterbank)");
    }
    let bank: &MelFilterbank<FRAME_CAPACITY> = bank;
    let front = FrontParts { framer, stft, bank, power, mel };
    let mut engine = match Engine::new(&cfg, gain, &GRAPH, front, ring, arena) {
        Ok(e) => e,
        Err(_) => fail("the model does not fit the loop"),
    };
    // Each window is printed as it comes (semihosting); the instructions spent formatting it
    // are measured and left out of the deadline figures (a real device would hand the label
    // to a GPIO or a queue).
    let n_windows = core::cell::Cell::new(0u64);
    let report_ticks = core::cell::Cell::new(0u64);
    let mut record = |w: WindowOut<'_>| {
        let t0 = Ticks.now();
        let mut bits = [0u32; N_CLASSES];
        for (b, l) in bits.iter_mut().zip(w.logits) {
            *b = l.to_bits();
        }
        hprintln!("win {} {} {:?} {:?}", w.index, w.label, w.quantized, bits);
        n_windows.set(n_windows.get() + 1);
        report_ticks.set(report_ticks.get() + Ticks.now() - t0);
    };

    let blocks = (samples as u64).div_ceil(HOP_SAMPLES as u64);
    interrupt::free(|cs| {
        STREAM.borrow(cs).replace(Some(Stream { dma: DmaDoubleBuffer::new(), fd, samples, blocks, handed_at: [0; 2] }));
    });
    cp.SYST.set_clock_source(SystClkSource::Core);
    cp.SYST.set_reload(reload);
    cp.SYST.clear_current();
    cp.SYST.enable_interrupt();
    cp.SYST.enable_counter();

    let period = reload as u64;
    let (mut hops, mut missed, mut worst, mut min_margin, mut total_busy) = (0u64, 0u64, 0u64, u64::MAX, 0u64);
    loop {
        let next = interrupt::free(|cs| {
            let mut s = STREAM.borrow(cs).borrow_mut();
            let s = s.as_mut()?;
            s.dma.take().map(|(h, b)| (h, b, s.handed_at[h], s.samples))
        });
        match next {
            Some((half, block, handed_at, total)) => {
                let start = block as usize * HOP_SAMPLES;
                let n = (total as usize - start).min(HOP_SAMPLES);
                let t0 = Ticks.now();
                let r0 = report_ticks.get();
                // SAFETY: the CPU owns `half` until it is released below.
                let data: &[f32] = unsafe { &(&(*HALVES.0.get()))[half][..n] };
                if engine.push(data, &Ticks, &mut record).is_err() {
                    fail("front end");
                }
                interrupt::free(|cs| {
                    if let Some(s) = STREAM.borrow(cs).borrow_mut().as_mut() {
                        s.dma.release(half);
                    }
                });
                let done = Ticks.now() - (report_ticks.get() - r0);
                total_busy += done - t0;
                // Deadline: a half must be processed before the next one lands.
                let latency = done - handed_at;
                hops += 1;
                worst = worst.max(latency);
                if latency > period {
                    missed += 1;
                } else {
                    min_margin = min_margin.min(period - latency);
                }
            }
            None => {
                if STREAM_DONE.load(Ordering::Acquire) {
                    break;
                }
                cortex_m::asm::wfi();
            }
        }
    }
    cp.SYST.disable_counter();
    cp.SYST.disable_interrupt();
    if engine.finish(&Ticks, &mut record).is_err() {
        fail("front end (end of stream)");
    }
    let hwm = stack_high_water();
    let st = engine.stages;
    hprintln!(
        "stages framing={} fft={} mel={} log={} inference={} frames={} inferences={}",
        st.framing, st.fft, st.mel, st.log, st.inference, st.frames, st.inferences
    );
    hprintln!("steps {:?}", &st.per_step[..GRAPH.steps.len().min(firmware_sim_core::MAX_STEPS)]);
    hprintln!(
        "deadline period={} hops={} missed={} worst={} min_margin={} busy={}",
        period, hops, missed, worst, if min_margin == u64::MAX { 0 } else { min_margin }, total_busy
    );
    let (ht, tc, over, dropped) = interrupt::free(|cs| {
        let s = STREAM.borrow(cs).borrow();
        s.as_ref().map_or((0, 0, 0, 0), |s| (s.dma.half_transfer_irqs, s.dma.transfer_complete_irqs, s.dma.overruns, s.dma.dropped_blocks))
    });
    hprintln!("dma half_transfer={} transfer_complete={} overruns={} dropped_blocks={} windows={}", ht, tc, over, dropped, n_windows.get());
    hprintln!("stack hwm={}", hwm);
    // SAFETY: closing our handle.
    unsafe {
        syscall!(CLOSE, fd);
    }
    hprintln!("done");
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi();
    }
}
