"""The platelet scale and its check (docs/model.md section 20): `sert validate` (a
platelet table), `sert validate --fit platelet` and `make refit` (platelet_model.csv).

Each row of sert_cli/data/platelet_uptake.csv is computed at its daily dose for a normal
metabolizer (unselected patients) at the profile's interval, on the in vitro constants:
X0 = sum_j Cu,plasma_j / K_j. The model's inhibition is theta = x / (1 + x), x = X0 / s,
so logit(theta) = ln X0 - ln s: the least-squares fit on the logit of the observed
inhibition is ln s = mean(ln X0_i - logit(obs_i)) over the fit rows, with a t interval.
"""

import math

from sert_cli.datafiles import read_table
from sert_cli.errors import SertError
from sert_cli.pk import platelets
from sert_cli.pk.dosing import per_day
from sert_cli.pk.steady_state import steady_state

MEASURES = ("uptake_inhibition", "content_reduction")
NO_PROFILE = "no profile of this drug"


def uptake_rows() -> tuple[dict, ...]:
    return read_table("platelet_uptake.csv")[1]


def _number(text) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def in_vitro_load(library, drug: str, daily_dose_mg: float) -> float | None:
    """X0 of a drug at a daily dose, NM, at the profile's interval (None: no profile, no
    SERT constant, or a dose that does not compute)."""
    try:
        profile = library.get(drug).with_affinity("in-vitro")
        dose = daily_dose_mg / per_day(profile.interval_h)
        state = steady_state(profile, dose, profile.interval_h, {})
    except (SertError, ArithmeticError, ValueError):
        return None
    load = platelets.in_vitro_load(profile, state.levels)
    return load if load is not None and math.isfinite(load) and load > 0 else None


def fit_scale(pairs: list[tuple[float, float]]) -> dict:
    """ln s = mean(ln X0 - logit(obs)) over (X0, observed fraction) pairs, its 95 % interval
    (t with n - 1 degrees of freedom; none from one row)."""
    if not pairs:
        return {"scale": None, "interval": None, "rows": 0, "log_sd": None}
    logs = [math.log(x0) - platelets.logit(obs) for x0, obs in pairs]
    n = len(logs)
    mean = sum(logs) / n
    if n < 2:
        return {"scale": math.exp(mean), "interval": None, "rows": n, "log_sd": None}
    sd = math.sqrt(sum((v - mean) ** 2 for v in logs) / (n - 1))
    from scipy.stats import t

    half = t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    return {
        "scale": math.exp(mean),
        "interval": [math.exp(mean - half), math.exp(mean + half)],
        "rows": n,
        "log_sd": sd,
    }


def fit(library, rows=None) -> dict:
    """`sert validate --fit platelet`: the scale, its interval, and the CSV rows to write."""
    rows = uptake_rows() if rows is None else rows
    pairs, studies = [], set()
    for row in rows:
        if not platelets.fitted_row(row):
            continue
        dose, value = _number(row["daily_dose_mg"]), _number(row["value_pct"])
        x0 = None if dose is None or dose <= 0 else in_vitro_load(library, row["drug"], dose)
        if x0 is None or value is None:
            continue
        pairs.append((x0, value / 100.0))
        studies.add(row["study"])
    found = fit_scale(pairs)
    words = (
        f"FITTED by least squares on the logit of ex vivo platelet 5-HT uptake inhibition, "
        f"{found['rows']} rows of {len(studies)} studies in sert_cli/data/platelet_uptake.csv "
        "(sert validate --fit platelet)"
    )
    csv_rows = []
    if found["scale"] is not None:
        csv_rows.append(("platelet_scale", found["scale"], "", "fitted", words))
        if found["interval"] is not None:
            low, high = found["interval"]
            csv_rows += [
                ("platelet_scale_ci_low", low, "", "fitted", "95 % interval of platelet_scale"),
                ("platelet_scale_ci_high", high, "", "fitted", "95 % interval of platelet_scale"),
            ]
    return {
        "fit": "platelet",
        "scale": found["scale"],
        "interval": found["interval"],
        "rows": found["rows"],
        "studies": sorted(studies),
        "log_sd": found["log_sd"],
        "csv_rows": [
            f'{name},{value:.4g},{unit},{basis},"{source}"'
            for name, value, unit, basis, source in csv_rows
        ],
        "source": words,
    }


def validate(library, rows=None, model: platelets.PlateletModel | None = None) -> dict:
    """Each row observed vs model (percent), and the MAE in percentage points of the rows
    fitted (in sample) and of those checked."""
    rows = uptake_rows() if rows is None else rows
    model = platelets.platelet_model() if model is None else model
    checked = []
    for row in rows:
        dose, value = _number(row["daily_dose_mg"]), _number(row["value_pct"])
        days = _number(row.get("days_on_drug"))
        x0 = None if dose is None or dose <= 0 else in_vitro_load(library, row["drug"], dose)
        predicted = None
        if x0 is not None and row["measure"] in MEASURES:
            theta = x0 / model.scale / (1.0 + x0 / model.scale)
            if row["measure"] == "content_reduction" and days is not None:
                # the time course at a steady occupancy from the first day (the drug's own
                # approach to steady state, days, is short beside the platelets' renewal)
                theta = 1.0 - platelets.content_at(theta, days * 24.0, model.tau_h)
            predicted = theta * 100.0
        counted = row["status"] in ("verified", "approximate")
        checked.append(
            {
                "study": row["study"],
                "drug": row["drug"],
                "daily_dose_mg": dose,
                "days_on_drug": days,
                "measure": row["measure"],
                "observed_pct": value,
                "model_pct": predicted,
                "use": row["use"] if counted else "not counted",
                "in_sample": platelets.fitted_row(row),
                "status": row["status"],
                "note": NO_PROFILE if x0 is None and dose else "",
                "source": row["source"],
            }
        )
    summary = {}
    for name, wanted in (("fit", True), ("check", False)):
        group = [
            r
            for r in checked
            if r["in_sample"] == wanted
            and r["use"] != "not counted"
            and r["model_pct"] is not None
            and r["observed_pct"] is not None
        ]
        summary[name] = {
            "rows": len(group),
            "mae_pp": sum(abs(r["model_pct"] - r["observed_pct"]) for r in group) / len(group)
            if group
            else None,
        }
    return {
        "rows": checked,
        "summary": summary,
        "scale": model.scale,
        "interval": list(model.interval) if model.interval else None,
        "calibrated": model.calibrated,
        "lifespan_days": model.lifespan_days,
        "evidence": f"{model.occupancy_words}; {model.content_words}",
    }
