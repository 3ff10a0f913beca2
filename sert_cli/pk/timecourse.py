"""Occupancy over time: one-compartment oral absorption, doses superposed.

This extends docs/model.md section 1 from the steady-state average to the whole curve. Linear
profiles use closed forms: after one dose each moiety's concentration is a sum of
exponentials (Bateman functions along the chain gut -> parent -> metabolite, and the
brain's effect compartment), and repeated doses add up as geometric series, vectorized
over time. Profiles with saturable (Michaelis-Menten) clearance are integrated as ODEs
(an adaptive Dormand-Prince 5(4) in plain Python: no scipy import), until the dosing
interval repeats. Both give parent-equivalent mg/L per moiety, which
steady_state.levels_from_parent_equivalent converts like the steady-state case.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sert_cli.errors import InputError, ModelError
from sert_cli.model import formulas
from sert_cli.model.profile import Moiety, Profile
from sert_cli.pk.steady_state import (
    MoietyLevels,
    check_resolvable,
    formation_changes,
    levels_from_parent_equivalent,
    occupancy_of_loads,
    profile_clearances,
    saturable_parameters,
    transporter_loads,
)
from sert_cli.pk.steady_state import (
    steady_state as average_steady_state,
)
from sert_cli.trace import Step, model_section
from sert_cli.vocabulary import HOURS_PER_DAY, PRIMARY_TRANSPORTER

MAX_POINTS = 500_000
MAX_DOSES = 100_000
# Rates closer than this (relative) are moved apart so the closed forms stay finite.
DISTINCT_RATES = 1e-7
STEADY_STATE_SAMPLES = 512
WASHOUT_SAMPLES = 20_000


@dataclass(frozen=True)
class ExpSum:
    """sum_i a_i * exp(-rate_i * t): a concentration (mg/L) after one dose of 1 mg."""

    coefficients: np.ndarray
    rates_per_h: np.ndarray


def _separate(rates: list[float]) -> list[float]:
    """Move apart rates that coincide, keeping the last one: the area under a chain's last
    compartment is 1 / (its own rate), so areas under the curves do not change."""
    rates = list(rates)
    for i in range(len(rates) - 2, -1, -1):
        while any(abs(rates[i] - r) <= DISTINCT_RATES * r for r in rates[i + 1 :]):
            rates[i] *= 1 + 10 * DISTINCT_RATES
    return rates


def chain_response(rates_per_h: list[float], volume_l: float) -> ExpSum:
    """Concentration in the last of a chain of first-order compartments after a unit dose
    into the first (the Bateman solution): prod(r_upstream) * sum_i e^(-r_i t) / prod_j!=i
    (r_j - r_i), divided by the last compartment's volume."""
    rates = _separate(rates_per_h)
    upstream = math.prod(rates[:-1])
    coefficients = [
        upstream / math.prod(rj - ri for j, rj in enumerate(rates) if j != i) / volume_l
        for i, ri in enumerate(rates)
    ]
    return ExpSum(np.array(coefficients), np.array(rates))


def delayed(response: ExpSum, equilibration_rate_per_h: float) -> ExpSum:
    """The brain's effect compartment: the response convolved with ke0 * e^(-ke0 t)."""
    ke0 = _separate([equilibration_rate_per_h, *response.rates_per_h.tolist()])[0]
    scale = response.coefficients * ke0 / (ke0 - response.rates_per_h)
    return ExpSum(np.append(scale, -scale.sum()), np.append(response.rates_per_h, ke0))


def superposed(response: ExpSum, t_h: np.ndarray, interval_h: float, doses: int) -> np.ndarray:
    """Sum of one response per dose given at 0, tau, ..., (doses - 1) tau, at times t_h:
    sum_{j<n} e^(-r (t - j tau)) = e^(-r s) (1 - e^(-r n tau)) / (1 - e^(-r tau)), where n
    doses were given by t and s is the time since the last of them."""
    given = np.clip(np.floor(t_h / interval_h + 1e-9) + 1, 0, doses)
    since_last = t_h - (given - 1) * interval_h
    rates = response.rates_per_h[:, None]
    terms = (
        response.coefficients[:, None]
        * np.exp(-rates * since_last)
        * np.expm1(-rates * given * interval_h)
        / np.expm1(-rates * interval_h)
    )
    return np.where(given > 0, terms.sum(axis=0), 0.0)


def steady_state(response: ExpSum, since_dose_h: np.ndarray, interval_h: float) -> np.ndarray:
    """The limit of `superposed` for endless dosing, s hours after a dose."""
    rates = response.rates_per_h[:, None]
    terms = (
        response.coefficients[:, None]
        * np.exp(-rates * since_dose_h)
        / -np.expm1(-rates * interval_h)
    )
    return terms.sum(axis=0)


