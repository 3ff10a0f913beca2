"""Queries over a profile: occupancy at a dose, dose for a target, the dose table.

Plain functions over plain data; the CLI, the batch engine and the tests all call these.
Results are named tuples whose `record()` is the documented JSON/CSV contract.
"""

from collections.abc import Mapping
from math import ceil, gcd, isfinite
from typing import NamedTuple

from sert_cli import model
from sert_cli.errors import InputError, ModelError
from sert_cli.pgx import PHENOTYPES
from sert_cli.profile import TRANSPORTERS, Moiety, Profile
from sert_cli.units import mg_l_to_ng_ml, ng_ml_to_nm, nm_to_ng_ml

HOURS_PER_DAY = 24.0
# Beyond this many units of the smallest strength a "recommended dose" means nothing.
MAX_UNITS_PER_DOSE = 1000
MAX_SEARCH_STEPS = 200_000


class LigandLevels(NamedTuple):
    """Steady-state levels of one moiety (parent or metabolite) at one dose."""

    name: str
    clearance_l_h: float
    css_plasma_ng_ml: float
    css_plasma_nm: float
    cu_plasma_nm: float
    cu_brain_nm: float

    def record(self) -> dict:
        return {
            "name": self.name,
            "clearance_l_h": self.clearance_l_h,
            "css_plasma_ng_ml": self.css_plasma_ng_ml,
            "css_plasma_nm": self.css_plasma_nm,
            "cu_plasma_nm": self.cu_plasma_nm,
            "cu_brain_nm": self.cu_brain_nm,
        }


def check_dose(dose_mg: float, option: str = "--dose") -> float:
    if not isfinite(dose_mg) or dose_mg <= 0:
        raise InputError(f"{option} must be a positive number of mg (got {dose_mg:g})")
    return dose_mg


def check_interval(interval_h: float, option: str = "--interval") -> float:
    if not isfinite(interval_h) or interval_h <= 0:
        raise InputError(f"{option} must be a positive number of hours (got {interval_h:g})")
    return interval_h


def check_target(target: float, option: str = "--target") -> float:
    if not isfinite(target) or not 0 < target < 1:
        hint = ""
        if 1 < target < 100:
            hint = f"; did you mean {target / 100:g} ({target:g} %)?"
        elif target == 1:
            hint = "; 100 % occupancy is reached only at infinite concentration"
        raise InputError(
            f"{option} must be a fraction between 0 and 1, exclusive (got {target:g}){hint}"
        )
    return target


