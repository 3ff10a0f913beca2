"""Steady state (docs/model.md sections 1-5, 7, 8 and 11): levels of every moiety,
transporter loads and occupancy at a dose, and the dose for a target occupancy.

Doses (and targets) may be floats or numpy arrays: one query and a batch group of
thousands go through the same arithmetic. Each function records the steps it took in
the trace it returns, with the numbers it used.
"""

import functools
import itertools
import math
from collections.abc import Mapping
from typing import NamedTuple

from sert_cli.datafiles import read_table
from sert_cli.errors import ModelError
from sert_cli.model import formulas
from sert_cli.model.profile import Moiety, Profile
from sert_cli.trace import Note, Step, model_section
from sert_cli.units import mg_l_to_ng_ml, ng_ml_to_nm, nm_to_ng_ml
from sert_cli.vocabulary import (
    RANGE_Z,
    STEADY_STATE_FRACTIONS,
    TRANSPORTERS,
)


class MoietyLevels(NamedTuple):
    """Levels of one moiety (parent or metabolite): floats, or arrays over doses or times
    (and the clearance over the patients of a batch group)."""

    name: str
    clearance_l_h: object
    css_plasma_ng_ml: object
    css_plasma_nm: object
    cu_plasma_nm: object
    cu_brain_nm: object


class SteadyState(NamedTuple):
    levels: tuple[MoietyLevels, ...]
    loads: dict[str, object]  # transporter -> sum_j C_j / K_j
    occupancy: dict[str, object]  # transporter -> theta, or None if nothing binds it
    shares: dict[str, dict[str, object]]  # transporter -> moiety -> theta_i
    time_to_steady_state_h: dict[float, object]  # fraction -> hours (None: no half-life)
    steps: tuple[Step, ...]


def class_activity(gene: str, phenotype: str) -> tuple[float, str] | None:
    """(activity, source) of a phenotype from sert_cli/data/phenotype_activity.csv."""
    if phenotype == "NM":
        return 1.0, "NM by definition"
    for row in read_table("phenotype_activity.csv")[1]:
        if row["gene"] == gene and row["phenotype"] == phenotype:
            return float(row["activity"]), row["source"]
    return None


def table_fm(moiety: Moiety) -> float | None:
    """fm of the measured table's gene: given, else 1 - CL_PM / CL_NM (a PM has none)."""
    table = moiety.phenotypes
    given = {f.gene: f.fm for f in moiety.fractions_metabolized}
    if table.gene in given:
        return given[table.gene]
    if table.saturable_vmax_mg_h is None and "PM" in table.apparent_clearance_l_h:
        return 1.0 - table.apparent_clearance_l_h["PM"] / table.apparent_clearance_l_h["NM"]
    return None


def gene_activity(moiety: Moiety, gene: str, phenotype: str) -> tuple[float, str, bool]:
    """(a_g of a phenotype for this moiety, where it comes from, whether it is derived):
    the profile's own (measured or listed) value, else the class value (derived), else a
    ModelError. The flag, not the text, says derived: the text is for readers."""
    table = moiety.phenotypes
    if table is not None and table.gene == gene:
        if table.saturable_vmax_mg_h is not None and phenotype in table.saturable_vmax_mg_h:
            ratio = table.saturable_vmax_mg_h[phenotype] / table.saturable_vmax_mg_h["NM"]
            return ratio, "measured (the profile's table)", False
        fm = table_fm(moiety)
        if phenotype in table.apparent_clearance_l_h and fm:
            ratio = table.apparent_clearance_l_h[phenotype] / table.apparent_clearance_l_h["NM"]
            return (ratio - 1.0 + fm) / fm, "measured (the profile's table)", False
    for fraction in moiety.fractions_metabolized:
        if fraction.gene == gene and phenotype in fraction.activity:
            return fraction.activity[phenotype], "the profile's activity table", False
    found = class_activity(gene, phenotype)
    if found is None:
        raise ModelError(
            f"{moiety.name}: no {gene} {phenotype} data, measured or class (sert_cli/data/"
            "phenotype_activity.csv)",
            field=gene,
        )
    return found[0], f"DERIVED: class activity ({found[1]})", True


