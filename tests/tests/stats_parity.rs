//! Parity of `soundproof::stats` with scipy and statsmodels on the certification grid.
//!
//! `tests/reference/stats_ref.py` computes every reference value at test time (scipy's
//! `ndtri`, `norm.cdf`, `betainc(c)`, `betainc(c)inv`, `binom.*`, `binomtest`; statsmodels'
//! `proportion_confint(method="beta")`); nothing is pasted here. Tolerance: relative error
//! ≤ 1e-10, except where the reference is ~0, where the same check is absolute: below 1e-300
//! for probabilities (the underflow range) and below 1e-12 for Φ⁻¹ values and radii (which
//! cross 0 at p = ½, where a relative error means nothing). Every failure names its point;
//! each test prints the largest error it saw (`--nocapture` to read them).
//!
//! Beta quantiles: scipy's `betaincinv` (Boost's `ibeta_inv`) is itself off by up to ~1e-9 at
//! a few points of this grid (a ≈ 1e3, b ≈ 1e5, p near 1; scipy's own `betaincc` at its answer
//! misses the target by 4e-8, cf. scipy issues #12794 and #12796). The script therefore also
//! sends scipy's answer polished by Newton steps on scipy's own forward function. A quantile
//! is compared with scipy's raw value; only where that raw value is more than 1e-10 from its
//! polished form is the comparison made with the polished value instead, and the point is
//! listed in the output.

use std::fmt::Write as _;
use std::sync::OnceLock;

use serde_json::Value;
use soundproof::stats;
use soundproof_tests::run_reference;

const REL: f64 = 1e-10;
/// Absolute floor for probabilities: values below this are treated as ~0.
const TINY: f64 = 1e-300;
/// Absolute floor for quantities that cross zero (Φ⁻¹ near ½, radii).
const NEAR_ZERO: f64 = 1e-12;

fn reference() -> &'static Value {
    static REF: OnceLock<Value> = OnceLock::new();
    REF.get_or_init(|| {
        let out = run_reference("stats_ref.py", &[]);
        serde_json::from_str(&out).expect("stats_ref.py printed invalid JSON")
    })
}

fn rows(name: &str) -> &'static [Value] {
    reference()[name].as_array().unwrap_or_else(|| panic!("reference has no array {name}"))
}

/// Floats travel as Python repr strings so they parse to the exact double scipy used.
fn num(v: &Value) -> f64 {
    let s = v.as_str().unwrap_or_else(|| panic!("expected a float string, got {v}"));
    s.parse().unwrap_or_else(|_| panic!("unparsable float {s}"))
}

fn int(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("expected an integer, got {v}"))
}

/// Collects comparisons of one function and fails with every point out of tolerance.
struct Parity {
    name: &'static str,
    points: usize,
    max_rel: f64,
    max_rel_at: String,
    max_abs: f64,
    failures: Vec<String>,
    scipy_off: Vec<String>,
}

impl Parity {
    fn new(name: &'static str) -> Self {
        Parity {
            name,
            points: 0,
            max_rel: 0.0,
            max_rel_at: String::new(),
            max_abs: 0.0,
            failures: Vec::new(),
            scipy_off: Vec::new(),
        }
    }

    /// Compares `got` with `want`: relative `rel`, or absolute `floor` where |want| < floor.
    fn check(&mut self, point: &str, got: f64, want: f64, rel: f64, floor: f64) {
        self.points += 1;
        if got == want || (got.is_nan() && want.is_nan()) {
            return;
        }
        if !got.is_finite() || !want.is_finite() {
            self.failures.push(format!("{point}: got {got:e}, scipy {want:e}"));
            return;
        }
        let err = (got - want).abs();
        if want.abs() < floor {
            self.max_abs = self.max_abs.max(err);
            if err > floor {
                self.failures
                    .push(format!("{point}: got {got:e}, scipy {want:e} (absolute error {err:.3e} > {floor:e})"));
            }
            return;
        }
        let r = err / want.abs();
        if r > self.max_rel {
            self.max_rel = r;
            self.max_rel_at = point.to_string();
        }
        if r > rel {
            self.failures.push(format!("{point}: got {got:e}, scipy {want:e} (relative error {r:.3e} > {rel:e})"));
        }
    }

