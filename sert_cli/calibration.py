"""`sert validate`: the model against human PET occupancy, therapeutic ranges and
clinical exposure ratios; and the PET-scale fit the profiles' constants come from.

The PET points ship in sert_cli/data/pet_occupancy.csv, one cited row per dose group or
time point. Each point is computed under its own conditions: the average steady state, or
hours after a single or a last dose through the time-course model.

The fit (docs/model.md section 9): occupancy on the PET scale is Emax * x / (1 + x), where
x is the transporter load of section 4 with every in vitro K scaled by one factor per drug
and transporter. The load is proportional to 1/scale, so each point's load is computed
once with the in vitro constants and the fit itself is a small least-squares problem:
one scale per drug and transporter, one plateau Emax per transporter shared by all drugs.
A drug is fitted to its steady-state points where it has them, else to its single doses.
"""

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from sert_cli.datafiles import read_table
from sert_cli.errors import InputError, ModelError
from sert_cli.pk import formulas
from sert_cli.pk.steady_state import steady_state, transporter_loads
from sert_cli.pk.timecourse import Regimen
from sert_cli.profiles.library import Library
from sert_cli.profiles.schema import Profile
from sert_cli.units import nm_to_ng_ml
from sert_cli.vocabulary import DEFAULT_PHENOTYPE, HOURS_PER_DAY, PRIMARY_TRANSPORTER

# Issue 10's figures: leave-one-study-out mean absolute error of SERT occupancy over the
# steady-state points, percentage points, overall and for the worst drug.
MAX_OVERALL_MAE_PP = 5.0
MAX_DRUG_MAE_PP = 8.0
RULE_RANGE = (0.70, 0.90)
RATIO_TOLERANCE = 0.15
KINDS = ("steady_state", "time_course", "single")
COUNTED = ("verified", "approximate")  # points that enter fits and errors
EMAX_BOUNDS = (0.3, 1.0)
# The scale sert answers on: the plateau as this tracer measures it (Meyer 2004's 80 % rule
# is on [11C]DASB). Other tracers get their own plateau in the fit, sharing the drug's EC50.
REFERENCE_TRACER = {"SERT": "[11C]DASB", "NET": "[18F]FMeNER-D2"}
TRACER_FAMILIES = ("[11C]MADAM", "[11C]DASB", "[123I]ADAM", "[18F]FMeNER-D2", "[11C](+)McN5652")


def tracer_family(tracer: str) -> str:
    """The tracer a point was measured with, without isotope-label details."""
    plain = tracer.replace("(S,S)-", "")
    return next((f for f in TRACER_FAMILIES if f in plain), plain)


@dataclass(frozen=True)
class PetPoint:
    study: str
    drug: str
    transporter: str
    dose_mg_day: float
    occupancy: float
    n: int | None
    regimen: str  # single | repeated | steady_state
    doses: int
    hours_after_last_dose: float | None
    population: str
    tracer: str
    status: str  # verified | approximate | unverified | excluded
    source: str

    @property
    def kind(self) -> str:
        """steady_state (at steady state, within a day of the last dose), time_course
        (longer after the last of repeated doses) or single (after one dose)."""
        if self.regimen == "steady_state":
            return "steady_state"
        if self.regimen == "repeated":
            late = self.hours_after_last_dose is not None and self.hours_after_last_dose > 24
            return "time_course" if late else "steady_state"
        return "single"

    @property
    def counted(self) -> bool:
        return self.status in COUNTED

    @property
    def scale(self) -> tuple[str, str]:
        return self.transporter, tracer_family(self.tracer)


def pet_points() -> list[PetPoint]:
    points = []
    for row in read_table("pet_occupancy.csv")[1]:
        points.append(
            PetPoint(
                row["study"],
                row["drug"],
                row["transporter"],
                float(row["dose_mg_day"]),
                float(row["occupancy_pct"]) / 100.0,
                int(row["n"]) if row["n"] else None,
                row["regimen"],
                int(row["doses"] or 0),
                float(row["hours_after_last_dose"]) if row["hours_after_last_dose"] else None,
                row["population"],
                row["tracer"],
                row["status"],
                row["source"],
            )
        )
    return points