def class_activity_genes(profile: Profile, phenotypes: Mapping[str, str]) -> tuple[str, ...]:
    """The genes whose phenotype here acts through a class activity (phenotype_activity.csv)
    on some moiety's clearance or a metabolite's formation: no measured value for this drug
    (an NM is the reference, never a class value). ModelError where there is neither."""
    found = []
    for gene, phenotype in phenotypes.items():
        if phenotype == "NM":
            continue
        for moiety in profile.moieties:
            if _class_valued(moiety, gene, phenotype) or (
                moiety.formation is not None
                and moiety.formation.gene == gene
                and _class_valued(profile.parent, gene, phenotype)
            ):
                found.append(gene)
                break
    return tuple(found)


def _class_valued(moiety: Moiety, gene: str, phenotype: str) -> bool:
    """Whether the moiety's clearance takes this gene's phenotype from the class table:
    the gene acts on it, and neither its measured table nor its activities have it."""
    table = moiety.phenotypes
    if table is not None and table.gene == gene:
        vmax = table.saturable_vmax_mg_h
        if phenotype in (table.apparent_clearance_l_h if vmax is None else vmax):
            return False
    elif gene not in {f.gene for f in moiety.fractions_metabolized}:
        return False
    return gene_activity(moiety, gene, phenotype)[2]


def formation_change(
    moiety: Moiety, phenotypes: Mapping[str, str], parent: Moiety | None
) -> tuple[float, tuple]:
    """f_formed(patient) / f_formed(NM) of a metabolite formed partly through one gene
    (docs/model.md section 8), with the numbers that gave it: f_formed = CL_formation /
    CL_parent, so the factor is [share * a * m + (1 - share)] / [CL_parent / CL_parent,NM],
    a and m the gene's phenotype activity and co-medication multiplier, as the parent's
    clearance uses them. 1 for a metabolite without a formation spec."""
    if moiety.formation is None or parent is None:
        return 1.0, ()
    gene, share = moiety.formation
    phenotype = phenotypes.get(gene, "NM")
    activity = gene_activity(parent, gene, phenotype)[0]
    multiplier = parent.enzyme_activity.get(gene, 1.0)
    formation = share * activity * multiplier + (1.0 - share)
    parent_change = moiety_clearance(parent, phenotypes)[0] / parent.apparent_clearance_l_h
    values = (
        (f"share {gene}", share, ""),
        (f"a {gene} {phenotype}", activity, ""),
        *(((f"m {gene}", multiplier, ""),) if multiplier != 1.0 else ()),
        ("CL_form/CL_form,NM", formation, ""),
        ("CL_parent/CL_parent,NM", parent_change, ""),
    )
    return formation / parent_change, values


def profile_clearances(profile: Profile, phenotypes: Mapping[str, str]) -> tuple:
    """(CL/F, step) of every moiety of the profile for these phenotypes: a metabolite's per
    parent dose, its formation included."""
    return tuple(
        moiety_clearance(m, phenotypes, None if m is profile.parent else profile.parent)
        for m in profile.moieties
    )


def formation_changes(profile: Profile, phenotypes: Mapping[str, str]) -> tuple[float, ...]:
    """formation_change of every moiety (1 for the parent and unformed metabolites)."""
    return tuple(
        formation_change(m, phenotypes, None if m is profile.parent else profile.parent)[0]
        for m in profile.moieties
    )


def moiety_clearance(
    moiety: Moiety, phenotypes: Mapping[str, str], parent: Moiety | None = None
) -> tuple[float, Step]:
    """CL/F for the patient: CL = CL_NM * (1 - sum fm_g + sum fm_g * a_g * m_g), with a_g the
    phenotype's activity (measured for the drug where published, else the class value) and
    m_g the co-medications' effect on the enzyme (docs/model.md section 2). A measured
    table without an fm for its gene gives that phenotype's CL/F directly."""
    clearance, step = _elimination_clearance(moiety, phenotypes)
    change, values = formation_change(moiety, phenotypes, parent)
    if not values:
        return clearance, step
    result = clearance / change
    step = step._replace(
        formula=step.formula + "; per parent dose: CL_m = CL_m,own / f, f = (share * a * m "
        "+ 1 - share) / (CL_parent / CL_parent,NM)",
        values=(
            *step.values[:-1],
            ("CL_m,own", clearance, "L/h"),
            *values,
            ("f", change, ""),
            ("CL/F", result, "L/h"),
        ),
        source=step.source + "; " + model_section(8),
    )
    return result, step


