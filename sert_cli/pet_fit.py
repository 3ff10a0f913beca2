"""The PET-scale estimate (docs/model.md section 9): one plateau per tracer, one in vivo
constant per drug and transporter, and the spread the model does not explain, fitted
jointly by maximum likelihood to every usable point, with profile-likelihood intervals.

Why a likelihood and not least squares: most points sit close to the plateau, where a
point says little about the EC50. The unexplained variation acts on the log of the
transporter load: a study's subjects bind more or less than the model says by a factor
exp(b), shared by all of the study's points (b ~ N(0, omega_b^2): tracer, region,
population, method), and each point by a further exp(w) (w ~ N(0, omega_w^2): what the
model misses within a study), plus the point's own sampling error se_i. Linearised, with
s_i = d theta / d ln x = Emax x / (1 + x)^2, a study's points are jointly normal:

    cov(y_i, y_j) = s_i s_j omega_b^2 + [i = j] (s_i^2 omega_w^2 + se_i^2)

so a point near the plateau (small slope) weighs on the plateau and barely on the EC50, a
point on the steep part pins the EC50, and several points of one study count as one study
where they share its error. Each study's block is a diagonal plus a rank-one term, so its
determinant and inverse are closed-form (Sherman-Morrison). The parameters are the log K
scales (in vivo / in vitro), the free plateaus and log omega_b, log omega_w; a parameter's
95 % interval is where the profile of -2 log-likelihood rises by 3.84 (it may be open on a
side: the data then do not bound it, and every output says the constant is assumed).

Loads are computed once with the in vitro constants; the load is proportional to 1/scale,
so the fit itself only rescales them. scipy loads here only: only `sert validate` and
`make refit` fit.
"""

import math
from dataclasses import dataclass

import numpy as np

CHI2_95_HALF = 3.841458820694124 / 2  # -log-likelihood rise at a 95 % profile bound
LOG_SCALE_BOUNDS = (-25.0, 25.0)
PLATEAU_BOUNDS = (0.5, 1.0)
LOG_OMEGA_BOUNDS = (math.log(0.01), math.log(5.0))
PROFILE_STEP = 0.35  # in ln(scale): about x1.4 per step
PROFILE_REACH = math.log(1000.0)  # beyond x1000 from the estimate a bound is "unbounded"


@dataclass(frozen=True)
class Observation:
    """One study mean for the fit: which constant and plateau it depends on, its load with
    the in vitro constants, the observed occupancy (fraction) and its standard error."""

    pair: int  # index of the (drug, transporter) constant
    study: int  # index of the study: its points share the study's error
    plateau: int | None  # index of the free plateau, None if fixed
    fixed_plateau: float
    load_in_vitro: float
    observed: float
    standard_error: float


@dataclass(frozen=True)
class Estimate:
    log_scale: tuple[float, ...]
    plateau: tuple[float, ...]
    omega_between: float  # SD of the log load shared by a study's points
    omega_within: float  # SD of the log load of a point beyond its study's
    neg_log_likelihood: float
    # 95 % profile-likelihood intervals; math.inf / 0 where the data do not bound a side
    scale_interval: tuple[tuple[float, float], ...]
    plateau_interval: tuple[tuple[float, float], ...]


class Problem:
    """The likelihood of a set of observations, as arrays. Parameters are one vector, or
    rows of vectors (evaluated at once: a gradient needs two per parameter)."""

    def __init__(self, observations: list[Observation], pairs: int, plateaus: int):
        self.pairs, self.plateaus = pairs, plateaus
        self.pair_of = np.array([o.pair for o in observations], dtype=int)
        studies = sorted({o.study for o in observations})
        self.study_matrix = np.array(
            [[1.0 if o.study == k else 0.0 for k in studies] for o in observations]
        )
        self.is_free = np.array([o.plateau is not None for o in observations])
        self.plateau_of = pairs + np.array([o.plateau or 0 for o in observations], dtype=int)
        self.fixed = np.array([o.fixed_plateau for o in observations])
        self.load = np.array([o.load_in_vitro for o in observations])
        self.observed = np.array([o.observed for o in observations])
        self.se2 = np.array([o.standard_error**2 for o in observations])

    def predict(self, params):
        """(occupancy, d occupancy / d ln load) of every observation."""
        params = np.asarray(params)
        x = self.load / np.exp(params[..., self.pair_of])
        emax = self.fixed
        if self.plateaus:
            emax = np.where(self.is_free, params[..., self.plateau_of], self.fixed)
        return emax * x / (1 + x), emax * x / (1 + x) ** 2

    def neg_log_likelihood(self, params):
        params = np.asarray(params)
        predicted, slope = self.predict(params)
        between2 = np.exp(2 * params[..., -2:-1])
        within2 = np.exp(2 * params[..., -1:])
        diagonal = slope**2 * within2 + self.se2
        residual = self.observed - predicted
        # per study: sum s^2/D, sum s r/D (Sherman-Morrison for D + omega_b^2 s s^T)
        ss = (slope**2 / diagonal) @ self.study_matrix
        sr = (slope * residual / diagonal) @ self.study_matrix
        rank_one = 1 + between2 * ss
        log_det = np.sum(np.log(diagonal), axis=-1) + np.sum(np.log(rank_one), axis=-1)
        quadratic = np.sum(residual**2 / diagonal, axis=-1) - np.sum(
            between2 * sr**2 / rank_one, axis=-1
        )
        return 0.5 * (log_det + quadratic)

    def gradient(self, params, free=None):
        """Central differences over the parameters (`free`: only those), in one evaluation."""
        params = np.asarray(params, dtype=float)
        free = range(len(params)) if free is None else free
        h = 1e-6
        rows = np.repeat(params[None, :], 2 * len(free), axis=0)
        for k, i in enumerate(free):
            rows[2 * k, i] += h
            rows[2 * k + 1, i] -= h
        values = self.neg_log_likelihood(rows).reshape(-1, 2)
        return (values[:, 0] - values[:, 1]) / (2 * h)

    def bounds(self):
        return (
            [LOG_SCALE_BOUNDS] * self.pairs
            + [PLATEAU_BOUNDS] * self.plateaus
            + [LOG_OMEGA_BOUNDS] * 2
        )