def point_load(profile: Profile, point: PetPoint) -> float:
    """The transporter load under the point's conditions (NM, the profile's interval)."""
    if point.regimen == "steady_state":
        return float(_daily_dose_level(profile, point.dose_mg_day).loads[point.transporter])
    if point.hours_after_last_dose is None:
        raise ModelError(f"{point.drug}: a {point.regimen} point needs its scan time")
    per_dose, count = point.dose_mg_day, 1
    if point.regimen == "repeated":  # the daily dose, split as the profile doses it
        per_dose = point.dose_mg_day * profile.interval_h / HOURS_PER_DAY
        count = max(1, round(point.doses * HOURS_PER_DAY / profile.interval_h))
    regimen = Regimen(profile, per_dose, profile.interval_h, {})
    t_h = (count - 1) * profile.interval_h + point.hours_after_last_dose
    return float(
        transporter_loads(profile, regimen.levels(np.array([t_h]), count))[point.transporter][0]
    )


@dataclass(frozen=True)
class Fit:
    """Plateaus by (transporter, tracer); K scale (in vivo / in vitro) by (drug, transporter),
    with how each was found: fitted to steady state, to single doses, or extrapolated."""

    plateau: dict[tuple[str, str], float]
    scale: dict[tuple[str, str], float]
    basis: dict[tuple[str, str], str]

    @property
    def emax(self) -> dict[str, float]:
        """The plateau on each transporter's reference scale (the one sert answers on)."""
        return {
            t: v for (t, tracer), v in self.plateau.items() if REFERENCE_TRACER.get(t) == tracer
        }

    def occupancy(self, point: PetPoint, load_in_vitro: float) -> float:
        key = (point.drug, point.transporter)
        emax = self.plateau.get(point.scale, self.emax.get(point.transporter, 1.0))
        return formulas.occupancy_from_load(load_in_vitro / self.scale[key], emax)


def published_plateaus() -> dict[tuple[str, str], float]:
    return {
        (row["transporter"], row["tracer"]): float(row["emax"])
        for row in read_table("pet_plateaus.csv")[1]
    }


def published_plateau_sources() -> dict[tuple[str, str], str]:
    return {(r["transporter"], r["tracer"]): r["source"] for r in read_table("pet_plateaus.csv")[1]}