@dataclass(frozen=True)
class Regimen:
    """A profile, a phenotype and a dose: concentrations of every moiety at any time."""

    profile: Profile
    dose_mg: float
    interval_h: float
    phenotypes: Mapping[str, str]

    def clearances(self) -> list[float]:
        """CL/F of every moiety, a metabolite's per parent dose (steady_state's)."""
        return [cl for cl, _ in profile_clearances(self.profile, self.phenotypes)]

    def formation(self) -> tuple[float, ...]:
        """Each moiety's formation change (docs/model.md section 8): what is formed of a
        metabolite scales by it, not the rate at which it leaves."""
        return formation_changes(self.profile, self.phenotypes)

    def own_clearances(self) -> list[float]:
        """The clearances that set the elimination rates: a formed metabolite's own."""
        return [cl * f for cl, f in zip(self.clearances(), self.formation(), strict=True)]

    def elimination_rates(self) -> list[float]:
        return [
            formulas.elimination_rate_per_h(cl, _volume(m))
            for m, cl in zip(self.profile.moieties, self.own_clearances(), strict=True)
        ]

    def longest_half_life_h(self) -> float:
        rates = self.elimination_rates() + [
            formulas.rate_from_half_life_per_h(m.brain_equilibration_half_life_h)
            for m in self.profile.moieties
            if m.brain_equilibration_half_life_h
        ]
        return math.log(2) / min(rates)

    def responses(self) -> list[tuple[ExpSum, ExpSum]]:
        """(plasma, brain) single-dose responses per moiety, linear profiles only."""
        parent = self.profile.parent
        ka = _absorption_rate(parent)
        k_parent, *k_metabolites = self.elimination_rates()
        out = []
        for moiety, k, formed in zip(
            self.profile.moieties, [k_parent, *k_metabolites], self.formation(), strict=True
        ):
            rates = [ka, k] if moiety is parent else [ka, k_parent, k]
            # what is formed scales the whole curve: the area is dose / (CL_own / f)
            plasma = chain_response(rates, _volume(moiety) / formed)
            brain = plasma
            if moiety.brain_equilibration_half_life_h:
                brain = delayed(
                    plasma,
                    formulas.rate_from_half_life_per_h(moiety.brain_equilibration_half_life_h),
                )
            out.append((plasma, brain))
        return out

    def concentrations(self, t_h: np.ndarray, doses: int | None) -> list[tuple]:
        """(plasma, brain) parent-equivalent mg/L per moiety; doses None: steady state,
        with t_h the time since a dose."""
        if self.profile.parent.saturable:
            return _integrate(self, t_h, doses)
        amount = self.dose_mg * self.profile.salt_factor
        if doses is None:
            return [
                (
                    amount * steady_state(p, t_h, self.interval_h),
                    amount * steady_state(b, t_h, self.interval_h),
                )
                for p, b in self.responses()
            ]
        return [
            (
                amount * superposed(p, t_h, self.interval_h, doses),
                amount * superposed(b, t_h, self.interval_h, doses),
            )
            for p, b in self.responses()
        ]

    def _saturable_memo(self) -> dict:
        """What the saturable integration keeps on the regimen, so that the curve and its
        summary integrate once: the state just after each dose ("starts") until the states
        repeat (from dose "period" on, every interval is the same)."""
        memo = self.__dict__.get("_saturable")
        if memo is None:
            first = np.zeros(1 + 2 * len(self.profile.moieties))
            first[0] = self.dose_mg * self.profile.salt_factor
            memo = {"starts": [first], "period": None, "budget": StepBudget()}
            object.__setattr__(self, "_saturable", memo)
        return memo

    def levels(self, t_h: np.ndarray, doses: int | None) -> list[MoietyLevels]:
        """Levels of every moiety; the sums of exponentials cancel to rounding error where
        the true level is 0 (before the first dose is absorbed), so they are floored at 0."""
        return [
            levels_from_parent_equivalent(
                self.profile, m, np.maximum(plasma, 0.0), cl, np.maximum(brain, 0.0)
            )
            for m, cl, (plasma, brain) in zip(
                self.profile.moieties,
                self.clearances(),
                self.concentrations(t_h, doses),
                strict=True,
            )
        ]


def _volume(moiety: Moiety) -> float:
    if moiety.volume_l is None:
        raise ModelError(
            f"{moiety.name} has neither pk.half_life nor pk.volume, which the time course needs"
        )
    return moiety.volume_l


def _absorption_rate(moiety: Moiety) -> float:
    if moiety.absorption_rate_per_h is None:
        raise ModelError(
            f"{moiety.name} has no pk.absorption (ka or tmax), which the time course needs"
        )
    return moiety.absorption_rate_per_h


# The ODE solver's tolerances (local error per step).
ODE_RTOL = 1e-8
ODE_ATOL = 1e-14
# Once the state just after a dose matches the one after the previous dose within this
# (relative; ODE_ATOL absolute), dosing has reached its periodic steady state: every later
# interval repeats that one, and is read from it instead of solved again.
PERIODIC_TOLERANCE = 1e-8


def _ode_system(regimen: Regimen):
    """The right-hand side f(y, t) of the ODEs gut -> parent -> metabolites (and effect
    compartments), for the solver; y = (gut, amount per moiety, brain per moiety)."""
    profile = regimen.profile
    moieties = profile.moieties
    ka = _absorption_rate(profile.parent)
    volumes = [_volume(m) for m in moieties]
    clearances = regimen.own_clearances()  # formation is for linear parents only (schema)
    vmax, km = saturable_parameters(profile.parent, regimen.phenotypes)
    k_metabolites = [cl / v for cl, v in zip(clearances[1:], volumes[1:], strict=True)]
    ke0 = [
        formulas.rate_from_half_life_per_h(m.brain_equilibration_half_life_h)
        if m.brain_equilibration_half_life_h
        else None
        for m in moieties
    ]
    count = len(moieties)
    cl_parent, v_parent = clearances[0], volumes[0]

    flow = profile.parent.hepatic_blood_flow_l_h
    if flow is not None:  # a saturable first pass: the liver takes its share on the way in
        if count != 1 or ke0[0] is not None:
            raise ModelError("a saturable first pass is modelled for a parent alone")

        def rates(y: list, _t: float):
            gut, amount, _brain = y
            c_parent = amount / v_parent
            intrinsic = cl_parent + vmax / (km + c_parent)
            available = flow / (flow + intrinsic)
            return (-ka * gut, ka * gut * available - intrinsic * available * c_parent, 0.0)

    elif count == 1 and ke0[0] is None:  # a parent alone: the common case, kept lean

        def rates(y: list, _t: float):
            gut, amount, _brain = y
            c_parent = amount / v_parent
            eliminated = cl_parent * c_parent + vmax * c_parent / (km + c_parent)
            return (-ka * gut, ka * gut - eliminated, 0.0)

    else:

        def rates(y: list, _t: float):
            gut, amounts, brain = y[0], y[1 : 1 + count], y[1 + count :]
            c_parent = amounts[0] / v_parent
            eliminated = cl_parent * c_parent + vmax * c_parent / (km + c_parent)
            d_amounts = [ka * gut - eliminated]
            d_amounts += [
                eliminated - k * a for k, a in zip(k_metabolites, amounts[1:], strict=True)
            ]
            d_brain = [
                (rate * (a / v - b) if rate else 0.0)
                for rate, a, v, b in zip(ke0, amounts, volumes, brain, strict=True)
            ]
            return [-ka * gut, *d_amounts, *d_brain]

    return rates, count, np.array(volumes), np.array([rate is not None for rate in ke0])


