"""Relative accuracy of the normalised Black function against 60-digit references (mpmath)."""

import numpy as np
import pytest

from bot.core.greeks.normalised import otm_black, otm_vega

# (a = -|ln F/K|, s = sigma sqrt(T), b(a, s)) computed with mpmath at 60 digits.
REFERENCE = [
    (-0.1, 0.01, 7.4744685724967291e-27),
    (-0.001, 0.001, 8.3315463977051015e-5),
    (-1.0, 0.05, 6.8479326806906497e-92),
    (-0.5, 0.05, 3.7361342698631207e-26),
    (-0.01, 0.0005, 6.8500622606354905e-94),
    (-5.0, 0.2, 2.4254749210153428e-140),
    (-3.0, 0.3, 2.2177499398729317e-25),
    (-2.0, 1.0, 0.0076973754531460922),
    (-0.2, 0.1, 0.0008482361813871328),
    (0.0, 0.001, 0.00039894226377883829),
    (-0.05, 3.0, 0.84170772004149913),
]


@pytest.mark.parametrize("a,s,expected", REFERENCE)
def test_otm_black_relative_accuracy(a, s, expected):
    assert otm_black(np.array([a]), np.array([s]))[0] == pytest.approx(expected, rel=1e-12)


def test_plain_formula_would_fail_here():
    # the check above is not vacuous: the textbook formula loses digits on these cases
    from scipy.special import ndtr

    a, s, expected = REFERENCE[4]
    plain = np.exp(a / 2) * ndtr(a / s + s / 2) - np.exp(-a / 2) * ndtr(a / s - s / 2)
    assert abs(plain / expected - 1) > 1e-10


def test_vega_is_derivative():
    a = np.array([-0.3, -0.01, 0.0])
    s = np.array([0.2, 0.05, 1.0])
    h = 1e-6
    fd = (otm_black(a, s + h) - otm_black(a, s - h)) / (2 * h)
    np.testing.assert_allclose(otm_vega(a, s), fd, rtol=1e-7)
    assert otm_vega(np.array([-1.0]), np.array([0.0]))[0] == 0.0


def test_rough_mode_and_vega_from_one_pass():
    from bot.core.greeks.normalised import otm_black_and_vega

    rng = np.random.default_rng(2)
    a = -np.abs(rng.standard_normal(20000) * rng.choice([1e-3, 0.3, 1.0, 5.0], 20000))
    s = np.exp(rng.uniform(np.log(1e-3), np.log(20.0), 20000))
    b, vega = otm_black_and_vega(a, s)
    assert np.array_equal(b, otm_black(a, s))
    np.testing.assert_allclose(vega, otm_vega(a, s), rtol=1e-14, atol=1e-300)
    rough, rough_vega = otm_black_and_vega(a, s, rough=True)
    assert np.array_equal(rough_vega, vega)
    live = b > 1e-290
    assert np.max(np.abs(rough[live] / b[live] - 1)) < 1e-7
