"""Platelet SERT (docs/model.md section 20): occupancy of the platelets' serotonin
transporter from the unbound plasma concentration, and the platelets' serotonin content.

Platelets sit in plasma (no blood-brain barrier): each moiety's unbound plasma
concentration Cu,j = fu_j * C_j binds platelet SERT with K_plt,j = s_plt * K_j, K_j the
moiety's in vitro SERT Ki/Kd (never the PET-scale constant of the brain), s_plt one
class-wide scale fitted to ex vivo uptake inhibition (platelet_model.csv, row
platelet_scale; `sert validate --fit platelet`); Emax 1:

    x_plt = sum_j Cu,j / (s_plt * K_j);   theta_plt = x_plt / (1 + x_plt)

Platelets cannot make serotonin: they take it up over their life in circulation. The
content c (a fraction of baseline) follows first-order turnover with the platelet
lifespan L (ASSUMED form): dc/dt = ((1 - theta_plt) - c) / L, c(0) = 1, so that at a steady
theta_plt it settles at 1 - theta_plt. Without a fitted scale (no row yet) the in vitro K
is used as it is (s_plt = 1), labelled "in vitro K" (no scale fitted); without a sourced
lifespan the assumed ASSUMED_LIFESPAN_DAYS, labelled as such.
"""

import functools
import math
from typing import NamedTuple

from sert_cli.datafiles import read_table
from sert_cli.model import formulas
from sert_cli.model.profile import Profile
from sert_cli.trace import Note, Step, model_section
from sert_cli.vocabulary import HOURS_PER_DAY

PLATELET_TRANSPORTER = "SERT"
SECTION = 20
# Used only where platelet_model.csv has no platelet_lifespan_days row: the textbook
# 8-10 days of a platelet's life in circulation, the upper end (said as assumed).
ASSUMED_LIFESPAN_DAYS = 10.0
# What a study's percent can be on the logit scale: 0 % and 100 % have no logit.
LOGIT_CLIP = 0.005
# The content levels the summaries report: fall to 50 % and 20 % of baseline after
# starting, recovery to 80 % after the last dose.
FALL_LEVELS = (0.5, 0.2)
RECOVERY_LEVEL = 0.8
ASSOCIATION = "an epidemiological association, not a prediction for this patient"


class PlateletModel(NamedTuple):
    """The constants of the platelet model as shipped (platelet_model.csv) and the number
    of studies the scale was fitted to (platelet_uptake.csv, use fit)."""

    scale: float  # s_plt: K_plt = s_plt * K in vitro
    interval: tuple[float, float] | None  # its 95 % interval, if fitted
    calibrated: bool  # False: no fitted scale yet, s_plt = 1
    studies: int  # distinct studies of the fit rows
    lifespan_days: float
    lifespan_sourced: bool  # False: ASSUMED_LIFESPAN_DAYS
    scale_source: str = ""
    lifespan_source: str = ""

    @property
    def tau_h(self) -> float:
        """The turnover time constant: the mean remaining life of a circulating platelet.
        Labelled platelets disappear linearly with time (Heyns et al. 1980, the lifespan's
        source: survival 'best fitted by a straight line'), so platelets of every age up to
        the lifespan L circulate in equal numbers and their mean remaining life is L / 2."""
        return self.lifespan_days * HOURS_PER_DAY / 2

    @property
    def occupancy_words(self) -> str:
        """What every output that shows a platelet occupancy says of it, once."""
        if not self.calibrated:
            return (
                "platelet SERT occupancy: modelled from the in vitro K on unbound plasma levels "
                "(no scale fitted: no uptake-inhibition study fit to calibrate one; checked "
                "against the platelet studies of `sert validate`)"
            )
        interval = ""
        if self.interval is not None:
            interval = f", 95 % interval {self.interval[0]:.3g}-{self.interval[1]:.3g}"
        return (
            "platelet SERT occupancy: modelled from in vitro K on a scale fitted to ex vivo "
            f"uptake inhibition ({self.studies} studies; s_plt {self.scale:.3g}{interval})"
        )

    @property
    def basis(self) -> str:
        """What a platelet occupancy on a screen is, short: modelled, and from what."""
        if self.calibrated:
            return "modelled: in vitro K on a fitted scale"
        return "modelled: in vitro K, unbound plasma"

    @property
    def label(self) -> str:
        """A table row's label for a platelet occupancy: what it is and its basis, short."""
        return f"platelet SERT, {self.basis.replace(': ', ' (', 1)})"

    @property
    def content_words(self) -> str:
        """What every output that shows a platelet serotonin content says of it, once."""
        basis = "" if self.lifespan_sourced else ", assumed: no sourced lifespan row"
        return (
            "platelet 5-HT content: modelled (assumed first-order turnover, time constant "
            f"half the platelet lifespan of {self.lifespan_days:g} days{basis})"
        )


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value > 0 else None


