//! The live terminal UI of `demo` and `listen` (ratatui over crossterm): a scrolling log-mel
//! spectrogram, the current label and top classes, the heard segments, each certificate as it
//! arrives, the input level and the live gain knob.
//!
//! The stream runs on its own threads as in plain mode; its result and certificate callbacks
//! send copies to this thread over a channel, and the keys turn the stream's [`LiveGain`]
//! (two atomics the feature thread reads once per frame hop). Nothing here touches the audio
//! path. The terminal is restored on every exit: the end of the stream, `q`, Ctrl-C (a key in
//! raw mode; SIGINT from outside sets the stop flag), an error, or a panic (ratatui's hook).

use anyhow::Result;
use crossbeam_channel::{Receiver, TryRecvError};
use ratatui::crossterm::event::{self, Event as TermEvent, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;
use soundproof::model::Model;
use soundproof::pipeline::{CertifiedWindow, LiveGain, LivePolicy, OnlineCertify, PipelineStats, WindowResult};
use soundproof::window::WindowPlan;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Input gain step of the `+` / `-` keys, dB.
pub const GAIN_STEP_DB: f32 = 6.0;

/// What the stream threads send to the UI.
pub enum Event {
    Window(Box<WindowResult>),
    Certificate(Box<CertifiedWindow>),
    /// The stream ended (its statistics, or the error that ended it).
    Done(std::result::Result<PipelineStats, String>),
}

/// Online certification settings, for the certificate panel's title.
pub struct CertInfo {
    pub contract: String,
    pub sigma: f64,
    pub alpha: f64,
    pub n_max: u64,
    pub budget_ms: f64,
    pub every: u64,
}

/// What the UI shows that does not change during the stream.
pub struct Header {
    /// `soundproof demo` or `soundproof listen`.
    pub command: String,
    pub model: String,
    pub source: String,
    pub labels: Vec<String>,
    pub window_s: f64,
    pub hop_s: f64,
    pub frames_per_window: usize,
    pub hop_frames: usize,
    pub bins: usize,
    /// Seconds per feature frame.
    pub frame_s: f64,
    pub top_hz: f64,
    pub gate_db: f32,
    /// The fixed gain s₀ (calibration constant or `--gain`).
    pub s0: f32,
    pub cert: Option<CertInfo>,
}

/// Live counters the UI cannot read from the results (a microphone's overruns).
pub type Overruns = Box<dyn Fn() -> Option<u64>>;

/// Everything the UI shows, updated from the events.
struct State {
    h: Header,
    /// Feature frames by absolute frame index (oldest first); `None` for a dropped window's frames.
    frames: VecDeque<(u64, Vec<f32>)>,
    keep_frames: usize,
    last: Option<WindowResult>,
    windows: u64,
    latencies: VecDeque<f64>,
    segmenter: soundproof::pipeline::Segmenter,
    certs: VecDeque<CertifiedWindow>,
    all_certs: Vec<CertifiedWindow>,
    clipped_total: u64,
    done: Option<std::result::Result<PipelineStats, String>>,
    started: Instant,
    r_ref: Option<f64>,
}

impl State {
    fn new(h: Header) -> State {
        let keep_frames = 8 * h.frames_per_window;
        let r_ref = h.cert.as_ref().map(|c| soundproof::smooth::all_agree_radius(c.sigma, 10_000, c.alpha));
        let segmenter = soundproof::pipeline::Segmenter::new(&h.labels, h.gate_db);
        State {
            h,
            frames: VecDeque::new(),
            keep_frames,
            last: None,
            windows: 0,
            latencies: VecDeque::new(),
            segmenter,
            certs: VecDeque::new(),
            all_certs: Vec::new(),
            clipped_total: 0,
            done: None,
            started: Instant::now(),
            r_ref,
        }
    }

    fn apply(&mut self, e: Event) {
        match e {
            Event::Window(w) => {
                let new = w.spectrum.len() / self.h.bins.max(1);
                let end = w.index * self.h.hop_frames as u64 + self.h.frames_per_window as u64;
                for (k, f) in w.spectrum.chunks(self.h.bins).enumerate() {
                    let idx = end - new as u64 + k as u64;
                    if self.frames.back().is_none_or(|(i, _)| *i < idx) {
                        self.frames.push_back((idx, f.to_vec()));
                    }
                }
                while self.frames.len() > self.keep_frames {
                    self.frames.pop_front();
                }
                if let Some(l) = w.latency_ms {
                    self.latencies.push_back(l);
                    if self.latencies.len() > 200 {
                        self.latencies.pop_front();
                    }
                }
                if let Some(i) = w.input {
                    self.clipped_total += i.clipped as u64;
                }
                self.segmenter.push(&w);
                self.windows += 1;
                self.last = Some(*w);
            }
            Event::Certificate(c) => {
                self.certs.push_back((*c).clone());
                if self.certs.len() > 64 {
                    self.certs.pop_front();
                }
                self.all_certs.push(*c);
            }
            Event::Done(r) => {
                self.segmenter.close();
                self.done = Some(r);
            }
        }
    }

    fn latency_median(&self) -> Option<f64> {
        soundproof::stats::median(&mut self.latencies.iter().cloned().collect::<Vec<f64>>())
    }
}

/// The stream as the UI runs it: given the result and certificate callbacks, streams and
/// returns the statistics.
pub trait Stream: FnOnce(&mut (dyn FnMut(&WindowResult) + Send), &mut (dyn FnMut(&CertifiedWindow) + Send)) -> Result<PipelineStats> {}
impl<F> Stream for F where F: FnOnce(&mut (dyn FnMut(&WindowResult) + Send), &mut (dyn FnMut(&CertifiedWindow) + Send)) -> Result<PipelineStats> {}

/// The UI's fixed text for `model` on `source`.
pub fn header(command: &str, model: &Model, source: &str, gate_db: f32, certify: Option<&OnlineCertify>, s0: f32) -> Result<Header> {
    let card = model.card();
    let plan = WindowPlan::of(model)?;
    let fe = model.front_end()?;
    let sr = card.features.sample_rate() as f64;
    Ok(Header {
        command: command.to_string(),
        model: card.name.clone(),
        source: source.to_string(),
        labels: model.labels().to_vec(),
        window_s: card.window_s,
        hop_s: card.hop_s,
        frames_per_window: plan.frames_per_window,
        hop_frames: plan.hop_frames,
        bins: plan.bins,
        frame_s: fe.hop_length() as f64 / sr,
        top_hz: card.features.mel.fmax.map(|f| f as f64).unwrap_or(sr / 2.0),
        gate_db,
        s0,
        cert: certify.map(|c| CertInfo {
            contract: c.contract.to_string(),
            sigma: c.params.sigma,
            alpha: c.params.alpha,
            n_max: c.params.n,
            budget_ms: c.budget.time.map(|t| t.as_secs_f64() * 1e3).unwrap_or(f64::NAN),
            every: c.every,
        }),
    })
}

/// Runs `stream` on its own thread and the UI on this one until both end; then, with the
/// terminal restored, prints the plain summary (heard sequence, stream and certificate figures).
pub fn run_stream<F>(h: Header, model: &Model, live: &LiveGain, stop: &AtomicBool, overruns: Overruns, stream: F) -> Result<()>
where
    F: Stream + Send,
{
    let _ = model;
    let (tx, rx) = crossbeam_channel::unbounded::<Event>();
    let (ui, streamed) = std::thread::scope(|s| {
        let handle = s.spawn(move || {
            let txr = tx.clone();
            let mut on_result = move |w: &WindowResult| {
                let _ = txr.send(Event::Window(Box::new(w.clone())));
            };
            let txc = tx.clone();
            let mut on_cert = move |c: &CertifiedWindow| {
                let _ = txc.send(Event::Certificate(Box::new(c.clone())));
            };
            let r = stream(&mut on_result, &mut on_cert);
            let _ = tx.send(Event::Done(r.as_ref().map(|s| s.clone()).map_err(|e| format!("{e:#}"))));
            r
        });
        let ui = run(h, live, stop, rx, overruns);
        // However the UI ended, the stream stops.
        stop.store(true, Ordering::Relaxed);
        let streamed = handle.join();
        (ui, streamed)
    });
    let (mut seg, certs, _) = ui?;
    let stats = match streamed {
        Ok(r) => r?,
        Err(_) => anyhow::bail!("the stream thread panicked"),
    };
    let certs: Vec<soundproof::smooth::Certificate> = certs.into_iter().map(|c| c.certificate).collect();
    crate::demo::print_summary(&mut seg, &certs, &stats);
    let dropped = live.dropped_windows.load(Ordering::Relaxed);
    println!("final input gain {:+.1} dB, gain policy {}; {} window(s) dropped", live.gain_db(), live.policy().name(), dropped);
    Ok(())
}

/// Runs the UI until the stream ends and a key is pressed, or `q` / Ctrl-C / `stop`. Returns
/// the heard segments and the certificates, for the summary printed after the terminal is back.
pub fn run(
    header: Header,
    live: &LiveGain,
    stop: &AtomicBool,
    rx: Receiver<Event>,
    overruns: Overruns,
) -> Result<(soundproof::pipeline::Segmenter, Vec<CertifiedWindow>, Option<std::result::Result<PipelineStats, String>>)> {
    let mut terminal = ratatui::init();
    let mut st = State::new(header);
    let result = (|| -> Result<()> {
        loop {
            loop {
                match rx.try_recv() {
                    Ok(e) => st.apply(e),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        if st.done.is_none() {
                            st.done = Some(Err("the stream ended".into()));
                        }
                        break;
                    }
                }
            }
            terminal.draw(|f| draw(f, &st, live, &overruns))?;
            if stop.load(Ordering::Relaxed) && st.done.is_some() {
                return Ok(());
            }
            if event::poll(Duration::from_millis(50))? {
                match event::read()? {
                    TermEvent::Key(k) if k.kind == KeyEventKind::Press => {
                        let ctrl_c = k.modifiers.contains(KeyModifiers::CONTROL) && matches!(k.code, KeyCode::Char('c'));
                        match k.code {
                            _ if ctrl_c => stop.store(true, Ordering::Relaxed),
                            KeyCode::Char('q') | KeyCode::Esc => stop.store(true, Ordering::Relaxed),
                            KeyCode::Char('+') | KeyCode::Char('=') | KeyCode::Up => {
                                live.set_gain_db((live.gain_db() + GAIN_STEP_DB).min(60.0))
                            }
                            KeyCode::Char('-') | KeyCode::Char('_') | KeyCode::Down => {
                                live.set_gain_db((live.gain_db() - GAIN_STEP_DB).max(-60.0))
                            }
                            KeyCode::Char('0') => live.set_gain_db(0.0),
                            KeyCode::Char('p') | KeyCode::Tab => live.set_policy(live.policy().next()),
                            _ if st.done.is_some() => stop.store(true, Ordering::Relaxed),
                            _ => {}
                        }
                    }
                    // The next draw lays the screen out at the new size.
                    TermEvent::Resize(_, _) => terminal.autoresize()?,
                    _ => {}
                }
            }
        }
    })();
    ratatui::restore();
    result?;
    // Drain what arrived after the last draw (the stream may still be finishing).
    let deadline = Instant::now() + Duration::from_secs(30);
    while st.done.is_none() && Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(e) => st.apply(e),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(_) => break,
        }
    }
    Ok((st.segmenter, st.all_certs, st.done))
}