# Dormand and Prince's 5(4) pair with its quartic dense output (Dormand & Prince, J Comput
# Appl Math 1980;6:19-26; Shampine, Math Comput 1986;46:135-150), the coefficients scipy's
# RK45 uses. A few states and pure Python floats: no scipy to import, no arrays to build.
DP_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0)
DP_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
)
DP_B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84)
DP_E = (-71 / 57600, 0.0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40)
DP_P = (
    (1.0, -8048581381 / 2820520608, 8663915743 / 2820520608, -12715105075 / 11282082432),
    (0.0, 0.0, 0.0, 0.0),
    (
        0.0,
        131558114200 / 32700410799,
        -68118460800 / 10900136933,
        87487479700 / 32700410799,
    ),
    (0.0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072),
    (
        0.0,
        127303824393 / 49829197408,
        -318862633887 / 49829197408,
        701980252875 / 199316789632,
    ),
    (0.0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844),
    (0.0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423),
)
# The solver steps one regimen's time course may take, over all its solves (a common one
# takes a few thousand; this is some 10 s of work): a saturable profile too stiff for an
# explicit solver (a clearance of 1e15 L/h at low levels, a half-life of seconds) is
# refused in bounded time instead of integrated for hours.
ODE_STEP_BUDGET = 500_000


class StepBudget:
    """The solver steps left to one time course, shared by all of its solves."""

    def __init__(self, steps: int | None = None) -> None:
        self.total = self.left = ODE_STEP_BUDGET if steps is None else steps

    def spend(self, steps: int) -> None:
        self.left -= steps


def _solve(
    rates,
    state: np.ndarray,
    start: float,
    end: float,
    points: np.ndarray,
    ka: float,
    budget: StepBudget | None = None,
):
    """One solve from start (the state given) to end: (the states at the points, all within
    [start, end], as columns; the state at end). Adaptive steps hold every component's
    local error within ODE_RTOL (relative) or ODE_ATOL (absolute); the points are read
    from each step's dense output, so they do not shorten the steps. The gut (y[0]) empties
    at the rate ka exactly, so after each step it is set to its exact value; its stages'
    error shows in the compartments it feeds, which the error control watches. The steps
    taken (rejected ones too) are spent from `budget` (a fresh one if None); a ModelError
    says when it runs out."""
    budget = StepBudget() if budget is None else budget
    if end <= start:
        return state[:, None].repeat(points.size, axis=1), state.copy()
    order = np.argsort(points, kind="stable")
    wanted = points[order].tolist()
    found = np.empty((state.size, points.size))
    y = state.tolist()
    gut = y[0]
    t, f = start, rates(y, start)
    h = min(end - start, 1.0)
    next_point = 0
    dense: list = []  # steps that hold wanted points, read out at the end
    while next_point < len(wanted) and wanted[next_point] <= t:
        found[:, order[next_point]] = y
        next_point += 1
    (a21,), (a31, a32), (a41, a42, a43), (a51, a52, a53, a54), (a61, a62, a63, a64, a65) = DP_A[1:]
    c2, c3, c4, c5, c6 = DP_C[1:]
    b1, _, b3, b4, b5, b6 = DP_B
    e1, _, e3, e4, e5, e6, e7 = DP_E
    taken = 0  # steps tried, rejected ones too
    while t < end:
        if taken >= budget.left:
            raise ModelError(
                f"the time course needs more than {budget.total:,} steps of the ODE solver: "
                "the profile's saturable clearance or absorption is too fast (too stiff) to "
                "integrate; check pk.saturable_clearance, pk.absorption and pk.half_life"
            )
        taken += 1
        step = min(h, end - t)
        k1 = f
        k2 = rates([v + step * a21 * q1 for v, q1 in zip(y, k1, strict=True)], t + c2 * step)
        k3 = rates(
            [v + step * (a31 * q1 + a32 * q2) for v, q1, q2 in zip(y, k1, k2, strict=True)],
            t + c3 * step,
        )
        k4 = rates(
            [
                v + step * (a41 * q1 + a42 * q2 + a43 * q3)
                for v, q1, q2, q3 in zip(y, k1, k2, k3, strict=True)
            ],
            t + c4 * step,
        )
        k5 = rates(
            [
                v + step * (a51 * q1 + a52 * q2 + a53 * q3 + a54 * q4)
                for v, q1, q2, q3, q4 in zip(y, k1, k2, k3, k4, strict=True)
            ],
            t + c5 * step,
        )
        k6 = rates(
            [
                v + step * (a61 * q1 + a62 * q2 + a63 * q3 + a64 * q4 + a65 * q5)
                for v, q1, q2, q3, q4, q5 in zip(y, k1, k2, k3, k4, k5, strict=True)
            ],
            t + c6 * step,
        )
        y_new = [
            v + step * (b1 * q1 + b3 * q3 + b4 * q4 + b5 * q5 + b6 * q6)
            for v, q1, q3, q4, q5, q6 in zip(y, k1, k3, k4, k5, k6, strict=True)
        ]
        f_new = rates(y_new, t + step)
        error = max(
            abs(step * (e1 * q1 + e3 * q3 + e4 * q4 + e5 * q5 + e6 * q6 + e7 * q7))
            / (ODE_ATOL + ODE_RTOL * max(abs(v), abs(w)))
            for v, w, q1, q3, q4, q5, q6, q7 in zip(
                y[1:], y_new[1:], k1[1:], k3[1:], k4[1:], k5[1:], k6[1:], f_new[1:], strict=True
            )
        )
        if error > 1.0:
            h = step * max(0.2, 0.9 * error**-0.2)
            continue
        t_new = t + step if step < end - t else end
        y_new[0] = gut * math.exp(-ka * (t_new - start))
        if next_point < len(wanted) and wanted[next_point] <= t_new:
            first = next_point
            while next_point < len(wanted) and wanted[next_point] <= t_new:
                next_point += 1
            dense.append((first, next_point, t, step, y, (k1, k2, k3, k4, k5, k6, f_new)))
        t, y, f = t_new, y_new, f_new
        h = step * min(10.0, 0.9 * error**-0.2) if error > 0 else step * 10.0
    budget.spend(taken)
    _read_dense(dense, wanted, order, found)
    found[0] = gut * np.exp(-ka * (points - start))
    return found, np.array(y)