def model_from_rows(model_rows, uptake_rows) -> PlateletModel:
    """The model from the rows of platelet_model.csv and platelet_uptake.csv (any rows:
    missing ones fall back as the module says)."""
    named = {row.get("name", ""): row for row in model_rows}
    scale_row = named.get("platelet_scale")
    scale = _number(scale_row["value"]) if scale_row else None
    low = (
        _number(named["platelet_scale_ci_low"]["value"])
        if "platelet_scale_ci_low" in named
        else None
    )
    high = (
        _number(named["platelet_scale_ci_high"]["value"])
        if "platelet_scale_ci_high" in named
        else None
    )
    life_row = named.get("platelet_lifespan_days")
    lifespan = _number(life_row["value"]) if life_row else None
    studies = {row["study"] for row in uptake_rows if fitted_row(row)}
    return PlateletModel(
        scale=scale or 1.0,
        interval=(low, high) if scale and low and high else None,
        calibrated=scale is not None,
        studies=len(studies),
        lifespan_days=lifespan or ASSUMED_LIFESPAN_DAYS,
        lifespan_sourced=lifespan is not None,
        scale_source=scale_row.get("source", "") if scale_row else "",
        lifespan_source=life_row.get("source", "") if life_row else "",
    )


def fitted_row(row) -> bool:
    """A platelet_uptake.csv row the scale is fitted to: uptake inhibition at steady state,
    use fit, read at its source (verified or approximate)."""
    return (
        row.get("use") == "fit"
        and row.get("measure") == "uptake_inhibition"
        and row.get("status") in ("verified", "approximate")
        and not (row.get("days_on_drug") or "").strip()
    )


@functools.cache
def platelet_model() -> PlateletModel:
    """The shipped model (sert_cli/data/platelet_model.csv, platelet_uptake.csv)."""
    return model_from_rows(
        read_table("platelet_model.csv")[1], read_table("platelet_uptake.csv")[1]
    )


def binds(profile: Profile) -> bool:
    """Whether some moiety of the profile has an in vitro SERT constant."""
    return any(m.in_vitro_k_nm(PLATELET_TRANSPORTER) for m in profile.moieties)


def in_vitro_load(profile: Profile, levels) -> object:
    """sum_j Cu,plasma_j / K_j (in vitro K, unscaled) over the moieties that bind SERT:
    a float, or an array beside the levels' arrays; None where nothing binds it."""
    terms = [
        lv.cu_plasma_nm / k
        for m, lv in zip(profile.moieties, levels, strict=True)
        if (k := m.in_vitro_k_nm(PLATELET_TRANSPORTER))
    ]
    return sum(terms) if terms else None


def platelet_occupancy(profile: Profile, levels, model: PlateletModel | None = None) -> object:
    """theta_plt = x_plt / (1 + x_plt), x_plt = sum_j Cu,j / (s_plt * K_j); None where no
    moiety binds SERT. Levels: MoietyLevels of floats or of arrays."""
    model = platelet_model() if model is None else model
    load = in_vitro_load(profile, levels)
    if load is None:
        return None
    return formulas.occupancy_from_load(load / model.scale)