def _elimination_clearance(moiety: Moiety, phenotypes: Mapping[str, str]) -> tuple[float, Step]:
    """The moiety's own CL/F from its phenotypes and co-medications (section 2)."""
    table = moiety.phenotypes
    clearance = moiety.apparent_clearance_l_h
    fm = {f.gene: f.fm for f in moiety.fractions_metabolized}
    values: list = [("CL_NM/F", clearance, "L/h")]
    how = "CL/F of a normal metabolizer"
    if table is not None and table.saturable_vmax_mg_h is None:
        measured_fm = table_fm(moiety)
        phenotype = phenotypes.get(table.gene, "NM")
        if measured_fm is not None:
            fm[table.gene] = measured_fm
        elif phenotype in table.apparent_clearance_l_h:  # no fm: the table's CL/F as it is
            clearance = table.apparent_clearance_l_h[phenotype]
            how = f"CL/F from the profile's {table.gene} {phenotype} entry"
            values = [("CL/F", clearance, "L/h")]
        else:
            raise ModelError(
                f"{moiety.name}: no {table.gene} {phenotype} data and no fraction metabolized "
                "to derive it from",
                field=table.gene,
            )
    if table is not None and table.saturable_vmax_mg_h is not None:
        fm.pop(table.gene, None)  # the saturable path carries this gene (saturable_parameters)
    if not fm:
        step = Step(
            name=f"clearance of {moiety.name}",
            formula=how,
            values=tuple(values),
            source=model_section(2),
        )
        return clearance, step
    activity, multiplier, derived, sources = {}, {}, [], [model_section(2)]
    for gene in fm:
        phenotype = phenotypes.get(gene, "NM")
        activity[gene], how_found, is_derived = gene_activity(moiety, gene, phenotype)
        if is_derived:
            derived.append(
                Note(
                    f"{gene} {phenotype} activity {activity[gene]:g} DERIVED (class value)",
                    # an NM's activity is 1 by definition: not worth the table's line
                    short="" if phenotype == "NM" else f"{gene} {phenotype} class activity",
                )
            )
            sources.append(f"{gene} {phenotype}: {how_found}")
        multiplier[gene] = moiety.enzyme_activity.get(gene, 1.0)
    effective = {g: activity[g] * multiplier[g] for g in fm}
    result = formulas.clearance_from_activity_l_h(clearance, fm, effective)
    values += [(f"fm {g}", f, "") for g, f in fm.items()]
    values += [(f"a {g} {phenotypes.get(g, 'NM')}", a, "") for g, a in activity.items()]
    values += [(f"m {g}", m, "") for g, m in multiplier.items() if m != 1.0]
    values.append(("CL/F", result, "L/h"))
    step = Step(
        name=f"clearance of {moiety.name}",
        formula="CL = CL_NM * (1 - sum fm_g + sum fm_g * a_g * m_g)",
        values=tuple(values),
        source="; ".join(sources),
        assumes=Note("; ".join(derived), parts=tuple(p for d in derived for p in d.parts)),
    )
    return result, step


def saturable_parameters(
    moiety: Moiety, phenotypes: Mapping[str, str]
) -> tuple[float, float] | None:
    """(Vmax mg/h, Km mg/L) for these phenotypes and co-medications, or None for linear
    clearance: the saturable path's Vmax scales with its gene's activity."""
    table = moiety.phenotypes
    if moiety.saturable is None:
        return None
    vmax, km = moiety.saturable
    if table is None or table.saturable_vmax_mg_h is None:
        return vmax, km
    activity = gene_activity(moiety, table.gene, phenotypes.get(table.gene, "NM"))[0]
    return vmax * activity * moiety.enzyme_activity.get(table.gene, 1.0), km


