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

from sert_cli import level_checks
from sert_cli.datafiles import read_table
from sert_cli.errors import InputError, ModelError
from sert_cli.model import formulas
from sert_cli.pk.steady_state import steady_state, transporter_loads
from sert_cli.pk.timecourse import Regimen
from sert_cli.profiles.library import Library
from sert_cli.profiles.schema import Profile
from sert_cli.units import nm_to_ng_ml, percent
from sert_cli.vocabulary import (
    DEFAULT_PHENOTYPE,
    HOURS_PER_DAY,
    PRIMARY_TRANSPORTER,
    RANGE_Z,
)

# Issue 10's figures: leave-one-study-out mean absolute error of SERT occupancy over the
# steady-state points, percentage points, overall and for the worst drug.
MAX_OVERALL_MAE_PP = 5.0
MAX_DRUG_MAE_PP = 8.0
RULE_RANGE = (0.70, 0.90)
KINDS = ("steady_state", "time_course", "single")
COUNTED = ("verified", "approximate")  # points that enter fits and errors
EMAX_BOUNDS = (0.3, 1.0)
# The scale sert answers on: the plateau as this tracer measures it (Meyer 2004's 80 % rule
# is on [11C]DASB). Other tracers get their own plateau in the fit, sharing the drug's EC50.
REFERENCE_TRACER = {"SERT": "[11C]DASB", "NET": "[18F]FMeNER-D2"}
TRACER_FAMILIES = ("[11C]MADAM", "[11C]DASB", "[123I]ADAM", "[18F]FMeNER-D2", "[11C](+)McN5652")
# stereo prefixes a paper may write or leave out: "(+)-[11C]McN5652", "[11C](+)McN5652",
# "(S,S)-[18F]FMeNER-D2" and "[18F]FMeNER-D2" are one tracer each
_STEREO = ("(S,S)-", "(+)-", "(+)")


def _plain_tracer(tracer: str) -> str:
    for prefix in _STEREO:
        tracer = tracer.replace(prefix, "")
    return tracer


def tracer_family(tracer: str) -> str:
    """The tracer a point was measured with, without isotope-label or stereo details."""
    plain = _plain_tracer(tracer)
    return next((f for f in TRACER_FAMILIES if _plain_tracer(f) in plain), plain)


@dataclass(frozen=True)
class PetPoint:
    study: str
    drug: str
    transporter: str
    dose_mg_day: float
    occupancy: float
    sd: float | None  # between-subject SD (fraction), where the source gives it
    range: tuple[float, float] | None  # a range of means (%), where that is all it gives
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
                study=row["study"],
                drug=row["drug"],
                transporter=row["transporter"],
                dose_mg_day=float(row["dose_mg_day"]),
                occupancy=float(row["occupancy_pct"]) / 100.0,
                sd=float(row["sd_pct"]) / 100.0 if row["sd_pct"] else None,
                range=tuple(float(v) for v in row["range_pct"].split("-"))
                if row["range_pct"]
                else None,
                n=int(row["n"]) if row["n"] else None,
                regimen=row["regimen"],
                doses=int(row["doses"] or 0),
                hours_after_last_dose=float(row["hours_after_last_dose"])
                if row["hours_after_last_dose"]
                else None,
                population=row["population"],
                tracer=row["tracer"],
                status=row["status"],
                source=row["source"],
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
    """Plateaus by (transporter, tracer); K scale (in vivo / in vitro) by (drug,
    transporter), each with its 95 % profile-likelihood interval; what each constant rests
    on (`basis`, words) and its kind: fitted (bounded by the data), assumed (a range from an
    abstract, one point, or an interval the data leave open) or extrapolated (no points);
    omega_between and omega_within, the spread of the log load the model does not explain,
    shared by a study's points and beyond them."""

    plateau: dict[tuple[str, str], float]
    plateau_interval: dict[tuple[str, str], tuple[float, float] | None]
    scale: dict[tuple[str, str], float]
    scale_interval: dict[tuple[str, str], tuple[float, float]]
    basis: dict[tuple[str, str], str]
    kind: dict[tuple[str, str], str]
    omega_between: float
    omega_within: float

    @property
    def omega(self) -> float:
        """The whole PD spread of the log load the model leaves unexplained."""
        return math.hypot(self.omega_between, self.omega_within)

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

    def log_scale_sd(self, key: tuple[str, str]) -> float:
        """The uncertainty of a constant as a log-normal SD (formulas.constant_log_sd);
        an extrapolated constant has no interval."""
        return formulas.constant_log_sd(self.scale[key], self.scale_interval.get(key))


