"""`sert validate`'s checks of plasma levels: genotype-exposure ratios vs NM
(sert_cli/data/exposure_ratios.csv) and observed levels of TDM cohorts and PK studies
(sert_cli/data/observed_levels.csv), each by moiety: the parent, a metabolite by name, or
the active moiety (parent + metabolites, ng/mL added as laboratories report them).

A row names one gene's phenotype; every other gene of the profile is NM. A row without a
gene (an unselected cohort of mixed phenotypes) is compared with the NM prediction and
says so. A metabolite's level follows docs/model.md section 8 (its formation through a
gene moves it against the parent).
"""

import math

from sert_cli.datafiles import read_table
from sert_cli.errors import InputError, ModelError
from sert_cli.pk.steady_state import level_spread, steady_state
from sert_cli.pk.timecourse import Regimen
from sert_cli.profiles.library import Library
from sert_cli.profiles.schema import Profile
from sert_cli.vocabulary import DEFAULT_PHENOTYPE, HOURS_PER_DAY, PHENOTYPES

RATIO_TOLERANCE = 0.15
PARENT, ACTIVE_MOIETY = "parent", "active_moiety"
SAMPLINGS = ("trough", "average")
UNSELECTED = "unselected cohort (mixed phenotypes), compared with NM"


def _phenotypes(profile: Profile, gene: str, phenotype: str) -> dict[str, str]:
    """The row's phenotype of its gene, NM for every other gene of the profile."""
    chosen = dict.fromkeys(profile.genes, DEFAULT_PHENOTYPE)
    if gene:
        chosen[gene] = phenotype
    return chosen


def _checked_row(library: Library, file: str, number: int, row: dict) -> tuple[Profile, str]:
    """(the profile, the moiety's canonical name) of a data row, or a ModelError naming
    the file and row: a row the model cannot read is a data error, not a silent 1.0."""
    where = f"{file} row {number}"
    try:
        profile = library.get(row["drug"])
    except InputError:
        raise ModelError(f"{where}: no profile {row['drug']!r}") from None
    moiety = (row.get("moiety") or "").strip() or PARENT
    names = {m.name.lower(): m.name for m in profile.metabolites}
    if moiety not in (PARENT, ACTIVE_MOIETY) and moiety.lower() not in names:
        raise ModelError(f"{where}: {profile.name} has no metabolite {moiety!r}")
    moiety = names.get(moiety.lower(), moiety)
    gene, phenotype = row["gene"], row["phenotype"]
    if bool(gene) != bool(phenotype):
        raise ModelError(f"{where}: give a gene and its phenotype, or neither")
    if gene and gene not in profile.genes:
        raise ModelError(f"{where}: {profile.name}'s clearance does not depend on {gene}")
    if phenotype and phenotype not in PHENOTYPES:
        raise ModelError(f"{where}: unknown phenotype {phenotype!r}")
    return profile, moiety


def moiety_level(levels, moiety: str) -> float:
    """The level (ng/mL) of the parent, a metabolite by name, or the active moiety."""
    import numpy as np

    values = [float(np.ravel(lv.css_plasma_ng_ml)[0]) for lv in levels]
    if moiety == PARENT:
        return values[0]
    if moiety == ACTIVE_MOIETY:
        return sum(values)
    return next(v for lv, v in zip(levels, values, strict=True) if lv.name == moiety)


def _level(profile: Profile, daily_mg: float, phenotypes: dict, sampling: str):
    """Every moiety's steady-state levels at a daily dose split as the profile doses it:
    the average, or the trough (one interval after a dose, the time course of section 10)."""
    import numpy as np

    dose = daily_mg * profile.interval_h / HOURS_PER_DAY
    if sampling == "average":
        return steady_state(profile, dose, profile.interval_h, phenotypes).levels
    regimen = Regimen(profile, dose, profile.interval_h, phenotypes)
    return regimen.levels(np.array([profile.interval_h]), None)


