"""``inverse_variance``: 1/σ² weights scaled to a portfolio vol budget."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.policies import compute_target, inverse_variance, volatility_target
from bot.core.types import PeerView

from .support import INVERSE, LINEAR, D, all_finite, mids_from_returns, on_grid, state


def params(**overrides) -> inverse_variance.Params:
    fields = dict(target_vol=0.2, capital_usd=1_000_000, max_position=D("100000"), min_samples=5, vol_floor=0.01,
                  rebalance_band=0.0)
    fields.update(overrides)
    return inverse_variance.Params(**fields)


def peer(symbol: str = "ETH-PERP", vol: float | None = 0.8) -> PeerView:
    return PeerView(symbol, 3000.0, vol)


@pytest.mark.parametrize("correlation, expected_btc, weight", [
    # own σ 40 %, peer 80 %: 1/σ² = 6.25, 1.5625; budget 200 000 USD/yr
    (0.0, 0.2e6 / math.sqrt(7.8125) * 6.25 / 50_000, 0.8),  # √(178 885² + 89 443²) = 200 000
    (1.0, 0.2e6 / 3.75 * 6.25 / 50_000, 0.8),  # 133 333 + 66 667 = 200 000
])
def test_two_instruments_by_hand(correlation, expected_btc, weight) -> None:
    decision = compute_target(params(correlation=correlation), state(peers=(peer(),)))
    assert abs(float(decision.target) - expected_btc) <= 0.001 and on_grid(decision.target)
    assert decision.inputs["weight"] == pytest.approx(weight)
    assert decision.inputs["n_instruments"] == 2


def test_alone_it_is_the_volatility_target() -> None:
    common = dict(target_vol=0.2, capital_usd=1_000_000, max_position=D("100000"), min_samples=5)
    alone = compute_target(inverse_variance.Params(**common), state())
    assert alone.target == compute_target(volatility_target.Params(**common), state()).target == D("10")


def test_holds_until_every_vol_is_known() -> None:
    assert compute_target(params(), state(peers=(peer(vol=None),))) is None
    assert compute_target(params(universe=["SOL-PERP"]), state(peers=(peer(),))) is None
    assert compute_target(params(), state(mids_from_returns([0.01] * 3), peers=(peer(),))) is None
    assert compute_target(params(), state(mid=None, peers=(peer(),))) is None


def test_universe_picks_the_peers() -> None:
    peers = (peer(), peer("SOL-PERP", None))
    decision = compute_target(params(universe=["ETH-PERP"]), state(peers=peers))
    assert decision.inputs["n_instruments"] == 2


vols = st.floats(0.01, 5.0)


@settings(max_examples=100, deadline=None)
@given(peer_vols=st.lists(vols, min_size=0, max_size=5), peer_vol=vols, correlation=st.floats(0, 1))
def test_higher_peer_vol_never_shrinks_this_target_and_own_vol_does(peer_vols, peer_vol, correlation) -> None:
    p = params(correlation=correlation)
    peers = tuple(peer(f"P{i}", v) for i, v in enumerate(peer_vols))
    base = compute_target(p, state(peers=peers + (peer("X", peer_vol),)))
    riskier_peer = compute_target(p, state(peers=peers + (peer("X", 2 * peer_vol),)))
    riskier_self = compute_target(p, state(mids_from_returns([0.008, -0.008] * 15), peers=peers + (peer("X", peer_vol),)))
    assert riskier_peer.target >= base.target - LINEAR.lot_size
    assert riskier_self.target <= base.target


@settings(max_examples=100, deadline=None)
@given(peer_vols=st.lists(st.none() | st.floats(-1e300, 1e300), min_size=0, max_size=4),
       mid=st.floats(1e-6, 1e12), inverse=st.booleans(), correlation=st.floats(0, 1),
       mids=st.lists(st.floats(1e-6, 1e12), min_size=0, max_size=30))
def test_any_finite_input_gives_a_capped_grid_target_or_none(peer_vols, mid, inverse, correlation, mids) -> None:
    instrument = INVERSE if inverse else LINEAR
    peers = tuple(peer(f"P{i}", v) for i, v in enumerate(peer_vols))
    decision = compute_target(params(correlation=correlation, max_position=D("700")),
                              state(mids, instrument=instrument, mid=mid, peers=peers))
    if any(v is None for v in peer_vols) or len(mids) < 5:
        assert decision is None
        return
    assert abs(decision.target) <= D("700") and on_grid(decision.target, instrument)
    assert 0 <= decision.inputs["weight"] <= 1 and all_finite(decision.inputs)