def published_plateaus() -> dict[tuple[str, str], float]:
    """Plateaus the data cannot estimate (one drug on the tracer, or too few points): the
    value pet_plateaus.csv assumes. Every other tracer's plateau is estimated."""
    return {
        (row["transporter"], row["tracer"]): float(row["emax"])
        for row in read_table("pet_plateaus.csv")[1]
        if row["basis"] == "assumed"
    }


def published_plateau_sources() -> dict[tuple[str, str], str]:
    return {(r["transporter"], r["tracer"]): r["source"] for r in read_table("pet_plateaus.csv")[1]}


def _standard_errors(points: list[PetPoint]) -> dict[PetPoint, float]:
    """Each study mean's standard error (fraction): SD / sqrt(n), with the median SD and n
    of the points that give them where a point does not; a point known only as a range of
    means adds the spread of a uniform over that range."""
    sds = sorted(p.sd for p in points if p.sd is not None)
    ns = sorted(p.n for p in points if p.n is not None)
    pooled_sd = sds[len(sds) // 2] if sds else 0.10
    pooled_n = ns[len(ns) // 2] if ns else 6
    errors = {}
    for p in points:
        se = (p.sd if p.sd is not None else pooled_sd) / math.sqrt(p.n or pooled_n)
        if p.range is not None:
            se = math.hypot(se, (p.range[1] - p.range[0]) / 100 / math.sqrt(12))
        errors[p] = se
    return errors


def _rests_on(used: list[PetPoint]) -> tuple[str, str]:
    """(kind, words) for what a fitted constant rests on, before its interval is known."""
    kinds = [p.kind for p in used]
    counts = ", ".join(f"{kinds.count(k)} {k.replace('_', '-')}" for k in KINDS if k in kinds)
    studies = ", ".join(sorted({p.study for p in used}))
    if all(p.range is not None for p in used):
        ranges = "; ".join(
            f"{study}: {', '.join(sorted({_range_words(p) for p in used if p.study == study}))}"
            for study in sorted({p.study for p in used})
        )
        return "assumed", (
            "rests only on ranges of means read from abstracts, each point taken at its "
            f"range's midpoint ({ranges}), not on a measurement of this drug alone"
        )
    if len(used) == 1:
        p = used[0]
        return "assumed", (
            f"rests on one point ({p.study}: {percent(p.occupancy, 1)} at {p.dose_mg_day:g} mg/day)"
        )
    return "fitted", f"fitted to {counts} point(s) of {studies}"


def _with_study_error(scale: float, interval, omega: float, studies: int):
    """The profile interval widened by the error a study shares across its points, which
    the likelihood cannot tell from the constant of a drug seen in few studies: omega /
    sqrt(k) for k studies, added in quadrature on the log scale to each bounded side."""
    extra = 1.96 * omega / math.sqrt(studies)
    low, high = interval
    return (
        scale * math.exp(-math.hypot(math.log(scale / low), extra)) if low > 0 else 0.0,
        scale * math.exp(math.hypot(math.log(high / scale), extra))
        if math.isfinite(high)
        else math.inf,
    )


def _range_words(point: PetPoint) -> str:
    low, high = point.range
    when = (
        "at steady state"
        if point.kind == "steady_state"
        else f"{point.hours_after_last_dose:g} h after a dose"
    )
    return f"{low:g}-{high:g} % {when}"


def fit_points(
    points: list[PetPoint],
    loads: dict[PetPoint, float],
    wanted,
    profiled_drugs: frozenset[str] | None = None,
) -> Fit:
    """The joint maximum-likelihood fit (sert_cli/pet_fit.py) over every counted point of
    every kind, each computed at its own time after the dose: one K scale per drug and
    transporter, the plateau of every tracer pet_plateaus.csv does not assume, and the
    spread between and within studies. `wanted` maps the (drug, transporter) pairs that
    need a scale to what extrapolation needs when no point of theirs is in `points`;
    `profiled_drugs` limits the profile-likelihood intervals to those drugs (None: all)."""
    from sert_cli import pet_fit

    pairs = sorted({(p.drug, p.transporter) for p in points})
    index = {key: i for i, key in enumerate(pairs)}
    fixed = published_plateaus()
    listed = published_plateau_sources()
    for scale_key in {p.scale for p in points} - set(listed):
        # a tracer pet_plateaus.csv does not list, with one drug's points: no plateau can be
        # told from that drug's EC50, so the binding scale (1.0), as the file does for such
        # tracers (a second drug's points on it are needed to estimate one: add a row)
        if len({p.drug for p in points if p.scale == scale_key}) == 1:
            fixed[scale_key] = 1.0
    free = sorted({p.scale for p in points} - set(fixed))
    errors = _standard_errors(points)
    studies = sorted({p.study for p in points})
    observations = [
        pet_fit.Observation(
            pair=index[(p.drug, p.transporter)],
            study=studies.index(p.study),
            plateau=None if p.scale in fixed else free.index(p.scale),
            fixed_plateau=fixed.get(p.scale, 1.0),
            load_in_vitro=loads[p],
            observed=p.occupancy,
            standard_error=errors[p],
        )
        for p in points
    ]
    start = [
        math.log(
            max(float(np.median([loads[p] for p in points if (p.drug, p.transporter) == k])), 1e-9)
        )
        for k in pairs
    ]
    profiled = (
        None
        if profiled_drugs is None
        else frozenset(i for (drug, _), i in index.items() if drug in profiled_drugs)
    )
    result = pet_fit.estimate(observations, len(pairs), len(free), start, profiled)
    scale = {key: math.exp(result.log_scale[i]) for key, i in index.items()}
    omega = math.hypot(result.omega_between, result.omega_within)
    scale_interval = {
        key: _with_study_error(
            scale[key],
            result.scale_interval[i],
            omega,
            len({p.study for p in points if (p.drug, p.transporter) == key}),
        )
        for key, i in index.items()
        if not math.isnan(result.scale_interval[i][0])
    }
    plateau = {**fixed, **{key: result.plateau[i] for i, key in enumerate(free)}}
    plateau_interval = dict.fromkeys(fixed)
    plateau_interval |= {key: result.plateau_interval[i] for i, key in enumerate(free)}
    basis, kind = {}, {}
    for key in pairs:
        kind[key], basis[key] = _rests_on([p for p in points if (p.drug, p.transporter) == key])
        low, high = scale_interval.get(key, (1.0, 1.0))
        if kind[key] == "fitted" and (low <= 0 or not math.isfinite(high)):
            kind[key] = "assumed"
            side = "upper" if not math.isfinite(high) else "lower"
            basis[key] += f"; the data leave its {side} bound open"
    reference = {t: plateau.get((t, tracer), 1.0) for t, tracer in REFERENCE_TRACER.items()}
    for drug, transporter in wanted:
        if (drug, transporter) in scale:
            continue
        me = wanted[(drug, transporter)]
        parents = [
            (d, name)
            for (d, t), w in wanted.items()
            if t == transporter and kind.get((d, t)) in ("fitted", "assumed")
            for name in w.metabolite_k_nm
            if name in me.names
        ]
        key = (drug, transporter)
        fitted_metabolites = [
            (d, name)
            for name in me.metabolite_k_nm
            for (d, t), w in wanted.items()
            if t == transporter and kind.get((d, t)) in ("fitted", "assumed") and name in w.names
        ]
        # one molecule, one constant: a drug that is a fitted drug's metabolite, or whose
        # metabolite is a fitted drug, borrows that drug's in vivo constant
        borrowed = None
        if parents:
            parent, name = parents[0]
            ratio = wanted[(parent, transporter)].metabolite_k_nm[name] / me.k_nm
            borrowed = ((parent, transporter), ratio, f"as {parent}'s metabolite {name}")
        elif fitted_metabolites:
            metabolite, name = fitted_metabolites[0]
            borrowed = ((metabolite, transporter), 1.0, f"through its metabolite {name}")
        if borrowed is not None:
            source, ratio, words = borrowed
            scale[key] = scale[source] * ratio
            if source in scale_interval:
                low, high = scale_interval[source]
                scale_interval[key] = (low * ratio, high * ratio)
            kind[key] = kind[source]
            basis[key] = f"{words}, whose constant " + (
                basis[source]
                .replace("fitted to", "is fitted to")
                .replace("assumed ", "is assumed ", 1)
            )
            continue
        extrapolated = _extrapolate(drug, transporter, scale, reference, wanted, set(pairs))
        if extrapolated is not None:
            scale[key] = extrapolated
            kind[key] = "extrapolated"
            basis[key] = _extrapolation_note(
                transporter, _fitted_for(transporter, points), _by_label_minimum(me, transporter)
            )
    return Fit(
        plateau=plateau,
        plateau_interval=plateau_interval,
        scale=scale,
        scale_interval=scale_interval,
        basis=basis,
        kind=kind,
        omega_between=result.omega_between,
        omega_within=result.omega_within,
    )


def _fitted_for(transporter: str, points: list[PetPoint]) -> str:
    """The drugs with points on a transporter and their studies, in words: what a NET
    extrapolation rests on ("milnacipran (Nogami2013)")."""
    studies: dict[str, set] = {}
    for p in points:
        if p.transporter == transporter:
            studies.setdefault(p.drug, set()).add(p.study)
    if len(studies) > 3:  # a class of drugs: their number, not a paragraph of names
        count = len({p.study for p in points if p.transporter == transporter})
        return f"the {len(studies)} drugs fitted to {count} {transporter} PET studies"
    return ", ".join(f"{d} ({', '.join(sorted(studies[d]))})" for d in sorted(studies))


def _extrapolate(drug, transporter, scale, reference, wanted, counted) -> float | None:
    """A scale for a drug without points of its own (docs/model.md section 9). For SERT and
    a drug other than a tricyclic, the rule of the label minimum: it gets the median
    occupancy the fitted drugs have at theirs (a median, so that one drug dosed for another
    use, milnacipran, does not move it). Otherwise (NET, with too few drugs for a rule; a
    tricyclic, whose label minimum is a pain or starting dose and whose SERT affinity ranges
    60-fold across the class) the geometric mean in vivo/in vitro ratio of the fitted
    drugs."""
    # only drugs with points of their own (`counted`), never one extrapolated before it in
    # the loop: the order of the profiles must not move a class estimate
    fitted = [d for d, t in scale if t == transporter and (d, t) in wanted and (d, t) in counted]
    if not fitted:
        return None
    if not _by_label_minimum(wanted[(drug, transporter)], transporter):
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


# The rule of the label minimum rests on PET's 76-85 % SERT occupancy at the minimum
# therapeutic dose of SSRIs and venlafaxine (Meyer JH et al. Am J Psychiatry 2004;161:826-35):
# drugs whose label minimum is an antidepressant dose chosen for SERT. Not the tricyclics: their
# label minimum is a pain, elderly or starting dose, and their SERT affinity spans 60-fold
# across the class (desipramine is NET-selective), so they take the class's K ratio instead.
NO_LABEL_MINIMUM_RULE_CLASSES = frozenset({"TCA"})


def _by_label_minimum(me: "Wanted", transporter: str) -> bool:
    """Whether the rule of the label minimum extrapolates this drug's constant."""
    return transporter == PRIMARY_TRANSPORTER and me.drug_class not in NO_LABEL_MINIMUM_RULE_CLASSES


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


class LeftOut(NamedTuple):
    """A point predicted with its own study left out of the fit."""

    occupancy: float
    basis: str
    kind: str  # fitted, assumed or extrapolated, in the fit without the study
    patient_range: tuple[float, float] | None
    study_mean_range: tuple[float, float] | None


def _calibration(library: Library, with_left_out: bool = True):
    """Every point, its in vitro load, the in-sample fit, and each point's prediction
    with its own study left out of the fit: (occupancy, basis, its 90 % range)."""
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
    studies = sorted({p.study for p in counted}) if with_left_out else []
    for study in studies:
        rest = [p for p in counted if p.study != study]
        loso = fit_points(
            rest, loads, wanted, frozenset(p.drug for p in counted if p.study == study)
        )
        for p in counted:
            if p.study == study and (p.drug, p.transporter) in loso.scale:
                patient_range, mean_range = _held_out_ranges(library.get(p.drug), p, loads[p], loso)
                left_out[p] = LeftOut(
                    occupancy=loso.occupancy(p, loads[p]),
                    basis=loso.basis[(p.drug, p.transporter)],
                    kind=loso.kind[(p.drug, p.transporter)],
                    patient_range=patient_range,
                    study_mean_range=mean_range,
                )
    return points, loads, in_sample, left_out


def _held_out_ranges(profile: Profile, point: PetPoint, load_in_vitro: float, fit: Fit):
    """Two 90 % ranges for a held-out point, from the fit without its study: the one sert
    prints for patients (PK spread, the constant's uncertainty and the PD spread omega,
    steady_state.exposure_spread), and the stricter one for the mean of a study of n
    subjects (their PK spread averages: CV / sqrt(n)). None without a sourced PK CV."""
    key = (point.drug, point.transporter)
    if profile.exposure_cv is None:
        return None, None
    emax = fit.plateau.get(point.scale, fit.emax.get(point.transporter, 1.0))
    x = load_in_vitro / fit.scale[key]
    ranges = []
    for cv in (profile.exposure_cv, profile.exposure_cv / math.sqrt(point.n or 1)):
        spread = formulas.range_spread(cv, fit.log_scale_sd(key), fit.omega, RANGE_Z)
        ranges.append(
            (
                formulas.occupancy_from_load(x / spread, emax),
                formulas.occupancy_from_load(x * spread, emax),
            )
        )
    return tuple(ranges)


def validate(library: Library) -> dict:
    points, loads, in_sample, left_out = _calibration(library)
    rows = []
    for p in points:
        shipped = library.get(p.drug).with_affinity("pet")
        has_pet = p.transporter in shipped.emax
        key = (p.drug, p.transporter)
        held = left_out.get(p)
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
                "predicted_left_out": held.occupancy if held else None,
                "left_out_basis": held.basis if held else None,
                "left_out_kind": held.kind if held else None,
                "left_out_range": held.patient_range if held else None,
                "left_out_study_mean_range": held.study_mean_range if held else None,
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
            kept = [r for r in group if r["left_out_kind"] not in (None, "extrapolated")]
            summary[f"{transporter}_{kind}"] = {
                "points": len(group),
                **_errors(group),
                # left out, where the drug keeps other studies (not extrapolated)
                "mae_left_out_own_drug_pp": _errors(kept)["mae_left_out_pp"] if kept else None,
                "points_left_out_own_drug": len(kept),
                "worst_drug_mae_left_out_pp": worst,
            }
    observed = level_checks.observed_level_checks(library)
    from sert_cli import platelet_fit

    platelet_checks = platelet_fit.validate(library)
    return {
        "model": {
            "scale": "PET: occupancy = Emax * x / (1 + x); one plateau per transporter and "
            "tracer, estimated jointly with every constant, answers on the reference tracer's",
            "plateau_intervals": [
                {"transporter": t, "tracer": tracer, "interval": list(v)}
                for (t, tracer), v in sorted(in_sample.plateau_interval.items())
                if v is not None
            ],
            "between_study_log_sd": in_sample.omega_between,
            "within_study_log_sd": in_sample.omega_within,
            "reference_tracer": REFERENCE_TRACER,
            "emax": in_sample.emax,
            "plateaus": [
                {"transporter": t, "tracer": tracer, "emax": v}
                for (t, tracer), v in sorted(in_sample.plateau.items())
            ],
            "limits": {"overall_pp": MAX_OVERALL_MAE_PP, "per_drug_pp": MAX_DRUG_MAE_PP},
        },
        "summary": summary,
        "coverage": coverage(rows),
        "drugs": drugs,
        "points": rows,
        "unverified": [r for r in rows if r["status"] not in COUNTED],
        "therapeutic_ranges": therapeutic_range_checks(library),
        "exposure_ratios": level_checks.exposure_ratio_checks(library),
        "observed_levels": observed["rows"],
        "observed_levels_summary": observed["summary"],
        "eighty_percent_rule": rule_checks(library),
        "platelets": platelet_checks["rows"],
        "platelets_summary": {k: v for k, v in platelet_checks.items() if k != "rows"},
    }


COVERAGE_GOAL = 0.80


def coverage(rows: list[dict]) -> dict:
    """The share of study means inside the 90 % range sert prints for patients under the
    study's conditions, the study left out of the fit (issue 22: goal 80 %), and inside the
    stricter range for a study's mean (its subjects' PK spread averaged); by transporter
    and overall, over the counted points whose drug has a sourced PK spread."""
    result = {}
    for transporter in ("SERT", "NET", None):
        group = [
            r
            for r in rows
            if r["status"] in COUNTED
            and r["left_out_range"] is not None
            and (transporter is None or r["transporter"] == transporter)
        ]

        def inside(field, group=group):
            return [r for r in group if r[field][0] <= r["observed"] <= r[field][1]]

        result[transporter or "all"] = {
            "points": len(group),
            "inside": len(inside("left_out_range")),
            "share": len(inside("left_out_range")) / len(group) if group else None,
            "inside_study_mean_range": len(inside("left_out_study_mean_range")),
            "goal": COVERAGE_GOAL,
        }
    return result


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
        level = sum(lv.css_plasma_ng_ml for lv in profile.range_counted(result.levels))
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


def _yaml_concentration(value: float) -> str:
    return f"{value:.3g} ng/mL"


def fit(library: Library, drug: str | None = None) -> dict:
    """The joint fit's constants for one drug (or every drug), with their 95 % intervals
    and what they rest on, as profile YAML (a targets line and its sources)."""
    points, loads, in_sample, _ = _calibration(library, with_left_out=False)
    counted = [p for p in points if p.counted]
    names = [library.get(drug).name] if drug else sorted(library.profiles)
    plateau_sources = published_plateau_sources()
    results = []
    for name in names:
        profile = library.get(name)
        base = profile.with_affinity("in-vitro")
        for transporter in profile.parent.k_nm:
            key = (name, transporter)
            if key not in in_sample.scale:
                continue
            scale = in_sample.scale[key]
            ec50 = ec50_plasma_ng_ml(base, transporter, scale)
            interval = in_sample.scale_interval.get(key)
            ec50_interval = (
                None
                if interval is None
                else (ec50 * interval[0] / scale, ec50 * interval[1] / scale)
            )
            tracer = REFERENCE_TRACER[transporter]
            emax = in_sample.emax[transporter]
            emax_interval = in_sample.plateau_interval.get((transporter, tracer))
            kind = in_sample.kind[key]
            chosen = [p for p in points if p.counted and (p.drug, p.transporter) == key]
            shipped = profile.parent.pet.get(transporter)
            yaml_fields = [f"pet_ec50_plasma: {_yaml_concentration(ec50)}"]
            if ec50_interval is not None:
                sides = [
                    _yaml_concentration(v) if 0 < v < math.inf else "unbounded"
                    for v in ec50_interval
                ]
                yaml_fields.append(f"pet_ec50_interval: [{sides[0]}, {sides[1]}]")
            yaml_fields += [f"pet_emax: {emax:.3f}", f"pet_basis: {kind}"]
            note = _note(kind, in_sample.basis[key], chosen, transporter)
            if note:  # what the constant rests on, in every output
                yaml_fields.append(f'pet_note: "{note}"')
            plateau_words = (
                f"ESTIMATED jointly with every drug's constant from all {tracer} points: "
                f"{emax:.3f} (95 % profile-likelihood interval {emax_interval[0]:.3f}-"
                f"{emax_interval[1]:.3f}); {plateau_sources[(transporter, tracer)]}"
                if emax_interval is not None
                else plateau_sources[(transporter, tracer)]
            )
            results.append(
                {
                    "drug": name,
                    "transporter": transporter,
                    "pet_ec50_plasma_ng_ml": ec50,
                    "pet_ec50_interval_ng_ml": ec50_interval,
                    "pet_emax": emax,
                    "pet_emax_interval": emax_interval,
                    "pd_log_sd": in_sample.omega,
                    "kind": kind,
                    "basis": in_sample.basis[key],
                    "points": len(chosen),
                    "mae_in_vitro_pp": _mae_pp(
                        (formulas.occupancy_from_load(loads[p]), p.occupancy) for p in chosen
                    ),
                    "mae_fitted_pp": _mae_pp(
                        (in_sample.occupancy(p, loads[p]), p.occupancy) for p in chosen
                    ),
                    "profile_value_ng_ml": shipped.ec50_plasma_ng_ml if shipped else None,
                    "yaml": f"{transporter}: {{..., {', '.join(yaml_fields)}}}",
                    "yaml_fields": yaml_fields,
                    "sources": {
                        f"targets.{transporter}.pet_ec50_plasma": (
                            f"{kind.upper()} by `sert validate --fit {name}` (maximum likelihood "
                            "with the plateau, sert_cli/pet_fit.py; docs/model.md section 9): "
                            + (
                                _extrapolation_words(
                                    transporter,
                                    _fitted_for(transporter, counted),
                                    transporter == PRIMARY_TRANSPORTER
                                    and profile.drug_class not in NO_LABEL_MINIMUM_RULE_CLASSES,
                                )
                                if kind == "extrapolated"
                                else in_sample.basis[key]
                                + " (sert_cli/data/pet_occupancy.csv); 95 % profile-likelihood "
                                "interval given beside it"
                            )
                        ),
                        f"targets.{transporter}.pet_emax": plateau_words,
                    },
                }
            )
    if not results:
        raise InputError(f"no PET points or extrapolation for {drug} to fit to")
    return {
        "drug": drug,
        "emax": in_sample.emax,
        "between_study_log_sd": in_sample.omega_between,
        "within_study_log_sd": in_sample.omega_within,
        "fits": results,
    }


def _note(kind: str, basis: str, chosen: list[PetPoint], transporter: str) -> str:
    """What every output says beside a constant: an assumed one, what it rests on; an
    extrapolated one, how; a fitted one, only what limits it (one study, a plateau
    assumed for its tracer); one fitted to another drug's points (its metabolite's, or its
    parent's), whose they are."""
    if kind in ("assumed", "extrapolated") or not chosen:
        return basis
    limits = []
    studies = sorted({p.study for p in chosen})
    if len(studies) == 1:
        limits.append(f"one study ({studies[0]})")
    assumed = sorted({p.scale[1] for p in chosen if p.scale in published_plateaus()})
    if assumed:
        limits.append(f"on a plateau assumed for {', '.join(assumed)} (pet_plateaus.csv)")
    return "; ".join(limits)


def _extrapolation_note(transporter: str, fitted: str, by_label_minimum: bool) -> str:
    """What an extrapolated constant rests on; `fitted`: the drugs with points on the
    transporter and their studies (_fitted_for)."""
    if by_label_minimum:
        return "no PET of its own: the fitted drugs' median occupancy at their label minimum"
    return (
        f"no {transporter} PET of its own: its in vitro K times the geometric mean in "
        f"vivo/in vitro ratio of {fitted}"
    )


def _extrapolation_words(transporter: str, fitted: str, by_label_minimum: bool) -> str:
    if by_label_minimum:
        return (
            "no counted SERT PET point of this drug; its constant gives the median occupancy "
            "the fitted drugs have at their label minimum (the rule of the label minimum); a "
            "class estimate, not a measurement"
        )
    return (
        f"no counted {transporter} PET point of this drug; its in vitro K is scaled by the "
        f"geometric mean in vivo/in vitro ratio of the drugs fitted for {transporter} "
        f"({fitted}); a class estimate, not a measurement"
    )