def _each(function, values, *args):
    """A scalar formula over floats or, element by element, over arrays: `values` and any
    of `args` that is an array beside them (the rows of several patients)."""
    if not any(hasattr(a, "shape") for a in (values, *args)):
        return function(values, *args)
    import numpy as np

    shape = np.broadcast_shapes(*(a.shape for a in (values, *args) if hasattr(a, "shape")))
    columns = [
        np.broadcast_to(a, shape).ravel().tolist() if hasattr(a, "shape") else itertools.repeat(a)
        for a in (values, *args)
    ]
    return np.array([function(*row) for row in zip(*columns, strict=False)]).reshape(shape)


def parent_equivalent_css_mg_l(
    profile: Profile, moiety: Moiety, clearance_l_h, dose_mg, interval_h: float, saturable
) -> tuple[object, Step]:
    """Section 1's Css, or section 7's for saturable clearance (`saturable`: the patient's
    (Vmax, Km), floats or arrays, or None), in mg/L of parent equivalents (a metabolite's
    clearance is per parent dose, section 8)."""
    dose_rate_mg_h = dose_mg * profile.salt_factor / interval_h
    salt = [("S", profile.salt_factor, "")] if profile.salt_factor != 1 else []
    if saturable is None:
        css = formulas.css_mg_l(dose_mg * profile.salt_factor, clearance_l_h, interval_h)
        step = Step(
            name=f"plasma concentration of {moiety.name}",
            formula="Css = S * D / ((CL/F) * tau)" if salt else "Css = D / ((CL/F) * tau)",
            values=(
                ("D", dose_mg, "mg"),
                *salt,
                ("tau", interval_h, "h"),
                ("CL/F", clearance_l_h, "L/h"),
                ("Css", css, "mg/L"),
            ),
            source=model_section(1 if moiety is profile.parent else 8),
            assumes="linear clearance",
        )
        return css, step
    vmax_mg_h, km_mg_l = saturable
    css = _each(formulas.saturable_css_mg_l, dose_rate_mg_h, clearance_l_h, vmax_mg_h, km_mg_l)
    step = Step(
        name=f"plasma concentration of {moiety.name}",
        formula="Css solves R = CL * C + Vmax * C / (Km + C), R = S * D / tau (Michaelis-Menten)",
        values=(
            ("D", dose_mg, "mg"),
            *salt,
            ("tau", interval_h, "h"),
            ("R", dose_rate_mg_h, "mg/h"),
            ("CL", clearance_l_h, "L/h"),
            ("Vmax", vmax_mg_h, "mg/h"),
            ("Km", km_mg_l, "mg/L"),
            ("Css", css, "mg/L"),
        ),
        source=model_section(7),
        assumes=_each(_saturable_assumption, vmax_mg_h, km_mg_l, clearance_l_h, moiety.name),
    )
    return css, step


def _saturable_assumption(vmax_mg_h: float, km_mg_l: float, clearance_l_h: float, name: str):
    return (
        f"saturable clearance of {name} (Michaelis-Menten: Vmax {vmax_mg_h:.4g} mg/h, "
        f"Km {mg_l_to_ng_ml(km_mg_l):.4g} ng/mL, linear CL {clearance_l_h:.4g} L/h)"
    )