def fit_points(points: list[PetPoint], loads: dict[PetPoint, float], wanted) -> Fit:
    """The joint least-squares fit: one K scale per drug and transporter, to the drug's
    points after repeated dosing (steady state and the time course after the last dose) on
    the reference tracer, else its steady-state points on any tracer, else its single doses;
    and the plateau of each tracer that pet_plateaus.csv does not give. `wanted` maps the
    (drug, transporter) pairs that need a scale to what extrapolation needs when no point of
    theirs is in `points`."""
    basis, chosen = {}, []
    for key in sorted({(p.drug, p.transporter) for p in points}):
        own = [p for p in points if (p.drug, p.transporter) == key]
        # steady-state data first, and on the scale sert answers on first
        on_scale = [
            p for p in own if p.kind != "single" and p.scale[1] == REFERENCE_TRACER[p.transporter]
        ]
        # on another tracer only the steady state: the fall after the last dose also depends
        # on that tracer's plateau, which may be assumed
        steady = [p for p in own if p.kind == "steady_state"]
        used = on_scale or steady or own
        chosen += used
        kinds = [p.kind for p in used]
        basis[key] = (
            "fitted to "
            + ", ".join(f"{kinds.count(k)} {k.replace('_', '-')}" for k in KINDS if k in kinds)
            + f" point(s) of {', '.join(sorted({p.study for p in used}))}"
        )
    points = chosen
    pairs = sorted(basis)
    fixed = published_plateaus()
    free = sorted({p.scale for p in points} - set(fixed))
    index = {key: i for i, key in enumerate(pairs)}
    load = np.array([loads[p] for p in points])
    pair_of = np.array([index[(p.drug, p.transporter)] for p in points], dtype=int)
    plateau_of = [fixed.get(p.scale) for p in points]
    free_of = np.array(
        [free.index(p.scale) if e is None else 0 for p, e in zip(points, plateau_of, strict=True)]
    )
    is_free = np.array([e is None for e in plateau_of])
    fixed_emax = np.array([1.0 if e is None else e for e in plateau_of])
    observed = np.array([p.occupancy for p in points])

    def residuals(params):
        log_scale, free_emax = params[: len(pairs)], params[len(pairs) :]
        x = load / np.exp(log_scale[pair_of])
        emax = np.where(is_free, free_emax[free_of] if free else 1.0, fixed_emax)
        return emax * x / (1 + x) - observed

    start = [math.log(max(np.median(load[pair_of == i]), 1e-9)) for i in range(len(pairs))]
    start += [0.85] * len(free)
    lower = [-50.0] * len(pairs) + [EMAX_BOUNDS[0]] * len(free)
    upper = [50.0] * len(pairs) + [EMAX_BOUNDS[1]] * len(free)
    from scipy.optimize import least_squares  # only `sert validate` fits: scipy loads here

    solved = least_squares(residuals, start, bounds=(lower, upper)).x
    scale = {key: math.exp(solved[i]) for key, i in index.items()}
    plateau = {**fixed, **{key: float(solved[len(pairs) + i]) for i, key in enumerate(free)}}
    reference = {t: plateau.get((t, tracer), 1.0) for t, tracer in REFERENCE_TRACER.items()}
    for drug, transporter in wanted:
        if (drug, transporter) in scale:
            continue
        me = wanted[(drug, transporter)]
        parents = [
            (d, name)
            for (d, t), w in wanted.items()
            if t == transporter and (d, t) in basis
            for name in w.metabolite_k_nm
            if name in me.names
        ]
        if parents:  # the same molecule as a fitted drug's metabolite
            parent, name = parents[0]
            ratio = wanted[(parent, transporter)].metabolite_k_nm[name] / me.k_nm
            scale[(drug, transporter)] = scale[(parent, transporter)] * ratio
            basis[(drug, transporter)] = f"fitted as {parent}'s metabolite {name}"
            continue
        extrapolated = _extrapolate(drug, transporter, scale, reference, wanted)
        if extrapolated is not None:
            scale[(drug, transporter)] = extrapolated
            basis[(drug, transporter)] = "extrapolated"
    return Fit(plateau, scale, basis)


def _extrapolate(drug, transporter, scale, reference, wanted) -> float | None:
    """A scale for a drug without points of its own (docs/model.md section 9). For SERT, the
    rule of the label minimum: it gets the median occupancy the fitted drugs have at theirs
    (a median, so that one drug dosed for another use, milnacipran, does not move it). For
    NET, with too few drugs for a rule, the geometric mean in vivo/in vitro ratio of the
    fitted drugs."""
    fitted = [d for d, t in scale if t == transporter and (d, t) in wanted]
    if not fitted:
        return None
    if transporter != PRIMARY_TRANSPORTER:
        return math.exp(sum(math.log(scale[(d, transporter)]) for d in fitted) / len(fitted))
    emax = reference[transporter]
    at_minimum = sorted(
        formulas.occupancy_from_load(
            wanted[(d, transporter)].label_min_load / scale[(d, transporter)], emax
        )
        for d in fitted
    )
    middle = len(at_minimum) // 2
    rule = (
        at_minimum[middle]
        if len(at_minimum) % 2
        else (at_minimum[middle - 1] + at_minimum[middle]) / 2
    )
    return wanted[(drug, transporter)].label_min_load / formulas.load_for_occupancy(rule, emax)


class Wanted(NamedTuple):
    """What extrapolation needs of a drug: its class, its load at the label minimum (in
    vitro constants, NM, steady state), its names, its parent's in vitro K and its
    metabolites' in vitro K by name (a drug that is another's metabolite is the same
    molecule, so it gets the same in vivo constant)."""

    drug_class: str
    label_min_load: float
    names: frozenset
    k_nm: float
    metabolite_k_nm: dict


