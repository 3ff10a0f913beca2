"""Therapeutic drug monitoring (docs/model.md section 17): a measured plasma level read
against the model for this patient and dose.

The expected level is the steady-state level at the sampling time after a dose (the time
course of section 10, at steady state), of the parent or, where the reference range is of
the active moiety, of parent and metabolites together. Its 90 % range comes from the
profile's between-patient CV (section 14). The phenotypes consistent with the level are
those whose 90 % range holds it.
"""

import itertools
import math
from typing import NamedTuple

from sert_cli.errors import InputError, ModelError, SertError, printable
from sert_cli.pgx.patient import Prepared
from sert_cli.pk.dosing import above_label, label_warnings, per_day
from sert_cli.pk.steady_state import (
    level_spread,
    moiety_clearance,
    occupancy_of_loads,
    transporter_loads,
)
from sert_cli.queries.results import TdmResult, source_of
from sert_cli.queries.values import TdmQuery, positive
from sert_cli.trace import Step, model_section
from sert_cli.units import ng_ml_to_nm, percent
from sert_cli.vocabulary import GENES_WITH_RM, PHENOTYPES

# A level this far outside the expected one, relative, is worth a word.
LOW_RATIO, HIGH_RATIO = 0.5, 2.0
STEADY_HALF_LIVES = 10  # doses before the last one: its steady state
STOPPED_FRACTION = 0.03  # a washout sample below this fraction of the trough says nothing
MAX_HISTORY_DOSES = 10_000
MAX_HOURS_AFTER_DOSE = 24 * 365  # a sample a year after the last dose says nothing
MAX_LEVEL_NG_ML = 1e5  # beyond any level a laboratory reports (fatal overdoses included)
MAX_NAME_SHOWN = 60  # of a metabolite's name that is not one, in a message
MAX_COMBINATIONS = 125  # phenotype combinations read against a metabolite-to-parent ratio


def check_level(level_ng_ml: float, field: str = "level") -> float:
    if not 0 < level_ng_ml <= MAX_LEVEL_NG_ML:
        raise InputError(
            f"must be a plasma level above 0 and at most {MAX_LEVEL_NG_ML:g} ng/mL "
            "(check the number and its unit)",
            field=field,
        )
    return level_ng_ml


def metabolite_index(profile, name: str | None) -> int:
    """Which of the profile's metabolites a measured level is of: the one it has, where
    no name is given; else the one so named (any case). An InputError names them."""
    names = [m.name for m in profile.metabolites]
    if not names:
        raise InputError(
            f"{profile.name} has no active metabolite in its profile: its level is the "
            "parent's alone",
            field="metabolite_level",
        )
    if name is None:
        if len(names) == 1:
            return 0
        raise InputError(
            f"{profile.name} has {len(names)} active metabolites: name the one measured "
            f"(NAME=C; {', '.join(names)})",
            field="metabolite_level",
        )
    wanted = name.strip().casefold()
    for index, known in enumerate(names):
        if known.casefold() == wanted:
            return index
    shown = printable(name.strip()[:MAX_NAME_SHOWN]) + ("..." if len(name) > MAX_NAME_SHOWN else "")
    hint = " (the parent's level is the level itself)" if wanted == profile.name else ""
    raise InputError(
        f"'{shown}' is not an active metabolite of {profile.name} (its metabolites: "
        f"{', '.join(names)}){hint}",
        field="metabolite_level",
    )


def named_level(text: str) -> tuple[str | None, str]:
    """'NAME=C' -> (NAME, C); a level without a name -> (None, C): the profile's one
    metabolite."""
    name, equals, value = text.partition("=")
    if not equals:
        return None, text
    return name.strip(), value


class Measured(NamedTuple):
    """What the laboratory reported, in ng/mL: the parent's level, each metabolite's (by
    its index in profile.metabolites), or only the sum of parent and metabolites."""

    parent: float | None
    metabolites: dict[int, float]
    sum: float | None