def levels_from_parent_equivalent(
    profile: Profile, moiety: Moiety, parent_equivalent_mg_l, clearance_l_h, brain_mg_l=None
) -> MoietyLevels:
    """Unit conversions and section 3 for one moiety. The brain may lag the plasma (an
    effect compartment): then its own parent-equivalent concentration is brain_mg_l."""
    css_nm = ng_ml_to_nm(mg_l_to_ng_ml(parent_equivalent_mg_l), profile.parent.molar_mass_g_mol)
    cu_plasma = formulas.unbound_concentration(css_nm, moiety.fraction_unbound)
    brain_cu_plasma = cu_plasma
    if brain_mg_l is not None:
        brain_nm = ng_ml_to_nm(mg_l_to_ng_ml(brain_mg_l), profile.parent.molar_mass_g_mol)
        brain_cu_plasma = formulas.unbound_concentration(brain_nm, moiety.fraction_unbound)
    return MoietyLevels(
        name=moiety.name,
        clearance_l_h=clearance_l_h,
        css_plasma_ng_ml=nm_to_ng_ml(css_nm, moiety.molar_mass_g_mol),
        css_plasma_nm=css_nm,
        cu_plasma_nm=cu_plasma,
        cu_brain_nm=formulas.brain_unbound_concentration(brain_cu_plasma, moiety.kp_uu_brain),
    )


def transporter_loads(profile: Profile, levels) -> dict[str, object]:
    """sum_j C_j / K_j for each transporter some moiety binds (section 4)."""
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


def occupancy_of_loads(profile: Profile, loads: Mapping[str, object]) -> dict[str, object]:
    """Occupancy on the profile's scale: PET (capped at its plateau) or binding (Emax 1)."""
    return {
        t: (
            formulas.occupancy_from_load(loads[t], profile.emax.get(t, 1.0)) if t in loads else None
        )
        for t in TRANSPORTERS
    }


def moiety_shares(profile: Profile, levels, loads) -> dict[str, dict[str, object]]:
    """Each moiety's part of each transporter's occupancy: theta_i (section 4)."""
    return {
        transporter: {
            lv.name: formulas.ligand_share(
                lv.cu_brain_nm / m.k_nm[transporter], total, profile.emax.get(transporter, 1.0)
            )
            for m, lv in zip(profile.moieties, levels, strict=True)
            if transporter in m.k_nm
        }
        for transporter, total in loads.items()
    }


def _moiety_pk(
    moiety: Moiety, index: int, phenotypes, clearances, saturation, parent: Moiety | None = None
) -> tuple:
    """(CL/F, the step that computed it or None, saturable (Vmax, Km) or None) of the
    profile's moiety `index`: given (a batch group's, see steady_state), else computed from
    the phenotypes (a metabolite's with its `parent`)."""
    if clearances is None:
        clearance, step = moiety_clearance(moiety, phenotypes, parent)
    else:
        clearance, step = clearances[index], None
    if saturation is None:
        return clearance, step, saturable_parameters(moiety, phenotypes)
    return clearance, step, saturation[index]