def ec50_plasma_ng_ml(profile: Profile, transporter: str, scale: float) -> float:
    """The total plasma level at half the plateau, for a K scale: C = s*K / (fu * Kp,uu)."""
    parent = profile.parent
    k_vivo = scale * parent.k_nm[transporter]
    return nm_to_ng_ml(
        k_vivo / (parent.fraction_unbound * parent.kp_uu_brain), parent.molar_mass_g_mol
    )


def _mae_pp(pairs) -> float | None:
    pairs = list(pairs)
    return (sum(abs(p - o) for p, o in pairs) / len(pairs) * 100) if pairs else None


def _calibration(library: Library):
    """Every point, its in vitro load, the in-sample fit, and each point's prediction
    with its own study left out of the fit."""
    points = [p for p in pet_points() if p.status != "excluded"]
    in_vitro = {
        name: library.get(name).with_affinity("in-vitro") for name in {p.drug for p in points}
    }
    loads = {p: point_load(in_vitro[p.drug], p) for p in points}
    counted = [p for p in points if p.counted]
    wanted = {}
    for profile in library.profiles.values():
        base = profile.with_affinity("in-vitro")
        loads_at_min = _daily_dose_level(base, profile.label_min_mg).loads
        names = frozenset(n.lower() for n in (profile.name, *profile.aliases))
        for t in profile.parent.k_nm:
            wanted[(profile.name, t)] = Wanted(
                profile.drug_class,
                float(loads_at_min[t]),
                names,
                profile.parent.k_nm[t],
                {m.name.lower(): m.k_nm[t] for m in profile.metabolites if t in m.k_nm},
            )
    in_sample = fit_points(counted, loads, wanted)
    left_out = {}
    for study in sorted({p.study for p in counted}):
        rest = [p for p in counted if p.study != study]
        loso = fit_points(rest, loads, wanted)
        for p in counted:
            if p.study == study and (p.drug, p.transporter) in loso.scale:
                left_out[p] = (loso.occupancy(p, loads[p]), loso.basis[(p.drug, p.transporter)])
    return points, loads, in_sample, left_out


def validate(library: Library) -> dict:
    points, loads, in_sample, left_out = _calibration(library)
    rows = []
    for p in points:
        shipped = library.get(p.drug).with_affinity("pet")
        has_pet = p.transporter in shipped.emax
        key = (p.drug, p.transporter)
        rows.append(
            {
                "study": p.study,
                "drug": p.drug,
                "transporter": p.transporter,
                "dose_mg_day": p.dose_mg_day,
                "kind": p.kind,
                "regimen": p.regimen,
                "hours_after_last_dose": p.hours_after_last_dose,
                "population": p.population,
                "tracer": p.tracer,
                "observed": p.occupancy,
                "predicted_in_vitro": formulas.occupancy_from_load(loads[p]),
                "predicted": formulas.occupancy_from_load(
                    point_load(shipped, p),
                    in_sample.plateau.get(p.scale, shipped.emax[p.transporter]),
                )
                if has_pet
                else None,
                "predicted_in_sample": in_sample.occupancy(p, loads[p])
                if key in in_sample.scale
                else None,
                "predicted_left_out": left_out.get(p, (None,))[0],
                "left_out_basis": left_out.get(p, (None, None))[1],
                "status": p.status,
                "source": p.source,
            }
        )
    groups = {}
    for row in rows:
        if row["status"] in COUNTED:
            groups.setdefault((row["drug"], row["transporter"], row["kind"]), []).append(row)
    drugs = []
    for (drug, transporter, kind), group in sorted(groups.items()):
        drugs.append(
            {
                "drug": drug,
                "transporter": transporter,
                "kind": kind,
                "points": len(group),
                "studies": sorted({r["study"] for r in group}),
                **_errors(group),
                "constant": library.get(drug).with_affinity("pet").affinity.get(transporter),
            }
        )
    summary = {}
    for transporter in ("SERT", "NET"):
        for kind in KINDS:
            group = [
                r
                for r in rows
                if r["status"] in COUNTED and r["transporter"] == transporter and r["kind"] == kind
            ]
            if not group:
                continue
            worst = max(
                (
                    d["mae_left_out_pp"]
                    for d in drugs
                    if d["transporter"] == transporter
                    and d["kind"] == kind
                    and d["mae_left_out_pp"] is not None
                ),
                default=None,
            )
            kept = [r for r in group if r["left_out_basis"] not in (None, "extrapolated")]
            summary[f"{transporter}_{kind}"] = {
                "points": len(group),
                **_errors(group),
                # left out, where the drug keeps other studies (not extrapolated)
                "mae_left_out_own_drug_pp": _errors(kept)["mae_left_out_pp"] if kept else None,
                "points_left_out_own_drug": len(kept),
                "worst_drug_mae_left_out_pp": worst,
            }
    return {
        "model": {
            "scale": "PET: occupancy = Emax * x / (1 + x); one plateau per transporter and "
            "tracer, answers on the reference tracer's",
            "reference_tracer": REFERENCE_TRACER,
            "emax": in_sample.emax,
            "plateaus": [
                {"transporter": t, "tracer": tracer, "emax": v}
                for (t, tracer), v in sorted(in_sample.plateau.items())
            ],
            "limits": {"overall_pp": MAX_OVERALL_MAE_PP, "per_drug_pp": MAX_DRUG_MAE_PP},
        },
        "summary": summary,
        "drugs": drugs,
        "points": rows,
        "unverified": [r for r in rows if r["status"] not in COUNTED],
        "therapeutic_ranges": therapeutic_range_checks(library),
        "exposure_ratios": exposure_ratio_checks(library),
        "eighty_percent_rule": rule_checks(library),
    }