def resolve_phenotypes(
    profile: Profile, requested: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """The phenotype used for each gene the profile depends on (NM unless given)."""
    used = {gene: requested.get(gene, "NM") for gene in profile.genes}
    warnings = [
        f"{profile.name}'s profile has no {gene} data; {gene}={phenotype} was not used"
        for gene, phenotype in requested.items()
        if gene not in used
    ]
    for moiety in profile.moieties:
        for fraction in moiety.fractions_metabolized:
            if used[fraction.gene] not in fraction.activity:
                have = ", ".join(p for p in PHENOTYPES if p in fraction.activity)
                raise ModelError(
                    f"{profile.name}'s profile has no {fraction.gene} activity "
                    f"for {used[fraction.gene]}s (it has {have})"
                )
        table = moiety.phenotypes
        if table and used[table.gene] not in table.apparent_clearance_l_h:
            have = ", ".join(p for p in PHENOTYPES if p in table.apparent_clearance_l_h)
            raise ModelError(
                f"{profile.name}'s profile has no clearance for {moiety.name} in "
                f"{table.gene} {used[table.gene]}s (it has {have})"
            )
    return used, warnings


def steady_state_parent_equivalent_mg_l(
    profile: Profile, moiety: Moiety, dose_mg, interval_h, phenotypes: Mapping[str, str]
):
    """Section 1's Css; a saturable parent balances the dose rate against CL + Vmax/(Km + C).
    A metabolite's is in mg/L of parent equivalents (its clearance is per parent dose)."""
    moiety_dose_mg = dose_mg * profile.salt_factor
    clearance_l_h = moiety.clearance_for(phenotypes)
    saturable = moiety.saturable_for(phenotypes)
    if saturable is not None:
        vmax_mg_h, km_mg_l = saturable
        return model.saturable_css_mg_l(
            moiety_dose_mg / interval_h, clearance_l_h, vmax_mg_h, km_mg_l
        )
    return model.css_mg_l(moiety_dose_mg, clearance_l_h, interval_h)


def levels_from_parent_equivalent(
    profile: Profile,
    moiety: Moiety,
    parent_equivalent_mg_l,
    clearance_l_h,
    brain_parent_equivalent_mg_l=None,
):
    """Unit conversions and section 3 for one moiety; takes floats or numpy arrays.

    The brain may lag the plasma (an effect compartment): then its own parent-equivalent
    concentration is passed as brain_parent_equivalent_mg_l."""
    css_nm = ng_ml_to_nm(mg_l_to_ng_ml(parent_equivalent_mg_l), profile.parent.molar_mass_g_mol)
    css_ng_ml = nm_to_ng_ml(css_nm, moiety.molar_mass_g_mol)
    cu_plasma = model.unbound_concentration(css_nm, moiety.fraction_unbound)
    if brain_parent_equivalent_mg_l is None:
        brain_cu_plasma = cu_plasma
    else:
        brain_cu_plasma = model.unbound_concentration(
            ng_ml_to_nm(
                mg_l_to_ng_ml(brain_parent_equivalent_mg_l), profile.parent.molar_mass_g_mol
            ),
            moiety.fraction_unbound,
        )
    cu_brain = model.brain_unbound_concentration(brain_cu_plasma, moiety.kp_uu_brain)
    return LigandLevels(moiety.name, clearance_l_h, css_ng_ml, css_nm, cu_plasma, cu_brain)


def ligand_levels(
    profile: Profile, moiety: Moiety, dose_mg, interval_h, phenotypes: Mapping[str, str]
):
    """Steady-state levels of one moiety (sections 1 and 3)."""
    parent_equivalent = steady_state_parent_equivalent_mg_l(
        profile, moiety, dose_mg, interval_h, phenotypes
    )
    return levels_from_parent_equivalent(
        profile, moiety, parent_equivalent, moiety.clearance_for(phenotypes)
    )


def transporter_loads(profile: Profile, levels: list[LigandLevels]) -> dict[str, object]:
    """sum_j C_j / K_j for each transporter some ligand binds (model.md section 4)."""
    loads = {}
    for transporter in TRANSPORTERS:
        terms = [
            lv.cu_brain_nm / m.k_nm[transporter]
            for m, lv in zip(profile.moieties, levels, strict=True)
            if transporter in m.k_nm
        ]
        if terms:
            loads[transporter] = sum(terms)
    return loads


def label_maximum_text(profile: Profile) -> str:
    text = f"the label maximum of {profile.label_max_mg:g} mg/day"
    return f"{text} ({profile.label_max_source})" if profile.label_max_source else text


def label_warnings(profile: Profile, daily_dose_mg: float, what: str) -> list[str]:
    if daily_dose_mg > profile.label_max_mg * (1 + 1e-9):
        return [f"{what} {daily_dose_mg:g} mg/day is above {label_maximum_text(profile)}"]
    if daily_dose_mg < profile.label_min_mg * (1 - 1e-9):
        return [
            f"{what} {daily_dose_mg:g} mg/day is below the label minimum of "
            f"{profile.label_min_mg:g} mg/day"
        ]
    return []


class OccupancyResult(NamedTuple):
    drug: str
    dose_mg: float
    interval_h: float
    phenotypes: dict[str, str]
    parent: LigandLevels
    metabolites: tuple[LigandLevels, ...]
    occupancy: dict[str, float | None]
    time_to_95pct_steady_state_h: float | None
    affinity: dict[str, str]
    warnings: list[str]
    occupancy_by_moiety: dict[str, dict[str, float]]

    def record(self) -> dict:
        return {
            "drug": self.drug,
            "dose_mg": self.dose_mg,
            "interval_h": self.interval_h,
            "daily_dose_mg": self.dose_mg * HOURS_PER_DAY / self.interval_h,
            "phenotypes": dict(self.phenotypes),
            "clearance_l_h": self.parent.clearance_l_h,
            "css_plasma_ng_ml": self.parent.css_plasma_ng_ml,
            "css_plasma_nm": self.parent.css_plasma_nm,
            "cu_plasma_nm": self.parent.cu_plasma_nm,
            "cu_brain_nm": self.parent.cu_brain_nm,
            "metabolites": [m.record() for m in self.metabolites],
            "occupancy": dict(self.occupancy),
            "occupancy_by_moiety": self.occupancy_by_moiety,
            "time_to_95pct_steady_state_h": self.time_to_95pct_steady_state_h,
            "affinity": dict(self.affinity),
            "warnings": list(self.warnings),
        }


def steady_state_loads(profile: Profile, dose_mg, interval_h: float, phenotypes: Mapping[str, str]):
    """Every moiety's steady-state levels and each transporter's load sum_j C_j / K_j."""
    levels = [ligand_levels(profile, m, dose_mg, interval_h, phenotypes) for m in profile.moieties]
    return levels, transporter_loads(profile, levels)


def steady_state_occupancy(
    profile: Profile, dose_mg, interval_h: float, phenotypes: Mapping[str, str]
):
    """Levels of every moiety, transporter loads and occupancy at steady state; dose_mg is a
    float (single queries) or a numpy array (batch), through the same arithmetic."""
    levels, loads = steady_state_loads(profile, dose_mg, interval_h, phenotypes)
    occupancy = {
        t: (model.occupancy_from_load(loads[t]) if t in loads else None) for t in TRANSPORTERS
    }
    return levels, loads, occupancy


def occupancy_result(
    profile: Profile,
    dose_mg: float,
    interval_h: float,
    phenotypes: dict[str, str],
    warnings: list[str],
    levels,
    loads,
    occupancy,
) -> OccupancyResult:
    check_finite(profile, [levels[0].css_plasma_ng_ml, *loads.values()])
    check_resolvable(occupancy.values())
    warnings = warnings + label_warnings(
        profile, dose_mg * HOURS_PER_DAY / interval_h, "the daily dose"
    )
    # the slowest moiety sets the approach (norfluoxetine's weeks, not fluoxetine's days);
    # a phenotype's clearance changes the half-life through the volume, which it does not
    half_lives = [
        model.HALF_LIFE_PER_RATE / model.elimination_rate_per_h(lv.clearance_l_h, m.volume_l)
        for m, lv in zip(profile.moieties, levels, strict=True)
        if m.volume_l
    ]
    t95 = model.time_to_steady_state_fraction_h(max(half_lives), 0.95) if half_lives else None
    return OccupancyResult(
        profile.name,
        dose_mg,
        interval_h,
        phenotypes,
        levels[0],
        tuple(levels[1:]),
        occupancy,
        t95,
        dict(profile.affinity),
        warnings,
        moiety_shares(profile, levels, loads),
    )


def moiety_shares(profile: Profile, levels, loads) -> dict[str, dict[str, float]]:
    """Each moiety's part of each transporter's occupancy: theta_i (model.md section 4)."""
    return {
        transporter: {
            lv.name: model.ligand_share(lv.cu_brain_nm / m.k_nm[transporter], total)
            for m, lv in zip(profile.moieties, levels, strict=True)
            if transporter in m.k_nm
        }
        for transporter, total in loads.items()
    }


def occupancy_at(
    profile: Profile,
    dose_mg: float,
    interval_h: float | None = None,
    requested: Mapping[str, str] | None = None,
) -> OccupancyResult:
    check_dose(dose_mg)
    interval_h = profile.interval_h if interval_h is None else check_interval(interval_h)
    phenotypes, warnings = resolve_phenotypes(profile, requested or {})
    levels, loads, occupancy = steady_state_occupancy(profile, dose_mg, interval_h, phenotypes)
    return occupancy_result(
        profile, dose_mg, interval_h, phenotypes, warnings, levels, loads, occupancy
    )


def check_resolvable(occupancies) -> None:
    """Occupancy is below 1 at any finite concentration; a float that rounds to 1 means the
    request is far beyond anything the model can tell apart."""
    if any(v is not None and v >= 1.0 for v in occupancies):
        raise ModelError(
            "at this dose the predicted occupancy is indistinguishable from 100 %;"
            " the request is far beyond the range the model resolves"
        )


def check_finite(profile: Profile, values) -> None:
    if not all(isfinite(v) for v in values):
        raise ModelError(
            f"the numbers in {profile.name}'s profile and this request give a "
            "result too large to represent; check their magnitudes"
        )


def load_at(
    profile: Profile, transporter: str, dose_mg, interval_h: float, phenotypes: Mapping[str, str]
):
    """The steady-state transporter load sum_j C_j / K_j at a dose."""
    loads = steady_state_loads(profile, dose_mg, interval_h, phenotypes)[1]
    if transporter not in loads:
        raise ModelError(
            f"{profile.name}'s profile gives no affinity for {transporter}, so no "
            f"dose can be computed for it"
        )
    return loads[transporter]


def dose_for_load(load_target, load_per_mg_value):
    """Section 5: D* = x* / x(1 mg), closed form for linear PK and n = 1."""
    return load_target / load_per_mg_value


def saturable_dose_for_load(
    profile: Profile,
    transporter: str,
    load_target: float,
    interval_h: float,
    phenotypes: Mapping[str, str],
) -> float:
    """Section 5 for a saturable parent alone, still closed form: the load fixes the
    unbound brain concentration, hence the plasma level, hence the dose rate that holds it."""
    parent = profile.parent
    cu_brain_nm = load_target * parent.k_nm[transporter]
    css_nm = cu_brain_nm / (parent.kp_uu_brain * parent.fraction_unbound)
    css_mg_l = nm_to_ng_ml(css_nm, parent.molar_mass_g_mol) / 1000.0
    vmax_mg_h, km_mg_l = parent.saturable_for(phenotypes)
    rate_mg_h = model.saturable_dose_rate_mg_h(
        css_mg_l, parent.clearance_for(phenotypes), vmax_mg_h, km_mg_l
    )
    return rate_mg_h * interval_h / profile.salt_factor


def bisect_dose_for_load(load_of_dose, load_target: float, first_guess_mg: float) -> float:
    """Section 5 for saturable PK: the load rises with dose, so bracket and bisect (in log
    dose, to full float precision)."""
    low = high = first_guess_mg
    while load_of_dose(high) < load_target:
        high *= 2.0
        if high > 1e12:
            raise ModelError("no dose reaches this target")
    while load_of_dose(low) > load_target:
        low /= 2.0
    for _ in range(200):
        middle = (low * high) ** 0.5
        if middle in (low, high):
            break
        if load_of_dose(middle) < load_target:
            low = middle
        else:
            high = middle
    return high


def smallest_dose_from_strengths(
    dose_mg: float, strengths_mg: tuple[float, ...]
) -> tuple[float, tuple[float, ...]] | None:
    """Smallest sum of whole units of the marketed strengths that is >= dose_mg, made
    with the fewest units; None when it would take more than MAX_UNITS_PER_DOSE units."""
    micrograms = [round(s * 1000) for s in strengths_mg]
    step = 0
    for m in micrograms:
        step = gcd(step, m)
    sizes = sorted({m // step for m in micrograms}, reverse=True)
    need = ceil(dose_mg * 1000 / step - 1e-9)
    if need > MAX_UNITS_PER_DOSE * sizes[-1]:
        return None
    limit = need + sizes[0]
    if limit > MAX_SEARCH_STEPS:  # strengths with no common step: whole units of one strength
        total, size = min((ceil(need / s) * s, -s) for s in sizes)
        units = (-size * step / 1000,) * (total // -size)
        return total * step / 1000, units
    fewest: list[tuple[int, ...] | None] = [None] * (limit + 1)
    fewest[0] = ()
    for total in range(1, limit + 1):
        best = None
        for size in sizes:
            if size <= total and fewest[total - size] is not None:
                candidate = fewest[total - size] + (size,)
                if best is None or len(candidate) < len(best):
                    best = candidate
        fewest[total] = best
        if total >= need and best is not None:
            return total * step / 1000, tuple(sorted((u * step / 1000 for u in best), reverse=True))
    return None


class DoseResult(NamedTuple):
    drug: str
    target: float
    transporter: str
    interval_h: float
    phenotypes: dict[str, str]
    dose_mg: float
    recommended_dose_mg: float | None
    recommended_units_mg: tuple[float, ...]
    occupancy_at_recommended: float | None
    label_min_mg: float
    label_max_mg: float
    exceeds_label_max: bool
    affinity: dict[str, str]
    warnings: list[str]

    def record(self) -> dict:
        return {
            "drug": self.drug,
            "target": self.target,
            "transporter": self.transporter,
            "interval_h": self.interval_h,
            "phenotypes": dict(self.phenotypes),
            "dose_mg": self.dose_mg,
            "daily_dose_mg": self.dose_mg * HOURS_PER_DAY / self.interval_h,
            "recommended_dose_mg": self.recommended_dose_mg,
            "recommended_units_mg": list(self.recommended_units_mg),
            "occupancy_at_recommended": self.occupancy_at_recommended,
            "label_min_mg": self.label_min_mg,
            "label_max_mg": self.label_max_mg,
            "exceeds_label_max": self.exceeds_label_max,
            "affinity": dict(self.affinity),
            "warnings": list(self.warnings),
        }


def dose_for_target(
    profile: Profile,
    target: float = 0.8,
    transporter: str = "SERT",
    interval_h: float | None = None,
    requested: Mapping[str, str] | None = None,
) -> DoseResult:
    check_target(target)
    if transporter not in TRANSPORTERS:
        raise InputError(f"--transporter must be one of {', '.join(TRANSPORTERS)}")
    interval_h = profile.interval_h if interval_h is None else check_interval(interval_h)
    phenotypes, warnings = resolve_phenotypes(profile, requested or {})
    per_mg = load_at(profile, transporter, 1.0, interval_h, phenotypes)
    load_target = model.load_for_occupancy(target)
    if profile.parent.saturable and not profile.metabolites:
        exact = saturable_dose_for_load(profile, transporter, load_target, interval_h, phenotypes)
    elif any(m.saturable for m in profile.moieties):
        exact = bisect_dose_for_load(
            lambda d: load_at(profile, transporter, d, interval_h, phenotypes),
            load_target,
            dose_for_load(load_target, per_mg),
        )
    else:
        exact = dose_for_load(load_target, per_mg)
    check_finite(profile, [exact])
    per_day = HOURS_PER_DAY / interval_h
    made = smallest_dose_from_strengths(exact, profile.strengths_mg)
    if made is None:
        recommended, units, at_recommended = None, (), None
        warnings.append(
            f"no practical combination of the marketed strengths reaches {exact:.4g} mg"
        )
        exceeds = True
    else:
        recommended, units = made
        at_recommended = model.occupancy_from_load(
            load_at(profile, transporter, recommended, interval_h, phenotypes)
        )
        exceeds = recommended * per_day > profile.label_max_mg * (1 + 1e-9)
    if exact * per_day > profile.label_max_mg * (1 + 1e-9):
        exceeds = True
        warnings.append(
            f"the dose for {target:.0%} {transporter} occupancy, "
            f"{exact * per_day:.4g} mg/day, is above {label_maximum_text(profile)}"
        )
    elif exact * per_day < profile.label_min_mg * (1 - 1e-9):
        warnings.append(
            f"the dose for {target:.0%} {transporter} occupancy, "
            f"{exact * per_day:.4g} mg/day, is below the label minimum of "
            f"{profile.label_min_mg:g} mg/day"
        )
    elif recommended is not None:
        warnings += label_warnings(profile, recommended * per_day, "the recommended dose")
    return DoseResult(
        profile.name,
        target,
        transporter,
        interval_h,
        phenotypes,
        exact,
        recommended,
        units,
        at_recommended,
        profile.label_min_mg,
        profile.label_max_mg,
        exceeds,
        dict(profile.affinity),
        warnings,
    )


class DoseTable(NamedTuple):
    drug: str
    interval_h: float
    doses_mg: tuple[float, ...]
    columns: tuple[dict[str, str], ...]  # phenotype assignment of each column
    occupancy: tuple[tuple[dict[str, float | None], ...], ...]  # [dose][column]

    def records(self) -> list[dict]:
        return [
            {
                "drug": self.drug,
                "dose_mg": dose,
                "interval_h": self.interval_h,
                "phenotypes": dict(column),
                "occupancy": dict(cell),
            }
            for dose, row in zip(self.doses_mg, self.occupancy, strict=True)
            for column, cell in zip(self.columns, row, strict=True)
        ]


def table_doses(profile: Profile, max_rows: int = 12) -> tuple[float, ...]:
    """Doses the marketed strengths make within the label range (per interval)."""
    per_day = HOURS_PER_DAY / profile.interval_h
    low, high = profile.label_min_mg / per_day, profile.label_max_mg / per_day
    doses, dose = [], low
    while dose <= high * (1 + 1e-9):
        made = smallest_dose_from_strengths(dose, profile.strengths_mg)
        if made is None or made[0] > high * (1 + 1e-9):
            break
        doses.append(made[0])
        dose = made[0] + 1e-6
    if len(doses) > max_rows:
        picks = {round(i * (len(doses) - 1) / (max_rows - 1)) for i in range(max_rows)}
        doses = [d for i, d in enumerate(doses) if i in picks]
    return tuple(doses) or (low,)


def phenotype_columns(profile: Profile) -> list[dict[str, str]]:
    """All-NM, then one gene at a time at each phenotype the profile has, in CPIC order."""
    columns: list[dict[str, str]] = [dict.fromkeys(profile.genes, "NM")]
    for gene in profile.genes:
        have = profile.phenotypes_of(gene)
        columns += [{**columns[0], gene: p} for p in PHENOTYPES if p in have and p != "NM"]
    columns.sort(key=lambda c: tuple(PHENOTYPES.index(p) for p in c.values()))
    return columns


def occupancy_grid(
    profile: Profile, doses: tuple[float, ...], columns: list[dict[str, str]]
) -> DoseTable:
    cells = tuple(
        tuple(occupancy_at(profile, dose, None, column).occupancy for column in columns)
        for dose in doses
    )
    return DoseTable(profile.name, profile.interval_h, doses, tuple(columns), cells)


def dose_table(profile: Profile, patient: Mapping[str, str] | None = None) -> DoseTable:
    """Every phenotype column; for a patient, the NM column and the patient's."""
    columns = phenotype_columns(profile)
    if patient is not None:
        chosen = resolve_phenotypes(profile, patient)[0]
        columns = [columns[columns.index(dict.fromkeys(profile.genes, "NM"))]]
        columns += [chosen] if chosen not in columns else []
    return occupancy_grid(profile, table_doses(profile), columns)


def dose_curve(
    profile: Profile,
    requested: Mapping[str, str] | None = None,
    points: int = 80,
    beyond_label: float = 2.0,
) -> DoseTable:
    """Steady-state occupancy from near zero to `beyond_label` times the label maximum."""
    top = profile.label_max_mg * beyond_label * profile.interval_h / HOURS_PER_DAY
    doses = tuple(top * (i + 1) / points for i in range(points))
    if requested:
        columns = [resolve_phenotypes(profile, requested)[0]]
    else:
        columns = phenotype_columns(profile)
    return occupancy_grid(profile, doses, columns)
