"""Occupancy over time: one-compartment oral absorption, doses superposed.

This extends model.md section 1 from the steady-state average to the whole curve. Linear
profiles use closed forms: after one dose each moiety's concentration is a sum of
exponentials (Bateman functions along the chain gut -> parent -> metabolite, and the
brain's effect compartment), and repeated doses add up as geometric series, vectorized
over time. Profiles with saturable (Michaelis-Menten) clearance are integrated with
scipy's ODE solver, imported only then. Both give parent-equivalent mg/L per moiety,
which core.levels_from_parent_equivalent converts like the steady-state case.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from sert_cli.errors import InputError, ModelError
from sert_cli.pk import formulas
from sert_cli.pk.steady_state import (
    MoietyLevels,
    check_resolvable,
    levels_from_parent_equivalent,
    moiety_clearance,
    occupancy_of_loads,
    saturable_parameters,
    transporter_loads,
)
from sert_cli.pk.steady_state import (
    steady_state as average_steady_state,
)
from sert_cli.profiles.types import Moiety, Profile
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
        return [moiety_clearance(m, self.phenotypes)[0] for m in self.profile.moieties]

    def elimination_rates(self) -> list[float]:
        return [
            formulas.elimination_rate_per_h(cl, _volume(m))
            for m, cl in zip(self.profile.moieties, self.clearances(), strict=True)
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
        for moiety, k in zip(self.profile.moieties, [k_parent, *k_metabolites], strict=True):
            rates = [ka, k] if moiety is parent else [ka, k_parent, k]
            plasma = chain_response(rates, _volume(moiety))
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
            memo = {"starts": [first], "period": None}
            object.__setattr__(self, "_saturable", memo)
        return memo

    def levels(self, t_h: np.ndarray, doses: int | None) -> list[MoietyLevels]:
        return [
            levels_from_parent_equivalent(self.profile, m, plasma, cl, brain)
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


# The ODE solver's tolerances (scipy's LSODA).
ODE_RTOL = 1e-10
ODE_ATOL = 1e-14
# Once the state just after a dose matches the one after the previous dose within this
# (relative; ODE_ATOL absolute), dosing has reached its periodic steady state: every later
# interval repeats that one, and is read from it instead of solved again.
PERIODIC_TOLERANCE = 1e-10
ODE_MAX_STEPS = 10_000_000


def _ode_system(regimen: Regimen):
    """The right-hand side f(y, t) of the ODEs gut -> parent -> metabolites (and effect
    compartments), for scipy's odeint; y = (gut, amount per moiety, brain per moiety)."""
    profile = regimen.profile
    moieties = profile.moieties
    ka = _absorption_rate(profile.parent)
    volumes = [_volume(m) for m in moieties]
    clearances = regimen.clearances()
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

    if count == 1 and ke0[0] is None:  # a parent alone (paroxetine): the common case, kept lean

        def rates(y, _t):
            gut, amount, _brain = y.tolist()
            c_parent = amount / v_parent
            eliminated = cl_parent * c_parent + vmax * c_parent / (km + c_parent)
            return (-ka * gut, ka * gut - eliminated, 0.0)

    else:

        def rates(y, _t):
            values = y.tolist()
            gut, amounts, brain = values[0], values[1 : 1 + count], values[1 + count :]
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


