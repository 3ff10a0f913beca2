"""The weeks-long delay (docs/model.md section 16): a small mechanistic layer on top of the
SERT occupancy time course. It is a hypothesis with rat-derived time points, not a
prediction of clinical response.

Occupancy raises extracellular serotonin; the somatodendritic 5-HT1A autoreceptors feel
it and cut the raphe neurons' firing; over days they desensitize, firing recovers, and the
serotonin that reaches the synapses rises as it does:

    dS/dt = -k_d * theta(t) * S + k_r * (1 - S)        S: autoreceptor sensitivity, S(0) = 1
    F = 1 / (1 + g * S * theta)                         F: firing, relative to baseline
    T = F / (1 - theta)                                 T: transmission, relative to baseline

(1 - theta is the share of reuptake left, so each impulse leaves 1 / (1 - theta) times the
serotonin.) The constants are data: sert_cli/data/adaptation.csv.
"""

import math

from sert_cli.datafiles import read_table

ADAPTATION_STEP_H = 0.5  # the layer's own grid: its day counts do not move with the output's
MAX_ADAPTATION_POINTS = 400_000
HYPOTHESIS = (
    "a mechanistic hypothesis with time constants chosen to reproduce rat "
    "electrophysiology, not a prediction of clinical response"
)


def constants() -> dict[str, float]:
    return {row["parameter"]: float(row["value"]) for row in read_table("adaptation.csv")[1]}


def adapt(t_h, occupancy) -> dict:
    """Sensitivity, firing and transmission on the simulation's time grid; the occupancy
    is taken as constant between two time points (exact exponential steps)."""
    import numpy as np

    c = constants()
    k_d, k_r, gain = (
        c["desensitization_rate"] / 24.0,
        c["resensitization_rate"] / 24.0,
        c["feedback_gain"],
    )
    theta = np.asarray(occupancy, dtype=float)
    times = np.asarray(t_h, dtype=float)
    sensitivity = np.empty_like(theta)
    s = 1.0
    for i in range(len(theta)):
        sensitivity[i] = s
        if i + 1 < len(theta):
            rate = k_d * theta[i] + k_r
            equilibrium = k_r / rate
            s = equilibrium + (s - equilibrium) * math.exp(-rate * (times[i + 1] - times[i]))
    firing = 1.0 / (1.0 + gain * sensitivity * theta)
    transmission = firing / (1.0 - theta)
    return {
        "autoreceptor_sensitivity": sensitivity,
        "firing_rate": firing,
        "serotonergic_transmission": transmission,
        "summary": _summary(times, theta, sensitivity, k_d, k_r),
    }


def adapt_on_own_grid(simulation, run) -> dict:
    """adapt() on a grid of its own (ADAPTATION_STEP_H, or finer than the output's), so
    that its day counts do not depend on the output's step; the arrays are then read at
    the output's times. run(step_h) is the same simulation on another grid."""
    import numpy as np

    t_h = np.asarray(simulation.t_h, dtype=float)
    span_h = float(t_h[-1] - t_h[0]) if t_h.size > 1 else 0.0
    step_h = max(ADAPTATION_STEP_H, span_h / MAX_ADAPTATION_POINTS)
    output_step_h = float(np.min(np.diff(t_h))) if t_h.size > 1 else step_h
    fine = simulation if output_step_h <= step_h else run(step_h)
    adapted = adapt(fine.t_h, fine.occupancy["SERT"])
    if fine is simulation:
        return adapted
    fine_t = np.asarray(fine.t_h, dtype=float)
    return {
        **{
            key: np.interp(t_h, fine_t, adapted[key])
            for key in ("autoreceptor_sensitivity", "firing_rate", "serotonergic_transmission")
        },
        "summary": adapted["summary"],
    }


def _summary(times, theta, sensitivity, k_d, k_r) -> dict:
    """Days until the desensitization reaches 50 % and 90 % of where steady occupancy takes
    it (the equilibrium at the highest occupancy of the course)."""
    import numpy as np

    peak = float(np.max(theta))
    if peak <= 0:
        return {"days_to_50pct_adaptation": None, "days_to_90pct_adaptation": None}
    final = k_r / (k_d * peak + k_r)
    progress = (1.0 - sensitivity) / (1.0 - final)
    out = {}
    for share in (0.5, 0.9):
        hits = np.nonzero(progress >= share)[0]
        out[f"days_to_{round(share * 100)}pct_adaptation"] = (
            float(times[hits[0]]) / 24.0 if hits.size else None
        )
    return out
