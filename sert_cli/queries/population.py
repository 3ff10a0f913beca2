"""Virtual patients (docs/model.md section 15): who reaches the target, and how widely
patients of one dose differ.

Each patient draws a phenotype for every polymorphic gene the profile names, from CPIC's
phenotype frequencies for the ancestry group (sert_cli/data/phenotype_frequencies.csv),
and a between-patient exposure factor from the profile's sourced CV (section 14). The
steady-state load of each phenotype combination is computed once by the engine's own
steady state; patients only scale it, in numpy, chunk by chunk, so a million patients
cost a few arrays. Occupancies are counted in a fine histogram, so memory stays flat and
percentiles are exact to its bin width; a seed gives the same output to the last digit.
"""

import math
from dataclasses import replace
from itertools import product

from sert_cli.datafiles import read_table
from sert_cli.errors import InputError, ModelError
from sert_cli.model import formulas
from sert_cli.pgx.patient import Prepared, advised_against, label_maximum_for
from sert_cli.pk.dosing import above_label, label_cap_mg, label_warnings
from sert_cli.pk.steady_state import (
    RANGE_Z,
    check_finite,
    check_resolvable,
    level_spread,
    patient_spread,
    steady_state,
)
from sert_cli.queries.results import PopulationResult, source_of
from sert_cli.queries.values import PopulationQuery, check_target, check_transporter, positive
from sert_cli.suggest import did_you_mean
from sert_cli.trace import Step, model_section
from sert_cli.units import percent
from sert_cli.vocabulary import HOURS_PER_DAY, TRANSPORTERS

MAX_PATIENTS = 10_000_000
CHUNK_PATIENTS = 1_000_000
HISTOGRAM_BINS = 200_000  # occupancy resolution 5e-6
PERCENTILES = (5, 25, 50, 75, 95)
SHARE_OF_PATIENTS = 0.9  # the dose that brings this share to the target


def groups() -> tuple[str, ...]:
    return tuple(dict.fromkeys(row["group"] for row in read_table("phenotype_frequencies.csv")[1]))


def ancestry_group(written: str) -> str:
    """'east asian', 'East-Asian' or 'East Asian' -> 'East Asian'."""
    wanted = " ".join(written.replace("-", " ").replace("_", " ").lower().split())
    for group in groups():
        if " ".join(group.replace("-", " ").replace("/", " ").lower().split()) == wanted:
            return group
        if group.lower() == written.strip().lower():
            return group
    raise InputError(
        f"unknown ancestry {written!r}{did_you_mean(written, groups())} "
        f"(one of: {', '.join(groups())})",
        field="ancestry",
    )


def frequencies(gene: str, group: str) -> dict[str, tuple[float, str]]:
    """{phenotype: (frequency, source)} of a gene in a group, normalized to sum to 1."""
    rows = [
        r
        for r in read_table("phenotype_frequencies.csv")[1]
        if r["gene"] == gene and r["group"] == group
    ]
    if not rows:
        raise ModelError(
            f"no {gene} phenotype frequencies for {group} in sert_cli/data/"
            "phenotype_frequencies.csv",
            field="ancestry",
        )
    total = sum(float(r["frequency"]) for r in rows)
    return {r["phenotype"]: (float(r["frequency"]) / total, r["source"]) for r in rows}


def check_size(n: int, seed: int | None) -> None:
    if not 1 <= n <= MAX_PATIENTS:
        raise InputError(f"must be between 1 and {MAX_PATIENTS:,} (got {n:,})", field="n")
    if seed is not None and not 0 <= seed < 2**63:
        raise InputError("must be a whole number from 0", field="seed")