/// A perceptual colour ramp (black → purple → red → orange → pale yellow, like `magma`).
fn ramp(t: f32) -> Color {
    const STOPS: [(f32, [f32; 3]); 6] = [
        (0.0, [0.0, 0.0, 4.0]),
        (0.2, [59.0, 15.0, 112.0]),
        (0.4, [140.0, 41.0, 129.0]),
        (0.6, [222.0, 73.0, 104.0]),
        (0.8, [254.0, 159.0, 109.0]),
        (1.0, [252.0, 253.0, 191.0]),
    ];
    let t = t.clamp(0.0, 1.0);
    let k = STOPS.iter().position(|(s, _)| *s >= t).unwrap_or(STOPS.len() - 1).max(1);
    let (t0, c0) = STOPS[k - 1];
    let (t1, c1) = STOPS[k];
    let u = if t1 > t0 { (t - t0) / (t1 - t0) } else { 0.0 };
    let c = |i: usize| (c0[i] + u * (c1[i] - c0[i])).round() as u8;
    Color::Rgb(c(0), c(1), c(2))
}

/// Dynamic range of the spectrogram's colour ramp, dB below the loudest visible cell.
const RANGE_DB: f32 = 80.0;

fn draw(f: &mut Frame, st: &State, live: &LiveGain, overruns: &Overruns) {
    let area = f.area();
    let n_certs = if st.h.cert.is_some() { 8 } else { 0 };
    let rows = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(6),
        Constraint::Length(8),
        Constraint::Length(n_certs),
        Constraint::Length(4),
        Constraint::Length(1),
    ])
    .split(area);
    draw_title(f, rows[0], st);
    draw_spectrogram(f, rows[1], st);
    let mid = Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).split(rows[2]);
    draw_now(f, mid[0], st);
    draw_top(f, mid[1], st);
    if st.h.cert.is_some() {
        draw_certs(f, rows[3], st);
    }
    draw_input(f, rows[4], st, live, overruns);
    let help = Line::from(vec![
        " + / - ".bold(),
        format!("input gain ±{GAIN_STEP_DB:.0} dB  ").into(),
        " 0 ".bold(),
        "gain 0 dB  ".into(),
        " p ".bold(),
        "gain policy (fixed → rms → peak → clip)  ".into(),
        " q / Ctrl-C ".bold(),
        "quit".into(),
    ]);
    f.render_widget(Paragraph::new(help).style(Style::default().fg(Color::Gray)), rows[5]);
}

