"""Drug profiles as typed, immutable values: what the schema builds and the science reads."""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from sert_cli.pk import formulas
from sert_cli.units import ng_ml_to_nm
from sert_cli.vocabulary import TRANSPORTERS


class PhenotypeTable(NamedTuple):
    """CL/F of this moiety for each phenotype of one gene (NM always present)."""

    gene: str
    apparent_clearance_l_h: Mapping[str, float]
    saturable_vmax_mg_h: Mapping[str, float] | None = None  # Vmax by phenotype, if saturable


class FractionMetabolized(NamedTuple):
    """fm of one gene's enzyme in NMs, and the relative activity a_g of each phenotype."""

    gene: str
    fm: float
    activity: Mapping[str, float]


@dataclass(frozen=True)
class Moiety:
    """A parent drug or an active metabolite: what reaches the brain and binds.

    For a metabolite, apparent_clearance_l_h is per molar dose of the parent
    (parent dose rate in mol / metabolite AUC in mol/L), so that its steady-state
    concentration follows from the parent's dose with the same formula.
    """

    name: str
    molar_mass_g_mol: float
    apparent_clearance_l_h: float
    fraction_unbound: float
    kp_uu_brain: float
    k_nm: Mapping[str, float]  # transporter -> Ki or Kd, nM (unbound)
    half_life_h: float | None = None
    phenotypes: PhenotypeTable | None = None
    volume_l: float | None = None  # apparent V/F; from pk.volume, or CL/F * t1/2 / ln 2
    absorption_rate_per_h: float | None = None  # ka (from pk.absorption ka, or its tmax)
    brain_equilibration_half_life_h: float | None = None
    saturable: tuple[float, float] | None = None  # (Vmax mg/h, Km mg/L), Michaelis-Menten
    pet_ec50_plasma_ng_ml: Mapping[str, float] = field(default_factory=dict)
    fractions_metabolized: tuple["FractionMetabolized", ...] = ()


@dataclass(frozen=True)
class Profile:
    name: str
    drug_class: str
    aliases: tuple[str, ...]
    interval_h: float
    label_min_mg: float
    label_max_mg: float
    strengths_mg: tuple[float, ...]
    parent: Moiety
    metabolites: tuple[Moiety, ...]
    salt_factor: float = 1.0
    dose_basis: str = "base"
    bioavailability: float | None = None
    sources: tuple[tuple[str, str], ...] = ()
    notes: str = ""
    path: str = ""
    raw: Mapping = field(default_factory=dict, compare=False, repr=False)
    therapeutic_range_ng_ml: tuple[float, float] | None = None
    therapeutic_range_of: str = "parent"  # or "active_moiety": parent + metabolites, ng/mL
    min_dose_occupancy_note: str = ""
    affinity: Mapping[str, str] = field(default_factory=dict)  # transporter -> constant used
    label_max_source: str = ""  # why label_max_mg is lower for this patient, if it is
    label_range_max_mg: float = 0.0  # the label's own maximum, whatever the patient's

    def __post_init__(self) -> None:
        if not self.label_range_max_mg:
            object.__setattr__(self, "label_range_max_mg", self.label_max_mg)

    def with_affinity(self, choice: str) -> "Profile":
        """The profile with PET-calibrated constants where it has them ("pet"), or with the
        in vitro Ki/Kd only ("in-vitro"). A parent's PET EC50 (total plasma, 50 % occupancy)
        becomes its unbound-brain K; metabolites' K are scaled by the same factor."""
        parent = self.parent
        used = {t: "in vitro" for t in TRANSPORTERS if any(t in m.k_nm for m in self.moieties)}
        if choice != "pet" or not parent.pet_ec50_plasma_ng_ml:
            return replace(self, affinity=used)
        scale = {}
        for transporter, ec50 in parent.pet_ec50_plasma_ng_ml.items():
            k_vivo = formulas.brain_unbound_concentration(
                formulas.unbound_concentration(
                    ng_ml_to_nm(ec50, parent.molar_mass_g_mol), parent.fraction_unbound
                ),
                parent.kp_uu_brain,
            )
            scale[transporter] = k_vivo / parent.k_nm[transporter]
            used[transporter] = f"PET-calibrated (EC50 {ec50:.4g} ng/mL plasma)"
        moieties = [
            replace(m, k_nm={t: k * scale.get(t, 1.0) for t, k in m.k_nm.items()})
            for m in self.moieties
        ]
        return replace(self, parent=moieties[0], metabolites=tuple(moieties[1:]), affinity=used)

    @property
    def moieties(self) -> tuple[Moiety, ...]:
        return (self.parent, *self.metabolites)

    @property
    def genes(self) -> tuple[str, ...]:
        genes = [m.phenotypes.gene for m in self.moieties if m.phenotypes]
        genes += [f.gene for m in self.moieties for f in m.fractions_metabolized]
        return tuple(dict.fromkeys(genes))

    def phenotypes_of(self, gene: str) -> set[str]:
        """The phenotypes of a gene the profile has data for (tables or activities)."""
        have = set()
        for moiety in self.moieties:
            if moiety.phenotypes and moiety.phenotypes.gene == gene:
                have.update(moiety.phenotypes.apparent_clearance_l_h)
            for fraction in moiety.fractions_metabolized:
                if fraction.gene == gene:
                    have.update(fraction.activity)
        return have
