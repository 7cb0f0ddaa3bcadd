//! Scalar math for `no_std`: `libm` without std, the platform's (faster) routines with it.
//! Results may differ in the last bit between the two builds; within one build every path
//! (batch, streaming) uses the same routine, so they stay bit-identical.

#[cfg(feature = "std")]
#[inline]
pub fn log10f(x: f32) -> f32 {
    x.log10()
}
#[cfg(not(feature = "std"))]
#[inline]
pub fn log10f(x: f32) -> f32 {
    libm::log10f(x)
}

#[inline]
pub fn sqrtf(x: f32) -> f32 {
    libm::sqrtf(x)
}

#[inline]
pub fn cos(x: f64) -> f64 {
    libm::cos(x)
}
#[inline]
pub fn sin(x: f64) -> f64 {
    libm::sin(x)
}
#[inline]
pub fn exp(x: f64) -> f64 {
    libm::exp(x)
}
#[inline]
pub fn ln(x: f64) -> f64 {
    libm::log(x)
}
#[inline]
pub fn log10(x: f64) -> f64 {
    libm::log10(x)
}
#[inline]
pub fn sqrt(x: f64) -> f64 {
    libm::sqrt(x)
}
#[inline]
pub fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}
#[inline]
pub fn floor(x: f64) -> f64 {
    libm::floor(x)
}