fn draw_title(f: &mut Frame, area: Rect, st: &State) {
    let t = st.last.as_ref().map(|w| w.end_s).unwrap_or(0.0);
    let status = match &st.done {
        None => format!("{t:.2} s"),
        Some(Ok(_)) => format!("{t:.2} s · stream ended: press any key"),
        Some(Err(e)) => format!("stopped: {e}"),
    };
    let line = Line::from(vec![
        Span::styled(format!(" {} ", st.h.command), Style::default().fg(Color::Black).bg(Color::Cyan).bold()),
        format!(" {} on {} · window {:.2} s, hop {:.2} s · ", st.h.model, st.h.source, st.h.window_s, st.h.hop_s).into(),
        status.bold(),
    ]);
    f.render_widget(Paragraph::new(line), area);
}

fn draw_spectrogram(f: &mut Frame, area: Rect, st: &State) {
    let title = format!(
        " log-mel spectrogram ({} bands, 0–{:.0} kHz; colour over {RANGE_DB:.0} dB) ",
        st.h.bins,
        st.h.top_hz / 1e3
    );
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.width < 4 || inner.height < 3 {
        return;
    }
    // Rows: the image, the time axis, the marker of the current window.
    let img_rows = (inner.height - 2) as usize;
    let width = inner.width as usize;
    // Show about four windows of history, an integer number of frames per column.
    let span_frames = (4 * st.h.frames_per_window).max(width);
    let per_col = span_frames.div_ceil(width).max(1);
    let newest = st.frames.back().map(|(i, _)| *i + 1).unwrap_or(0);
    let first = newest.saturating_sub((width * per_col) as u64);
    let first = first - first % per_col as u64;
    // Pool frames into columns (mean of dB values), then bands into 2 pixel rows per text row.
    let px_rows = 2 * img_rows;
    let mut cols: Vec<Option<Vec<f32>>> = vec![None; width];
    let mut counts = vec![0usize; width];
    for (i, fr) in st.frames.iter().filter(|(i, _)| *i >= first) {
        let c = ((i - first) as usize) / per_col;
        if c >= width {
            continue;
        }
        let col = cols[c].get_or_insert_with(|| vec![0.0; px_rows]);
        for (p, v) in col.iter_mut().enumerate() {
            // Pixel row p (0 = top) covers bands [lo, hi) counted from the top.
            let lo = (px_rows - 1 - p) * st.h.bins / px_rows;
            let hi = ((px_rows - p) * st.h.bins / px_rows).max(lo + 1);
            let m = fr[lo..hi.min(fr.len())].iter().sum::<f32>() / (hi - lo) as f32;
            *v += m;
        }
        counts[c] += 1;
    }
    for (c, n) in cols.iter_mut().zip(&counts) {
        if let Some(c) = c {
            c.iter_mut().for_each(|v| *v /= *n as f32);
        }
    }
    let top = cols.iter().flatten().flat_map(|c| c.iter()).cloned().fold(f32::NEG_INFINITY, f32::max);
    let norm = |v: f32| if top.is_finite() { (v - (top - RANGE_DB)) / RANGE_DB } else { 0.0 };
    let mut lines = Vec::with_capacity(img_rows + 2);
    for r in 0..img_rows {
        let spans: Vec<Span> = cols
            .iter()
            .map(|c| match c {
                Some(c) => Span::styled("▀", Style::default().fg(ramp(norm(c[2 * r]))).bg(ramp(norm(c[2 * r + 1])))),
                None => Span::raw(" "),
            })
            .collect();
        lines.push(Line::from(spans));
    }
    // Time axis: a tick every second (every 5 s when a column spans more than 50 ms).
    let col_s = per_col as f64 * st.h.frame_s;
    let tick_s = if col_s > 0.05 { 5.0 } else { 1.0 };
    let mut axis = vec![' '; width];
    let mut c = 0;
    while c < width {
        let t0 = (first as usize + c * per_col) as f64 * st.h.frame_s;
        let t1 = t0 + col_s;
        let k = (t1 / tick_s).floor() * tick_s;
        if k >= t0 && k < t1 && newest > 0 {
            let label = format!("|{k:.0}s");
            for (j, ch) in label.chars().enumerate() {
                if c + j < width {
                    axis[c + j] = ch;
                }
            }
            c += label.chars().count();
        } else {
            c += 1;
        }
    }
    lines.push(Line::from(axis.into_iter().collect::<String>()).style(Style::default().fg(Color::DarkGray)));
    // The current window: its frames [w·Hf, w·Hf + F).
    let mut marker = Line::default();
    if let Some(w) = &st.last {
        let w0 = w.index * st.h.hop_frames as u64;
        let w1 = w0 + st.h.frames_per_window as u64;
        let c0 = (w0.saturating_sub(first) as usize / per_col).min(width);
        let c1 = ((w1.saturating_sub(first) as usize).div_ceil(per_col)).min(width);
        if c1 > c0 + 1 {
            let text = format!(" {} {:.2} ", w.label_name, w.score);
            let inner_w = c1 - c0 - 2;
            let mut bar: String = "─".repeat(inner_w);
            if text.chars().count() <= inner_w {
                let mid = (inner_w - text.chars().count()) / 2;
                bar = format!("{}{}{}", "─".repeat(mid), text, "─".repeat(inner_w - mid - text.chars().count()));
            }
            marker = Line::from(vec![
                Span::raw(" ".repeat(c0)),
                Span::styled(format!("└{bar}┘"), Style::default().fg(Color::Cyan)),
            ]);
        }
    }
    lines.push(marker);
    f.render_widget(Paragraph::new(lines), inner);
}