    /// Compares a Beta quantile with scipy's raw answer, or with its polished form where
    /// scipy's raw answer does not solve scipy's own forward equation to 1e-10.
    fn check_quantile(&mut self, point: &str, got: f64, raw: f64, polished: f64) {
        let scipy_err = if raw == polished { 0.0 } else { (raw - polished).abs() / polished.abs() };
        if scipy_err > REL {
            let ours = (got - polished).abs() / polished.abs();
            self.scipy_off.push(format!(
                "{point}: scipy {raw:e} is {scipy_err:.2e} from its polished {polished:e}; ours {got:e} is {ours:.2e} from it"
            ));
            self.check(point, got, polished, REL, TINY);
        } else {
            self.check(point, got, raw, REL, TINY);
        }
    }

    fn fail(&mut self, point: &str, msg: impl std::fmt::Display) {
        self.points += 1;
        self.failures.push(format!("{point}: {msg}"));
    }

    fn finish(self) {
        eprintln!(
            "{}: {} points, max relative error {:.3e} (at {}), max absolute error near 0 {:.3e}",
            self.name, self.points, self.max_rel, self.max_rel_at, self.max_abs
        );
        for s in &self.scipy_off {
            eprintln!("  compared with polished scipy: {s}");
        }
        if !self.failures.is_empty() {
            let mut msg =
                format!("{}: {} of {} points out of tolerance:\n", self.name, self.failures.len(), self.points);
            for f in self.failures.iter().take(40) {
                let _ = writeln!(msg, "  {f}");
            }
            panic!("{msg}");
        }
    }
}

#[test]
fn norm_ppf_matches_scipy_ndtri() {
    let mut c = Parity::new("norm_ppf vs scipy.special.ndtri");
    for r in rows("norm_ppf") {
        let (p, want) = (num(&r[0]), num(&r[1]));
        let point = format!("p = {p:e}");
        match stats::norm_ppf(p) {
            Ok(got) => c.check(&point, got, want, REL, NEAR_ZERO),
            Err(e) => c.fail(&point, e),
        }
    }
    c.finish();
}

#[test]
fn norm_cdf_matches_scipy() {
    let mut c = Parity::new("norm_cdf vs scipy.stats.norm.cdf");
    for r in rows("norm_cdf") {
        let (x, want) = (num(&r[0]), num(&r[1]));
        c.check(&format!("x = {x}"), stats::norm_cdf(x), want, REL, TINY);
    }
    c.finish();
}

#[test]
fn betainc_matches_scipy() {
    let mut inc = Parity::new("betainc vs scipy.special.betainc");
    let mut incc = Parity::new("betaincc vs scipy.special.betaincc");
    for r in rows("betainc") {
        let (a, b, x) = (num(&r[0]), num(&r[1]), num(&r[2]));
        let point = format!("a = {a}, b = {b}, x = {x:e}");
        match stats::betainc(a, b, x) {
            Ok(got) => inc.check(&point, got, num(&r[3]), REL, TINY),
            Err(e) => inc.fail(&point, e),
        }
        match stats::betaincc(a, b, x) {
            Ok(got) => incc.check(&point, got, num(&r[4]), REL, TINY),
            Err(e) => incc.fail(&point, e),
        }
    }
    inc.finish();
    incc.finish();
}

#[test]
fn betaincinv_matches_scipy() {
    let mut inv = Parity::new("betaincinv vs scipy.special.betaincinv");
    let mut invc = Parity::new("betainccinv vs scipy.special.betainccinv");
    for r in rows("betaincinv") {
        let (a, b, p) = (num(&r[0]), num(&r[1]), num(&r[2]));
        let point = format!("a = {a}, b = {b}, p = {p:e}");
        match stats::betaincinv(a, b, p) {
            Ok(got) => inv.check_quantile(&point, got, num(&r[3]), num(&r[5])),
            Err(e) => inv.fail(&point, e),
        }
        match stats::betainccinv(a, b, p) {
            Ok(got) => invc.check_quantile(&point, got, num(&r[4]), num(&r[6])),
            Err(e) => invc.fail(&point, e),
        }
    }
    inv.finish();
    invc.finish();
}

