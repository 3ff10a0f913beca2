"""Queries as values: what a command or a batch row asks, before anything is computed.

Plain, hashable, immutable: the engine groups equal parts of many queries and computes
them together. Each query names its kind; the fields are the documented JSON/CSV names.
"""

import math
from typing import NamedTuple

from sert_cli.errors import InputError
from sert_cli.pgx.patient import Patient
from sert_cli.vocabulary import (
    DEFAULT_AFFINITY,
    DEFAULT_TARGET,
    PRIMARY_TRANSPORTER,
    TRANSPORTERS,
)

NO_PATIENT = Patient()


class OccupancyQuery(NamedTuple):
    """Steady-state levels and occupancy at a dose."""

    drug: str
    dose_mg: float
    interval_h: float | None = None  # None: the profile's
    patient: Patient = NO_PATIENT
    affinity: str = DEFAULT_AFFINITY
    kind = "occupancy"


class DoseQuery(NamedTuple):
    """The dose that reaches a target occupancy, and the marketed dose that does."""

    drug: str
    target: float = DEFAULT_TARGET
    transporter: str = PRIMARY_TRANSPORTER
    interval_h: float | None = None
    patient: Patient = NO_PATIENT
    affinity: str = DEFAULT_AFFINITY
    kind = "dose"


class GridQuery(NamedTuple):
    """Steady-state occupancy over doses (`table`, `curve`), one column per phenotype set:
    every phenotype of every gene the drug depends on, measured or at the class activity
    (a curve: measured only), at one dose also both genes' pairs; or NM beside the
    patient's when a patient is given."""

    drug: str
    doses_mg: tuple[float, ...] | None = None  # None: `span` decides
    span: str = "label"  # label: the label's range; curve: near 0 to twice the maximum
    patient: Patient = NO_PATIENT
    affinity: str = DEFAULT_AFFINITY
    kind = "grid"


class SimulateQuery(NamedTuple):
    """Concentrations and occupancy over time, from the first dose to washout."""

    drug: str
    dose_mg: float
    interval_h: float | None = None
    doses: int | None = None
    days: float | None = None
    until_h: float | None = None
    step_h: float = 1.0
    patient: Patient = NO_PATIENT
    affinity: str = DEFAULT_AFFINITY
    adaptation: bool = False  # the 5-HT1A autoreceptor layer (docs/model.md section 16)
    # a changing regimen: ((dose_mg per administration, days, interval_h or None), ...)
    schedule: tuple | None = None
    missed_days: tuple[int, ...] = ()  # days (1 = the first) whose doses are not taken
    kind = "simulate"


class PopulationQuery(NamedTuple):
    """Virtual patients of an ancestry group at one dose: phenotypes drawn from CPIC's
    frequencies, exposure spread by the sourced between-patient variability."""

    drug: str
    dose_mg: float
    ancestry: str = "European"
    n: int = 100_000
    seed: int | None = 0
    target: float = DEFAULT_TARGET
    transporter: str = PRIMARY_TRANSPORTER
    interval_h: float | None = None
    patient: Patient = NO_PATIENT
    affinity: str = DEFAULT_AFFINITY
    kind = "population"


class TdmQuery(NamedTuple):
    """Measured plasma levels read against the model for this patient and dose: the
    parent's (given alone, as before: of what the reference range is of), each active
    metabolite's beside it, or only the sum of parent and metabolites (ng/mL each)."""

    drug: str
    dose_mg: float
    level_ng_ml: float | None  # None: only the sum was given
    hours_after_dose: float | None = None  # None: at trough, just before the next dose
    interval_h: float | None = None
    patient: Patient = NO_PATIENT
    affinity: str = DEFAULT_AFFINITY
    # (metabolite's name, or None for the profile's only one; ng/mL), as given
    metabolite_levels_ng_ml: tuple[tuple[str | None, float], ...] = ()
    sum_level_ng_ml: float | None = None  # parent + metabolites, where only it is reported
    kind = "tdm"


class TaperQuery(NamedTuple):
    """Down from a dose: equal steps of SERT occupancy, or a fixed fraction each step."""

    drug: str
    from_dose_mg: float
    step_pp: float | None = None  # None (and no fraction): 10 points
    fraction: float | None = None
    weeks: float | None = None  # per step; None: 2, never under 5 half-lives
    liquid: bool = False  # every step as liquid, even where tablets would do
    interval_h: float | None = None
    patient: Patient = NO_PATIENT
    affinity: str = DEFAULT_AFFINITY
    max_cut: float | None = None  # the largest cut of a step; None: a half
    kind = "taper"


class SwitchQuery(NamedTuple):
    """From one drug to another at the same SERT occupancy, and the days between."""

    drug: str  # the drug taken now
    dose_mg: float
    to_drug: str
    strategy: str | None = None  # None: cross-taper, or direct after a long-lived drug
    days: int | None = None  # of the cross-taper or washout; None: 14, or the washout
    interval_h: float | None = None  # of the drug taken now
    patient: Patient = NO_PATIENT
    affinity: str = DEFAULT_AFFINITY
    kind = "switch"


def positive(value, field: str, what: str) -> float:
    """A query field that must be a positive, finite number of `what`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"must be a number of {what} (got {value!r})", field=field)
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"must be a positive number of {what} (got {value:g})", field=field)
    return float(value)


def check_target(target) -> float:
    """A target occupancy: a fraction strictly between 0 and 1 (a percentage is named)."""
    if isinstance(target, bool) or not isinstance(target, (int, float)):
        raise InputError(f"must be a fraction between 0 and 1 (got {target!r})", field="target")
    if not math.isfinite(target) or not 0 < target < 1:
        hint = ""
        if 1 < target < 100:
            hint = f"; did you mean {target / 100:g} ({target:g} %)?"
        elif target == 1:
            hint = "; 100 % occupancy is reached only at infinite concentration"
        raise InputError(
            f"must be a fraction between 0 and 1, exclusive (got {target:g}){hint}",
            field="target",
        )
    return float(target)


def check_transporter(transporter: str) -> str:
    """SERT or NET, whatever the case it is written in."""
    name = str(transporter).strip().upper()
    if name not in TRANSPORTERS:
        raise InputError(f"must be one of {', '.join(TRANSPORTERS)}", field="transporter")
    return name


class CompareQuery(NamedTuple):
    """Drugs side by side for one patient: each at a dose (None: its usual dose, the
    label minimum) and at the dose for the target."""

    drugs: tuple[tuple[str, float | None], ...]
    target: float = DEFAULT_TARGET
    transporter: str = PRIMARY_TRANSPORTER
    patient: Patient = NO_PATIENT
    affinity: str = DEFAULT_AFFINITY
    kind = "compare"

    @property
    def drug(self) -> str:
        """The first drug (the engine prepares the patient for it first)."""
        return self.drugs[0][0]