def occupancy_step(
    profile: Profile,
    levels,
    value,
    model: PlateletModel | None = None,
    name: str = "platelet SERT occupancy",
) -> Step:
    """The trace step of a platelet occupancy (values as the levels hold them)."""
    model = platelet_model() if model is None else model
    terms = []
    for m, lv in zip(profile.moieties, levels, strict=True):
        k = m.in_vitro_k_nm(PLATELET_TRANSPORTER)
        if k:
            terms += [(f"Cu {m.name}", lv.cu_plasma_nm, "nM"), (f"K {m.name}", k, "nM")]
    return Step(
        name=name,
        formula="theta_plt = x / (1 + x), x = sum_j Cu,plasma_j / (s_plt * K_j) (in vitro K)",
        values=(*terms, ("s_plt", model.scale, ""), ("theta_plt", value, "")),
        source=model_section(SECTION) + "; sert_cli/data/platelet_model.csv",
        assumes=evidence_note(model),
    )


def evidence_note(model: PlateletModel | None = None) -> Note:
    """What the platelet numbers rest on: whole for --explain and JSON, short for a table's
    "Assumed:" line."""
    model = platelet_model() if model is None else model
    # (a table says it in its platelet row's label: the "Assumed:" line stays as it was)
    return Note(f"{model.occupancy_words}; {model.content_words}", short="")


def steady_content(theta_plt):
    """The content at a steady occupancy: 1 - theta_plt."""
    return None if theta_plt is None else 1.0 - theta_plt


def content_at(theta_plt: float, t_h, tau_h: float, start: float = 1.0):
    """The closed form at a constant occupancy from content `start`:
    c(t) = (1 - theta) + (start - (1 - theta)) * exp(-t / tau)."""
    target = 1.0 - theta_plt
    return target + (start - target) * _exp(-t_h / tau_h)


def _exp(value):
    if hasattr(value, "shape"):
        import numpy as np

        return np.exp(value)
    return math.exp(value)


def content_course(t_h, theta_plt, tau_h: float):
    """The content at each time of a grid (numpy arrays, t_h increasing from 0), c(0) = 1,
    solved exactly over each step with theta_plt held at the step's mean of its two ends:
    c <- target + (c - target) * exp(-dt / tau), target = 1 - theta."""
    import numpy as np

    t_h = np.asarray(t_h, dtype=float)
    theta = np.asarray(theta_plt, dtype=float)
    content = np.empty_like(t_h)
    if t_h.size == 0:
        return content
    decay = np.exp(-np.diff(t_h) / tau_h)
    targets = 1.0 - (theta[1:] + theta[:-1]) / 2.0
    c = 1.0
    content[0] = c
    for i, (d, target) in enumerate(zip(decay.tolist(), targets.tolist(), strict=True), 1):
        c = target + (c - target) * d
        content[i] = c
    return content


def days_until(t_h, values, level: float, since_h: float, falling: bool) -> float | None:
    """Days from since_h to the first time at or after it that the values are at or below
    (falling) or at or above (rising) the level; None where the window shows none."""
    import numpy as np

    t_h, values = np.asarray(t_h), np.asarray(values)
    after = t_h >= since_h
    hit = (values <= level) if falling else (values >= level)
    found = np.nonzero(after & hit)[0]
    if not found.size:
        return None
    return (float(t_h[found[0]]) - since_h) / HOURS_PER_DAY


def course_summary(t_h, content, steady_theta, first_dose_h: float, last_dose_h: float) -> dict:
    """The table's platelet summary of a time course: the content at steady state, days
    to FALL_LEVELS after starting, and to RECOVERY_LEVEL after the last dose."""
    summary = {
        "platelet_sert_occupancy_steady_state": steady_theta,
        "platelet_serotonin_fraction_steady_state": steady_content(steady_theta),
    }
    for level in FALL_LEVELS:
        summary[f"days_to_platelet_serotonin_{round(level * 100)}pct"] = days_until(
            t_h, content, level, first_dose_h, falling=True
        )
    summary[f"days_after_last_dose_to_platelet_serotonin_{round(RECOVERY_LEVEL * 100)}pct"] = (
        days_until(t_h, content, RECOVERY_LEVEL, last_dose_h, falling=False)
    )
    return summary


def logit(fraction: float) -> float:
    p = min(max(fraction, LOGIT_CLIP), 1.0 - LOGIT_CLIP)
    return math.log(p / (1.0 - p))