def _read_dense(dense: list, wanted: list, order: np.ndarray, found: np.ndarray) -> None:
    """The points inside each step from its quartic: y + h * K^T P [x, x^2, x^3, x^4],
    for all steps at once."""
    if not dense:
        return
    counts = [last - first for first, last, *_ in dense]
    first = dense[0][0]
    last = dense[-1][1]
    which = np.repeat(np.arange(len(dense)), counts)
    starts = np.array([d[2] for d in dense])[which]
    steps = np.array([d[3] for d in dense])[which]
    y_old = np.array([d[4] for d in dense])[which]  # points x states
    q = np.einsum("skn,kc->snc", np.array([d[5] for d in dense]), np.array(DP_P))[which]
    x = (np.array(wanted[first:last]) - starts) / steps
    powers = np.stack([x, x * x, x**3, x**4], axis=1)  # points x 4
    values = y_old + steps[:, None] * np.einsum("pnc,pc->pn", q, powers)
    found[:, order[first:last]] = values.T


def _interval_of(times: np.ndarray, interval: float, last: int) -> np.ndarray:
    """The dose interval each time falls in: j with j tau <= t < (j + 1) tau, the last one
    open-ended; -1 before the first dose."""
    with np.errstate(invalid="ignore"):
        index = np.floor(times / interval)
        index = np.where(times < index * interval, index - 1, index)
        index = np.where(times >= (index + 1) * interval, index + 1, index)
    index = np.where(times >= 0.0, np.minimum(index, last), -1.0)
    return np.nan_to_num(index, nan=-1.0).astype(np.int64)


def _integrate(regimen: Regimen, t_h: np.ndarray, doses: int | None) -> list[tuple]:
    """Saturable clearance: the ODEs gut -> parent -> metabolites (and effect compartments),
    integrated dose to dose (Dormand-Prince 5(4)). Steady state: enough doses to settle, then
    shifted. The states just after each dose are kept on the regimen, and once they repeat
    the later intervals are read from one solve of the repeating interval."""
    rates, count, volumes, delayed_rows = _ode_system(regimen)
    ka = _absorption_rate(regimen.profile.parent)
    interval = regimen.interval_h
    amount = regimen.dose_mg * regimen.profile.salt_factor
    shift = 0.0
    if doses is None:  # steady state: dose until settled, then read the last interval
        settle_h = 12 * regimen.longest_half_life_h()
        doses = min(MAX_DOSES, max(2, math.ceil(settle_h / interval) + 1))
        shift = (doses - 1) * interval
    times = np.asarray(t_h, dtype=float) + shift
    flat = times.ravel()
    last = doses - 1
    states = np.zeros((1 + 2 * count, flat.size))
    horizon = float(flat.max(initial=0.0))
    top = int(_interval_of(np.array([horizon]), interval, last)[0])  # the last interval reached

    index = _interval_of(flat, interval, last)
    order = np.argsort(index, kind="stable")
    order = order[index[order] >= 0]  # the times after the first dose, by interval
    keys, firsts = np.unique(index[order], return_index=True)
    members = {}
    if keys.size:
        members = dict(zip(keys.tolist(), np.split(order, firsts[1:]), strict=True))

    memo = regimen._saturable_memo()
    starts = memo["starts"]  # the state just after dose j, j = 0, 1, ...
    j = 0
    while j <= top and j != last and (memo["period"] is None or j < memo["period"]):
        inside = members.get(j)
        known_next = len(starts) > j + 1
        if inside is None and known_next:
            j += 1
            continue
        if inside is None:
            inside = np.zeros(0, dtype=np.int64)
        begin = j * interval
        solved, end_state = _solve(
            rates, starts[j], begin, (j + 1) * interval, flat[inside], ka, memo["budget"]
        )
        states[:, inside] = solved
        if not known_next:
            end_state[0] += amount
            change = np.abs(end_state - starts[j])
            if np.all(change <= PERIODIC_TOLERANCE * np.abs(starts[j]) + ODE_ATOL):
                memo["period"] = j  # from here on, every interval is interval j
            else:
                starts.append(end_state)
        j += 1

    if j <= top:  # what is left: the periodic intervals and/or the last one
        period = memo["period"]
        repeat = []  # (where, phases) of the times read from the repeating interval
        if period is not None:
            repeat = [
                (inside, flat[inside] - k * interval)
                for k, inside in members.items()
                if j <= k <= top and k != last
            ]
        if top == last and last in members:
            inside = members[last]
            begin = last * interval
            if period is not None and last >= period and horizon <= begin + interval:
                repeat.append((inside, flat[inside] - begin))
            else:
                state = starts[min(last, period) if period is not None else last]
                states[:, inside] = _solve(
                    rates, state, begin, horizon, flat[inside], ka, memo["budget"]
                )[0]
        if repeat:
            where = np.concatenate([w for w, _ in repeat])
            phases = np.concatenate([p for _, p in repeat])
            states[:, where] = _solve(
                rates, starts[period], 0.0, interval, phases, ka, memo["budget"]
            )[0]

    plasma = states[1 : 1 + count] / volumes[:, None]
    out = np.concatenate([plasma, np.where(delayed_rows[:, None], states[1 + count :], plasma)])
    out = np.maximum(out, 0.0)  # the solver's tolerance can leave -1e-20 where 0 is meant
    return [(out[i], out[count + i]) for i in range(count)]


