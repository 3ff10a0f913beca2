"""Drug profiles as typed, immutable values: what the schema builds and the science reads."""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from sert_cli.model import formulas
from sert_cli.units import ng_ml_to_nm, percent
from sert_cli.vocabulary import TRANSPORTERS


class PhenotypeTable(NamedTuple):
    """CL/F of this moiety for each phenotype of one gene (NM always present)."""

    gene: str
    apparent_clearance_l_h: Mapping[str, float]
    saturable_vmax_mg_h: Mapping[str, float] | None = None  # Vmax by phenotype, if saturable


class PetCalibration(NamedTuple):
    """A transporter's constant on the PET scale (docs/model.md section 9): the total plasma
    level at half the plateau, the plateau PET observes, and where the two come from."""

    ec50_plasma_ng_ml: float
    emax: float
    basis: str  # one of PET_BASES
    # the 95 % interval of the EC50 (0 or inf where the data leave a side open), if known
    ec50_interval_ng_ml: tuple[float, float] | None = None
    note: str = ""  # what an assumed constant rests on, said beside every answer

    @property
    def log_sd(self) -> float:
        """The constant's uncertainty as a log-normal SD (docs/model.md section 14)."""
        return formulas.constant_log_sd(self.ec50_plasma_ng_ml, self.ec50_interval_ng_ml)

    @property
    def words(self) -> str:
        """The constant as every output names it: basis, value, interval, plateau, note."""
        interval = ""
        if self.ec50_interval_ng_ml is not None:
            low, high = self.ec50_interval_ng_ml
            sides = (
                f"{low:.3g}" if low > 0 else "open",
                f"{high:.3g}" if math.isfinite(high) else "open",
            )
            interval = f", 95 % interval {sides[0]}-{sides[1]}"
        note = f": {self.note}" if self.note else ""
        return (
            f"PET {self.basis} (EC50 {self.ec50_plasma_ng_ml:.3g} ng/mL plasma{interval}, "
            f"plateau {percent(self.emax)}){note}"
        )

    @property
    def short_words(self) -> str:
        """What a table's "Assumed:" line shows: the basis (assumed, extrapolated, ...),
        EC50 and plateau; the interval is the answer's range, the note --explain's."""
        return (
            f"PET {self.basis}, EC50 {self.ec50_plasma_ng_ml:.3g} ng/mL, "
            f"plateau {percent(self.emax)}"
        )


# fitted: bounded by PET data of the drug; assumed: rests on a range read from an abstract,
# one point, or an interval the data leave open; extrapolated: no PET data of the drug;
# published: a value from the literature, not refitted (user profiles)
PET_BASES = ("fitted", "assumed", "extrapolated", "published")


class FractionMetabolized(NamedTuple):
    """fm of one enzyme in NMs without interacting drugs, and, optionally, the relative
    activity a_g of each phenotype for this drug (else the class values of
    sert_cli/data/phenotype_activity.csv apply)."""

    gene: str
    fm: float
    activity: Mapping[str, float] = {}


class Formation(NamedTuple):
    """How a metabolite is formed (docs/model.md section 8): the share of its formation
    clearance in NMs without interacting drugs that runs through one gene. The patient's
    activity a and co-medication multiplier m of that gene then change the formation
    clearance by share * a * m + (1 - share), exactly as they change the parent's."""

    gene: str
    share: float


