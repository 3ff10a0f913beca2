"""The formulas of docs/model.md, one function each.

Every function is plain arithmetic, so it takes Python floats or numpy arrays alike:
the single-query commands and the batch engine call the same code.
Units are in the names: mg, h, L/h, mg/L, ng/mL, nM.
"""

import math


def apparent_clearance_l_h(clearance_l_h, bioavailability):
    """CL/F from systemic clearance and oral bioavailability (section 1)."""
    return clearance_l_h / bioavailability


def css_mg_l(dose_mg, apparent_clearance_l_h, interval_h):
    """Average steady-state plasma concentration, linear PK: D / ((CL/F) * tau)."""
    return dose_mg / (apparent_clearance_l_h * interval_h)


def unbound_concentration(total_concentration, fraction_unbound):
    """Cu,plasma = fu * C (section 3)."""
    return fraction_unbound * total_concentration


def brain_unbound_concentration(cu_plasma, kp_uu_brain):
    """Cu,brain = Kp,uu * Cu,plasma (section 3)."""
    return kp_uu_brain * cu_plasma


def occupancy_from_load(load):
    """theta_total = x / (1 + x), x = sum_j C_j / K_j over the ligands (section 4)."""
    return load / (1.0 + load)


def ligand_share(ligand_load, total_load):
    """theta_i = (C_i / K_i) / (1 + sum_j C_j / K_j) (section 4, competition)."""
    return ligand_load / (1.0 + total_load)


def load_for_occupancy(target_occupancy):
    """The inverse of occupancy_from_load: x* = theta* / (1 - theta*) (section 5)."""
    return target_occupancy / (1.0 - target_occupancy)


def time_to_steady_state_fraction_h(half_life_h, fraction):
    """Time to reach `fraction` of steady state: t = t1/2 * log2(1 / (1 - f)) (section 1)."""
    return half_life_h * math.log2(1.0 / (1.0 - fraction))