def steady_state(
    profile: Profile,
    dose_mg,
    interval_h: float,
    phenotypes: Mapping[str, str],
    clearances=None,
    saturation=None,
    formation=None,
) -> SteadyState:
    """Every moiety's average steady-state levels, the loads, the occupancy, and the time
    to reach it; dose_mg is a float or a numpy array. Each moiety's CL/F and saturable
    (Vmax, Km) are computed from the phenotypes, or given (`clearances`, `saturation`:
    floats or arrays beside the doses, for rows of several patients; `formation`: each
    moiety's formation change beside them, for the metabolites' own elimination rates);
    the caller then holds the clearance steps."""
    steps, levels, half_lives = [], [], []
    for index, moiety in enumerate(profile.moieties):
        parent = None if index == 0 else profile.parent
        clearance, clearance_step, saturable = _moiety_pk(
            moiety, index, phenotypes, clearances, saturation, parent
        )
        if clearance_step is not None:
            steps.append(clearance_step)
        css_mg_l, css_step = parent_equivalent_css_mg_l(
            profile, moiety, clearance, dose_mg, interval_h, saturable
        )
        lv = levels_from_parent_equivalent(profile, moiety, css_mg_l, clearance)
        levels.append(lv)
        steps += [
            css_step,
            Step(
                name=f"brain concentration of {moiety.name}",
                formula="C[nM] = C[mg/L] * 1e6 / MW; Cu = fu * C; Cu,brain = Kp,uu * Cu",
                values=(
                    ("MW", profile.parent.molar_mass_g_mol, "g/mol"),
                    ("C", lv.css_plasma_nm, "nM"),
                    ("fu", moiety.fraction_unbound, ""),
                    ("Kp,uu", moiety.kp_uu_brain, ""),
                    ("Cu,brain", lv.cu_brain_nm, "nM"),
                ),
                source=model_section(3),
                assumes=Note(  # (a table's "Assumed:" line leaves it to --explain)
                    f"{moiety.name}: fu {moiety.fraction_unbound:.4g}, "
                    f"Kp,uu {moiety.kp_uu_brain:.4g}",
                    short="",
                ),
            ),
        ]
        if moiety.volume_l:
            # the clearance at steady state: a saturable moiety's is the dose rate over Css
            # a formed metabolite leaves at its own rate, whatever was formed: its clearance
            # per parent dose times its formation change (a batch group's, row by row)
            effective = clearance * (
                formation[index]
                if formation is not None
                else formation_change(moiety, phenotypes, parent)[0]
            )
            if saturable is not None:
                effective = dose_mg * profile.salt_factor / interval_h / css_mg_l
            if moiety.hepatic_blood_flow_l_h:  # the oral clearance is intrinsic: systemic
                effective = formulas.systemic_clearance_l_h(
                    moiety.hepatic_blood_flow_l_h, effective
                )
            rate = formulas.elimination_rate_per_h(effective, moiety.volume_l)
            half_lives.append(_half_life_h(rate))
    loads = transporter_loads(profile, levels)
    occupancy = occupancy_of_loads(profile, loads)
    for transporter, load in loads.items():
        terms = [
            (f"K {m.name}", m.k_nm[transporter], "nM")
            for m in profile.moieties
            if transporter in m.k_nm
        ]
        emax = profile.emax.get(transporter)
        steps.append(
            Step(
                name=f"{transporter} occupancy",
                formula="theta = Emax * x / (1 + x), x = sum_j Cu,brain_j / K_j (PET scale)"
                if emax
                else "theta = x / (1 + x), x = sum_j Cu,brain_j / K_j (binding scale)",
                values=(
                    *terms,
                    ("x", load, ""),
                    *((("Emax", emax, ""),) if emax else ()),
                    ("theta", occupancy[transporter], ""),
                ),
                source=model_section(4),
                assumes=_constant_words(profile, transporter),
            )
        )
    times: dict[float, object] = dict.fromkeys(STEADY_STATE_FRACTIONS)
    if half_lives:
        longest = half_lives[0]
        for h in half_lives[1:]:
            longest = _maximum(longest, h)
        times = {
            f: formulas.time_to_steady_state_fraction_h(longest, f) for f in STEADY_STATE_FRACTIONS
        }
        steps.append(
            Step(
                name="time to steady state",
                formula=(
                    "t_f = t1/2 * log2(1 / (1 - f)), t1/2 = ln 2 * V / CL of the slowest moiety"
                ),
                values=(("t1/2", longest, "h"), *((f"t_{f:g}", t, "h") for f, t in times.items())),
                source=model_section(11),
            )
        )
    return SteadyState(
        levels=tuple(levels),
        loads=loads,
        occupancy=occupancy,
        shares=moiety_shares(profile, levels, loads),
        time_to_steady_state_h=times,
        steps=tuple(steps),
    )


def _half_life_h(rate_per_h):
    """ln 2 / k, a float or an array; infinite where k is 0, never a ZeroDivisionError: a
    saturable moiety at a dose rate its clearance cannot hold (Css infinite: beyond Vmax
    with no linear clearance, or beyond what a float holds) never reaches a steady state.
    Such a row's levels are infinite, which the caller's check_finite refuses (ModelError),
    row by row, so that the other rows of a batch group keep their answers."""
    if hasattr(rate_per_h, "shape"):
        import numpy as np

        with np.errstate(divide="ignore"):
            return formulas.HALF_LIFE_PER_RATE / rate_per_h
    return formulas.HALF_LIFE_PER_RATE / rate_per_h if rate_per_h > 0 else math.inf