def _minimize(problem: Problem, start, fixed_index=None, fixed_value=None):
    """The maximum-likelihood parameters, with one parameter held if asked (a profile)."""
    from scipy.optimize import minimize

    start = np.array(start, dtype=float)
    bounds = problem.bounds()
    if fixed_index is None:
        solved = minimize(
            problem.neg_log_likelihood,
            start,
            jac=problem.gradient,
            bounds=bounds,
            method="L-BFGS-B",
        )
        return solved.x, float(solved.fun)
    free = [i for i in range(len(start)) if i != fixed_index]

    def full_of(sub):
        full = start.copy()
        full[free] = sub
        full[fixed_index] = fixed_value
        return full

    solved = minimize(
        lambda sub: problem.neg_log_likelihood(full_of(sub)),
        start[free],
        jac=lambda sub: problem.gradient(full_of(sub), free),
        bounds=[bounds[i] for i in free],
        method="L-BFGS-B",
    )
    full = start.copy()
    full[free] = solved.x
    full[fixed_index] = fixed_value
    return full, float(solved.fun)


def _profile_bound(problem, best, best_nll, index, direction, step, limit):
    """Where the profile -log-likelihood of parameter `index` rises by CHI2_95_HALF going
    `direction` from the estimate; None if it does not within `limit`."""
    from scipy.optimize import brentq

    low_bound, high_bound = problem.bounds()[index]
    previous, params = best[index], best
    while True:
        value = previous + direction * step
        beyond = abs(value - best[index]) > limit
        value = min(max(value, low_bound), high_bound)
        params, nll = _minimize(problem, params, index, value)
        if nll - best_nll >= CHI2_95_HALF:
            start = params

            def rise(v, start=start):
                return _minimize(problem, start, index, v)[1] - best_nll - CHI2_95_HALF

            return brentq(rise, min(previous, value), max(previous, value), xtol=1e-3)
        if beyond or value in (low_bound, high_bound):
            return None
        previous = value


def estimate(
    observations: list[Observation],
    pairs: int,
    plateaus: int,
    start_log_scale,
    profiled: frozenset[int] | None = None,
) -> Estimate:
    """The maximum-likelihood estimate with 95 % profile-likelihood intervals for the
    plateaus and for the constants in `profiled` (None: every constant; the refits of
    leave-one-study-out need only the left-out study's); the others get (nan, nan)."""
    problem = Problem(observations, pairs, plateaus)
    start = list(start_log_scale) + [0.85] * plateaus + [math.log(0.3)] * 2
    best, best_nll = _minimize(problem, start)
    scale_interval = []
    for i in range(pairs):
        if profiled is not None and i not in profiled:
            scale_interval.append((math.nan, math.nan))
            continue
        low = _profile_bound(problem, best, best_nll, i, -1, PROFILE_STEP, PROFILE_REACH)
        high = _profile_bound(problem, best, best_nll, i, +1, PROFILE_STEP, PROFILE_REACH)
        scale_interval.append(
            (0.0 if low is None else math.exp(low), math.inf if high is None else math.exp(high))
        )
    plateau_interval = []
    for j in range(plateaus):
        i = pairs + j
        low = _profile_bound(problem, best, best_nll, i, -1, 0.02, 1.0)
        high = _profile_bound(problem, best, best_nll, i, +1, 0.02, 1.0)
        plateau_interval.append(
            (
                PLATEAU_BOUNDS[0] if low is None else low,
                PLATEAU_BOUNDS[1] if high is None else high,
            )
        )
    return Estimate(
        log_scale=tuple(float(v) for v in best[:pairs]),
        plateau=tuple(float(v) for v in best[pairs : pairs + plateaus]),
        omega_between=math.exp(best[-2]),
        omega_within=math.exp(best[-1]),
        neg_log_likelihood=float(best_nll),
        scale_interval=tuple(scale_interval),
        plateau_interval=tuple(plateau_interval),
    )
