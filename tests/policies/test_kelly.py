"""kelly: binary and continuous forms, configured or estimated edges, shrinkage, caps."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.core.policies.kelly import Params, target, wilson_lower

from .support import check, make_state, specs, states

D = Decimal
WINS_20_LOSSES_10 = (100.0,) * 20 + (-50.0,) * 10


def binary(**kw) -> Params:
    fields = dict(form="binary", capital_usd=100_000, max_position="100")
    fields.update(kw)
    return Params(**fields)


def continuous(**kw) -> Params:
    fields = dict(form="continuous", capital_usd=100_000, max_position="100", min_samples=3)
    fields.update(kw)
    return Params(**fields)


def mids_from_returns(returns, start: float = 100.0) -> tuple[float, ...]:
    out = [start]
    for r in returns:
        out.append(out[-1] * math.exp(r))
    return tuple(out)


# -- binary ----------------------------------------------------------------------------------------

def test_binary_configured_by_hand() -> None:
    # f* = 0.6 − 0.4 / 1 = 0.2, half Kelly 0.1 of 100 000 = 10 000 USD notional = 0.2 BTC at 50 000
    d = target(binary(win_probability=0.6, payoff_ratio=1.0), make_state())
    assert d.inputs["f_star"] == pytest.approx(0.2) and d.target == D("0.2")
    # a 1 % stop: the 10 000 USD at risk is 1 % of a 1 000 000 USD notional = 20 BTC
    assert target(binary(win_probability=0.6, payoff_ratio=1.0, stop_bps=100), make_state()).target == D("20")
    assert target(binary(win_probability=0.6, payoff_ratio=1.0, direction="short"), make_state()).target == D("-0.2")


def test_binary_no_edge_no_bet() -> None:
    assert target(binary(win_probability=0.4, payoff_ratio=1.0), make_state()).target == 0


def test_binary_estimated_without_shrinkage() -> None:
    # p = 2/3, b = 100 / 50 = 2: f* = 2/3 − (1/3) / 2 = 0.5 → 50 000 USD = 1 BTC at full Kelly
    d = target(binary(fraction=1, shrink_k=0), make_state(pnls=WINS_20_LOSSES_10))
    assert d.inputs["f_star"] == pytest.approx(0.5) and d.target == D("1")


def test_binary_estimated_with_wilson_shrinkage() -> None:
    # Wilson lower bound of 20/30 at z = 2 is 0.484184 (by hand); b has no spread so stays 2
    p = wilson_lower(20, 30, 2.0)
    assert p == pytest.approx(0.484184, abs=1e-6)
    d = target(binary(fraction=1, shrink_k=2), make_state(pnls=WINS_20_LOSSES_10))
    assert d.inputs["f_star"] == pytest.approx(p - (1 - p) / 2)
    assert d.target == D("0.452")


def test_binary_payoff_shrinkage_uses_the_spread() -> None:
    pnls = (50.0, 150.0) * 10 + (-40.0, -60.0) * 5  # wins mean 100 sd 51.3, losses mean 50 sd 10.5
    d = target(binary(win_probability=0.6, shrink_k=1), make_state(pnls=pnls))
    sw, sl = math.sqrt(50 ** 2 * 20 / 19), math.sqrt(10 ** 2 * 10 / 9)
    expected_b = (100 - sw / math.sqrt(20)) / (50 + sl / math.sqrt(10))
    assert d.inputs["b"] == pytest.approx(expected_b) and d.inputs["b_raw"] == pytest.approx(2)


def test_binary_needs_data() -> None:
    assert target(binary(), make_state(pnls=WINS_20_LOSSES_10[:19])) is None  # min_trades 20
    assert target(binary(), make_state(pnls=(1.0,) * 19 + (-1.0,))) is None  # one loss: no payoff ratio
    assert target(binary(), make_state(pnls=(-1.0,) * 25)).target == 0  # no wins: no edge whatever b is
    assert target(binary(payoff_ratio=1.0), make_state(pnls=(0.0,) * 30)) is None  # scratches ignored
    assert target(binary(win_probability=0.6, payoff_ratio=1.0), make_state(mid=None)) is None
    assert target(binary(win_probability=0.6, payoff_ratio=1.0, capital_usd=None), make_state()) is None


def test_trade_window_uses_recent_trades() -> None:
    pnls = (-10.0,) * 50 + WINS_20_LOSSES_10
    d = target(binary(shrink_k=0, trade_window=30, min_trades=30), make_state(pnls=pnls))
    assert d.inputs["trades"] == 30 and d.inputs["p"] == pytest.approx(2 / 3)


# -- continuous ------------------------------------------------------------------------------------

def test_continuous_configured_by_hand() -> None:
    # f* = 0.3 / 0.36 = 0.8333, half → 0.41667 × 100 000 = 41 667 USD = 0.833 BTC at 50 000
    d = target(continuous(mu=0.3, sigma=0.6), make_state())
    assert d.inputs["f_star"] == pytest.approx(0.3 / 0.36) and d.target == D("0.833")
    # risk-free rate is subtracted: (0.3 − 0.12) / 0.36 = 0.5, half = 0.25 → 0.5 BTC
    assert target(continuous(mu=0.3, sigma=0.6, risk_free_rate=0.12), make_state()).target == D("0.5")


def test_continuous_sign_and_direction() -> None:
    assert target(continuous(mu=-0.3, sigma=0.6), make_state()).target == 0
    assert target(continuous(mu=-0.3, sigma=0.6, direction="both"), make_state()).target == D("-0.833")
    assert target(continuous(mu=0.3, sigma=0.6, direction="short"), make_state()).target == 0


def test_continuous_max_fraction_caps_leverage() -> None:
    # f* = 2 / 0.25 = 8, full Kelly capped at 2× equity = 200 000 USD = 4 BTC
    assert target(continuous(mu=2, sigma=0.5, fraction=1, max_fraction=2), make_state()).target == D("4")


def test_continuous_estimated_without_shrinkage_is_mean_over_variance() -> None:
    returns = [0.002, -0.001, 0.0015, -0.0005, 0.001, 0.0]
    mids = mids_from_returns(returns)
    mean = sum(returns) / len(returns)
    var = sum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
    d = target(continuous(fraction=1, shrink_k=0, max_fraction=10, sigma_floor=1e-6), make_state(mids=mids))
    assert d.inputs["f_star"] == pytest.approx(mean / var, rel=1e-6)


def test_continuous_shrinkage_never_increases_the_bet() -> None:
    mids = mids_from_returns([0.002, -0.001, 0.0015, -0.0005, 0.001, 0.0] * 5)
    sizes = [target(continuous(fraction=1, shrink_k=k, max_fraction=10, sigma_floor=1e-6, max_position="1e9"),
                    make_state(mids=mids)).target for k in (0, 0.5, 1, 2, 4)]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] == 0


def test_continuous_needs_samples_unless_configured() -> None:
    assert target(continuous(min_samples=5), make_state(mids=(1.0, 1.1, 1.2, 1.3))) is None
    assert target(continuous(mu=0.3, min_samples=5), make_state(mids=(1.0, 1.1, 1.2, 1.3))) is None
    assert target(continuous(mu=0.3, sigma=0.6), make_state(mids=())) is not None


def test_account_equity_is_used() -> None:
    d = target(continuous(mu=0.3, sigma=0.6), make_state(equity=200_000))
    assert d.target == D("1.666")


def test_validation() -> None:
    with pytest.raises(ValidationError, match="mu: not used by the binary form"):
        binary(mu=0.1)
    with pytest.raises(ValidationError, match="stop_bps, win_probability: not used by the continuous"):
        continuous(win_probability=0.5, stop_bps=100)
    with pytest.raises(ValidationError, match="direction"):
        binary(direction="both")
    with pytest.raises(ValidationError, match="min_trades"):
        binary(min_trades=50, trade_window=10)
    with pytest.raises(ValidationError):
        binary(win_probability=1.0)
    with pytest.raises(ValidationError):
        Params(capital_usd=1, max_position="1")  # form is required


# -- invariants ------------------------------------------------------------------------------------

PARAMS = (binary(), binary(win_probability=0.55, direction="short", stop_bps=50, min_trades=2),
          binary(payoff_ratio=1.5, shrink_k=0, min_trades=2, fraction=1, max_fraction=10),
          continuous(), continuous(mu=0.5, direction="both", shrink_k=0, max_fraction=10),
          continuous(mu=1.0, sigma=0.1, fraction=1, max_fraction=10, max_position="7.5"))


@settings(deadline=None, max_examples=300)
@given(states())
def test_invariants(state) -> None:
    for p in PARAMS:
        check(target(p, state), state.spec, p.max_position)


@settings(deadline=None, max_examples=200)
@given(specs, st.floats(0.01, 0.98), st.floats(0.001, 0.01), st.floats(0.05, 20), st.sampled_from([1, 100, 10_000]))
def test_binary_larger_edge_never_smaller_bet(spec, p, dp, b, stop_bps) -> None:
    state = make_state(spec=spec)
    size = lambda p_, b_: target(binary(win_probability=p_, payoff_ratio=b_, stop_bps=stop_bps), state).target
    assert size(p + dp, b) >= size(p, b)
    assert size(p, b * 1.1) >= size(p, b)


@settings(deadline=None, max_examples=200)
@given(specs, st.floats(-5, 5), st.floats(0.001, 2), st.floats(0.01, 3))
def test_continuous_larger_edge_never_smaller_bet(spec, mu, dmu, sigma) -> None:
    state = make_state(spec=spec)
    size = lambda m: target(continuous(mu=m, sigma=sigma, direction="both", max_position="1e6"), state).target
    assert size(min(mu + dmu, 10)) >= size(mu)


def test_rebalance_band() -> None:
    p = continuous(mu=0.3, sigma=0.6)  # 0.833 BTC
    assert target(p, make_state(target="0.8")).target == D("0.8")
    assert target(p, make_state(target="0.7")).target == D("0.833")
    assert target(continuous(mu=0.3, sigma=0.6, rebalance_band=0), make_state(target="0.8")).target == D("0.833")