def _maximum(a, b):
    if hasattr(a, "shape") or hasattr(b, "shape"):
        import numpy as np

        return np.maximum(a, b)
    return max(a, b)


def _constant_words(profile: Profile, transporter: str) -> Note:
    """What the "Assumed:" line says of a transporter's constant: whole (with what an
    assumed PET constant rests on), and short for a table without --explain."""
    whole = f"{transporter} constant: {profile.affinity.get(transporter, 'in vitro')}"
    pet = profile.parent.pet.get(transporter) if profile.emax else None  # (the PET scale)
    if pet is None:
        return Note(whole)
    return Note(whole, short=f"{transporter} {pet.short_words}")


def check_finite(profile: Profile, values) -> None:
    if not all(math.isfinite(v) for v in values):
        raise ModelError(
            f"the numbers in {profile.name}'s profile and this request give a "
            "result too large to represent; check their magnitudes"
        )


def check_resolvable(occupancies) -> None:
    """Occupancy is below 1 at any finite concentration; a float that rounds to 1 means the
    request is far beyond anything the model can tell apart."""
    if any(v is not None and v >= 1.0 for v in occupancies):
        raise ModelError(
            "at this dose the predicted occupancy is indistinguishable from 100 %;"
            " the request is far beyond the range the model resolves"
        )


def exposure_spread(profile: Profile, transporter: str) -> float | None:
    """The factor by which the 5th or 95th percentile of the load differs from the median
    (docs/model.md section 14), for a patient whose constant is known only as well as the
    PET fit knows it. Three log-normal spreads add: between-patient PK (the profile's
    sourced CV of exposure), the PD spread the PET fit leaves unexplained (pet_spread.csv)
    and the uncertainty of the in vivo constant (its 95 % interval; an extrapolated
    constant or an open side, the assumed EXTRAPOLATED_K_FACTOR). On the binding scale, PK
    only. None without a sourced CV: no invented range."""
    return _spread_of(profile, transporter, with_constant=True)


def patient_spread(profile: Profile, transporter: str) -> float | None:
    """Between patients only (PK and PD): what `population` draws each patient from; the
    constant's uncertainty is one number for all of them, not a spread between them."""
    return _spread_of(profile, transporter, with_constant=False)


def _spread_of(profile: Profile, transporter: str, with_constant: bool) -> float | None:
    pet = profile.parent.pet.get(transporter)
    if profile.exposure_cv is None or transporter not in profile.emax or pet is None:
        return level_spread(profile)  # binding scale: PK only (None without a CV)
    return _spread(profile.exposure_cv, pet.log_sd if with_constant else 0.0, pd_log_sd())


def level_spread(profile: Profile) -> float | None:
    """The 5th-95th percentile factor of a plasma level over patients: PK only."""
    if profile.exposure_cv is None:
        return None
    return formulas.lognormal_spread(profile.exposure_cv, RANGE_Z)


@functools.cache
def pd_log_sd() -> float:
    """The PD spread of the log load the PET fit leaves unexplained (sert_cli/pet_fit.py):
    between and within studies together, as shipped in pet_spread.csv."""
    rows = read_table("pet_spread.csv")[1]
    return math.hypot(*(float(r["value"]) for r in rows if r["quantity"].endswith("_log_sd")))


@functools.cache
def _spread(exposure_cv: float, constant_log_sd: float, omega: float) -> float:
    return formulas.range_spread(exposure_cv, constant_log_sd, omega, RANGE_Z)


def occupancy_range(profile: Profile, loads: Mapping[str, float]) -> dict[str, list | None]:
    """[5th, 95th percentile] occupancy of each transporter over patients of a phenotype.
    A load may be a tuple (a batch group's rows, or a subclass of it): each bound is then a
    tuple of that type."""
    ranges = {}
    for transporter in TRANSPORTERS:
        spread = exposure_spread(profile, transporter) if transporter in loads else None
        if spread is None:
            ranges[transporter] = None
            continue
        emax = profile.emax.get(transporter, 1.0)

        def low(x, spread=spread, emax=emax):
            return formulas.occupancy_from_load(x / spread, emax)

        def high(x, spread=spread, emax=emax):
            return formulas.occupancy_from_load(x * spread, emax)

        x = loads[transporter]
        if isinstance(x, tuple):
            ranges[transporter] = [type(x)(map(low, x)), type(x)(map(high, x))]
        else:
            ranges[transporter] = [low(x), high(x)]
    return ranges