#[test]
fn clopper_pearson_matches_scipy_and_statsmodels() {
    let mut lower = Parity::new("clopper_pearson_lower vs scipy betaincinv(k, n-k+1, alpha)");
    let mut lower_sm = Parity::new("clopper_pearson_lower(alpha) vs statsmodels lower at 2 alpha");
    let mut upper = Parity::new("clopper_pearson_upper vs scipy betaincinv(k+1, n-k, 1-alpha)");
    let mut interval = Parity::new("clopper_pearson_interval vs statsmodels proportion_confint beta");
    let mut radius = Parity::new("norm_ppf(pA_lower) vs scipy ndtri(betaincinv) (CERTIFY radius, sigma = 1)");
    for r in rows("clopper_pearson") {
        let (k, n, alpha) = (int(&r[0]), int(&r[1]), num(&r[2]));
        let (sm_lo, sm_hi, sm_lo2) = (num(&r[3]), num(&r[4]), num(&r[5]));
        let (sp_lo, sp_hi, sp_radius) = (num(&r[6]), num(&r[7]), num(&r[8]));
        let (pol_lo, pol_hi) = (num(&r[9]), num(&r[10]));
        let point = format!("k = {k}, n = {n}, alpha = {alpha:e}");
        match stats::clopper_pearson_lower(k, n, alpha) {
            Ok(lo) => {
                lower.check_quantile(&point, lo, sp_lo, pol_lo);
                lower_sm.check(&point, lo, sm_lo2, REL, TINY);
                match stats::norm_ppf(lo) {
                    Ok(rad) => radius.check(&point, rad, sp_radius, REL, NEAR_ZERO),
                    Err(e) => radius.fail(&point, e),
                }
            }
            Err(e) => lower.fail(&point, e),
        }
        match stats::clopper_pearson_upper(k, n, alpha) {
            Ok(hi) => upper.check_quantile(&point, hi, sp_hi, pol_hi),
            Err(e) => upper.fail(&point, e),
        }
        match stats::clopper_pearson_interval(k, n, alpha) {
            Ok((lo, hi)) => {
                interval.check(&format!("{point}, lower"), lo, sm_lo, 1e-9, TINY);
                interval.check(&format!("{point}, upper"), hi, sm_hi, 1e-9, TINY);
            }
            Err(e) => interval.fail(&point, e),
        }
    }
    lower.finish();
    lower_sm.finish();
    upper.finish();
    interval.finish();
    radius.finish();
}

#[test]
fn binomial_distribution_matches_scipy() {
    let mut pmf = Parity::new("binom_pmf vs scipy.stats.binom.pmf");
    let mut cdf = Parity::new("binom_cdf vs scipy.stats.binom.cdf");
    let mut sf = Parity::new("binom_sf vs scipy.stats.binom.sf");
    for r in rows("binom") {
        let (k, n, p) = (int(&r[0]), int(&r[1]), num(&r[2]));
        let point = format!("k = {k}, n = {n}, p = {p}");
        for (c, got, want) in [
            (&mut pmf, stats::binom_pmf(k, n, p), num(&r[3])),
            (&mut cdf, stats::binom_cdf(k, n, p), num(&r[4])),
            (&mut sf, stats::binom_sf(k, n, p), num(&r[5])),
        ] {
            match got {
                Ok(g) => c.check(&point, g, want, REL, TINY),
                Err(e) => c.fail(&point, e),
            }
        }
    }
    pmf.finish();
    cdf.finish();
    sf.finish();
}

#[test]
fn binomial_tests_match_scipy_binomtest() {
    let mut two = Parity::new("binom_test_two_sided vs scipy.stats.binomtest two-sided");
    let mut less = Parity::new("binom_test_less vs scipy.stats.binomtest less");
    let mut greater = Parity::new("binom_test_greater vs scipy.stats.binomtest greater");
    for r in rows("binomtest") {
        let (k, n, p) = (int(&r[0]), int(&r[1]), num(&r[2]));
        let point = format!("k = {k}, n = {n}, p = {p}");
        for (c, got, want) in [
            (&mut two, stats::binom_test_two_sided(k, n, p), num(&r[3])),
            (&mut less, stats::binom_test_less(k, n, p), num(&r[4])),
            (&mut greater, stats::binom_test_greater(k, n, p), num(&r[5])),
        ] {
            match got {
                Ok(g) => c.check(&point, g, want, REL, TINY),
                Err(e) => c.fail(&point, e),
            }
        }
    }
    two.finish();
    less.finish();
    greater.finish();
}
