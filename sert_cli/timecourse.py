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
from dataclasses import dataclass, field

import numpy as np

from sert_cli import model
from sert_cli.core import (
    LigandLevels,
    check_dose,
    check_interval,
    check_resolvable,
    levels_from_parent_equivalent,
    resolve_phenotypes,
    transporter_loads,
)
from sert_cli.errors import InputError, ModelError
from sert_cli.profile import TRANSPORTERS, Moiety, Profile

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
        return [m.clearance_for(self.phenotypes) for m in self.profile.moieties]

    def elimination_rates(self) -> list[float]:
        return [
            model.elimination_rate_per_h(cl, _volume(m))
            for m, cl in zip(self.profile.moieties, self.clearances(), strict=True)
        ]

    def longest_half_life_h(self) -> float:
        rates = self.elimination_rates() + [
            model.rate_from_half_life_per_h(m.brain_equilibration_half_life_h)
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
                    plasma, model.rate_from_half_life_per_h(moiety.brain_equilibration_half_life_h)
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

    def levels(self, t_h: np.ndarray, doses: int | None) -> list[LigandLevels]:
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


def _integrate(regimen: Regimen, t_h: np.ndarray, doses: int | None) -> list[tuple]:
    """Saturable clearance: the ODEs gut -> parent -> metabolites (and effect compartments),
    integrated dose to dose with scipy. Steady state: enough doses to settle, then shifted."""
    from scipy.integrate import solve_ivp

    profile = regimen.profile
    moieties = profile.moieties
    interval = regimen.interval_h
    ka = _absorption_rate(profile.parent)
    volumes = [_volume(m) for m in moieties]
    clearances = regimen.clearances()
    vmax, km = profile.parent.saturable_for(regimen.phenotypes)
    k_metabolites = [cl / v for cl, v in zip(clearances[1:], volumes[1:], strict=True)]
    ke0 = [
        model.rate_from_half_life_per_h(m.brain_equilibration_half_life_h)
        if m.brain_equilibration_half_life_h
        else None
        for m in moieties
    ]
    count = len(moieties)

    def rates(_t, y):
        gut, amounts, brain = y[0], y[1 : 1 + count], y[1 + count :]
        c_parent = amounts[0] / volumes[0]
        eliminated = clearances[0] * c_parent + vmax * c_parent / (km + c_parent)
        d_amounts = [ka * gut - eliminated]
        d_amounts += [eliminated - k * a for k, a in zip(k_metabolites, amounts[1:], strict=True)]
        d_brain = [
            (rate * (a / v - b) if rate else 0.0)
            for rate, a, v, b in zip(ke0, amounts, volumes, brain, strict=True)
        ]
        return [-ka * gut, *d_amounts, *d_brain]

    shift = 0.0
    if doses is None:  # steady state: dose until settled, then read the last interval
        settle_h = 12 * regimen.longest_half_life_h()
        doses = min(MAX_DOSES, max(2, math.ceil(settle_h / interval) + 1))
        shift = (doses - 1) * interval
    times = np.asarray(t_h, dtype=float) + shift
    volume_column = np.array(volumes)[:, None]
    delayed_rows = np.array([rate is not None for rate in ke0])[:, None]
    out = np.zeros((2 * count, times.size))
    state = np.zeros(1 + 2 * count)
    horizon = float(times.max(initial=0.0))
    for dose_index in range(doses):
        start = dose_index * interval
        if start > horizon:
            break
        last = dose_index == doses - 1
        end = horizon if last else (dose_index + 1) * interval
        state[0] += regimen.dose_mg * profile.salt_factor
        inside = np.nonzero((times >= start) & ((times <= end) if last else (times < end)))[0]
        if end <= start:
            solved_y = state[:, None].repeat(inside.size, axis=1)
        else:  # one solve gives the asked-for points and the state at the next dose
            inside = inside[np.argsort(times[inside], kind="stable")]
            asked = times[inside]
            t_eval = asked if last and asked.size else np.append(asked, end)
            solution = solve_ivp(
                rates, (start, end), state, method="LSODA", rtol=1e-10, atol=1e-14, t_eval=t_eval
            )
            if not solution.success:
                raise ModelError(f"the ODE solver failed: {solution.message}")
            solved_y, state = solution.y[:, : inside.size], solution.y[:, -1].copy()
        if inside.size:
            plasma = solved_y[1 : 1 + count] / volume_column
            out[:count, inside] = plasma
            out[count:, inside] = np.where(delayed_rows, solved_y[1 + count :], plasma)
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
    levels: list[LigandLevels]
    occupancy: dict[str, np.ndarray | None]
    summary: dict
    warnings: list[str] = field(default_factory=list)

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
            "warnings": list(self.warnings),
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


def occupancies(profile: Profile, levels: list[LigandLevels]) -> dict[str, np.ndarray | None]:
    loads = transporter_loads(profile, levels)
    return {t: (model.occupancy_from_load(loads[t]) if t in loads else None) for t in TRANSPORTERS}


def _first_at_or_above(times: np.ndarray, values: np.ndarray, level: float) -> float | None:
    hits = np.nonzero(values >= level)[0]
    return float(times[hits[0]]) if hits.size else None


def _last_at_or_above(times: np.ndarray, values: np.ndarray, level: float) -> float | None:
    hits = np.nonzero(values >= level)[0]
    return float(times[hits[-1]]) if hits.size else None


def summarize(regimen: Regimen, doses: int) -> dict:
    """Approach to steady state (at troughs), steady-state swing, and washout."""
    profile, interval = regimen.profile, regimen.interval_h
    within = np.linspace(0.0, interval, STEADY_STATE_SAMPLES)
    ss_levels = regimen.levels(within, None)
    ss_occ = occupancies(profile, ss_levels)
    ss_load = transporter_loads(profile, ss_levels).get("SERT")
    troughs_t = interval * np.arange(1, doses + 1)
    summary: dict = {}
    if ss_load is not None:
        trough_load = transporter_loads(profile, regimen.levels(troughs_t, doses))["SERT"]
        for fraction in (0.90, 0.95):
            hit = _first_at_or_above(troughs_t, trough_load, fraction * ss_load[-1])
            summary[f"time_to_{round(fraction * 100)}pct_steady_state_h"] = hit
    parent_ss = ss_levels[0].css_plasma_ng_ml
    summary["steady_state_peak_ng_ml"] = float(parent_ss.max())
    summary["steady_state_trough_ng_ml"] = float(parent_ss[-1])
    for transporter, values in ss_occ.items():
        if values is not None:
            summary[f"steady_state_peak_occupancy_{transporter}"] = float(values.max())
            summary[f"steady_state_trough_occupancy_{transporter}"] = float(values[-1])
    last_dose = (doses - 1) * interval
    window = np.linspace(last_dose, last_dose + 12 * regimen.longest_half_life_h(), WASHOUT_SAMPLES)
    sert_after = occupancies(profile, regimen.levels(window, doses))["SERT"]
    for level in (0.5, 0.2):
        key = f"days_after_last_dose_to_sert_below_{round(level * 100)}pct"
        if sert_after is None:
            summary[key] = None
            continue
        last_above = _last_at_or_above(window, sert_after, level)
        summary[key] = 0.0 if last_above is None else (last_above - last_dose) / 24.0
    return summary


def simulate(
    profile: Profile,
    dose_mg: float,
    interval_h: float | None = None,
    doses: int | None = None,
    days: float | None = None,
    until_h: float | None = None,
    step_h: float = 1.0,
    requested: Mapping[str, str] | None = None,
) -> Simulation:
    check_dose(dose_mg)
    interval_h = profile.interval_h if interval_h is None else check_interval(interval_h)
    phenotypes, warnings = resolve_phenotypes(profile, requested or {})
    regimen = Regimen(profile, dose_mg, interval_h, phenotypes)
    longest = regimen.longest_half_life_h()
    if doses is not None and days is not None:
        raise InputError("give --doses or --days, not both")
    if days is not None:
        if not math.isfinite(days) or days <= 0:
            raise InputError(f"--days must be a positive number (got {days:g})")
        doses = math.ceil(days * 24.0 / interval_h - 1e-9)
    if doses is None:
        doses = math.ceil(max(7 * 24.0, 5 * longest) / interval_h)
    if not 1 <= doses <= MAX_DOSES:
        raise InputError(f"--doses must be between 1 and {MAX_DOSES} (got {doses})")
    if not math.isfinite(step_h) or step_h <= 0:
        raise InputError(f"--step must be a positive number of hours (got {step_h:g})")
    last_dose = (doses - 1) * interval_h
    if until_h is None:
        until_h = last_dose + 5 * longest
    elif not math.isfinite(until_h) or until_h <= 0:
        raise InputError(f"--until must be a positive number of hours (got {until_h:g})")
    points = math.floor(until_h / step_h + 1e-9) + 1
    if points > MAX_POINTS:
        raise InputError(
            f"--until / --step asks for {points:,} time points; at most "
            f"{MAX_POINTS:,} (raise --step)"
        )
    t_h = np.arange(points) * step_h
    levels = regimen.levels(t_h, doses)
    occupancy = occupancies(profile, levels)
    values = [np.asarray(lv.css_plasma_ng_ml) for lv in levels]
    if not all(np.isfinite(v).all() for v in values):
        raise ModelError("the simulation gave values too large to represent")
    check_resolvable(float(v.max()) for v in occupancy.values() if v is not None)
    summary = summarize(regimen, doses)
    check_resolvable(v for k, v in summary.items() if "occupancy" in k)
    return Simulation(
        profile.name,
        dose_mg,
        interval_h,
        doses,
        phenotypes,
        t_h,
        levels,
        occupancy,
        summary,
        warnings,
    )