fn voiced(st: &State, w: &WindowResult) -> bool {
    w.level_db.is_none_or(|l| l >= st.h.gate_db)
}

fn draw_now(f: &mut Frame, area: Rect, st: &State) {
    let block = Block::bordered().title(" now ");
    let mut lines = Vec::new();
    match &st.last {
        Some(w) if voiced(st, w) => lines.push(Line::from(vec![
            "label ".into(),
            Span::styled(format!(" {} ", w.label_name), Style::default().fg(Color::Black).bg(Color::Green).bold()),
            format!("  p {:.3}  [{:.2} – {:.2} s]", w.score, w.start_s, w.end_s).into(),
        ])),
        Some(w) => lines.push(Line::from(format!(
            "label  ·  (silence: level {:.1} dB < gate {:.0} dB)",
            w.level_db.unwrap_or(f32::NAN),
            st.h.gate_db
        ))),
        None => lines.push(Line::from("waiting for the first window…")),
    }
    let heard: Vec<String> = st.segmenter.heard.iter().map(|s| format!("{}@{:.1}s", s.label, s.start_s)).collect();
    let mut text = String::new();
    for h in heard.iter().rev() {
        if text.chars().count() + h.chars().count() + 1 > (area.width as usize).saturating_sub(10) * 3 {
            text.insert_str(0, "… ");
            break;
        }
        text.insert_str(0, &format!("{h} "));
    }
    lines.push(Line::from(vec!["heard ".bold(), text.into()]));
    f.render_widget(Paragraph::new(lines).block(block).wrap(ratatui::widgets::Wrap { trim: true }), area);
}

