"""Reference values for `engine/src/stats` from scipy and statsmodels.

Prints one JSON object on stdout; `tests/tests/stats_parity.rs` runs this script and compares.
Every float is written as a string holding Python's repr (shortest round-trip form), so the
Rust side parses it with a correctly rounded parser and sees exactly the double scipy saw.

The grid is the one certification lives on (paper 003 §3): n from 100 to 100,000 samples,
nA anywhere from 0 to n (with the corners nA in {0, 1, n-1, n} and the region near n where
certificates are issued), alpha from 1e-6 to 0.05; plus generic shapes and probabilities for
the special functions and the far tails of the normal quantile.
"""

import json
import sys

import numpy as np
import scipy
import scipy.special as sp
import statsmodels
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

NS = [100, 1000, 10_000, 100_000]
NA = [0, 1, 2, 5, 10, 50, 99, 100, 500, 990, 999, 1000, 5000, 9000, 9900, 9990, 9999, 10_000,
      49_999, 50_000, 90_000, 99_000, 99_900, 99_990, 99_999, 100_000]
ALPHAS = [1e-6, 1e-3, 1e-2, 0.05]
# Probabilities for the quantiles: far tails on both sides, the usual levels, the centre.
PS = [1e-300, 1e-100, 1e-15, 1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-3, 0.01, 0.025, 0.05, 0.1,
      0.2, 0.3, 0.4, 0.45, 0.49, 0.5 - 1e-10, 0.5, 0.5 + 1e-10, 0.51, 0.55, 0.6, 0.7, 0.8,
      0.9, 0.95, 0.975, 0.99, 0.999, 1 - 1e-4, 1 - 1e-6, 1 - 1e-8, 1 - 1e-10, 1 - 1e-12]
BETA_PS = [1e-12, 1e-9, 1e-6, 1e-3, 0.01, 0.025, 0.05, 0.3, 0.5, 0.7, 0.95, 0.975, 0.99,
           1 - 1e-3, 1 - 1e-6, 1 - 1e-9, 1 - 1e-12]
GENERIC_SHAPES = [0.5, 1.0, 2.5, 10.0, 100.0, 1e3, 1e4, 1e5]
GENERIC_XS = [1e-12, 1e-6, 1e-3, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 0.999, 1 - 1e-6]
# Offsets from the mean in standard deviations: where the bounds of the grid fall.
ZS = [-8.0, -4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0, 8.0]
BINOM_PS = [0.5, 1e-4, 0.01, 0.3, 0.7, 0.9]
# (nA, nB) pairs as PREDICT sees them: n = nA + nB is any integer, often odd.
PREDICT_PAIRS = [(0, 1), (1, 0), (1, 1), (3, 0), (6, 4), (7, 3), (9, 1), (60, 40), (55, 45),
                 (51, 49), (70, 29), (520, 480), (530, 470), (600, 399), (5100, 4900),
                 (5050, 4950), (5001, 4999), (9000, 1000), (50_400, 49_600), (50_260, 49_740),
                 (99_000, 1000), (100_000, 0), (12_345, 6789)]


def f(v):
    return repr(float(v))


def polish(a, b, x, p, q):
    """Newton steps on scipy's own forward function from scipy's inverse.

    scipy.special.betaincinv (Boost's ibeta_inv) is occasionally off by up to ~1e-9 relative at
    a ~ 1e3, b ~ 1e5, p near 1: scipy's own betaincc at its answer misses q by 4e-8. The
    forward functions are accurate to ~1e-15, so a few Newton steps on them (on the side
    where the target is small, with q = 1 - p exact) give the inverse scipy's forward
    function implies. The parity test uses it only where scipy's raw inverse disagrees with it.
    """
    for _ in range(4):
        if not 0.0 < x < 1.0:
            return x
        d = stats.beta.pdf(x, a, b)
        if not (np.isfinite(d) and d > 0):
            return x
        r = sp.betainc(a, b, x) - p if p <= q else q - sp.betaincc(a, b, x)
        step = r / d
        x = x - step
        if abs(step) <= 1e-17 * x:
            break
    return x