def _errors(rows: list[dict]) -> dict:
    def mae(field):
        return _mae_pp((r[field], r["observed"]) for r in rows if r[field] is not None)

    return {
        "mae_in_vitro_pp": mae("predicted_in_vitro"),
        "mae_pp": mae("predicted"),
        "mae_in_sample_pp": mae("predicted_in_sample"),
        "mae_left_out_pp": mae("predicted_left_out"),
    }


def _daily_dose_level(profile: Profile, daily_mg: float, phenotypes=None):
    """Steady state at a daily dose (NM for every gene not given), straight from the PK."""
    phenotypes = {g: (phenotypes or {}).get(g, DEFAULT_PHENOTYPE) for g in profile.genes}
    dose = daily_mg * profile.interval_h / HOURS_PER_DAY
    return steady_state(profile, dose, profile.interval_h, phenotypes)


def therapeutic_range_checks(library: Library) -> list[dict]:
    """Predicted NM average plasma level at the label's minimum dose vs the AGNP range."""
    checks = []
    for profile in sorted(library.profiles.values(), key=lambda p: p.name):
        if profile.therapeutic_range_ng_ml is None:
            continue
        result = _daily_dose_level(profile, profile.label_min_mg)
        parent, *metabolites = result.levels
        level = parent.css_plasma_ng_ml
        if profile.therapeutic_range_of == "active_moiety":
            level += sum(m.css_plasma_ng_ml for m in metabolites)
        low, high = profile.therapeutic_range_ng_ml
        checks.append(
            {
                "drug": profile.name,
                "daily_dose_mg": profile.label_min_mg,
                "of": profile.therapeutic_range_of,
                "predicted_ng_ml": level,
                "range_ng_ml": [low, high],
                "inside": low <= level <= high,
            }
        )
    return checks