fn draw_top(f: &mut Frame, area: Rect, st: &State) {
    let block = Block::bordered().title(" top classes ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(w) = &st.last else { return };
    let mut order: Vec<usize> = (0..w.probabilities.len()).collect();
    order.sort_by(|&a, &b| w.probabilities[b].total_cmp(&w.probabilities[a]));
    let name_w = st.h.labels.iter().map(|l| l.chars().count()).max().unwrap_or(1).min(16);
    let bar_w = (inner.width as usize).saturating_sub(name_w + 9).max(1);
    let lines: Vec<Line> = order
        .iter()
        .take(inner.height as usize)
        .enumerate()
        .map(|(rank, &k)| {
            let p = w.probabilities[k];
            let eighths = (p * (bar_w * 8) as f32).round() as usize;
            let mut bar = "█".repeat(eighths / 8);
            if eighths % 8 > 0 {
                bar.push(['▏', '▎', '▍', '▌', '▋', '▊', '▉'][eighths % 8 - 1]);
            }
            let colour = if rank == 0 { Color::Green } else { Color::Blue };
            Line::from(vec![
                format!("{:>name_w$} ", st.h.labels[k]).into(),
                Span::styled(format!("{bar:<bar_w$}"), Style::default().fg(colour)),
                format!(" {p:.3}").into(),
            ])
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

fn draw_certs(f: &mut Frame, area: Rect, st: &State) {
    let Some(ci) = &st.h.cert else { return };
    let r_ref = st.r_ref.unwrap_or(f64::NAN);
    let title = format!(
        " certificates: contract {}, σ = {}, α = {}, n ≤ {}, budget {:.0} ms, every {} window(s); R₁₀ₖ = {:.4} (all 10,000 agree) ",
        ci.contract, ci.sigma, ci.alpha, ci.n_max, ci.budget_ms, ci.every, r_ref
    );
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let mut lines = Vec::new();
    // Median SNR_cert per (policy, input gain) setting, over the certificates at a steady setting.
    let mut groups: Vec<(LivePolicy, f32, Vec<f64>)> = Vec::new();
    for c in &st.all_certs {
        let (Some(i), Some(s)) = (c.input, c.certificate.snr_cert_db) else { continue };
        if !i.steady {
            continue;
        }
        match groups.iter_mut().find(|(p, g, _)| *p == i.policy && *g == i.gain_db) {
            Some(g) => g.2.push(s),
            None => groups.push((i.policy, i.gain_db, vec![s])),
        }
    }
    let mut summary = vec![Span::styled("median SNR_cert by setting: ", Style::default().add_modifier(Modifier::BOLD))];
    if groups.is_empty() {
        summary.push("— (none yet at a steady setting)".into());
    }
    for (p, g, v) in groups.iter_mut() {
        let m = soundproof::stats::median(v).unwrap_or(f64::NAN);
        summary.push(format!("{} {:+.0} dB: {:.1} dB ({})   ", p.name(), g, m, v.len()).into());
    }
    lines.push(Line::from(summary));
    lines.push(
        Line::from(format!(
            "{:>15}  {:<16} {:>8} {:>9} {:>6} {:>7} {:>6}  {}",
            "window (s)", "verdict", "R", "SNR_cert", "n", "time", "R/R₁₀ₖ", "input gain, policy"
        ))
        .style(Style::default().fg(Color::DarkGray)),
    );
    let rows = (inner.height as usize).saturating_sub(2);
    let start = st.certs.len().saturating_sub(rows);
    for c in st.certs.iter().skip(start) {
        let k = &c.certificate;
        let (verdict, style) = match &k.label {
            Some(l) => (format!("✓ {l}"), Style::default().fg(Color::Green)),
            None => (format!("abstain pA≥{:.2}", k.p_a_lower), Style::default().fg(Color::Yellow)),
        };
        let snr = k.snr_cert_db.map(|s| format!("{s:.1} dB")).unwrap_or_else(|| "—".into());
        let setting = match c.input {
            Some(i) => format!("{:+.0} dB, {}{}", i.gain_db, i.policy.name(), if i.steady { "" } else { " (changing)" }),
            None => k.gain_policy.to_string(),
        };
        lines.push(Line::from(vec![
            format!("{:>6.2} – {:>6.2}  ", c.start_s, c.end_s).into(),
            Span::styled(format!("{:<16}", truncate(&verdict, 16)), style),
            format!(
                " {:>8.4} {:>9} {:>6} {:>5.0}ms {:>6.3}  {}",
                k.radius,
                snr,
                k.samples,
                1e3 * k.seconds,
                k.radius / r_ref,
                setting
            )
            .into(),
        ]));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn draw_input(f: &mut Frame, area: Rect, st: &State, live: &LiveGain, overruns: &Overruns) {
    let policy = live.policy();
    let db = live.gain_db();
    let block = Block::bordered().title(format!(" input: gain {db:+.1} dB · policy {} = {} ", policy.name(), policy.describe()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let snap = st.last.as_ref().and_then(|w| w.input);
    // Level meter of the input y = c·a: peak (▌ mark) over RMS (bar), −60 … 0 dBFS.
    let meter_w = (inner.width as usize).saturating_sub(60).clamp(10, 50);
    let pos = |dbfs: f32| (((dbfs + 60.0) / 60.0).clamp(0.0, 1.0) * meter_w as f32).round() as usize;
    let (rms, peak, clipped) = snap.map(|s| (s.rms_dbfs, s.peak_dbfs, s.clipped)).unwrap_or((f32::NEG_INFINITY, f32::NEG_INFINITY, 0));
    let (r, p) = (pos(rms), pos(peak).min(meter_w.saturating_sub(1)));
    let mut meter = Vec::new();
    for i in 0..meter_w {
        let colour = if i as f32 >= meter_w as f32 * 54.0 / 60.0 { Color::Red } else if i as f32 >= meter_w as f32 * 0.8 { Color::Yellow } else { Color::Green };
        let ch = if i < r { "█" } else if i == p && peak.is_finite() { "▌" } else { "·" };
        meter.push(Span::styled(ch, Style::default().fg(colour)));
    }
    let clip = if clipped > 0 {
        Span::styled(format!(" CLIP {clipped} ", ), Style::default().fg(Color::White).bg(Color::Red).bold())
    } else {
        Span::styled(" clip 0 ", Style::default().fg(Color::DarkGray))
    };
    let mut l1: Vec<Span> = vec!["level ".into()];
    l1.extend(meter);
    l1.push(format!(" rms {rms:>6.1} peak {peak:>6.1} dBFS ").into());
    l1.push(clip);
    l1.push(format!(" ({} over 0 dBFS so far) · x = {:.3}·y", st.clipped_total, snap.map(|s| s.scale).unwrap_or(st.h.s0)).into());
    let dropped = live.dropped_windows.load(Ordering::Relaxed);
    let skipped = live.certifications_skipped.load(Ordering::Relaxed);
    let over = overruns().or(st.done.as_ref().and_then(|d| d.as_ref().ok()).map(|s| s.audio_overruns));
    let lat = st.latency_median();
    let l2 = Line::from(format!(
        "windows {} · dropped {} · audio overruns {} · certified {} · skipped certifications {} · latency audio→label {} median, {} last · up {:.0} s",
        st.windows,
        dropped,
        over.map(|o| o.to_string()).unwrap_or_else(|| "— (counted at the end)".into()),
        st.all_certs.len(),
        skipped,
        lat.map(|l| format!("{l:.1} ms")).unwrap_or_else(|| "—".into()),
        st.last.as_ref().and_then(|w| w.latency_ms).map(|l| format!("{l:.1} ms")).unwrap_or_else(|| "—".into()),
        st.started.elapsed().as_secs_f64()
    ));
    f.render_widget(Paragraph::new(vec![Line::from(l1), l2]), inner);
}