def changed(value, **fields):
    """dataclasses.replace for a profile or moiety already built and checked, without
    running __init__ again: its fields copied, some changed. Preparing a patient changes a
    profile several times, and replace() was a fifth of that time in a batch."""
    new = object.__new__(type(value))
    new.__dict__.update(value.__dict__, **fields)
    return new


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
    pet: Mapping[str, PetCalibration] = field(default_factory=dict)
    fractions_metabolized: tuple["FractionMetabolized", ...] = ()
    # with a saturable first pass (docs/model.md section 7): the liver's blood flow, and
    # volume_l is then the systemic volume, not V/F
    hepatic_blood_flow_l_h: float | None = None
    # a metabolite formed partly through one gene: its apparent clearance per parent dose
    # then follows the patient's parent clearance and formation (docs/model.md section 8)
    formation: Formation | None = None
    # enzyme -> multiplier of its activity from the patient's co-medications (inhibitors
    # below 1, inducers above); set by the patient layer, never by a profile
    enzyme_activity: Mapping[str, float] = field(default_factory=dict)
    # the in vitro Ki/Kd (nM) where k_nm has been moved to the PET scale (with_affinity);
    # None: k_nm is the in vitro constant. Platelet SERT binds on the in vitro scale
    # (docs/model.md section 20), whatever scale the brain's occupancy is on.
    k_in_vitro_nm: Mapping[str, float] | None = None

    def in_vitro_k_nm(self, transporter: str) -> float | None:
        """The moiety's in vitro Ki/Kd for a transporter (None if it does not bind it)."""
        constants = self.k_nm if self.k_in_vitro_nm is None else self.k_in_vitro_nm
        return constants.get(transporter)


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
    therapeutic_alert_ng_ml: float | None = None  # the laboratory alert level (AGNP), if given
    min_dose_occupancy_note: str = ""
    affinity: Mapping[str, str] = field(default_factory=dict)  # transporter -> constant used
    emax: Mapping[str, float] = field(default_factory=dict)  # transporter -> plateau (PET scale)
    label_max_source: str = ""  # why label_max_mg is lower for this patient, if it is
    label_range_max_mg: float = 0.0  # the label's own maximum, whatever the patient's
    exposure_cv: float | None = None  # between-patient CV of steady-state exposure (CL/F)
    dose_form: str = "tablet"  # what the strengths are: tablet, capsule, ...
    scored_mg: tuple[float, ...] = ()  # tablets the label says may be split in half
    oral_liquids: tuple[tuple[str, float], ...] = ()  # (form, mg/mL) as marketed

    def __post_init__(self) -> None:
        if not self.label_range_max_mg:
            object.__setattr__(self, "label_range_max_mg", self.label_max_mg)

    def with_affinity(self, choice: str) -> "Profile":
        """The profile on the PET scale where it has PET constants ("pet"), or on the binding
        scale with the in vitro Ki/Kd only ("in-vitro"). A parent's PET EC50 (total plasma,
        half the plateau) becomes its unbound-brain K, metabolites' K are scaled by the same
        factor, and the plateau caps occupancy at Emax."""
        parent = self.parent
        used = {
            t: "in vitro (binding scale)"
            for t in TRANSPORTERS
            if any(t in m.k_nm for m in self.moieties)
        }
        if choice != "pet" or not parent.pet:
            return replace(self, affinity=used, emax={})
        scale, emax = {}, {}
        for transporter, pet in parent.pet.items():
            k_vivo = formulas.brain_unbound_concentration(
                formulas.unbound_concentration(
                    ng_ml_to_nm(pet.ec50_plasma_ng_ml, parent.molar_mass_g_mol),
                    parent.fraction_unbound,
                ),
                parent.kp_uu_brain,
            )
            scale[transporter] = k_vivo / parent.k_nm[transporter]
            emax[transporter] = pet.emax
            used[transporter] = pet.words
        moieties = [
            replace(
                m,
                k_nm={t: k * scale.get(t, 1.0) for t, k in m.k_nm.items()},
                k_in_vitro_nm=dict(m.k_nm) if m.k_in_vitro_nm is None else m.k_in_vitro_nm,
            )
            for m in self.moieties
        ]
        return replace(
            self,
            parent=moieties[0],
            metabolites=tuple(moieties[1:]),
            affinity=used,
            emax=emax,
        )

    @property
    def moieties(self) -> tuple[Moiety, ...]:
        return (self.parent, *self.metabolites)

    def range_counted(self, levels: Sequence) -> Sequence:
        """Of the moieties' levels (in moiety order), those the reference range is of: the
        parent alone, or the active moiety (parent + metabolites)."""
        return levels if self.therapeutic_range_of == "active_moiety" else levels[:1]

    @property
    def range_of_words(self) -> str:
        """What the reference range is of, in words: "active moiety" or the drug's name."""
        return "active moiety" if self.therapeutic_range_of == "active_moiety" else self.name

    @property
    def saturable(self) -> bool:
        """Some moiety's clearance saturates (Michaelis-Menten): levels are not linear in
        dose."""
        return any(m.saturable for m in self.moieties)

    @property
    def genes(self) -> tuple[str, ...]:
        """Every gene a moiety's clearance or a metabolite's formation depends on."""
        genes = [m.phenotypes.gene for m in self.moieties if m.phenotypes]
        genes += [f.gene for m in self.moieties for f in m.fractions_metabolized]
        genes += [m.formation.gene for m in self.moieties if m.formation]
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