def measured_of(profile, query: TdmQuery) -> Measured:
    """The query's levels, checked: each in range, each metabolite the profile's and named
    once, and no contradictory combination (a sum beside its parts, a metabolite without
    the parent)."""
    parent = query.level_ng_ml
    if parent is not None:
        parent = check_level(positive(parent, "level", "ng/mL"))
    total = query.sum_level_ng_ml
    if total is not None:
        total = check_level(positive(total, "sum_level", "ng/mL"), "sum_level")
        if not profile.metabolites:
            raise InputError(
                f"{profile.name} has no active metabolite in its profile: there is no sum, "
                "its level is the parent's alone",
                field="sum_level",
            )
        if parent is not None or query.metabolite_levels_ng_ml:
            raise InputError(
                "the sum of parent and metabolites stands alone: give it, or the parent's "
                "and the metabolites' own levels, not both (a sum beside its parts says "
                "nothing they do not, and may contradict them)",
                field="sum_level",
            )
    metabolites: dict[int, float] = {}
    for name, value in query.metabolite_levels_ng_ml:
        index = metabolite_index(profile, name)
        if index in metabolites:
            raise InputError(
                f"{profile.metabolites[index].name}'s level is given twice: give it once",
                field="metabolite_level",
            )
        metabolites[index] = check_level(
            positive(value, "metabolite_level", "ng/mL"), "metabolite_level"
        )
    if metabolites and parent is None:
        raise InputError(
            "a metabolite's level is read with the parent's: give the parent's level too "
            "(or, where the laboratory reports only parent + metabolites, that sum alone)",
            field="metabolite_level",
        )
    if parent is None and total is None:
        raise InputError("no measured level: give the parent's, or the sum", field="level")
    return Measured(parent, metabolites, total)


def expected_levels(profile, phenotypes, dose_mg, interval_h, hours_after_dose) -> list:
    """Every moiety's levels (MoietyLevels of one time) the model expects at that time.
    Within one interval of the last dose: the steady state at that time after a dose.
    Later: a sample after doses stopped (or were missed), the washout from the steady
    state: its last dose, then nothing more, on the drug's own time course (a saturable
    drug leaves as its clearance changes with its level, not at its linear half-life)."""
    import numpy as np

    from sert_cli.pk.timecourse import Regimen

    regimen = Regimen(profile, dose_mg, interval_h, phenotypes)
    if hours_after_dose <= interval_h:
        # the time asked, then the steady-state interval (for its peak)
        grid = np.linspace(0.0, interval_h, 65)
        times = np.concatenate(([hours_after_dose % interval_h], grid))
        every = regimen.levels(times, None)
        reference = max(_reported(profile, every, i) for i in range(1, len(times)))
        against = "the steady-state peak"
    else:
        if not profile.parent.saturable:
            # a linear drug's steady state read past its interval is the washout itself: the
            # sum over every earlier dose, exactly (the trough at one interval)
            every = regimen.levels(np.array([hours_after_dose, interval_h]), None)
        else:  # its steady state's doses, then none, integrated
            slowest_h = math.log(2) / min(regimen.elimination_rates())
            doses = min(
                MAX_HISTORY_DOSES, math.ceil(STEADY_HALF_LIVES * slowest_h / interval_h) + 1
            )
            last_dose_h = (doses - 1) * interval_h
            times = np.array([last_dose_h + hours_after_dose, last_dose_h + interval_h])
            every = regimen.levels(times, doses)
        reference = _reported(profile, every, 1)
        against = "the trough"
    left = _reported(profile, every, 0)
    if not left > STOPPED_FRACTION * reference:
        raise ModelError(
            f"{hours_after_dose:g} h after the last dose the model expects "
            f"{percent(left / reference if reference > 0 else 0.0, 1)} of {against}, under "
            f"{percent(STOPPED_FRACTION)}: too little to read a level against",
            field="hours_after_dose",
        )
    return [lv._replace(**{f: getattr(lv, f)[:1] for f in LEVEL_FIELDS}) for lv in every]