def exposure_ratio_checks(library: Library) -> list[dict]:
    """Model PM/NM (and IM/NM) steady-state exposure vs the cited clinical ratios, each at
    the daily dose it was measured at (daily_dose_mg), else at the label minimum."""
    checks = []
    for row in read_table("exposure_ratios.csv")[1]:
        profile = library.get(row["drug"])
        # at the dose the ratio was measured at (a saturable drug's ratio moves with it);
        # a dose-harmonized ratio, at the label minimum
        dose = float(row["daily_dose_mg"]) if row["daily_dose_mg"] else profile.label_min_mg
        nm = _daily_dose_level(profile, dose, {row["gene"]: "NM"}).levels[0].css_plasma_ng_ml
        other = _daily_dose_level(profile, dose, {row["gene"]: row["phenotype"]})
        ratio = other.levels[0].css_plasma_ng_ml / nm
        cited = float(row["ratio"])
        checks.append(
            {
                "drug": row["drug"],
                "gene": row["gene"],
                "phenotype": row["phenotype"],
                "daily_dose_mg": dose,
                "model_ratio": ratio,
                "cited_ratio": cited,
                "within_15pct": abs(ratio / cited - 1) <= RATIO_TOLERANCE,
                "source": row["source"],
            }
        )
    return checks


def rule_checks(library: Library) -> list[dict]:
    """NM steady-state SERT occupancy at the label's minimum and maximum doses: 70-90 % at
    the minimum (Meyer 2004's 76-85 %, widened), or a reason."""
    checks = []
    for profile in sorted(library.profiles.values(), key=lambda p: p.name):
        calibrated = profile.with_affinity("pet")
        at_min = _daily_dose_level(calibrated, profile.label_min_mg).occupancy[PRIMARY_TRANSPORTER]
        at_max = _daily_dose_level(calibrated, profile.label_range_max_mg).occupancy[
            PRIMARY_TRANSPORTER
        ]
        inside = RULE_RANGE[0] <= at_min <= RULE_RANGE[1]
        checks.append(
            {
                "drug": profile.name,
                "daily_dose_mg": profile.label_min_mg,
                "sert_occupancy": at_min,
                "max_daily_dose_mg": profile.label_range_max_mg,
                "sert_occupancy_at_max": at_max,
                "constant": calibrated.affinity[PRIMARY_TRANSPORTER],
                "inside_70_90": inside,
                "reason": None if inside else (profile.min_dose_occupancy_note or None),
            }
        )
    return checks


def fit(library: Library, drug: str | None = None) -> dict:
    """The joint fit's constants for one drug (or every drug), as profile YAML."""
    points, loads, in_sample, _ = _calibration(library)
    names = [library.get(drug).name] if drug else sorted(library.profiles)
    results = []
    for name in names:
        profile = library.get(name)
        base = profile.with_affinity("in-vitro")
        for transporter in profile.parent.k_nm:
            key = (name, transporter)
            if key not in in_sample.scale:
                continue
            ec50 = ec50_plasma_ng_ml(base, transporter, in_sample.scale[key])
            emax = in_sample.emax[transporter]
            shipped = profile.parent.pet.get(transporter)
            basis = "extrapolated" if in_sample.basis[key] == "extrapolated" else "fitted"
            chosen = [p for p in points if p.counted and (p.drug, p.transporter) == key]
            results.append(
                {
                    "drug": name,
                    "transporter": transporter,
                    "pet_ec50_plasma_ng_ml": ec50,
                    "pet_emax": emax,
                    "basis": in_sample.basis[key],
                    "points": len(chosen),
                    "plateau_source": published_plateau_sources().get(
                        (transporter, REFERENCE_TRACER[transporter])
                    ),
                    "mae_in_vitro_pp": _mae_pp(
                        (formulas.occupancy_from_load(loads[p]), p.occupancy) for p in chosen
                    ),
                    "mae_fitted_pp": _mae_pp(
                        (in_sample.occupancy(p, loads[p]), p.occupancy) for p in chosen
                    ),
                    "profile_value_ng_ml": shipped.ec50_plasma_ng_ml if shipped else None,
                    "yaml": f"{transporter}: {{..., pet_ec50_plasma: {ec50:.3g} ng/mL, "
                    f"pet_emax: {emax:.3f}, pet_basis: {basis}}}",
                }
            )
    if not results:
        raise InputError(f"no PET points or extrapolation for {drug} to fit to")
    return {"drug": drug, "emax": in_sample.emax, "fits": results}
