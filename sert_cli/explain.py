"""`--explain`: the chain from genotype to dose, each step with its formula, its numbers and
its source, for a student to follow. Built from the results the commands computed."""

from sert_cli import model
from sert_cli.core import HOURS_PER_DAY, DoseResult, OccupancyResult
from sert_cli.patient import Prepared
from sert_cli.profile import Profile


def _source(profile: Profile, *keys: str) -> str:
    cited = dict(profile.sources)
    for key in keys:
        for field, citation in cited.items():
            if field == key or key.startswith(field + "."):
                return citation
    return "model.md" if not keys else "profile (no per-field source)"


def steps(
    prepared: Prepared, result: OccupancyResult, dose: DoseResult | None = None
) -> list[dict]:
    profile = prepared.profile
    out: list[dict] = []

    def step(name: str, formula: str, numbers: str, source: str) -> None:
        out.append({"step": name, "formula": formula, "numbers": numbers, "source": source})

    for g in prepared.genotypes:
        values = ", ".join(
            f"{a.allele} = {a.activity_value:g}"
            if a.activity_value is not None
            else f"{a.allele}: {a.function}"
            for a in g.alleles
        )
        if g.activity_score is not None:
            step(
                f"{g.gene} genotype -> activity score",
                "AS = sum of the two allele values",
                f"{values}; AS = {'≥' if g.activity_score_at_least else ''}{g.activity_score:g}",
                f"CPIC allele table, data version {g.data_version}",
            )
            step(
                "activity score -> phenotype",
                "0 PM; 0.25-1.0 IM; 1.25-2.25 NM; above UM",
                f"{g.cpic_phenotype}",
                "CPIC activity-score bins (pgx.md 2.1)",
            )
        else:
            step(
                f"{g.gene} genotype -> phenotype",
                "pair of allele functions",
                f"{'; '.join(f'{a.allele}: {a.function}' for a in g.alleles)} -> "
                f"{g.cpic_phenotype}",
                f"CPIC function-pair rules (pgx.md 2.2-2.3), data version {g.data_version}",
            )
    for note in prepared.notes:
        if "->" in note or "exposure" in note:
            step(
                "co-medication",
                "phenoconversion or measured interaction",
                note,
                "sert_cli/data/inhibitors.csv and interactions.csv",
            )
    moieties = (result.parent, *result.metabolites)
    for moiety, levels in zip(profile.moieties, moieties, strict=True):
        phenotype = ", ".join(f"{g} {p}" for g, p in result.phenotypes.items()) or "no CYP data"
        step(
            f"clearance of {levels.name}",
            "CL/F for the phenotype (table, fm, interaction)",
            f"CL/F = {levels.clearance_l_h:.4g} L/h ({phenotype})",
            _source(
                profile,
                *(
                    ["pk.phenotypes", "pk.apparent_clearance", "pk.clearance"]
                    if moiety is profile.parent
                    else [f"metabolites.{profile.metabolites.index(moiety)}.pk"]
                ),
            ),
        )
        step(
            f"concentration of {levels.name}",
            "Css = D / ((CL/F) * tau); C[nM] = C[ng/mL] / MW * 1000",
            f"D = {result.dose_mg:g} mg, tau = {result.interval_h:g} h -> "
            f"Css = {levels.css_plasma_ng_ml:.4g} ng/mL = {levels.css_plasma_nm:.4g} nM",
            "model.md section 1",
        )
        step(
            f"brain concentration of {levels.name}",
            "Cu = fu * Css; Cu,brain = Kp,uu * Cu",
            f"fu = {moiety.fraction_unbound:g}, Kp,uu = {moiety.kp_uu_brain:g} -> Cu = "
            f"{levels.cu_plasma_nm:.4g} nM, Cu,brain = {levels.cu_brain_nm:.4g} nM",
            _source(profile, "pk.fraction_unbound"),
        )
    for transporter, theta in result.occupancy.items():
        if theta is None:
            continue
        terms = " + ".join(
            f"{lv.cu_brain_nm:.4g}/{m.k_nm[transporter]:.4g}"
            for m, lv in zip(profile.moieties, moieties, strict=True)
            if transporter in m.k_nm
        )
        step(
            f"{transporter} occupancy",
            "theta = x / (1 + x), x = sum C_j / K_j",
            f"x = {terms} -> theta = {theta:.4f}; constant: {profile.affinity.get(transporter)}",
            _source(profile, f"targets.{transporter}.pet_ec50_plasma", f"targets.{transporter}")
            if "PET" in profile.affinity.get(transporter, "")
            else _source(profile, f"targets.{transporter}"),
        )
    if dose is not None:
        load = model.load_for_occupancy(dose.target)
        step(
            f"dose for {dose.target:.0%} {dose.transporter}",
            "x* = theta*/(1 - theta*); D* = x* / x(1 mg)",
            f"x* = {load:.4g} -> D* = {dose.dose_mg:.4g} mg every "
            f"{dose.interval_h:g} h ({dose.dose_mg * HOURS_PER_DAY / dose.interval_h:.4g} "
            "mg/day)",
            "model.md section 5",
        )
        if dose.recommended_dose_mg is not None:
            step(
                "marketed strengths",
                "smallest sum of whole units >= D*",
                f"{' + '.join(f'{u:g} mg' for u in dose.recommended_units_mg)} = "
                f"{dose.recommended_dose_mg:g} mg -> {dose.occupancy_at_recommended:.1%}",
                _source(profile, "dosing.strengths"),
            )
        step(
            "label check",
            "daily dose <= label maximum",
            f"maximum {dose.label_max_mg:g} mg/day; above: {dose.exceeds_label_max}",
            profile.label_max_source or _source(profile, "dosing.label_range"),
        )
    return out