LEVEL_FIELDS = ("css_plasma_ng_ml", "css_plasma_nm", "cu_plasma_nm", "cu_brain_nm")


def _reported(profile, levels, index: int) -> float:
    """The level a laboratory reports at the index-th time: of the parent, or of parent and
    metabolites together where the reference range is of the active moiety."""
    level = float(levels[0].css_plasma_ng_ml[index])
    if profile.therapeutic_range_of == "active_moiety":
        level += sum(float(lv.css_plasma_ng_ml[index]) for lv in levels[1:])
    return level


def gene_phenotypes(profile, gene: str) -> list[str]:
    return [p for p in PHENOTYPES if p != "RM" or gene in GENES_WITH_RM]


def position(value: float, reference) -> str | None:
    """below, within or above a (low, high) range; None without one."""
    if reference is None:
        return None
    return "below" if value < reference[0] else "above" if value > reference[1] else "within"


def interpret(
    ratio: float,
    given: bool,
    level: float,
    expected: float,
    expected_range,
    reference,
    washout: bool = False,
    uncompared: str = "",
) -> str:
    """One reading of the level: against the model's 90 % range for this patient (the one
    the table shows; without one, half to twice the expected level) and against the
    profile's reference range (whatever its source: the words name none), naming the
    disagreement where the model's own expectation lies
    outside that range (then a level "as expected" can still be outside it)."""
    low, high = expected_range or (expected * LOW_RATIO, expected * HIGH_RATIO)
    if level < low:
        causes = "possible non-adherence, ultrarapid metabolism, an inducing co-medication"
        if not given:
            causes += " or a phenotype other than NM"
        against_model = (
            f"the level is {ratio:.2f} times the model's expected one: {causes}, or a sample "
            "taken long after the dose"
        )
    elif level > high:
        against_model = (
            f"the level is {ratio:.2f} times the model's expected one: possible poor "
            "metabolism, an inhibiting co-medication, impaired elimination, or "
            + (
                "a dose taken since the one assumed last (the expected level assumes none)"
                if washout
                else "a sample taken soon after a dose rather than at trough"
            )
        )
    else:
        against_model = (
            f"the level is {ratio:.2f} times the model's expected one, within the model's "
            "90 % range for this patient"
        )
    if reference is None:
        return against_model + "; " + (uncompared or "no reference range in the profile")
    where, model_where = position(level, reference), position(expected, reference)
    range_text = f"the reference range of {reference[0]:g}-{reference[1]:g} ng/mL"
    said = f"{against_model}; it is {where} {range_text}"
    if model_where != "within":
        said += (
            f"; the model's own expectation, {expected:.3g} ng/mL, lies {model_where} that "
            f"range{' too' if where == model_where else ''}: the model and the reference "
            "range disagree for this dose, so read the level against the reference range and "
            "the patient, not against the model alone"
        )
    return said


def implied_occupancy(profile, levels: list, ratios: list[float]) -> dict:
    """The occupancy the measured levels imply: each moiety's expected levels scaled by its
    measured / expected ratio (the unbound brain level follows the plasma level), then
    the loads of section 4."""
    scaled = [
        lv._replace(**{f: getattr(lv, f) * r for f in LEVEL_FIELDS})
        for lv, r in zip(levels, ratios, strict=True)
    ]
    occupancy = occupancy_of_loads(profile, transporter_loads(profile, scaled))
    return {t: float(v[0]) for t, v in occupancy.items() if v is not None}


def spread_of(profile):
    """The 5th-95th percentile factor of the level over patients: PK only."""
    return level_spread(profile)


def band_of(spread) -> float:
    """The factor either side of an expected level (or ratio) that holds 90 % of patients;
    without a sourced spread, half to twice (as the interpretation reads it)."""
    return spread or HIGH_RATIO


def _within(value: float, centre: float, band: float) -> bool:
    return centre / band <= value <= centre * band


def _ng_ml(levels, index: int) -> float:
    return float(levels[index].css_plasma_ng_ml[0])


