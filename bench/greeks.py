"""Greeks engine benchmark: throughput and agreement, side by side with py_vollib and QuantLib.

Run on one core:  python bench/greeks.py [N]   (N random options, default 1,000,000)
Needs the extras in bench/requirements.txt.  Not a test: prints a Markdown table.

* Greeks: Black-76 price + delta, gamma, vega, theta, rho, vanna, volga, charm
  for all N options in one vectorised call.
* Implied vol: the N prices back to vols.
* py_vollib (pure Python, per option) is timed on a sample of 5,000 in
  rounds interleaved with ours (ours, then py_vollib, for each task, ROUNDS
  times), so that the ratio compares the two under the same machine load;
  each rate is its best round, and the per-round ratios are printed too.
  QuantLib (C++ through SWIG, per option) is timed on 20,000 (best of 3
  passes).  Inputs to both are Python floats, converted beforehand, so that
  neither pays for numpy scalars.
* Agreement: largest relative difference from QuantLib's BlackCalculator
  (price, forward delta and gamma, vega) and from its implied vol, over the
  sample, where both are defined and the value is not negligible
  (|value| > 1e-10 of the forward, and vega above 1e-6 of the forward for
  implied vol, where the vol is determined by the price at all).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.core.greeks import black76, black76_price, implied_vol_black76  # noqa: E402

RATE = 0.03
SEED = 20240601
ROUNDS = 5  # interleaved timing rounds (ours, then py_vollib)


def options(n: int, rng: np.random.Generator):
    """Random book: forward 100, log-moneyness N(0, 0.3) clipped to +-1.5, 1 day..2 years, vol 5..200 %."""
    f = np.full(n, 100.0)
    k = f * np.exp(np.clip(rng.normal(0.0, 0.3, n), -1.5, 1.5))
    t = rng.uniform(1.0 / 365, 2.0, n)
    vol = rng.uniform(0.05, 2.0, n)
    call = rng.uniform(size=n) < 0.5
    return f, k, t, vol, call


def best_of(runs: int, fn) -> float:
    best = np.inf
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def per_option_rate(sample: int, fn, runs: int = 3) -> float:
    """Options per second of ``fn(i)`` called for i < sample, best of ``runs`` passes."""
    return sample / best_of(runs, lambda: [fn(i) for i in range(sample)])


def pv_mode() -> str:
    """Whether py_vollib's implied vol (Jäckel's LetsBeRational) runs compiled by numba or as pure Python."""
    try:
        from py_lets_be_rational import numba_helper

        compiled = callable(numba_helper.jit) and numba_helper._numba_enabled()
    except (ImportError, AttributeError):
        compiled = False
    return "numba-compiled" if compiled else "pure Python"


def max_rel(a, b, mask) -> float:
    a, b = np.asarray(a)[mask], np.asarray(b)[mask]
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))))


def reference(f, k, t, vol, call, which):
    """40-digit price (which=0) or forward delta (which=1) with mpmath, to arbitrate disagreements."""
    import mpmath as mp

    mp.mp.dps = 40
    f, k, t, vol = (mp.mpf(float(v)) for v in (f, k, t, vol))
    s = vol * mp.sqrt(t)
    d1 = (mp.log(f / k) + s * s / 2) / s
    d2 = d1 - s
    df = mp.exp(-mp.mpf(RATE) * t)
    if call:
        value = (df * (f * mp.ncdf(d1) - k * mp.ncdf(d2)), df * mp.ncdf(d1))[which]
    else:
        value = (df * (k * mp.ncdf(-d2) - f * mp.ncdf(-d1)), -df * mp.ncdf(-d1))[which]
    return float(value)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rng = np.random.default_rng(SEED)
    f, k, t, vol, call = options(n, rng)
    price = black76_price(f, k, t, vol, RATE, call)
    rows = []

    sample = min(n, 20_000)
    idx = rng.choice(n, sample, replace=False)
    fs, ks, ts, vs, cs, ps = f[idx], k[idx], t[idx], vol[idx], call[idx], price[idx]
    ours_s = black76(fs, ks, ts, vs, RATE, cs)
    ours_iv_s = implied_vol_black76(ps, fs, ks, ts, RATE, cs).vol
    # Python floats for the per-option libraries
    fl, kl, tl, vl, pl = (v.tolist() for v in (fs, ks, ts, vs, ps))

    ours = {
        "greeks": lambda: black76(f, k, t, vol, RATE, call),
        "iv": lambda: implied_vol_black76(price, f, k, t, RATE, call),
    }
    for fn in ours.values():
        fn()  # warm up allocations
    theirs = {}
    pv_sample = min(sample, 5_000)
    try:
        import py_vollib.black as pv_black
        import py_vollib.black.greeks.analytical as pv_greeks
        import py_vollib.black.implied_volatility as pv_iv

        flags = ["c" if c else "p" for c in cs]

        def pv_all(i):
            args = (flags[i], fl[i], kl[i], tl[i], RATE, vl[i])
            pv_black.black(*args)
            for greek in (pv_greeks.delta, pv_greeks.gamma, pv_greeks.vega, pv_greeks.theta, pv_greeks.rho):
                greek(*args)

        def pv_implied(i):
            pv_iv.implied_volatility(pl[i], fl[i], kl[i], RATE, tl[i], flags[i])

        theirs = {
            "greeks": lambda: [pv_all(i) for i in range(pv_sample)],
            "iv": lambda: [pv_implied(i) for i in range(pv_sample)],
        }
    except ImportError:
        pass

    # Interleaved rounds: each times ours and then py_vollib on the same task, so that the ratio
    # compares the two under the same load (the machine may be shared); rates are the best round's.
    rates = {(who, task): [] for who in ("ours", "py_vollib") for task in ours}
    for _ in range(ROUNDS):
        for task in ours:
            rates["ours", task].append(n / best_of(1, ours[task]))
            if task in theirs:
                rates["py_vollib", task].append(pv_sample / best_of(1, theirs[task]))
    ours_greeks, ours_iv = max(rates["ours", "greeks"]), max(rates["ours", "iv"])
    per_round = {
        task: [a / b for a, b in zip(rates["ours", task], rates["py_vollib", task], strict=False)] for task in ours
    }

    iv = implied_vol_black76(price, f, k, t, RATE, call)
    back = black76_price(f, k, t, iv.vol, RATE, call)
    tv = price - np.exp(-RATE * t) * np.maximum(np.where(call, f - k, k - f), 0.0)
    live = tv > 1e-250
    round_trip = float(np.max(np.abs(back - price)[live] / tv[live]))
    rows.append(("scalebot (numpy, vectorised)", ours_greeks, ours_iv, "", ""))
    if theirs:
        pv_greeks_rate, pv_iv_rate = max(rates["py_vollib", "greeks"]), max(rates["py_vollib", "iv"])
        rows.append((f"py_vollib ({pv_mode()}, per option; 5 Greeks)", pv_greeks_rate, pv_iv_rate, "", ""))
    else:
        pv_greeks_rate = pv_iv_rate = np.nan

    import QuantLib as ql

    discount = np.exp(-RATE * ts).tolist()
    std = (vs * np.sqrt(ts)).tolist()
    kinds = [ql.Option.Call if c else ql.Option.Put for c in cs]
    payoffs = [ql.PlainVanillaPayoff(kind, kk) for kind, kk in zip(kinds, kl, strict=True)]
    ql_vals = np.empty((sample, 4))

    def ql_all(i):
        calc = ql.BlackCalculator(payoffs[i], fl[i], std[i], discount[i])
        ql_vals[i] = (calc.value(), calc.deltaForward(), calc.gammaForward(), calc.vega(tl[i]))
        calc.theta(fl[i], tl[i])
        calc.rho(tl[i])

    ql_greeks_rate = per_option_rate(sample, ql_all)
    ql_iv = np.full(sample, np.nan)

    def ql_implied(i):
        try:
            ql_iv[i] = ql.blackFormulaImpliedStdDev(
                kinds[i], kl[i], fl[i], pl[i], discount[i], 0.0, ql.nullDouble(), 1e-14, 200,
            ) / tl[i] ** 0.5
        except RuntimeError:
            pass

    ql_iv_rate = per_option_rate(sample, ql_implied)

    ours_cols = (ours_s.price, ours_s.delta, ours_s.gamma, ours_s.vega)
    names = ("price", "delta", "gamma", "vega")
    scales = (fs, 1.0, 1.0 / fs, fs)
    diffs, diffs_large, arbitration = [], [], []
    for j, (mine, scale) in enumerate(zip(ours_cols, scales, strict=True)):
        theirs = ql_vals[:, j]
        defined = np.isfinite(theirs) & (np.abs(theirs) > 1e-10 * scale)
        diffs.append(max_rel(mine, theirs, defined))
        diffs_large.append(max_rel(mine, theirs, np.isfinite(theirs) & (np.abs(theirs) > 1e-6 * scale)))
        if j < 2:
            rel = np.where(defined, np.abs(mine - theirs) / np.maximum(np.abs(theirs), 1e-300), 0.0)
            i = int(np.argmax(rel))
            arbitration.append((names[j], i, reference(fs[i], ks[i], ts[i], vs[i], bool(cs[i]), j), mine[i], theirs[i]))
    iv_defined = np.isfinite(ql_iv) & np.isfinite(ours_iv_s) & (ours_s.vega > 1e-6 * fs)
    iv_diff = max_rel(ours_iv_s, ql_iv, iv_defined)
    rows.append(
        (
            "QuantLib BlackCalculator (per option)",
            ql_greeks_rate,
            ql_iv_rate,
            "all: price %.1e, delta %.1e, gamma %.1e, vega %.1e" % tuple(diffs)
            + "; value > 1e-6 of scale: price %.1e, delta %.1e, gamma %.1e, vega %.1e" % tuple(diffs_large),
            "%.1e" % iv_diff,
        )
    )

    print(f"N = {n:,} random Black-76 options, one core; sample of {sample:,} for per-option libraries\n")
    print("| implementation | Greeks options/s | implied vol options/s | max rel diff ours vs QuantLib | IV rel diff |")
    print("|---|---:|---:|---|---:|")
    for name, g_rate, i_rate, d1, d2 in rows:
        print(f"| {name} | {g_rate:,.0f} | {i_rate:,.0f} | {d1} | {d2} |")
    print()
    spread = {task: f" (rounds x{min(r):,.0f}-x{max(r):,.0f})" if r else "" for task, r in per_round.items()}
    print(f"scalebot / py_vollib per-option throughput, best round each, {ROUNDS} interleaved rounds: "
          f"Greeks x{ours_greeks / pv_greeks_rate:,.0f}{spread['greeks']}, "
          f"implied vol x{ours_iv / pv_iv_rate:,.0f}{spread['iv']}")
    print(f"scalebot / QuantLib per-option throughput: Greeks x{ours_greeks / ql_greeks_rate:,.1f}, "
          f"implied vol x{ours_iv / ql_iv_rate:,.1f}")
    for name, i, ref, mine, theirs in arbitration:
        print(f"largest {name} disagreement (sample row {i}): mpmath 40 digits {ref:.16e}, "
              f"scalebot {mine:.16e} (rel {abs(mine / ref - 1):.1e}), QuantLib {theirs:.16e} "
              f"(rel {abs(theirs / ref - 1):.1e})")
    print(f"implied vol round trip over all N: max |price(iv) - price| / time value = {round_trip:.1e}")
    print(f"targets: Greeks >= 3,000,000/s: {'met' if ours_greeks >= 3e6 else 'MISSED'}; "
          f"implied vol >= 1,000,000/s: {'met' if ours_iv >= 1e6 else 'MISSED'}; "
          f">= 50x py_vollib: {'met' if min(ours_greeks / pv_greeks_rate, ours_iv / pv_iv_rate) >= 50 else 'MISSED'}; "
          f"QuantLib within 1e-10 everywhere: {'met' if max(diffs + [iv_diff]) <= 1e-10 else 'MISSED'}, "
          f"where values exceed 1e-6 of scale: {'met' if max(diffs_large + [iv_diff]) <= 1e-10 else 'MISSED'}")


if __name__ == "__main__":
    main()