@dataclass(frozen=True)
class Simulation:
    drug: str
    dose_mg: float
    interval_h: float
    doses: int
    phenotypes: dict[str, str]
    t_h: np.ndarray
    levels: list[MoietyLevels]
    occupancy: dict[str, np.ndarray | None]
    summary: dict
    steps: tuple[Step, ...] = ()
    schedule: tuple = ()  # ((dose_mg, days, interval_h), ...) for a changing regimen
    missed_days: tuple = ()
    # platelet SERT occupancy and platelet 5-HT content (fraction of baseline) at each
    # time (docs/model.md section 20), never part of `occupancy`; None: not computed
    platelet_sert_occupancy: np.ndarray | None = None
    platelet_serotonin_fraction: np.ndarray | None = None

    def record(self) -> dict:
        parent, *metabolites = self.levels
        plan = {}
        if self.schedule:
            plan = {
                "schedule": [
                    {"dose_mg": d, "days": n, "interval_h": i} for d, n, i in self.schedule
                ],
                "missed_days": list(self.missed_days),
            }
        return {
            **plan,
            "drug": self.drug,
            "dose_mg": self.dose_mg,
            "interval_h": self.interval_h,
            "doses": self.doses,
            "phenotypes": dict(self.phenotypes),
            "t_h": self.t_h.tolist(),
            "c_plasma_ng_ml": np.asarray(parent.css_plasma_ng_ml).tolist(),
            "cu_brain_nm": np.asarray(parent.cu_brain_nm).tolist(),
            "metabolites": [
                {
                    "name": m.name,
                    "c_plasma_ng_ml": np.asarray(m.css_plasma_ng_ml).tolist(),
                    "cu_brain_nm": np.asarray(m.cu_brain_nm).tolist(),
                }
                for m in metabolites
            ],
            "occupancy": {
                t: (None if v is None else v.tolist()) for t, v in self.occupancy.items()
            },
            **self._platelet_columns(),
            "summary": self.summary,
        }

    def _platelet_columns(self) -> dict:
        if self.platelet_sert_occupancy is None:
            return {}
        return {
            "platelet_sert_occupancy": self.platelet_sert_occupancy.tolist(),
            "platelet_serotonin_fraction": self.platelet_serotonin_fraction.tolist(),
        }

    def rows(self) -> list[dict]:
        """One row per time point, for CSV."""
        columns = {"t_h": self.t_h}
        for index, lv in enumerate(self.levels):
            prefix = "" if index == 0 else f"{lv.name}_"
            columns[f"{prefix}c_plasma_ng_ml"] = np.asarray(lv.css_plasma_ng_ml)
            columns[f"{prefix}cu_brain_nm"] = np.asarray(lv.cu_brain_nm)
        for transporter, values in self.occupancy.items():
            if values is not None:
                columns[f"occupancy_{transporter}"] = values
        if self.platelet_sert_occupancy is not None:
            columns["platelet_sert_occupancy"] = self.platelet_sert_occupancy
            columns["platelet_serotonin_fraction"] = self.platelet_serotonin_fraction
        names = list(columns)
        return [
            dict(zip(names, row, strict=True))
            for row in zip(*(columns[n].tolist() for n in names), strict=True)
        ]


def time_grid(until_h: float, step_h: float) -> np.ndarray:
    """0, step, 2 step, ... up to until_h, both checked; at most MAX_POINTS points."""
    if not math.isfinite(step_h) or step_h <= 0:
        raise InputError(f"must be a positive number of hours (got {step_h:g})", field="step_h")
    if not math.isfinite(until_h) or until_h <= 0:
        raise InputError(f"must be a positive number of hours (got {until_h:g})", field="until_h")
    points = math.floor(until_h / step_h + 1e-9) + 1
    if points > MAX_POINTS:
        raise InputError(
            f"asks for {points:,} time points with this step; at most {MAX_POINTS:,} "
            "(take a larger step)",
            field="until_h",
        )
    return np.arange(points) * step_h


