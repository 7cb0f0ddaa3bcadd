use soundproof::dsp::*;
use std::time::Instant;
fn main() {
    let n = 60 * 16000;
    let x: Vec<f32> = (0..n).map(|i| ((i as f32) * 0.05).sin() * 0.3 + ((i * 7919 % 1000) as f32) * 1e-4).collect();
    for kind in [FeatureKind::Stft, FeatureKind::Logmel, FeatureKind::Mfcc] {
        for b in [FftBackend::Microfft, FftBackend::Realfft] {
            let mut cfg = FeatureConfig::new(kind);
            cfg.fft_backend = b;
            let mut fe: Box<FrontEnd> = Box::new(FrontEnd::new(&cfg).unwrap());
            let mut best = f64::MAX;
            for _ in 0..7 {
                fe.reset();
                let mut acc = 0.0f32;
                let t = Instant::now();
                for c in x.chunks(160) { fe.push(c, |f| { acc += f[0]; Ok::<(), DspError>(()) }).unwrap(); }
                fe.finish(|f| { acc += f[0]; Ok::<(), DspError>(()) }).unwrap();
                let dt = t.elapsed().as_secs_f64();
                best = best.min(dt / fe.frames_emitted() as f64 * 1e6);
                std::hint::black_box(acc);
            }
            println!("{kind:?} {b:?}: {best:.3} us/frame");
        }
    }
}
