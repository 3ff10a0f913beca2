"""The formulas of docs/model.md, one function each.

Every function is plain arithmetic, so it takes Python floats or numpy arrays alike:
the single-query commands and the batch engine call the same code.
Units are in the names: mg, h, L/h, mg/L, ng/mL, nM.
"""

import math

from sert_cli.vocabulary import EXTRAPOLATED_K_FACTOR, RANGE_Z


def apparent_clearance_l_h(clearance_l_h, bioavailability):
    """CL/F from systemic clearance and oral bioavailability (section 1)."""
    return clearance_l_h / bioavailability


def css_mg_l(dose_mg, apparent_clearance_l_h, interval_h):
    """Average steady-state plasma concentration, linear PK: D / ((CL/F) * tau)."""
    return dose_mg / (apparent_clearance_l_h * interval_h)


def clearance_from_activity_l_h(clearance_nm_l_h, fm_by_gene, activity_by_gene):
    """CL = CL_NM * (1 - sum fm_g + sum fm_g * a_g) (section 2, fraction metabolized),
    computed as CL_NM * (1 + sum fm_g * (a_g - 1)) so that NM activities give CL_NM exactly."""
    change = sum(fm * (activity_by_gene[gene] - 1.0) for gene, fm in fm_by_gene.items())
    return clearance_nm_l_h * (1.0 + change)


def unbound_concentration(total_concentration, fraction_unbound):
    """Cu,plasma = fu * C (section 3)."""
    return fraction_unbound * total_concentration


def brain_unbound_concentration(cu_plasma, kp_uu_brain):
    """Cu,brain = Kp,uu * Cu,plasma (section 3)."""
    return kp_uu_brain * cu_plasma


def occupancy_from_load(load, emax=1.0):
    """theta = Emax * x / (1 + x), x = sum_j C_j / K_j over the ligands (section 4); Emax is
    1 on the binding scale and the plateau PET observes on the PET scale."""
    return emax * load / (1.0 + load)


def ligand_share(ligand_load, total_load, emax=1.0):
    """theta_i = Emax * (C_i / K_i) / (1 + sum_j C_j / K_j) (section 4, competition)."""
    return emax * ligand_load / (1.0 + total_load)


def load_for_occupancy(target_occupancy, emax=1.0):
    """The inverse of occupancy_from_load: x* = r / (1 - r), r = theta* / Emax (section 5)."""
    relative = target_occupancy / emax
    return relative / (1.0 - relative)


def time_to_steady_state_fraction_h(half_life_h, fraction):
    """Time to reach `fraction` of steady state: t = t1/2 * log2(1 / (1 - f)) (section 1)."""
    return half_life_h * math.log2(1.0 / (1.0 - fraction))


def half_life_from_time_to_fraction_h(time_h, fraction):
    """The inverse: t1/2 = t / log2(1 / (1 - f))."""
    return time_h / math.log2(1.0 / (1.0 - fraction))


def volume_from_half_life_l(apparent_clearance_l_h, half_life_h):
    """V/F = (CL/F) * t1/2 / ln 2 (one compartment)."""
    return apparent_clearance_l_h * half_life_h / math.log(2)


def elimination_rate_per_h(apparent_clearance_l_h, volume_l):
    """k = (CL/F) / (V/F)."""
    return apparent_clearance_l_h / volume_l


HALF_LIFE_PER_RATE = math.log(2)  # t1/2 = ln 2 / k


def rate_from_half_life_per_h(half_life_h):
    """k = ln 2 / t1/2."""
    return HALF_LIFE_PER_RATE / half_life_h


def tmax_h(absorption_rate_per_h, elimination_rate_per_h):
    """Time of the single-dose peak: ln(ka / k) / (ka - k) (limit 1/k when ka = k)."""
    ka, k = absorption_rate_per_h, elimination_rate_per_h
    if math.isclose(ka, k, rel_tol=1e-12):
        return 1.0 / k
    return math.log(ka / k) / (ka - k)