def _molar(levels, index: int) -> float:
    return float(levels[index].css_plasma_nm[0])


def ratio_genes(metabolite) -> tuple[str, ...]:
    """The genes that move a metabolite-to-parent ratio: the one that forms it (its
    pk.formation) and those that clear it (its fractions metabolized, its phenotype
    table), read from the profile. The parent's clearance cancels from the ratio at steady
    state (docs/model.md section 17): only what forms and what clears the metabolite."""
    genes = [metabolite.formation.gene] if metabolite.formation else []
    genes += [f.gene for f in metabolite.fractions_metabolized]
    if metabolite.phenotypes is not None:
        genes.append(metabolite.phenotypes.gene)
    return tuple(dict.fromkeys(genes))


def _either(words: list[str]) -> str:
    """'PM', 'PM or IM', 'PM, IM or NM'."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def combinations_text(genes: tuple[str, ...], combinations: list[tuple[str, ...]], every) -> str:
    """Phenotype combinations in words: 'CYP2C19 UM or RM with CYP2D6 NM; or CYP2C19 NM
    with CYP2D6 PM or IM' (the first gene's phenotypes that go with the same others said
    together; 'with any CYP2D6 phenotype' where all do)."""
    if len(genes) == 1:
        return f"{genes[0]} " + _either([c[0] for c in combinations])
    groups: dict[str, list[tuple[str, ...]]] = {}
    for combination in combinations:
        groups.setdefault(combination[0], []).append(combination[1:])
    together: dict[tuple, list[str]] = {}
    for first, rests in groups.items():
        together.setdefault(tuple(rests), []).append(first)
    said = []
    for rests, firsts in together.items():
        if len(genes) == 2:
            rest = (
                f"any {genes[1]} phenotype"
                if len(rests) == len(every[1])
                else f"{genes[1]} " + _either([r[0] for r in rests])
            )
        else:
            rest = _either(
                [", ".join(f"{g} {p}" for g, p in zip(genes[1:], r, strict=True)) for r in rests]
            )
        said.append(f"{genes[0]} {_either(firsts)} with {rest}")
    return "; or ".join(said)


def read_ratio(profile, metabolite_index_: int, measured: Measured, phenotypes, expect, band):
    """The measured metabolite-to-parent ratio (molar) against the model's for this patient
    and for every phenotype combination of the genes that form and clear the metabolite
    (the others as given): which combinations hold the ratio, and which hold the ratio
    and every measured level, each within its 90 % range. (record, sentence)"""
    metabolite = profile.metabolites[metabolite_index_]
    j = metabolite_index_ + 1  # its place among the moieties
    parent_molar = ng_ml_to_nm(measured.parent, profile.parent.molar_mass_g_mol)
    ratio = ng_ml_to_nm(measured.metabolites[metabolite_index_], metabolite.molar_mass_g_mol)
    ratio /= parent_molar
    levels = expect(phenotypes)
    expected_ratio = _molar(levels, j) / _molar(levels, 0)
    genes = ratio_genes(metabolite)
    every = [gene_phenotypes(profile, g) for g in genes]
    with_ratio, with_levels = [], []
    too_many = math.prod(len(e) for e in every) > MAX_COMBINATIONS
    if genes and not too_many:
        for combination in itertools.product(*every):
            try:
                other = expect({**phenotypes, **dict(zip(genes, combination, strict=True))})
            except SertError:
                continue
            if not _molar(other, 0) > 0 or not _within(
                ratio, _molar(other, j) / _molar(other, 0), band
            ):
                continue
            with_ratio.append(combination)
            if _within(measured.parent, _ng_ml(other, 0), band) and all(
                _within(value, _ng_ml(other, i + 1), band)
                for i, value in measured.metabolites.items()
            ):
                with_levels.append(combination)
    name = f"{metabolite.name}/{profile.parent.name}"
    given = ", ".join(f"{g} {phenotypes.get(g, 'NM')}" for g in genes) or "this patient"
    direction = (
        "higher than expected"
        if ratio > expected_ratio * band
        else "lower than expected"
        if ratio < expected_ratio / band
        else "within the expected range"
    )
    raises, lowers = ratio_movers(metabolite, genes, phenotypes, expect, j, expected_ratio)
    pointing = pointer_text(name, metabolite, ratio, expected_ratio, raises, lowers)
    said = (
        (f"{pointing}; " if pointing else "")
        + f"{name} {ratio:.3g} (molar; expected {expected_ratio:.3g} for {given}, 90 % of "
        f"patients {expected_ratio / band:.3g}-{expected_ratio * band:.3g}): {direction}"
    )
    if not genes:
        said += f"; the profile names no gene that forms or clears {metabolite.name}"
    elif too_many:
        said += (
            f"; {' and '.join(genes)} give more than {MAX_COMBINATIONS} phenotype "
            "combinations: not read one by one"
        )
    elif not with_ratio:
        said += (
            f"; no combination of {' and '.join(genes)} phenotypes explains it: consider an "
            "interacting co-medication, a sample not at steady state, or a dose taken "
            "irregularly"
        )
    else:
        said += "; the ratio is consistent with " + combinations_text(genes, with_ratio, every)
        said += (
            "; the ratio and the measured levels together with "
            + combinations_text(genes, with_levels, every)
            if with_levels
            else "; no combination also holds the measured levels (their amount points to "
            "the dose, adherence or another clearance, their ratio to the genes above)"
        )
    record = {
        "metabolite": metabolite.name,
        "measured": ratio,
        "expected": expected_ratio,
        "expected_range": [expected_ratio / band, expected_ratio * band],
        "genes": list(genes),
        "consistent_with_ratio": [dict(zip(genes, c, strict=True)) for c in with_ratio],
        "consistent_with_levels": [dict(zip(genes, c, strict=True)) for c in with_levels],
        # whether the combinations were read (too many are not: then the lists say nothing)
        "combinations_read": bool(genes) and not too_many,
        # each gene's phenotypes under which the model expects a higher (lower) ratio than
        # for this patient, the others as given
        "raise_ratio": raises,
        "lower_ratio": lowers,
    }
    return record, said


def ratio_movers(metabolite, genes, phenotypes, expect, j: int, expected_ratio: float):
    """Each gene's phenotypes (the others as given) under which the model expects a higher
    metabolite-to-parent ratio than for this patient, and those under which a lower one:
    ({gene: [phenotypes]}, {gene: [phenotypes]}), in PHENOTYPES order."""
    raises: dict[str, list[str]] = {}
    lowers: dict[str, list[str]] = {}
    for gene in genes:
        for phenotype in PHENOTYPES:
            if phenotype == phenotypes.get(gene, "NM") or (
                phenotype == "RM" and gene not in GENES_WITH_RM
            ):
                continue
            try:
                other = expect({**phenotypes, gene: phenotype})
            except SertError:
                continue
            if not _molar(other, 0) > 0:
                continue
            moved = _molar(other, j) / _molar(other, 0)
            if moved > expected_ratio * (1 + RATIO_MOVES):
                raises.setdefault(gene, []).append(phenotype)
            elif moved < expected_ratio * (1 - RATIO_MOVES):
                lowers.setdefault(gene, []).append(phenotype)
    return raises, lowers


# a phenotype moves the expected ratio where it changes it by more than this, relative
RATIO_MOVES = 0.01
FASTER, SLOWER = ("RM", "UM"), ("PM", "IM")  # than a normal metabolizer, by definition


def _gene_role(metabolite, gene: str, phenotypes_: list[str]) -> str:
    """'faster CYP2C19 formation (RM/UM)': the gene's part in the ratio (it forms the
    metabolite, or clears it), and whether these phenotypes metabolize faster or slower
    than a normal metabolizer; the phenotypes alone where they are of both kinds."""
    speed = (
        "faster "
        if set(phenotypes_) <= set(FASTER)
        else "slower "
        if set(phenotypes_) <= set(SLOWER)
        else ""
    )
    forms = metabolite.formation is not None and metabolite.formation.gene == gene
    role = f"{gene} formation" if forms else f"{gene} clearance"
    if not speed:
        return f"{gene} {'/'.join(phenotypes_)}"
    return f"{speed}{role} ({'/'.join(phenotypes_)})"


def pointer_text(name: str, metabolite, ratio, expected_ratio, raises, lowers) -> str:
    """The direction the measured ratio points: 'a nortriptyline/amitriptyline ratio above
    the expected one (1.76 vs 1.25) points to faster CYP2C19 formation (RM/UM) or slower
    CYP2D6 clearance (PM/IM)', from
    the phenotypes the model expects to move it that way ("" where none does, or the
    ratio is the expected one)."""
    above = ratio > expected_ratio
    if ratio == expected_ratio or not (movers := raises if above else lowers):
        return ""
    causes = " or ".join(_gene_role(metabolite, g, p) for g, p in movers.items())
    return (
        f"a {name} ratio {'above' if above else 'below'} the expected one ({ratio:.3g} vs "
        f"{expected_ratio:.3g}) points to {causes}"
    )


def joint_phenotypes(ratios: list[dict]) -> dict[str, list[str]]:
    """Each gene's phenotypes consistent with the measured ratio and levels, read with the
    other genes that form and clear the metabolite free (the combinations of read_ratio),
    not one gene at a time with the others as given: the per-gene rows then say what the
    combinations say. A gene in several metabolites' readings: the phenotypes all allow."""
    joint: dict[str, list[str]] = {}
    for record in ratios:
        if not record["combinations_read"]:
            continue
        for gene in record["genes"]:
            hits = [c[gene] for c in record["consistent_with_levels"]]
            ordered = [p for p in PHENOTYPES if p in hits]
            joint[gene] = [p for p in joint.get(gene, ordered) if p in ordered]
    return joint


