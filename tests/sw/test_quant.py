"""accss3d.quant: the integer contract (wrap, round half up, ReLU, saturation)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accss3d.errors import ConfigError
from accss3d.quant import Requant, saturate, wrap


def test_wrap_and_saturate():
    np.testing.assert_array_equal(wrap([127, 128, -129, 256], 8), [127, -128, 127, 0])
    np.testing.assert_array_equal(saturate([300, -300, 5], 8), [127, -128, 5])


def test_round_half_up_ties():
    rq = Requant(multiplier=1, shift=1)
    # x / 2 with ties towards +infinity: 1 -> 1, -1 -> 0, 3 -> 2, -3 -> -1
    np.testing.assert_array_equal(rq.apply([1, -1, 3, -3, 2]), [1, 0, 2, -1, 1])


@given(
    acc=st.integers(-(2**31), 2**31 - 1),
    mult=st.integers(0, 2**16 - 1),
    shift=st.integers(0, 47),
    relu=st.booleans(),
)
def test_requant_matches_exact_rationals(acc, mult, shift, relu):
    import math
    from fractions import Fraction

    rq = Requant(mult, shift, relu)
    exact = Fraction(acc * mult, 2**shift)
    y = math.floor(exact + Fraction(1, 2))  # round half up
    if relu:
        y = max(y, 0)
    y = min(max(y, -128), 127)
    assert int(rq.apply(np.array([acc]))[0]) == y


@pytest.mark.parametrize("scale", [1.0, 0.5, 1e-3, 3.7e-6, 123.456])
def test_from_scale_is_close(scale):
    rq = Requant.from_scale(scale)
    assert rq.scale == pytest.approx(scale, rel=2**-15)
    assert 2**15 <= rq.multiplier < 2**16


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(multiplier=-1, shift=0), r"multiplier must be in \[0, 2\^16\), not -1"),
        (dict(multiplier=1 << 16, shift=0), r"multiplier must be in \[0, 2\^16\), not 65536"),
        (dict(multiplier=1, shift=48), r"shift must be in \[0, 48\), not 48"),
        (dict(multiplier=1.5, shift=0), r"multiplier must be an integer, not 1\.5"),
    ],
)
def test_requant_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        Requant(**kwargs)
    with pytest.raises(ConfigError, match=r"scale must be positive and finite"):
        Requant.from_scale(float("nan"))
