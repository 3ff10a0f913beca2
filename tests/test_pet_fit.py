"""The PET-scale estimate (sert_cli/pet_fit.py) on data whose answer is known."""

import math

import pytest

from sert_cli import pet_fit


def _observation(pair, load, observed, se=0.02, plateau=0, study=None):
    return pet_fit.Observation(
        pair=pair,
        study=pair if study is None else study,
        plateau=plateau,
        fixed_plateau=1.0,
        load_in_vitro=load,
        observed=observed,
        standard_error=se,
    )


def _theta(load, scale, emax):
    x = load / scale
    return emax * x / (1 + x)


def test_noise_free_points_give_back_the_constants_and_the_plateau():
    """Two drugs, one shared plateau of 0.86: scales 2 and 0.5 come back exactly."""
    truth = {0: 2.0, 1: 0.5}
    observations = [
        _observation(pair, load, _theta(load, scale, 0.86))
        for pair, scale in truth.items()
        for load in (0.3 * scale, scale, 3 * scale, 30 * scale)
    ]
    estimate = pet_fit.estimate(observations, 2, 1, [0.0, 0.0])
    assert math.exp(estimate.log_scale[0]) == pytest.approx(2.0, rel=1e-3)
    assert math.exp(estimate.log_scale[1]) == pytest.approx(0.5, rel=1e-3)
    assert estimate.plateau[0] == pytest.approx(0.86, abs=1e-3)
    for (low, high), scale in zip(estimate.scale_interval, truth.values(), strict=True):
        assert 0 < low < scale < high < math.inf


def test_one_point_with_a_fixed_plateau_is_solved_by_hand():
    """theta = E x / (1 + x) with E fixed at 0.85 and 68 % observed: x = 0.68/0.17 = 4, so
    the scale is the load / 4."""
    observation = pet_fit.Observation(
        pair=0,
        study=0,
        plateau=None,
        fixed_plateau=0.85,
        load_in_vitro=10.0,
        observed=0.68,
        standard_error=0.03,
    )
    estimate = pet_fit.estimate([observation, observation], 1, 0, [0.0], profiled=frozenset())
    assert math.exp(estimate.log_scale[0]) == pytest.approx(10.0 / 4, rel=1e-3)


def test_points_on_the_plateau_leave_the_constant_open():
    """A drug seen only far up the plateau (its points say 'much more potent than x',
    never how much) gets an interval open below: every output then calls it assumed."""
    anchor = [_observation(0, load, _theta(load, 1.0, 0.86)) for load in (0.3, 1.0, 3.0, 30.0)]
    flat = [_observation(1, load, 0.855, se=0.03) for load in (500.0, 1000.0)]
    estimate = pet_fit.estimate(anchor + flat, 2, 1, [0.0, 0.0])
    low, high = estimate.scale_interval[1]
    assert low == 0.0  # open: the data do not bound it
    assert math.isfinite(high)


def test_a_wider_sampling_error_widens_the_interval():
    def interval(se):
        points = [_observation(0, load, _theta(load, 1.0, 0.86), se=se) for load in (0.5, 2.0)]
        points += [_observation(0, 100.0, 0.85, se=se)]
        low, high = pet_fit.estimate(points, 1, 1, [0.0]).scale_interval[0]
        return high / low

    assert interval(0.05) > interval(0.01) > 1


def test_a_study_that_misses_on_every_point_counts_as_one_study():
    """Four drugs, each seen in two studies; in one study of each, every point of its drug
    binds as if its load were a third of the model's (a shared factor of 3). The likelihood
    gives that to the study, shared by its points (omega_between), not to each point alone
    (omega_within)."""
    observations = []
    for pair, scale in enumerate((0.5, 1.0, 2.0, 4.0)):
        for load in (0.5 * scale, scale, 2 * scale):
            observations.append(
                _observation(pair, load, _theta(load, scale, 0.86), se=0.01, study=2 * pair)
            )
            observations.append(
                _observation(pair, 3 * load, _theta(load, scale, 0.86), se=0.01, study=2 * pair + 1)
            )
    estimate = pet_fit.estimate(observations, 4, 1, [0.0] * 4, profiled=frozenset())
    assert estimate.omega_between > 0.3
    assert estimate.omega_within < 0.1