def exposure_ratio_checks(library: Library) -> list[dict]:
    """The model's steady-state exposure of a moiety in a phenotype over NM vs the cited
    clinical ratio, at the daily dose it was measured at (a saturable drug's ratio moves
    with it), else (a dose-harmonized ratio) at the label minimum."""
    checks = []
    for number, row in enumerate(read_table("exposure_ratios.csv")[1], start=1):
        profile, moiety = _checked_row(library, "exposure_ratios.csv", number, row)
        if not row["gene"]:
            raise ModelError(f"exposure_ratios.csv row {number}: a ratio needs a gene")
        dose = float(row["daily_dose_mg"]) if row["daily_dose_mg"] else profile.label_min_mg
        nm = _level(profile, dose, _phenotypes(profile, row["gene"], "NM"), "average")
        other = _level(
            profile, dose, _phenotypes(profile, row["gene"], row["phenotype"]), "average"
        )
        ratio = moiety_level(other, moiety) / moiety_level(nm, moiety)
        cited = float(row["ratio"])
        checks.append(
            {
                "drug": row["drug"],
                "gene": row["gene"],
                "phenotype": row["phenotype"],
                "moiety": moiety,
                "other_genes_nm": [g for g in profile.genes if g != row["gene"]],
                "daily_dose_mg": dose,
                "model_ratio": ratio,
                "cited_ratio": cited,
                "within_15pct": abs(ratio / cited - 1) <= RATIO_TOLERANCE,
                "source": row["source"],
            }
        )
    return checks


def observed_level_checks(library: Library) -> dict:
    """Each observed level against the model's level for the row's moiety, dose, phenotype
    and sampling (NM for an unselected cohort), its 90 % range for patients of that
    phenotype (the profile's exposure CV, section 14; none without one), and the geometric
    mean fold error over the rows a profile field was derived from (in sample) and over
    the independent rows, separately."""
    rows = []
    for number, row in enumerate(read_table("observed_levels.csv")[1], start=1):
        profile, moiety = _checked_row(library, "observed_levels.csv", number, row)
        if row["sampling"] not in SAMPLINGS:
            raise ModelError(
                f"observed_levels.csv row {number}: sampling must be one of {', '.join(SAMPLINGS)}"
            )
        dose, observed = float(row["daily_dose_mg"]), float(row["level_ng_ml"])
        if not (dose > 0 and observed > 0 and math.isfinite(dose * observed)):
            raise ModelError(f"observed_levels.csv row {number}: dose and level must be > 0")
        phenotypes = _phenotypes(profile, row["gene"], row["phenotype"])
        predicted = moiety_level(_level(profile, dose, phenotypes, row["sampling"]), moiety)
        spread = level_spread(profile)
        patient_range = None if spread is None else [predicted / spread, predicted * spread]
        rows.append(
            {
                "study": row["study"],
                "drug": profile.name,
                "moiety": moiety,
                "daily_dose_mg": dose,
                "gene": row["gene"] or None,
                "phenotype": row["phenotype"] or None,
                "compared_with": f"{row['gene']} {row['phenotype']}, other genes NM"
                if row["gene"]
                else UNSELECTED,
                "sampling": row["sampling"],
                "observed_ng_ml": observed,
                "sd_ng_ml": float(row["sd_ng_ml"]) if row["sd_ng_ml"] else None,
                "n": int(row["n"]) if row["n"] else None,
                "predicted_ng_ml": predicted,
                "ratio": predicted / observed,
                "range_ng_ml": patient_range,
                "inside_range": None
                if patient_range is None
                else patient_range[0] <= observed <= patient_range[1],
                "derives": row["derives"] or None,
                "in_sample": bool(row["derives"]),
                "source": row["source"],
            }
        )
    return {"rows": rows, "summary": _fold_error_summary(rows)}


def _fold_error_summary(rows: list[dict]) -> dict:
    """Geometric mean fold error, exp(mean |ln(predicted / observed)|), and the geometric
    mean ratio (bias) over the in-sample and the independent rows."""
    summary = {}
    for name, in_sample in (("in_sample", True), ("independent", False)):
        group = [r for r in rows if r["in_sample"] is in_sample]
        logs = [math.log(r["ratio"]) for r in group]
        ranged = [r for r in group if r["inside_range"] is not None]
        summary[name] = {
            "rows": len(group),
            "gmfe": math.exp(sum(map(abs, logs)) / len(logs)) if logs else None,
            "geometric_mean_ratio": math.exp(sum(logs) / len(logs)) if logs else None,
            "inside_range": sum(1 for r in ranged if r["inside_range"]),
            "with_range": len(ranged),
        }
    return summary