def simulate_population(
    profile, genes, group, dose_mg, interval_h, n, seed, target, transporter, fixed=None
):
    """The numbers of the population result; the patient's other factors (co-medications,
    age) are already in `profile`, and the phenotypes the patient options fix in `fixed`
    (every virtual patient has them)."""
    import numpy as np

    table = {gene: frequencies(gene, group) for gene in genes}
    combos = list(product(*(list(table[g]) for g in genes))) or [()]
    weights = np.array(
        [math.prod(table[g][p][0] for g, p in zip(genes, c, strict=True)) for c in combos],
        dtype=float,
    )
    weights /= weights.sum()
    loads = {t: [] for t in TRANSPORTERS}
    levels = []  # each combination's level of what the reference range is of, ng/mL
    for combo in combos:
        state = steady_state(profile, dose_mg, interval_h, phenotypes_of(fixed, genes, combo))
        # a dose the model cannot resolve is refused as `sert occupancy` refuses it
        check_finite(profile, [state.levels[0].css_plasma_ng_ml, *state.loads.values()])
        check_resolvable(state.occupancy.values())
        counted = profile.range_counted(state.levels)
        levels.append(sum(float(lv.css_plasma_ng_ml) for lv in counted))
        for t in TRANSPORTERS:
            loads[t].append(state.loads.get(t))
    shown = [t for t in TRANSPORTERS if all(x is not None for x in loads[t])]
    spread = {t: patient_spread(profile, t) for t in shown}
    sigma = {t: (math.log(spread[t]) / RANGE_Z if spread[t] else 0.0) for t in shown}
    rng = np.random.default_rng(seed)
    counts = {t: np.zeros(HISTOGRAM_BINS, dtype=np.int64) for t in shown}
    per_combo = np.zeros(len(combos), dtype=np.int64)
    reached = np.zeros(len(combos), dtype=np.int64)
    medians_of = {i: np.zeros(HISTOGRAM_BINS, dtype=np.int64) for i in range(len(combos))}
    emax = {t: profile.emax.get(t, 1.0) for t in shown}
    done = 0
    while done < n:
        size = min(CHUNK_PATIENTS, n - done)
        which = rng.choice(len(combos), size=size, p=weights)
        z = rng.standard_normal(size)
        per_combo += np.bincount(which, minlength=len(combos))
        for t in shown:
            x = np.asarray(loads[t])[which] * np.exp(sigma[t] * z)
            theta = emax[t] * x / (1.0 + x)
            bins = np.minimum((theta * HISTOGRAM_BINS).astype(np.int64), HISTOGRAM_BINS - 1)
            counts[t] += np.bincount(bins, minlength=HISTOGRAM_BINS)
            if t == transporter:
                ok = theta >= target
                reached += np.bincount(which[ok], minlength=len(combos))
                for i in np.unique(which):
                    medians_of[i] += np.bincount(bins[which == i], minlength=HISTOGRAM_BINS)
        done += size
    percentiles = {t: _percentiles(counts[t], PERCENTILES) for t in shown}
    by_phenotype = [
        {
            "phenotypes": dict(zip(genes, combo, strict=True)),
            "fraction": int(per_combo[i]) / n,
            "median_occupancy": _percentiles(medians_of[i], (50,))["50"] if per_combo[i] else None,
            "fraction_reaching_target": int(reached[i]) / int(per_combo[i])
            if per_combo[i]
            else None,
        }
        for i, combo in enumerate(combos)
    ]
    by_phenotype.sort(key=lambda row: -row["fraction"])
    return {
        "phenotype_frequencies": {g: {p: f for p, (f, _) in table[g].items()} for g in genes},
        "frequency_sources": sorted({s for g in genes for _, s in table[g].values()}),
        "occupancy_percentiles": percentiles,
        "histogram": {t: _coarse(counts[t], n) for t in shown},
        "fraction_reaching_target": int(reached.sum()) / n,
        "by_phenotype": by_phenotype,
        "sigma": sigma,
        "combos": combos,
        "weights": weights.tolist(),
        "fraction_at_alert": share_at_alert(profile, levels, weights.tolist()),
    }


def share_at_alert(profile, levels: list[float], weights: list[float]) -> float | None:
    """The expected share of patients whose steady-state average level (of what the
    reference range is of) is at or above the profile's laboratory alert level: each
    phenotype combination's level L_c spread lognormally by the profile's exposure CV
    (sigma = ln(level_spread) / RANGE_Z), so its share is Phi(ln(L_c / alert) / sigma);
    without a sourced CV, the combinations whose level reaches it. None without an alert."""
    alert = profile.therapeutic_alert_ng_ml
    if alert is None:
        return None
    spread = level_spread(profile)
    sigma = math.log(spread) / RANGE_Z if spread else 0.0
    share = 0.0
    for level, weight in zip(levels, weights, strict=True):
        if sigma > 0 and level > 0:
            share += weight * 0.5 * (1.0 + math.erf(math.log(level / alert) / sigma / math.sqrt(2)))
        else:
            share += weight * (level >= alert)
    return min(share, 1.0)


def _percentiles(counts, which) -> dict[str, float]:
    """Percentiles of a histogram over [0, 1): the middle of the bin the rank falls in."""
    import numpy as np

    cumulative = np.cumsum(counts)
    total = int(cumulative[-1])
    out = {}
    for p in which:
        rank = max(1, math.ceil(p / 100 * total))
        index = int(np.searchsorted(cumulative, rank))
        out[str(p)] = (index + 0.5) / len(counts)
    return out


def _coarse(counts, n: int, bins: int = 20) -> list[float]:
    """The share of patients in each 5-point band of occupancy, for the terminal chart."""
    per = len(counts) // bins
    return [float(counts[i * per : (i + 1) * per].sum()) / n for i in range(bins)]


def phenotypes_of(fixed, genes, combo) -> dict:
    """A virtual patient's phenotypes: the fixed ones, and one combination of the rest."""
    return {**(fixed or {}), **dict(zip(genes, combo, strict=True))}


def share_reaching(
    profile, genes, combos, weights, sigma, dose_mg, interval_h, target, transporter, fixed=None
):
    """The expected share of patients at or above the target at a dose, exactly: each
    phenotype combination's load L is spread lognormally, so its share is
    Phi(ln(L / x*) / sigma)."""
    emax = profile.emax.get(transporter, 1.0)
    if target >= emax:
        return 0.0
    x_target = formulas.load_for_occupancy(target, emax)
    share = 0.0
    for combo, weight in zip(combos, weights, strict=True):
        load = steady_state(profile, dose_mg, interval_h, phenotypes_of(fixed, genes, combo))
        ratio = math.log(load.loads[transporter] / x_target)
        if sigma > 0:
            share += weight * 0.5 * (1.0 + math.erf(ratio / sigma / math.sqrt(2.0)))
        else:
            share += weight * (ratio >= 0)
    return share