def checked_occupancies(profile: Profile, levels: list[MoietyLevels]) -> dict:
    """The occupancies of a time course, after its levels are found finite and resolvable."""
    if not all(np.isfinite(np.asarray(lv.css_plasma_ng_ml)).all() for lv in levels):
        raise ModelError("the simulation gave values too large to represent")
    occupancy = occupancies(profile, levels)
    check_resolvable(float(v.max()) for v in occupancy.values() if v is not None)
    return occupancy


def occupancies(profile: Profile, levels: list[MoietyLevels]) -> dict[str, np.ndarray | None]:
    return occupancy_of_loads(profile, transporter_loads(profile, levels))


def days_to_fall_below(
    times: np.ndarray, values: np.ndarray, level: float, since_h: float
) -> float | None:
    """Days from since_h until values (at times from since_h on) last are at or above
    level: 0 when they never are; None when the window shows no fall below it (they are
    still at or above it at its last point, or it has no point after since_h): the end
    of the window is not a crossing."""
    if times.size == 0 or values[-1] >= level:
        return None
    hits = np.nonzero(values >= level)[0]
    return 0.0 if not hits.size else (float(times[hits[-1]]) - since_h) / HOURS_PER_DAY


def summarize(regimen: Regimen, doses: int) -> dict:
    """Steady-state swing and washout (the approach to steady state is the steady-state
    module's, one definition for every command)."""
    profile, interval = regimen.profile, regimen.interval_h
    within = np.linspace(0.0, interval, STEADY_STATE_SAMPLES)
    ss_levels = regimen.levels(within, None)
    ss_occ = occupancies(profile, ss_levels)
    summary: dict = {}
    parent_ss = ss_levels[0].css_plasma_ng_ml
    summary["steady_state_peak_ng_ml"] = float(parent_ss.max())
    summary["steady_state_trough_ng_ml"] = float(parent_ss[-1])
    for transporter, values in ss_occ.items():
        if values is not None:
            summary[f"steady_state_peak_occupancy_{transporter}"] = float(values.max())
            summary[f"steady_state_trough_occupancy_{transporter}"] = float(values[-1])
    last_dose = (doses - 1) * interval
    window = np.linspace(last_dose, last_dose + 12 * regimen.longest_half_life_h(), WASHOUT_SAMPLES)
    sert_after = occupancies(profile, regimen.levels(window, doses))[PRIMARY_TRANSPORTER]
    for level in (0.5, 0.2):
        key = f"days_after_last_dose_to_sert_below_{round(level * 100)}pct"
        if sert_after is None:
            summary[key] = None
            continue
        summary[key] = days_to_fall_below(window, sert_after, level, last_dose)
    return summary


def simulate(
    profile: Profile,
    phenotypes: Mapping[str, str],
    dose_mg: float,
    interval_h: float,
    doses: int | None = None,
    days: float | None = None,
    until_h: float | None = None,
    step_h: float = 1.0,
) -> Simulation:
    """The time course; dose and interval are checked by the caller, the rest here
    (errors name their query field)."""
    regimen = Regimen(profile, dose_mg, interval_h, phenotypes)
    longest = regimen.longest_half_life_h()
    if doses is not None and days is not None:
        raise InputError("give the number of doses or of days, not both", field="days")
    if days is not None:
        if not math.isfinite(days) or days <= 0:
            raise InputError(f"must be a positive number (got {days:g})", field="days")
        doses = math.ceil(days * HOURS_PER_DAY / interval_h - 1e-9)
    if doses is None:
        doses = math.ceil(max(7 * HOURS_PER_DAY, 5 * longest) / interval_h)
    if not 1 <= doses <= MAX_DOSES:
        raise InputError(f"must be between 1 and {MAX_DOSES} (got {doses})", field="doses")
    last_dose = (doses - 1) * interval_h
    t_h = time_grid(last_dose + 5 * longest if until_h is None else until_h, step_h)
    levels = regimen.levels(t_h, doses)
    occupancy = checked_occupancies(profile, levels)
    average = average_steady_state(profile, dose_mg, interval_h, phenotypes)
    summary = {
        f"time_to_{round(f * 100)}pct_steady_state_h": t
        for f, t in average.time_to_steady_state_h.items()
    }
    summary.update(summarize(regimen, doses))
    check_resolvable(v for k, v in summary.items() if "occupancy" in k)
    method = (
        "the ODEs gut -> parent -> metabolites integrated dose by dose (Dormand-Prince 5(4))"
        if profile.parent.saturable
        else "Bateman chains gut -> parent -> metabolite, doses superposed"
    )
    steps = (
        Step(
            name="time course",
            formula=method,
            values=(("doses", doses, ""), ("tau", interval_h, "h")),
            source=model_section(10),
        ),
        *(s for s in average.steps if s.name == "time to steady state"),
    )
    return Simulation(
        drug=profile.name,
        dose_mg=dose_mg,
        interval_h=interval_h,
        doses=doses,
        phenotypes=dict(phenotypes),
        t_h=t_h,
        levels=levels,
        occupancy=occupancy,
        summary=summary,
        steps=steps,
    )