def load_per_mg(
    profile: Profile,
    transporter: str,
    interval_h: float,
    phenotypes,
    clearances,
    saturation,
    formation=None,
) -> float:
    loads = steady_state(
        profile, 1.0, interval_h, phenotypes, clearances, saturation, formation
    ).loads
    if transporter not in loads:
        raise ModelError(
            f"{profile.name}'s profile gives no affinity for {transporter}, so no "
            f"dose can be computed for it",
            field="transporter",
        )
    return loads[transporter]


def dose_for_load(
    profile: Profile,
    transporter: str,
    load_target,
    interval_h: float,
    phenotypes,
    clearances=None,
    saturation=None,
    formation=None,
) -> tuple[object, Step]:
    """Section 5: the dose whose steady-state load is x*; load_target a float or an array
    (and `clearances`, `saturation`, `formation` as steady_state takes them). Closed form
    for linear clearance and for a saturable parent alone; else bisection (for one
    patient)."""
    per_mg = load_per_mg(
        profile, transporter, interval_h, phenotypes, clearances, saturation, formation
    )
    parent = profile.parent
    clearance, _, saturable = _moiety_pk(parent, 0, phenotypes, clearances, saturation)
    if saturable is not None and not profile.metabolites:
        # the load fixes the unbound brain level, hence the plasma level, hence the rate
        css_nm = (
            load_target * parent.k_nm[transporter] / (parent.kp_uu_brain * parent.fraction_unbound)
        )
        css_mg_l = nm_to_ng_ml(css_nm, parent.molar_mass_g_mol) / 1000.0
        rate_mg_h = formulas.saturable_dose_rate_mg_h(css_mg_l, clearance, *saturable)
        dose = rate_mg_h * interval_h / profile.salt_factor
        formula = (
            "C* = x* * K / (Kp,uu * fu); R* = CL * C* + Vmax * C* / (Km + C*); D* = R* * tau / S"
        )
        values = (("C*", css_mg_l, "mg/L"), ("R*", rate_mg_h, "mg/h"))
    elif profile.saturable:
        dose = _each(_bisect_dose, load_target, profile, transporter, interval_h, phenotypes)
        formula = "D* with load(D*) = x*, by bisection in log dose (load rises with dose)"
        values = ()
    else:
        dose = formulas.dose_for_load(load_target, per_mg)
        formula = "D* = x* / x(1 mg) (load proportional to dose)"
        values = (("x(1 mg)", per_mg, ""),)
    emax = profile.emax.get(transporter)
    target = (  # the formula of the scale the load is on, as `sert validate` fits it
        "x* = r / (1 - r), r = theta* / Emax (PET scale); "
        if emax
        else "x* = theta* / (1 - theta*) (binding scale); "
    )
    step = Step(
        name=f"dose for the {transporter} target",
        formula=target + formula,
        values=(
            *((("Emax", emax, ""),) if emax else ()),
            ("x*", load_target, ""),
            *values,
            ("D*", dose, "mg"),
            ("tau", interval_h, "h"),
        ),
        source=model_section(5),
    )
    return dose, step


def _bisect_dose(load_target: float, profile, transporter, interval_h, phenotypes) -> float:
    def load_of(dose_mg: float) -> float:
        return steady_state(profile, dose_mg, interval_h, phenotypes).loads[transporter]

    low = high = load_target / load_of(1.0)
    while load_of(high) < load_target:
        high *= 2.0
        if high > 1e12:
            raise ModelError("no dose reaches this target")
    while load_of(low) > load_target:
        low /= 2.0
    for _ in range(200):
        middle = (low * high) ** 0.5
        if middle in (low, high):
            break
        if load_of(middle) < load_target:
            low = middle
        else:
            high = middle
    return high
