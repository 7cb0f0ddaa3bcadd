use soundproof::dsp::*;
use std::time::Instant;
fn t<F: FnMut()>(name: &str, iters: usize, mut f: F) {
    let mut best = f64::MAX;
    for _ in 0..15 { let s = Instant::now(); for _ in 0..iters { f(); } best = best.min(s.elapsed().as_secs_f64() / iters as f64); }
    println!("{name}: {:.3} us", best * 1e6);
}
fn main() {
    let frame: Vec<f32> = (0..1024).map(|i| ((i as f32) * 0.05).sin() * 0.3).collect();
    let p = StftParams::default();
    let mut fft = RealFft::new(1024, FftBackend::Realfft).unwrap();
    let mut buf = frame.clone(); let mut pw = vec![0f32; 513];
    t("fft+power realfft", 20000, || { buf.copy_from_slice(&frame); fft.power(&mut buf, &mut pw).unwrap(); std::hint::black_box(&pw); });
    let mut fftm = RealFft::new(1024, FftBackend::Microfft).unwrap();
    t("fft+power microfft", 20000, || { buf.copy_from_slice(&frame); fftm.power(&mut buf, &mut pw).unwrap(); std::hint::black_box(&pw); });
    let mut st: Stft = Stft::new(&p, FftBackend::Realfft).unwrap();
    t("stft realfft", 20000, || { st.power(&frame, &mut pw).unwrap(); std::hint::black_box(&pw); });
    let bank: MelFilterbank = MelFilterbank::new(16000, 1024, &MelParams::default()).unwrap();
    let mut mel = vec![0f32; 64];
    t("mel apply", 20000, || { bank.apply(&pw, &mut mel).unwrap(); std::hint::black_box(&mel); });
    let mut m2 = mel.clone();
    t("power_to_db 64", 20000, || { m2.copy_from_slice(&mel); soundproof::dsp::math::power_to_db(&mut m2, 1e-10); std::hint::black_box(&m2); });
    let mut lm: LogMel = LogMel::new(&p, &MelParams::default(), FftBackend::Realfft).unwrap();
    t("logmel realfft", 20000, || { lm.process(&frame, &mut mel).unwrap(); std::hint::black_box(&mel); });
    let mut mf: Mfcc = Mfcc::new(&p, &MelParams::default(), &MfccParams::default(), FftBackend::Realfft).unwrap();
    let mut c = vec![0f32; 20];
    t("mfcc realfft", 20000, || { mf.process(&frame, &mut c).unwrap(); std::hint::black_box(&c); });
}