def cp_grid():
    for n in NS:
        for k in NA:
            if k <= n:
                yield k, n


def main():
    out = {"versions": {"scipy": scipy.__version__, "statsmodels": statsmodels.__version__,
                        "numpy": np.__version__}}

    out["norm_ppf"] = [[f(p), f(sp.ndtri(p))] for p in PS]
    xs = [-38.0, -37.5, -30.0, -20.0, -10.0, -8.0, -6.0, -5.0, -3.0, -2.0, -1.0, -0.7, -0.5,
          -1e-3, 0.0, 1e-3, 0.5, 0.7, 1.0, 2.0, 3.0, 5.0, 8.0, 10.0]
    out["norm_cdf"] = [[f(x), f(stats.norm.cdf(x))] for x in xs]

    # Clopper-Pearson: two-sided at alpha (statsmodels), two-sided at 2 alpha (its lower side
    # is the one-sided lower bound at alpha), and scipy's own Beta quantiles for both sides.
    cp = []
    for k, n in cp_grid():
        for a in ALPHAS:
            lo, hi = proportion_confint(k, n, alpha=a, method="beta")
            lo2, _ = proportion_confint(k, n, alpha=2 * a, method="beta")
            one_lo = 0.0 if k == 0 else sp.betaincinv(k, n - k + 1, a)
            one_hi = 1.0 if k == n else sp.betaincinv(k + 1, n - k, 1 - a)
            pol_lo = 0.0 if k == 0 else polish(k, n - k + 1, one_lo, a, 1 - a)
            pol_hi = 1.0 if k == n else polish(k + 1, n - k, one_hi, 1 - a, 1 - (1 - a))
            # CERTIFY's radius at sigma = 1: Phi^-1(pA_lower); -inf when pA_lower = 0.
            radius = sp.ndtri(one_lo)
            cp.append([k, n, f(a), f(lo), f(hi), f(lo2), f(one_lo), f(one_hi), f(radius),
                       f(pol_lo), f(pol_hi)])
    out["clopper_pearson"] = cp

    shapes = set()
    for k, n in cp_grid():
        if k > 0:
            shapes.add((float(k), float(n - k + 1)))
        if k < n:
            shapes.add((float(k + 1), float(n - k)))
    for a in GENERIC_SHAPES:
        for b in GENERIC_SHAPES:
            shapes.add((a, b))
    shapes = sorted(shapes)

    inc = []
    for a, b in shapes:
        mean = a / (a + b)
        sd = (a * b / ((a + b) ** 2 * (a + b + 1))) ** 0.5
        pts = set(GENERIC_XS)
        for z in ZS:
            x = mean + z * sd
            if 0 < x < 1:
                pts.add(x)
        for x in sorted(pts):
            inc.append([f(a), f(b), f(x), f(sp.betainc(a, b, x)), f(sp.betaincc(a, b, x))])
    out["betainc"] = inc

    inv = []
    for a, b in shapes:
        for p in BETA_PS:
            x = sp.betaincinv(a, b, p)
            xc = sp.betainccinv(a, b, p)
            inv.append([f(a), f(b), f(p), f(x), f(xc),
                        f(polish(a, b, x, p, 1 - p)), f(polish(a, b, xc, 1 - p, p))])
    out["betaincinv"] = inv

    binom = []
    for k, n in cp_grid():
        for p in BINOM_PS:
            binom.append([k, n, f(p), f(stats.binom.pmf(k, n, p)), f(stats.binom.cdf(k, n, p)),
                          f(stats.binom.sf(k, n, p))])
    out["binom"] = binom

    tests = []
    cases = set(cp_grid()) | {(a, a + b) for a, b in PREDICT_PAIRS}
    for k, n in sorted(cases):
        for p in BINOM_PS:
            r2 = stats.binomtest(k, n, p, alternative="two-sided").pvalue
            rl = stats.binomtest(k, n, p, alternative="less").pvalue
            rg = stats.binomtest(k, n, p, alternative="greater").pvalue
            tests.append([k, n, f(p), f(r2), f(rl), f(rg)])
    out["binomtest"] = tests

    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