def absorption_rate_from_tmax_per_h(tmax_h_value, elimination_rate_per_h):
    """The ka > k that gives this tmax; tmax falls as ka rises, so bisect on log ka."""
    k = elimination_rate_per_h
    if tmax_h_value >= 1.0 / k:
        raise ValueError(
            f"a peak at {tmax_h_value:g} h is too late for an elimination "
            f"half-life of {math.log(2) / k:.3g} h (it must come before "
            f"{1.0 / k:.3g} h)"
        )
    low, high = k, k
    while tmax_h(high, k) > tmax_h_value:
        high *= 2.0
    for _ in range(200):
        middle = math.sqrt(low * high)
        if tmax_h(middle, k) > tmax_h_value:
            low = middle
        else:
            high = middle
    return math.sqrt(low * high)


def saturable_css_mg_l(dose_rate_mg_h, linear_clearance_l_h, vmax_mg_h, km_mg_l):
    """Average concentration where input balances CL*C + Vmax*C/(Km + C) (Michaelis-Menten).

    Exact for continuous input; for oral doses the steady-state average of a saturable
    drug differs little when the swing over an interval is small. Returns inf when the
    dose rate exceeds Vmax and there is no linear clearance to take the rest.
    """
    b = linear_clearance_l_h * km_mg_l + vmax_mg_h - dose_rate_mg_h
    root = (b * b + 4.0 * linear_clearance_l_h * dose_rate_mg_h * km_mg_l) ** 0.5
    if math.isinf(root) and math.isfinite(b):  # b * b beyond a float (an absurd dose rate):
        # the same root with |b| taken out, so that a finite answer stays finite
        root = (
            abs(b) * (1.0 + 4.0 * linear_clearance_l_h * km_mg_l * (dose_rate_mg_h / b) / b) ** 0.5
        )
    if b > 0:
        return 2.0 * dose_rate_mg_h * km_mg_l / (b + root)
    if linear_clearance_l_h == 0:
        return math.inf
    return (root - b) / (2.0 * linear_clearance_l_h)


def saturable_dose_rate_mg_h(css_mg_l_value, linear_clearance_l_h, vmax_mg_h, km_mg_l):
    """The inverse: the dose rate that holds the average concentration at C."""
    return linear_clearance_l_h * css_mg_l_value + vmax_mg_h * css_mg_l_value / (
        km_mg_l + css_mg_l_value
    )


def dose_for_load(load_target, load_per_mg_value):
    """Section 5: D* = x* / x(1 mg), closed form for linear clearance."""
    return load_target / load_per_mg_value


def lognormal_spread(cv, z):
    """The factor between the median and the z-th percentile of a lognormal with this CV:
    exp(z * sigma), sigma^2 = ln(1 + CV^2)."""
    return math.exp(z * math.sqrt(math.log(1.0 + cv * cv)))


def constant_log_sd(value, interval) -> float:
    """A constant's uncertainty as a log-normal SD: the wider half of its 95 % interval on
    the log scale / 1.96. No interval (extrapolated), or a side the data leave open, counts
    as the assumed class factor: within EXTRAPOLATED_K_FACTOR for 90 % of drugs."""
    open_side = math.log(EXTRAPOLATED_K_FACTOR) / RANGE_Z
    if interval is None:
        return open_side
    low, high = interval
    return max(
        math.log(value / low) / 1.96 if low > 0 else open_side,
        math.log(high / value) / 1.96 if math.isfinite(high) else open_side,
    )


def range_spread(exposure_cv, constant_log_sd, pd_log_sd, z):
    """The factor between the median load and its z-th percentile, where three independent
    log-normal spreads add: PK (from the CV of exposure), the uncertainty of the in vivo
    constant, and the PD spread the PET fit does not explain."""
    pk = math.log(1.0 + exposure_cv * exposure_cv)
    return math.exp(z * math.sqrt(pk + constant_log_sd**2 + pd_log_sd**2))


def systemic_clearance_l_h(hepatic_blood_flow_l_h, intrinsic_clearance_l_h):
    """Well-stirred liver: CL = Q * CLint / (Q + CLint); the oral availability past the
    liver is F_H = Q / (Q + CLint), and CL / F_H = CLint (section 7)."""
    return (
        hepatic_blood_flow_l_h
        * intrinsic_clearance_l_h
        / (hepatic_blood_flow_l_h + intrinsic_clearance_l_h)
    )