def _solve(rates, state: np.ndarray, start: float, end: float, points: np.ndarray):
    """One solve from start (the state given) to end: (the states at the points, all within
    [start, end], as columns; the state at end)."""
    if end <= start:
        return state[:, None].repeat(points.size, axis=1), state.copy()
    import warnings

    from scipy.integrate import ODEintWarning, odeint

    grid, where = np.unique(np.concatenate(([start], points, [end])), return_inverse=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ODEintWarning)
        y, info = odeint(
            rates,
            state,
            grid,
            rtol=ODE_RTOL,
            atol=ODE_ATOL,
            tcrit=[end],
            mxstep=ODE_MAX_STEPS,
            full_output=True,
        )
    if info["message"] != "Integration successful.":
        raise ModelError(f"the ODE solver failed: {info['message']}")
    return y.T[:, where.ravel()[1:-1]], y[-1].copy()


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
    integrated dose to dose with scipy (LSODA). Steady state: enough doses to settle, then
    shifted. The states just after each dose are kept on the regimen, and once they repeat
    the later intervals are read from one solve of the repeating interval."""
    rates, count, volumes, delayed_rows = _ode_system(regimen)
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
        solved, end_state = _solve(rates, starts[j], begin, (j + 1) * interval, flat[inside])
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
                states[:, inside] = _solve(rates, state, begin, horizon, flat[inside])[0]
        if repeat:
            where = np.concatenate([w for w, _ in repeat])
            phases = np.concatenate([p for _, p in repeat])
            states[:, where] = _solve(rates, starts[period], 0.0, interval, phases)[0]

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

    def record(self) -> dict:
        parent, *metabolites = self.levels
        return {
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
            "summary": self.summary,
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
        names = list(columns)
        return [
            dict(zip(names, row, strict=True))
            for row in zip(*(columns[n].tolist() for n in names), strict=True)
        ]


def occupancies(profile: Profile, levels: list[MoietyLevels]) -> dict[str, np.ndarray | None]:
    return occupancy_of_loads(transporter_loads(profile, levels))


def _first_at_or_above(times: np.ndarray, values: np.ndarray, level: float) -> float | None:
    hits = np.nonzero(values >= level)[0]
    return float(times[hits[0]]) if hits.size else None


def _last_at_or_above(times: np.ndarray, values: np.ndarray, level: float) -> float | None:
    hits = np.nonzero(values >= level)[0]
    return float(times[hits[-1]]) if hits.size else None


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
        last_above = _last_at_or_above(window, sert_after, level)
        summary[key] = 0.0 if last_above is None else (last_above - last_dose) / HOURS_PER_DAY
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
    if not math.isfinite(step_h) or step_h <= 0:
        raise InputError(f"must be a positive number of hours (got {step_h:g})", field="step_h")
    last_dose = (doses - 1) * interval_h
    if until_h is None:
        until_h = last_dose + 5 * longest
    elif not math.isfinite(until_h) or until_h <= 0:
        raise InputError(f"must be a positive number of hours (got {until_h:g})", field="until_h")
    points = math.floor(until_h / step_h + 1e-9) + 1
    if points > MAX_POINTS:
        raise InputError(
            f"asks for {points:,} time points with this step; at most {MAX_POINTS:,} "
            "(take a larger step)",
            field="until_h",
        )
    t_h = np.arange(points) * step_h
    levels = regimen.levels(t_h, doses)
    occupancy = occupancies(profile, levels)
    values = [np.asarray(lv.css_plasma_ng_ml) for lv in levels]
    if not all(np.isfinite(v).all() for v in values):
        raise ModelError("the simulation gave values too large to represent")
    check_resolvable(float(v.max()) for v in occupancy.values() if v is not None)
    average = average_steady_state(profile, dose_mg, interval_h, phenotypes)
    summary = {
        f"time_to_{round(f * 100)}pct_steady_state_h": t
        for f, t in average.time_to_steady_state_h.items()
    }
    summary.update(summarize(regimen, doses))
    check_resolvable(v for k, v in summary.items() if "occupancy" in k)
    method = (
        "the ODEs gut -> parent -> metabolites integrated dose by dose (LSODA)"
        if profile.parent.saturable
        else "Bateman chains gut -> parent -> metabolite, doses superposed"
    )
    steps = (
        Step(
            "time course",
            method,
            (("doses", doses, ""), ("tau", interval_h, "h")),
            model_section(10),
        ),
        *(s for s in average.steps if s.name == "time to steady state"),
    )
    return Simulation(
        profile.name,
        dose_mg,
        interval_h,
        doses,
        dict(phenotypes),
        t_h,
        levels,
        occupancy,
        summary,
        steps,
    )
