"""The stellar relations of the synthetic sky."""

from __future__ import annotations

import numpy as np
import pytest

from desa.sky.physics import bc_g, bv_from_teff, gyro_period, main_sequence


def test_sun_comes_out_solar() -> None:
    lum, radius, teff = main_sequence(np.array([1.0]), np.array([0.46]), np.array([0.0]))
    assert lum[0] == pytest.approx(1.0, rel=0.02)
    assert radius[0] == pytest.approx(1.0, rel=0.02)
    assert teff[0] == pytest.approx(5772, abs=60)
    assert bv_from_teff(np.array([5772.0]))[0] == pytest.approx(0.65, abs=0.02)
    assert 4.74 - bc_g(np.array([5772.0]))[0] == pytest.approx(4.68, abs=0.01)
    # Barnes 2007 gives the Sun ~26 d at 4.57 Gyr; older stars spin slower at fixed colour.
    assert gyro_period(np.array([0.65]), np.array([4.57]))[0] == pytest.approx(26.0, rel=0.05)
    periods = gyro_period(np.full(3, 0.9), np.array([0.5, 2.0, 8.0]))
    assert np.all(np.diff(periods) > 0)