def dose_events(schedule, missed_days=(), field: str = "schedule") -> tuple[np.ndarray, np.ndarray]:
    """(times in h, amounts in mg) of every dose of a schedule: steps of (dose per
    administration in mg, days, interval in h), one after the other from time 0; a dose
    on a missed day (1 = the first) is not taken. The doses are counted from the steps
    before any is built: a schedule of more than MAX_DOSES doses taken is refused (the
    error names `field`, what set its length) without a list of them ever existing."""
    missed = sorted({int(d) for d in missed_days})
    plan, start, total = [], 0.0, 0
    for dose_mg, days, interval_h in schedule:
        for value, least in ((dose_mg, 0.0), (days, None), (interval_h, None)):
            if not (
                isinstance(value, (int, float))
                and math.isfinite(value)
                and (value > 0 if least is None else value >= least)
            ):
                raise InputError(
                    "each step needs a dose (0 or more), a number of days and an interval, "
                    f"finite and positive (got {value!r})",
                    field=field,
                )
        per_step = days * HOURS_PER_DAY / interval_h
        if not math.isfinite(per_step) or per_step > 2.0**53:
            raise InputError(
                f"the regimen has more than {2.0**53:.3g} doses; at most {MAX_DOSES:,}",
                field=field,
            )
        # (a count that is whole but for rounding, 7 doses of 7.3 h over 7 * 7.3 / 24 days,
        # stays whole)
        count = max(1, math.ceil(per_step - max(1e-9, 1e-12 * per_step)))
        lost = _missed_ranges(start, interval_h, count, missed)
        total += count - sum(last - first for first, last in lost)
        plan.append((start, interval_h, count, dose_mg, lost))
        start += days * HOURS_PER_DAY
    if total > MAX_DOSES:
        raise InputError(
            f"the regimen has {total:,} doses; at most {MAX_DOSES:,}"
            if total < 1e15
            else f"the regimen has about {float(total):.3g} doses; at most {MAX_DOSES:,}",
            field=field,
        )
    if not total:
        raise InputError("every dose of the schedule is missed", field="missed")
    times, amounts = [], []
    for begin, interval_h, count, dose_mg, lost in plan:
        edges = [0, *(k for pair in lost for k in pair), count]
        for first, last in zip(edges[::2], edges[1::2], strict=True):
            if last > first:
                times.append(begin + np.arange(first, last) * interval_h)
                amounts.append(np.full(last - first, float(dose_mg)))
    return np.concatenate(times), np.concatenate(amounts)