def dose_for_share(
    profile, genes, combos, weights, sigma, interval_h, target, transporter, fixed=None
):
    """(the dose per interval at which SHARE_OF_PATIENTS reach the target, the share that
    reaches it at the patient's label maximum): bisection in log dose on the exact share
    (which rises with dose); the dose is None where the label maximum does not suffice,
    so no dose above the label is ever proposed."""
    top = label_cap_mg(profile, interval_h)

    def share(dose):
        return share_reaching(
            profile, genes, combos, weights, sigma, dose, interval_h, target, transporter, fixed
        )

    at_top = share(top)
    if at_top < SHARE_OF_PATIENTS:
        return None, at_top
    low, high = top * 1e-6, top
    for _ in range(60):
        middle = math.sqrt(low * high)
        if share(middle) < SHARE_OF_PATIENTS:
            low = middle
        else:
            high = middle
    return high, at_top


def daily(dose_mg: float, interval_h: float) -> float:
    return dose_mg * HOURS_PER_DAY / interval_h


def answer_population(
    engine, query: PopulationQuery, prepared: Prepared, interval: float
) -> PopulationResult:
    """The population query's answer (the engine dispatches here; no further queries)."""
    dose = positive(query.dose_mg, "dose_mg", "mg")
    target = check_target(query.target)
    transporter = check_transporter(query.transporter)
    check_size(query.n, query.seed)
    group = ancestry_group(query.ancestry)
    profile = prepared.profile
    given = dict(prepared.phenotypes) if query.patient.given else {}
    genes = [g for g in prepared.phenotypes if g not in dict(query.patient.phenotypes)]
    genes = [g for g in genes if g not in {gene for gene, _ in query.patient.genotypes}]
    fixed = {g: p for g, p in prepared.phenotypes.items() if g not in genes}
    numbers = simulate_population(
        profile, genes, group, dose, interval, query.n, query.seed, target, transporter, fixed
    )
    if given:  # the phenotypes the patient options fixed stay fixed for every patient
        for row in numbers["by_phenotype"]:
            row["phenotypes"] = {
                **{g: given[g] for g in given if g not in genes},
                **row["phenotypes"],
            }
    sigma = numbers["sigma"].get(transporter, 0.0)
    # no dose above the lowest maximum any of these patients has (a phenotype's label
    # limit: citalopram's 20 mg/day in CYP2C19 poor metabolizers)
    lowest = min(
        label_maximum_for(profile, phenotypes_of(fixed, genes, combo))
        for combo in numbers["combos"]
    )
    capped = profile if lowest >= profile.label_max_mg else replace(profile, label_max_mg=lowest)
    numbers = {**numbers, "label_max_mg": capped.label_max_mg}
    dose_for_share_mg, share_at_max = dose_for_share(
        capped,
        genes,
        numbers["combos"],
        numbers["weights"],
        sigma,
        interval,
        target,
        transporter,
        fixed,
    )
    warnings = list(prepared.warnings)
    daily_dose = daily(dose, interval)
    if above_label(profile, daily_dose):  # as `sert occupancy` says it
        warnings += label_warnings(profile, daily_dose, "the daily dose")
    if prepared.avoid:
        dose_for_share_mg = None
        warnings.append(
            f"no dose for 90 %: the label says to avoid {profile.name} for this patient: "
            + "; ".join(prepared.avoid)
        )
    elif advised_against(prepared.guidance):
        dose_for_share_mg = None
        warnings.append(
            f"no dose for 90 %: the guideline advises against {profile.name} for this patient: "
            + "; ".join(advised_against(prepared.guidance))
        )
    elif dose_for_share_mg is None:
        warnings.append(
            f"no dose within the label maximum of {capped.label_max_mg:g} mg/day brings 90 % "
            f"of these patients to {percent(target)} {transporter} occupancy: at the maximum "
            f"{percent(share_at_max, 1)} reach it"
        )
    variability = {}
    if profile.exposure_cv is not None:
        variability["exposure"] = {
            "cv": profile.exposure_cv,
            "source": source_of(profile, "pk.exposure_cv"),
        }
    else:
        warnings.append(
            f"{profile.name}'s profile has no sourced between-patient variability: patients "
            "differ only by phenotype"
        )
    step = Step(
        name="virtual patients",
        formula="phenotypes drawn from CPIC frequencies; load = L(phenotypes) * exp(sigma * z), "
        "z ~ N(0, 1); share at the target = sum_c w_c Phi(ln(L_c / x*) / sigma)",
        values=(("n", query.n, ""), ("seed", query.seed, ""), ("sigma", sigma, "")),
        source=model_section(15),
    )
    return PopulationResult(
        query=query,
        prepared=prepared,
        interval_h=interval,
        group=group,
        numbers=numbers,
        dose_for_share_mg=dose_for_share_mg,
        variability=variability,
        warnings=tuple(warnings),
        steps=(step,),
    )