def moiety_words(profile, of: str) -> str:
    """What a level measures, in words: the parent's name, or parent + metabolites."""
    if of == "active_moiety":
        return " + ".join(m.name for m in profile.moieties)
    return profile.parent.name


def answer_tdm(engine, query: TdmQuery, prepared: Prepared, interval: float) -> TdmResult:
    """The TDM query's answer (the engine dispatches here; no further queries)."""
    profile = prepared.profile
    dose = positive(query.dose_mg, "dose_mg", "mg")
    measured = measured_of(profile, query)
    after = interval if query.hours_after_dose is None else query.hours_after_dose
    if query.hours_after_dose is None and after > MAX_HOURS_AFTER_DOSE:  # the profile's
        raise ModelError(
            f"{profile.name}'s dosing interval, {interval:g} h, puts the trough more than a "
            "year after the dose; give the sampling time",
            field="hours_after_dose",
        )
    if not math.isfinite(after) or not 0 <= after <= MAX_HOURS_AFTER_DOSE:
        raise InputError(
            f"must be from 0 to {MAX_HOURS_AFTER_DOSE:g} hours", field="hours_after_dose"
        )
    memo: dict = {}

    def expect(phenotypes) -> list:
        key = tuple(sorted(phenotypes.items()))
        if key not in memo:
            memo[key] = expected_levels(profile, phenotypes, dose, interval, after)
        return memo[key]

    levels = expect(prepared.phenotypes)
    warnings = list(prepared.warnings)
    # what the headline level is of: the sum where it was given, or where the range is of
    # the active moiety and every part was given; the parent where its parts were given
    # otherwise; a level given alone, as before, the quantity of the range
    if measured.sum is not None:
        of, level = "active_moiety", measured.sum
    elif not measured.metabolites:
        of, level = profile.therapeutic_range_of, measured.parent
        if of == "active_moiety" and profile.metabolites:
            warnings.append(
                f"a level given alone is read as {moiety_words(profile, of)}, the quantity "
                "the reference range is of (as before): give the metabolite's level beside "
                "it to read the parent's own, or say it is the sum"
            )
    elif profile.therapeutic_range_of == "active_moiety" and len(measured.metabolites) == len(
        profile.metabolites
    ):
        of, level = "active_moiety", measured.parent + sum(measured.metabolites.values())
    else:
        of, level = "parent", measured.parent

    def quantity(expected: list) -> float:
        if of == "active_moiety":
            return sum(_ng_ml(expected, i) for i in range(len(expected)))
        return _ng_ml(expected, 0)

    expected_level = quantity(levels)
    ratio = level / expected_level
    measured_parts = [0] * (measured.parent is not None) + [i + 1 for i in measured.metabolites]
    if not math.isfinite(ratio) or not all(_ng_ml(levels, i) > 0 for i in measured_parts):
        raise ModelError(
            f"the model expects {expected_level:.3g} ng/mL {after:g} h after a dose: too "
            "little to read a level against",
            field="hours_after_dose",
        )
    stopped = (
        [
            f"the sample was taken {after:g} h after the last dose, longer than the "
            f"{interval:g} h interval: the expected level assumes no dose since (doses stopped "
            "or missed)"
        ]
        if after > interval
        else []
    )
    spread = spread_of(profile)
    band = band_of(spread)
    expected_range = (expected_level / spread, expected_level * spread) if spread else None
    parts = measured.parent is not None and bool(measured.metabolites)

    def holds(expected: list) -> bool:
        """Whether every measured quantity lies in its 90 % range for these levels."""
        if not parts:
            return _within(level, quantity(expected), band)
        return _within(measured.parent, _ng_ml(expected, 0), band) and all(
            _within(value, _ng_ml(expected, i + 1), band)
            for i, value in measured.metabolites.items()
        )

    consistent = {}
    for gene in prepared.phenotypes:
        hits = []
        for phenotype in gene_phenotypes(profile, gene):
            try:
                other = expect({**prepared.phenotypes, gene: phenotype})
            except SertError:
                continue
            if holds(other):
                hits.append(phenotype)
        consistent[gene] = hits
    # each moiety: measured where given, expected, and a range of its own where a profile
    # gives one (the parent's where the range is the parent's)
    reference = profile.therapeutic_range_ng_ml
    range_of = profile.therapeutic_range_of if reference else None
    # each moiety's measured / expected: its own where measured, else the parent's (the
    # headline's where only it, or a sum, was given)
    moiety_ratio = [ratio] * len(levels)
    if measured.parent is not None and (parts or of == "parent"):
        parent_ratio = measured.parent / _ng_ml(levels, 0)
        moiety_ratio = [parent_ratio] + [
            measured.metabolites[i] / _ng_ml(levels, i + 1)
            if i in measured.metabolites
            else parent_ratio
            for i in range(len(profile.metabolites))
        ]
    by_moiety = []
    for i, moiety in enumerate(profile.moieties):
        given = measured.parent if i == 0 else measured.metabolites.get(i - 1)
        if i == 0 and not (parts or of == "parent"):
            given = None  # the level given was the sum
        own_range = reference if (i == 0 and range_of == "parent") else None
        value = _ng_ml(levels, i)
        by_moiety.append(
            {
                "name": moiety.name,
                "measured_ng_ml": given,
                "expected_ng_ml": value,
                "expected_range_ng_ml": [value / spread, value * spread] if spread else None,
                "ratio_to_expected": None if given is None or not value else given / value,
                "reference_range_ng_ml": list(own_range) if own_range else None,
                "level_vs_reference": position(given, own_range) if given is not None else None,
            }
        )
    ratios, ratio_said = [], []
    for index in sorted(measured.metabolites):
        record, said = read_ratio(profile, index, measured, prepared.phenotypes, expect, band)
        ratios.append(record)
        ratio_said.append(said)
    together = joint_phenotypes(ratios)
    consistent |= together
    if measured.sum is not None:
        ratio_said.append(
            "only the sum was given: no metabolite-to-parent ratio can be read, so it cannot "
            "tell formation from clearance (the laboratory's separate levels can)"
        )
    compared = reference is not None and range_of == of
    uncompared = (
        f"the reference range is of {moiety_words(profile, range_of)}, the level read of "
        f"{moiety_words(profile, of)}: not compared with it"
        if reference is not None and not compared
        else ""
    )
    clearance = moiety_clearance(profile.parent, prepared.phenotypes)[0]
    alert = profile.therapeutic_alert_ng_ml
    above = compared and alert is not None and level >= alert
    above_alert = (
        [
            f"the level of {moiety_words(profile, of)}, {level:g} ng/mL, is at or above "
            f"the laboratory alert level of {alert:g} ng/mL (therapeutic_range.alert in the "
            "profile, with its source): check tolerability and reduce the dose"
        ]
        if above
        else []
    )
    # as `sert occupancy` says it: a dose above the label maximum is read, and said
    daily = dose * per_day(interval)
    label = label_warnings(profile, daily, "the daily dose") if above_label(profile, daily) else []
    warnings += label + stopped + above_alert
    fields = {
        "dose_mg": dose,
        "interval_h": interval,
        "daily_dose_mg": dose * per_day(interval),
        "hours_after_dose": after,
        # how the expected level was read: at steady state that long after a dose, or (a
        # sample more than one interval after the last dose) the washout with no dose since
        "expected_as": "no dose since" if after > interval else "steady state",
        # the level as given (batch writes it where its input had it: a row read back
        # asks again what it asked), then the level read, of what
        "level_ng_ml": measured.parent,
        "level_read_ng_ml": level,
        "level_of": of.replace("_", " "),
        "expected_level_ng_ml": expected_level,
        "expected_range_ng_ml": list(expected_range) if expected_range else None,
        "ratio_to_expected": ratio,
        "implied_clearance_l_h": clearance / moiety_ratio[0],
        "levels_by_moiety": by_moiety,
        "metabolite_ratios": ratios,
        "ratio_interpretation": "; ".join(ratio_said) or None,
        "phenotypes": dict(prepared.phenotypes),
        "consistent_phenotypes": consistent,
        # how consistent_phenotypes was read: gene by gene (the others as given), or, for
        # the genes that form and clear a measured metabolite, those genes together
        "consistent_phenotypes_read": {
            g: "with the other genes of the ratio free" if g in together else "one gene at a time"
            for g in consistent
        },
        "reference_range_ng_ml": list(reference) if reference else None,
        "reference_range_of": None if range_of is None else range_of.replace("_", " "),
        "reference_source": source_of(profile, "therapeutic_range") if reference else None,
        "alert_level_ng_ml": alert,
        "above_alert": above if compared and alert is not None else None,
        "occupancy_at_expected": {
            t: None if v is None else float(v[0])
            for t, v in occupancy_of_loads(profile, transporter_loads(profile, levels)).items()
        },
        "occupancy_implied": implied_occupancy(profile, levels, moiety_ratio),
        "level_vs_reference": position(level, reference) if compared else None,
        "expected_vs_reference": position(expected_level, reference) if compared else None,
        "interpretation": interpret(
            ratio,
            query.patient.given,
            level,
            expected_level,
            expected_range,
            reference if compared else None,
            washout=after > interval,
            uncompared=uncompared,
        ),
    }
    step = Step(
        name="level against the model",
        formula="expected = steady-state level at t after a dose; ratio = measured / expected; "
        "implied CL = CL * expected / measured; 90 % range = expected x/ spread; "
        "metabolite/parent = (C_m / MW_m) / (C_p / MW_p)",
        values=(("expected", expected_level, "ng/mL"), ("ratio", ratio, ""), ("t", after, "h")),
        source=model_section(17),
    )
    return TdmResult(
        query=query,
        prepared=prepared,
        interval_h=interval,
        fields=fields,
        warnings=tuple(warnings),
        steps=(step,),
    )