def _missed_ranges(start_h: float, interval_h: float, count: int, missed: list[int]) -> list:
    """The doses k (given at start + k interval, k < count) that fall on a missed day, as
    ranges [first, last) in order: found by bisection, never by listing the doses, with
    the day of a dose computed as dose_events always did (floor(t / 24) + 1)."""
    import bisect

    def day(k: int) -> int:
        return int((start_h + k * interval_h) // HOURS_PER_DAY) + 1

    def first_on_or_after(wanted: int) -> int:
        low, high = 0, count  # day(count) is never needed: count means "none"
        guess = math.ceil(((wanted - 1) * HOURS_PER_DAY - start_h) / interval_h)
        if 0 < guess < count and day(guess - 1) < wanted <= day(guess):
            return guess
        while low < high:
            middle = (low + high) // 2
            if day(middle) < wanted:
                low = middle + 1
            else:
                high = middle
        return low

    days = missed[bisect.bisect_left(missed, day(0)) : bisect.bisect_right(missed, day(count - 1))]
    ranges = []
    for wanted in days:
        first, last = first_on_or_after(wanted), first_on_or_after(wanted + 1)
        if last > first:
            ranges.append((first, last))
    return ranges


def event_levels(
    profile: Profile, phenotypes, t_h: np.ndarray, times, amounts
) -> list[MoietyLevels]:
    """Every moiety's levels for doses at any times (in order) and of any size: each
    linear response summed over the doses given by then; a saturable profile integrated
    dose by dose."""
    regimen = Regimen(profile, float(amounts[0]), HOURS_PER_DAY, phenotypes)
    salt = profile.salt_factor
    if profile.parent.saturable:
        pairs = _integrate_events(regimen, t_h, times, amounts * salt)
    else:
        memo: dict = {}
        pairs = [
            (
                _event_sum(p, t_h, times, amounts * salt, memo),
                _event_sum(b, t_h, times, amounts * salt, memo),
            )
            for p, b in regimen.responses()
        ]
    return [
        levels_from_parent_equivalent(
            profile, m, np.maximum(plasma, 0.0), cl, np.maximum(brain, 0.0)
        )
        for m, cl, (plasma, brain) in zip(
            profile.moieties, regimen.clearances(), pairs, strict=True
        )
    ]


def _event_sum(
    response: ExpSum, t_h: np.ndarray, times: np.ndarray, amounts: np.ndarray, memo: dict
) -> np.ndarray:
    """sum over doses e given by t of amount_e * response(t - t_e), in time linear in the
    doses plus the points: for each exponential, what the doses left just after dose k,
    S_k = S_(k-1) e^(-r (t_k - t_(k-1))) + amount_k, is carried from dose to dose once,
    and each point reads the last dose before it: S_k e^(-r (t - t_k)). (Responses share
    rates, kept in `memo`.)"""
    t = np.asarray(t_h, dtype=float)
    last = np.searchsorted(times, t, side="right") - 1
    given = last >= 0
    at = np.maximum(last, 0)
    since = np.where(given, t - times[at], 0.0)
    gaps = np.diff(times)
    out = np.zeros(t.shape)
    for a, r in zip(response.coefficients.tolist(), response.rates_per_h.tolist(), strict=True):
        carried = memo.get(r)
        if carried is None:
            decays = np.exp(-r * gaps).tolist()
            values, level = [], 0.0
            for decay, amount in zip([0.0, *decays], amounts.tolist(), strict=True):
                level = level * decay + amount
                values.append(level)
            carried = memo[r] = np.array(values)
        out += a * np.where(given, carried[at] * np.exp(-r * since), 0.0)
    return out


def _integrate_events(regimen: Regimen, t_h: np.ndarray, times, amounts) -> list[tuple]:
    """The saturable ODEs with a dose added to the gut at each dose time. Where doses of
    one size follow at one interval and the state just after a dose matches the state
    just after the one before (within PERIODIC_TOLERANCE, as _integrate decides), every
    further interval of that run repeats it: their points are read from one solve of it,
    so a long regular regimen costs a few solves, not one per dose."""
    rates, count, volumes, delayed_rows = _ode_system(regimen)
    ka = _absorption_rate(regimen.profile.parent)
    flat = np.asarray(t_h, dtype=float).ravel()
    order = np.argsort(flat, kind="stable")
    ordered = flat[order]
    states = np.zeros((1 + 2 * count, flat.size))
    state = np.zeros(1 + 2 * count)
    horizon = float(ordered[-1]) if ordered.size else 0.0
    edges = [*times.tolist(), max(horizon, float(times[-1])) + 1.0]
    doses = amounts.tolist()
    bounds = np.searchsorted(ordered, edges[:-1], side="left").tolist() + [ordered.size]
    budget = StepBudget()
    previous = None  # (start state, gap, amount, end state) of the last interval solved
    template = None  # the same, once intervals repeat
    repeats: list = []  # (indices, phases) of points to read from the template

    def flush():
        if repeats and template is not None:
            where = np.concatenate([w for w, _ in repeats])
            phases = np.minimum(np.concatenate([p for _, p in repeats]), template[1])
            states[:, where] = _solve(rates, template[0], 0.0, template[1], phases, ka, budget)[0]
        repeats.clear()

    for k, amount in enumerate(doses):
        state = state.copy()
        state[0] += amount
        begin, end = edges[k], edges[k + 1]
        gap = end - begin
        last = k == len(doses) - 1
        inside = order[bounds[k] : bounds[k + 1]]
        same = (
            not last
            and previous is not None
            and abs(gap - previous[1]) <= 1e-12 * previous[1]
            and amount == previous[2]
        )
        if same and template is None:
            change = np.abs(state - previous[0])
            if np.all(change <= PERIODIC_TOLERANCE * np.abs(previous[0]) + ODE_ATOL):
                template = previous
        if not same and template is not None:
            flush()
            template = None
        if template is not None:
            repeats.append((inside, flat[inside] - begin))
            state = template[3]
            continue
        stop = max(end, float(flat[inside].max(initial=begin)))
        solved, end_state = _solve(rates, state, begin, stop, flat[inside], ka, budget)
        states[:, inside] = solved
        previous = (state, gap, amount, end_state)
        state = end_state
    flush()
    plasma = states[1 : 1 + count] / volumes[:, None]
    out = np.concatenate([plasma, np.where(delayed_rows[:, None], states[1 + count :], plasma)])
    out = np.maximum(out, 0.0)
    return [(out[i], out[count + i]) for i in range(count)]


def simulate_schedule(
    profile: Profile,
    phenotypes: Mapping[str, str],
    schedule,
    missed_days=(),
    until_h: float | None = None,
    step_h: float = 1.0,
    length_field: str = "schedule",
) -> Simulation:
    """The time course of a changing regimen (steps, missed days, any interval), with
    where occupancy went and how fast it left after the last dose (length_field: the
    query field that set how many doses there are, named if they are too many)."""
    times, amounts = dose_events(schedule, missed_days, field=length_field)
    regimen = Regimen(profile, float(amounts[0]), schedule[0][2], phenotypes)
    longest = regimen.longest_half_life_h()
    end_of_schedule = sum(days for _, days, _ in schedule) * HOURS_PER_DAY
    if until_h is None:
        until_h = max(end_of_schedule, float(times[-1])) + 5 * longest
    t_h = time_grid(until_h, step_h)
    levels = event_levels(profile, phenotypes, t_h, times, amounts)
    occupancy = checked_occupancies(profile, levels)
    summary = {"doses_taken": int(times.size), "last_dose_h": float(times[-1])}
    sert = occupancy.get(PRIMARY_TRANSPORTER)
    if sert is not None:
        summary["peak_occupancy_SERT"] = float(sert.max())
        summary["final_occupancy_SERT"] = float(sert[-1])
        after = t_h >= times[-1]
        for level in (0.5, 0.2):
            key = f"days_after_last_dose_to_sert_below_{round(level * 100)}pct"
            summary[key] = days_to_fall_below(t_h[after], sert[after], level, float(times[-1]))
    step = Step(
        name="time course",
        formula="each dose's single-dose response summed over the doses taken by then"
        if not profile.parent.saturable
        else "the ODEs integrated from dose to dose (Dormand-Prince 5(4))",
        values=(("doses", int(times.size), ""), ("steps", len(schedule), "")),
        source=model_section(10),
    )
    return Simulation(
        drug=profile.name,
        dose_mg=float(amounts[0]),
        interval_h=schedule[0][2],
        doses=int(times.size),
        phenotypes=dict(phenotypes),
        t_h=t_h,
        levels=levels,
        occupancy=occupancy,
        summary=summary,
        steps=(step,),
        schedule=tuple(schedule),
        missed_days=tuple(missed_days),
    )
