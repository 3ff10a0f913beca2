"""The profile schema: `build_profile` turns the tree a YAML file holds into a `Profile`,
or raises a ProfileError naming the file, line and field. It knows nothing of YAML itself:
the library passes the line of each field along, so the same checks serve files and tests.
"""

import math
import re
from collections.abc import Mapping

from sert_cli.errors import ProfileError, printable
from sert_cli.model import formulas
from sert_cli.model.profile import (
    PET_BASES,
    Formation,
    FractionMetabolized,
    Moiety,
    PetCalibration,
    PhenotypeTable,
    Profile,
)
from sert_cli.suggest import did_you_mean
from sert_cli.units import check_positive_finite, ng_ml_to_nm, nm_to_ng_ml, parse_quantity
from sert_cli.vocabulary import GENES, PHENOTYPES, TRANSPORTERS, check_phenotype_for_gene

SCHEMA_VERSION = 1
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]*$")
QUANTITY_TEXT = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?(\s*\S+)?\s*$")


class _Reader:
    """Walks the plain tree and raises ProfileErrors that point at file:line: field."""

    def __init__(self, path: str, lines: Mapping[tuple, int]) -> None:
        self.path, self.lines = path, lines

    def fail(self, where: tuple, message: str):
        line = None
        for depth in range(len(where), -1, -1):
            line = self.lines.get(where[:depth])
            if line is not None:
                break
        name = ".".join(str(p) for p in where)
        raise ProfileError(message, path=self.path, line=line, field=name)

    def mapping(self, value, where: tuple, required: tuple, optional: tuple = ()) -> dict:
        if not isinstance(value, dict):
            self.fail(where, f"expected a mapping of keys, got {_kind(value)}")
        allowed = required + optional
        for key in value:
            if not isinstance(key, str):
                self.fail(where, f"keys must be text, got {key!r}")
            if key not in allowed:
                self.fail(
                    where + (key,),
                    f"unknown key '{key}'{did_you_mean(key, allowed)}"
                    + ("" if did_you_mean(key, allowed) else f" (allowed: {', '.join(allowed)})"),
                )
        for key in required:
            if key not in value:
                self.fail(where, f"missing required key '{key}'")
        return value

    def text(self, value, where: tuple, *, lines: bool = False) -> str:
        """Text, its control characters escaped (whatever tree it came from, no terminal
        escape in a profile reaches a screen); `lines`: a free text keeps its line breaks."""
        if not isinstance(value, str) or not value.strip():
            self.fail(where, f"expected text, got {_kind(value)}")
        return printable(value, lines=lines)

    def quantity(self, value, where: tuple, dimension: str):
        try:
            quantity = parse_quantity(value, dimension)
        except ValueError as exc:
            self.fail(where, str(exc))
        low, high, unit = PLAUSIBLE[quantity.dimension]
        if not low <= quantity.value <= high:
            self.fail(
                where,
                f"{value} is outside what the model can compute with "
                f"({low:g} to {high:g} {unit}); check the number and its unit",
            )
        return quantity

    def number(self, value, where: tuple, *, upper: float | None = None) -> float:
        """A unitless positive number; strings such as '1e-3' (a YAML 1.1 trap) count."""
        if isinstance(value, bool):
            self.fail(where, f"expected a number, got {_kind(value)}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(where, f"expected a number, got {_kind(value)}")
        try:
            check_positive_finite(number)
        except ValueError as exc:
            self.fail(where, str(exc))
        if upper is not None and number > upper:
            self.fail(where, f"must be a fraction in (0, {upper:g}] (got {number:g})")
        return number

    def ratio(self, value, where: tuple, low: float, high: float) -> float:
        """A unitless positive number within [low, high]."""
        number = self.number(value, where)
        if not low <= number <= high:
            self.fail(where, f"must be between {low:g} and {high:g} (got {number:g})")
        return number

    def fraction(self, value, where: tuple) -> float:
        return self.number(value, where, upper=1.0)

    def sequence(self, value, where: tuple, *, min_len: int = 1) -> list:
        if not isinstance(value, list) or len(value) < min_len:
            self.fail(where, f"expected a list of at least {min_len} item(s), got {_kind(value)}")
        return value


def _kind(value) -> str:
    if value is None:
        return "nothing (empty)"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"[:80]


# What a profile's numbers may be, in the internal units: beyond these the model's
# arithmetic leaves floating point or the numbers cannot describe a drug (a strength below
# a microgram cannot be combined; a half-life of 1e308 h overflows the time course).
PLAUSIBLE = {
    "mass": (1e-3, 1e6, "mg"),
    "time": (1e-3, 1e5, "h"),
    "flow": (1e-6, 1e6, "L/h"),
    "volume": (1e-3, 1e8, "L"),
    "rate": (1e-6, 1e4, "/h"),
    "mass_rate": (1e-9, 1e6, "mg/h"),
    "molar_mass": (10.0, 5000.0, "g/mol"),
    "molar_concentration": (1e-6, 1e9, "nM"),
    "mass_concentration": (1e-6, 1e9, "ng/mL"),
}

PK_KEYS = (
    "apparent_clearance",
    "clearance",
    "bioavailability",
    "fraction_unbound",
    "kp_uu_brain",
    "half_life",
    "volume",
    "absorption",
    "brain_equilibration_half_life",
    "saturable_clearance",
    "fractions_metabolized",
    "phenotypes",
    "exposure_cv",
    "first_pass",
    "formation",
)


def _read_targets(
    r: _Reader, value, where: tuple, molar_mass: float, parent: bool
) -> tuple[dict[str, float], dict[str, PetCalibration]]:
    """In vitro K per transporter (nM), and the parent's PET constants: EC50 (total plasma,
    ng/mL), plateau and basis, given together."""
    r.mapping(value, where, (), TRANSPORTERS)
    k_nm, pet = {}, {}
    pet_keys = ("pet_ec50_plasma", "pet_emax", "pet_basis")
    optional_pet_keys = ("pet_ec50_interval", "pet_note")
    for transporter, spec in value.items():
        here = where + (transporter,)
        r.mapping(
            spec,
            here,
            (),
            ("ki", "kd", *pet_keys, *optional_pet_keys) if parent else ("ki", "kd"),
        )
        kinds = [k for k in ("ki", "kd") if k in spec]
        if len(kinds) != 1:
            r.fail(here, "give exactly one of 'ki' or 'kd'")
        q = r.quantity(spec[kinds[0]], here + (kinds[0],), "concentration")
        k_nm[transporter] = (
            q.value if q.dimension == "molar_concentration" else ng_ml_to_nm(q.value, molar_mass)
        )
        given = [k for k in pet_keys if k in spec]
        if not given:
            continue
        for key in pet_keys:
            if key not in spec:
                r.fail(
                    here,
                    f"missing '{key}': the PET constants come together ({', '.join(pet_keys)})",
                )
        q = r.quantity(spec["pet_ec50_plasma"], here + ("pet_ec50_plasma",), "concentration")
        ec50 = q.value if q.dimension == "mass_concentration" else nm_to_ng_ml(q.value, molar_mass)
        emax = r.fraction(spec["pet_emax"], here + ("pet_emax",))
        basis = spec["pet_basis"]
        if basis not in PET_BASES:
            r.fail(
                here + ("pet_basis",),
                f"unknown basis {basis!r}{did_you_mean(str(basis), PET_BASES)}"
                f" (one of: {', '.join(PET_BASES)})",
            )
        interval = None
        if "pet_ec50_interval" in spec:
            interval = _read_interval(
                r, spec["pet_ec50_interval"], here + ("pet_ec50_interval",), molar_mass
            )
            if not interval[0] <= ec50 <= interval[1]:
                r.fail(here + ("pet_ec50_interval",), "the interval must contain pet_ec50_plasma")
        note = (
            r.text(spec["pet_note"], here + ("pet_note",), lines=True) if "pet_note" in spec else ""
        )
        if basis == "assumed" and not note:
            r.fail(here, "an assumed constant needs 'pet_note': what it rests on")
        pet[transporter] = PetCalibration(ec50, emax, basis, interval, note)
    return k_nm, pet


def _read_interval(r: _Reader, value, where: tuple, molar_mass: float) -> tuple[float, float]:
    """[low, high] as concentrations; 'unbounded' for a side the data leave open."""
    sides = r.sequence(value, where, min_len=2)
    if len(sides) != 2:
        r.fail(where, "give [low, high]")
    bounds = []
    for index, (side, open_value) in enumerate(zip(sides, (0.0, math.inf), strict=True)):
        if side == "unbounded":
            bounds.append(open_value)
            continue
        q = r.quantity(side, where + (index,), "concentration")
        bounds.append(
            q.value if q.dimension == "mass_concentration" else nm_to_ng_ml(q.value, molar_mass)
        )
    return bounds[0], bounds[1]


def _read_fractions(r: _Reader, value, where: tuple) -> tuple[FractionMetabolized, ...]:
    """[{gene, fm, activity: {PM: 0, IM: 0.5, NM: 1, ...}}] (activity optional: the class
    values apply without it); fm values sum to at most 1."""
    fractions = []
    for index, item in enumerate(r.sequence(value, where, min_len=0)):
        here = where + (index,)
        r.mapping(item, here, ("gene", "fm"), ("activity",))
        gene = r.text(item["gene"], here + ("gene",))
        if gene not in GENES:
            r.fail(
                here + ("gene",), f"'{gene}' is not a gene sert knows{did_you_mean(gene, GENES)}"
            )
        fm = r.fraction(item["fm"], here + ("fm",))
        if gene in {f.gene for f in fractions}:
            r.fail(here + ("gene",), f"{gene} is listed twice")
        if "activity" not in item:
            fractions.append(FractionMetabolized(gene, fm))
            continue
        table = r.mapping(item["activity"], here + ("activity",), ("NM", "PM"), PHENOTYPES)
        activity = {}
        for phenotype, raw in table.items():
            try:
                check_phenotype_for_gene(gene, phenotype)
            except ValueError as exc:
                r.fail(here + ("activity", phenotype), str(exc))
            activity[phenotype] = (
                0.0 if _is_zero(raw) else r.number(raw, here + ("activity", phenotype))
            )
        if activity["NM"] != 1.0:
            r.fail(here + ("activity", "NM"), "the NM activity is 1 by definition")
        fractions.append(FractionMetabolized(gene, fm, activity))
    if sum(f.fm for f in fractions) > 1 + 1e-9:
        r.fail(where, "the fractions metabolized add up to more than 1")
    return tuple(fractions)


def _is_zero(raw) -> bool:
    return raw == 0 or (isinstance(raw, str) and raw.split()[:1] == ["0"])


def _read_phenotypes(
    r: _Reader, value, where: tuple, nm_clearance: float, saturable: tuple[float, float] | None
) -> PhenotypeTable:
    kinds_allowed = ("apparent_clearance", "exposure_ratio", "saturable_vmax")
    r.mapping(value, where, ("gene",), kinds_allowed)
    gene = r.text(value["gene"], where + ("gene",))
    if gene not in GENES:
        r.fail(
            where + ("gene",),
            f"'{gene}' is not a gene sert knows"
            f"{did_you_mean(gene, GENES)} (known: {', '.join(GENES)})",
        )
    kinds = [k for k in kinds_allowed if k in value]
    if len(kinds) != 1:
        r.fail(where, f"give exactly one of {', '.join(repr(k) for k in kinds_allowed)}")
    kind = kinds[0]
    if kind == "saturable_vmax" and saturable is None:
        r.fail(where + (kind,), "a saturable_vmax table needs pk.saturable_clearance")
    table = r.mapping(value[kind], where + (kind,), ("NM",), PHENOTYPES)
    clearance, vmax = {}, {}
    for phenotype, raw in table.items():
        here = where + (kind, phenotype)
        try:
            check_phenotype_for_gene(gene, phenotype)
        except ValueError as exc:
            r.fail(here, str(exc))
        if kind == "apparent_clearance":
            clearance[phenotype] = r.quantity(raw, here, "flow").value
        elif kind == "exposure_ratio":
            clearance[phenotype] = nm_clearance / r.number(raw, here)
        else:  # Vmax of the saturable path by phenotype; 0 where the enzyme is missing
            clearance[phenotype] = nm_clearance
            vmax[phenotype] = 0.0 if _is_zero(raw) else r.quantity(raw, here, "mass_rate").value
    if not math.isclose(clearance["NM"], nm_clearance, rel_tol=1e-9):
        r.fail(
            where + (kind, "NM"),
            "the NM entry must match pk.apparent_clearance (exposure_ratio NM must be 1)",
        )
    if vmax and not math.isclose(vmax["NM"], saturable[0], rel_tol=1e-9):
        r.fail(where + (kind, "NM"), "the NM entry must match pk.saturable_clearance.vmax")
    return PhenotypeTable(gene, dict(clearance), vmax or None)


def _read_moiety(
    r: _Reader, data, where: tuple, name: str, molar_mass: float, pk_required: tuple
) -> tuple[Moiety, float | None]:
    pk_where = where + ("pk",)
    pk = r.mapping(
        data["pk"], pk_where, pk_required, tuple(k for k in PK_KEYS if k not in pk_required)
    )
    bioavailability = None
    if "apparent_clearance" in pk:
        if "clearance" in pk or "bioavailability" in pk:
            r.fail(
                pk_where,
                "give apparent_clearance (CL/F) alone, or clearance with bioavailability, not both",
            )
        cl_f = r.quantity(
            pk["apparent_clearance"], pk_where + ("apparent_clearance",), "flow"
        ).value
    elif "clearance" in pk and "bioavailability" in pk:
        clearance = r.quantity(pk["clearance"], pk_where + ("clearance",), "flow").value
        bioavailability = r.fraction(pk["bioavailability"], pk_where + ("bioavailability",))
        cl_f = formulas.apparent_clearance_l_h(clearance, bioavailability)
    else:
        r.fail(
            pk_where,
            "missing clearance: give apparent_clearance (CL/F), or clearance with bioavailability",
        )
    fu = r.fraction(pk["fraction_unbound"], pk_where + ("fraction_unbound",))
    kp_uu = r.ratio(pk.get("kp_uu_brain", 1.0), pk_where + ("kp_uu_brain",), 1e-3, 100.0)
    half_life = (
        r.quantity(pk["half_life"], pk_where + ("half_life",), "time").value
        if "half_life" in pk
        else None
    )
    k_nm, pet = _read_targets(
        r, data["targets"], where + ("targets",), molar_mass, parent=not where
    )
    volume = None
    if "volume" in pk:
        volume = r.quantity(pk["volume"], pk_where + ("volume",), "volume").value
        if half_life is not None:
            r.fail(
                pk_where + ("volume",),
                "give volume or half_life, not both: with CL/F each fixes the other",
            )
    elif half_life is not None:
        volume = formulas.volume_from_half_life_l(cl_f, half_life)
    saturable = None
    if "saturable_clearance" in pk:
        here = pk_where + ("saturable_clearance",)
        spec = r.mapping(pk["saturable_clearance"], here, ("vmax", "km"))
        vmax = r.quantity(spec["vmax"], here + ("vmax",), "mass_rate").value
        km = r.quantity(spec["km"], here + ("km",), "mass_concentration").value / 1000.0
        saturable = (vmax, km)
    hepatic_flow = None
    if "first_pass" in pk:
        here = pk_where + ("first_pass",)
        spec = r.mapping(pk["first_pass"], here, ("hepatic_blood_flow",))
        if saturable is None or where:
            r.fail(here, "a saturable first pass needs pk.saturable_clearance, on the parent")
        if volume is None:
            r.fail(here, "a saturable first pass needs pk.volume (the systemic volume)")
        hepatic_flow = r.quantity(
            spec["hepatic_blood_flow"], here + ("hepatic_blood_flow",), "flow"
        ).value
    ka = None
    if "absorption" in pk:
        here = pk_where + ("absorption",)
        absorption = r.mapping(pk["absorption"], here, (), ("ka", "half_life", "tmax"))
        if len(absorption) != 1:
            r.fail(
                here,
                "give exactly one of 'ka' (e.g. 0.5 /h), 'half_life' (of absorption, "
                "e.g. 15 h for a slow-release form) or 'tmax' (e.g. 6 h)",
            )
        if "ka" in absorption:
            ka = r.quantity(absorption["ka"], here + ("ka",), "rate").value
        elif "half_life" in absorption:
            ka = formulas.rate_from_half_life_per_h(
                r.quantity(absorption["half_life"], here + ("half_life",), "time").value
            )
        else:
            tmax = r.quantity(absorption["tmax"], here + ("tmax",), "time").value
            if volume is None:
                r.fail(here + ("tmax",), "a tmax needs half_life or volume to give ka")
            # a single dose's decline: with a first pass, at low concentration
            low = (
                cl_f
                if hepatic_flow is None
                else formulas.systemic_clearance_l_h(
                    hepatic_flow, cl_f + saturable[0] / saturable[1]
                )
            )
            try:
                ka = formulas.absorption_rate_from_tmax_per_h(
                    tmax, formulas.elimination_rate_per_h(low, volume)
                )
            except ValueError as exc:
                r.fail(here + ("tmax",), str(exc))
    brain_half_life = None
    if "brain_equilibration_half_life" in pk:
        brain_half_life = r.quantity(
            pk["brain_equilibration_half_life"],
            pk_where + ("brain_equilibration_half_life",),
            "time",
        ).value
    phenotypes = None
    if "phenotypes" in pk:
        phenotypes = _read_phenotypes(
            r, pk["phenotypes"], pk_where + ("phenotypes",), cl_f, saturable
        )
    fractions = _read_fractions(
        r, pk.get("fractions_metabolized", []), pk_where + ("fractions_metabolized",)
    )
    formation = None
    if "formation" in pk:
        here = pk_where + ("formation",)
        spec = r.mapping(pk["formation"], here, ("gene", "share"))
        if not where:
            r.fail(here, "formation describes a metabolite; the parent is not formed")
        gene = r.text(spec["gene"], here + ("gene",))
        if gene not in GENES:
            r.fail(
                here + ("gene",), f"'{gene}' is not a gene sert knows{did_you_mean(gene, GENES)}"
            )
        formation = Formation(gene, r.fraction(spec["share"], here + ("share",)))
    moiety = Moiety(
        name=name,
        molar_mass_g_mol=molar_mass,
        apparent_clearance_l_h=cl_f,
        fraction_unbound=fu,
        kp_uu_brain=kp_uu,
        k_nm=k_nm,
        half_life_h=half_life,
        phenotypes=phenotypes,
        volume_l=volume,
        absorption_rate_per_h=ka,
        brain_equilibration_half_life_h=brain_half_life,
        saturable=saturable,
        pet=pet,
        fractions_metabolized=fractions,
        hepatic_blood_flow_l_h=hepatic_flow,
        formation=formation,
    )
    if phenotypes is not None and fractions:
        from sert_cli.pk.steady_state import table_fm

        total = sum(f.fm for f in fractions if f.gene != phenotypes.gene)
        total += table_fm(moiety) or 0.0
        if total > 1 + 1e-9:
            r.fail(
                pk_where + ("fractions_metabolized",),
                f"the fractions metabolized, with {phenotypes.gene}'s from the phenotype "
                f"table, add up to {total:.3g}, more than 1",
            )
    return moiety, bioavailability


TOP_REQUIRED = ("schema", "name", "molar_mass", "dosing", "pk", "targets", "sources")
TOP_OPTIONAL = (
    "class",
    "aliases",
    "metabolites",
    "therapeutic_range",
    "min_dose_occupancy_note",
    "notes",
)


def build_profile(data, path: str = "", lines: Mapping[tuple, int] | None = None) -> Profile:
    r = _Reader(path, lines or {})
    if data is None:
        r.fail((), "the file is empty; a profile is a mapping of keys (see README)")
    r.mapping(data, (), TOP_REQUIRED, TOP_OPTIONAL)
    if data["schema"] != SCHEMA_VERSION or isinstance(data["schema"], bool):
        r.fail(
            ("schema",),
            f"unsupported schema {data['schema']!r}; this sert reads schema {SCHEMA_VERSION}",
        )
    name = r.text(data["name"], ("name",))
    if not NAME_PATTERN.match(name):
        r.fail(
            ("name",),
            f"'{name}' must be lower case letters, digits or '-', "
            "starting with a letter (the name users type)",
        )
    aliases = tuple(
        r.text(a, ("aliases", i))
        for i, a in enumerate(r.sequence(data.get("aliases", []), ("aliases",), min_len=0))
    )
    for i, alias in enumerate(data.get("aliases", [])):
        if not alias.isprintable() or alias != alias.strip():
            r.fail(
                ("aliases", i),
                f"{alias!r}: an alias is printable text without control characters or "
                "surrounding spaces",
            )
    molar_mass = r.quantity(data["molar_mass"], ("molar_mass",), "molar_mass").value

    dosing = r.mapping(
        data["dosing"],
        ("dosing",),
        ("interval", "label_range", "strengths"),
        ("salt_factor", "dose_basis", "form", "scored", "oral_liquids"),
    )
    interval_h = r.quantity(dosing["interval"], ("dosing", "interval"), "time").value
    label = r.sequence(dosing["label_range"], ("dosing", "label_range"), min_len=2)
    if len(label) != 2:
        r.fail(("dosing", "label_range"), "expected [minimum, maximum] daily dose")
    label_min, label_max = (
        r.quantity(v, ("dosing", "label_range", i), "mass").value for i, v in enumerate(label)
    )
    if label_min > label_max:
        r.fail(("dosing", "label_range"), "the minimum is above the maximum")
    strengths = tuple(
        sorted(
            r.quantity(v, ("dosing", "strengths", i), "mass").value
            for i, v in enumerate(r.sequence(dosing["strengths"], ("dosing", "strengths")))
        )
    )
    scored = tuple(
        r.quantity(v, ("dosing", "scored", i), "mass").value
        for i, v in enumerate(r.sequence(dosing.get("scored", []), ("dosing", "scored"), min_len=0))
    )
    marketed = set(strengths)
    for i, value in enumerate(scored):
        if value not in marketed:
            r.fail(("dosing", "scored", i), "a scored tablet must be one of the strengths")
    liquids = []
    for i, item in enumerate(
        r.sequence(dosing.get("oral_liquids", []), ("dosing", "oral_liquids"), min_len=0)
    ):
        here = ("dosing", "oral_liquids", i)
        r.mapping(item, here, ("form", "strength"))
        form = r.text(item["form"], here + ("form",))
        strength = r.quantity(item["strength"], here + ("strength",), "mass_concentration")
        liquids.append((form, strength.value / 1e6))  # ng/mL -> mg/mL
    dose_form = r.text(dosing.get("form", "tablet"), ("dosing", "form"))
    salt_factor = r.fraction(dosing.get("salt_factor", 1.0), ("dosing", "salt_factor"))
    dose_basis = r.text(dosing.get("dose_basis", "base"), ("dosing", "dose_basis"))

    parent, bioavailability = _read_moiety(r, data, (), name, molar_mass, ("fraction_unbound",))
    metabolites = []
    for i, item in enumerate(r.sequence(data.get("metabolites", []), ("metabolites",), min_len=0)):
        where = ("metabolites", i)
        r.mapping(item, where, ("name", "molar_mass", "pk", "targets"))
        m_name = r.text(item["name"], where + ("name",))
        m_mass = r.quantity(item["molar_mass"], where + ("molar_mass",), "molar_mass").value
        moiety, _ = _read_moiety(
            r, item, where, m_name, m_mass, ("apparent_clearance", "fraction_unbound")
        )
        if moiety.formation is not None:
            _check_formation(r, parent, moiety, where + ("pk", "formation"))
        metabolites.append(moiety)
    if not any(m.k_nm for m in [parent, *metabolites]):
        r.fail(("targets",), "no affinity given for any transporter (SERT or NET)")

    sources = _read_sources(r, data["sources"])
    for key, _ in sources:
        if key and _lookup(data, key) is None:
            r.fail(("sources", key), f"'{key}' names no field of this profile")
    notes = r.text(data["notes"], ("notes",), lines=True) if "notes" in data else ""
    drug_class = r.text(data["class"], ("class",)) if "class" in data else ""
    therapeutic_range, range_of, alert = _read_therapeutic_range(r, data.get("therapeutic_range"))
    return Profile(
        name=name,
        drug_class=drug_class,
        aliases=aliases,
        interval_h=interval_h,
        label_min_mg=label_min,
        label_max_mg=label_max,
        strengths_mg=strengths,
        parent=parent,
        metabolites=tuple(metabolites),
        salt_factor=salt_factor,
        dose_basis=dose_basis,
        bioavailability=bioavailability,
        sources=sources,
        notes=notes,
        path=path,
        raw=_printable_tree(data),
        therapeutic_range_ng_ml=therapeutic_range,
        therapeutic_range_of=range_of,
        therapeutic_alert_ng_ml=alert,
        min_dose_occupancy_note=r.text(
            data["min_dose_occupancy_note"], ("min_dose_occupancy_note",), lines=True
        )
        if "min_dose_occupancy_note" in data
        else "",
        exposure_cv=r.number(data["pk"]["exposure_cv"], ("pk", "exposure_cv"), upper=5.0)
        if "exposure_cv" in data["pk"]
        else None,
        dose_form=dose_form,
        scored_mg=scored,
        oral_liquids=tuple(liquids),
    ).with_affinity("in-vitro")


def _printable_tree(node):
    """The tree as read, its text values' control characters escaped (`profiles show
    --format json` writes it); a tree that validated is a few levels deep."""
    if isinstance(node, str):
        return printable(node, lines=True)
    if isinstance(node, dict):
        return {key: _printable_tree(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_printable_tree(value) for value in node]
    return node


def _check_formation(r: _Reader, parent: Moiety, metabolite: Moiety, where: tuple) -> None:
    """A metabolite formed through a gene needs a parent whose clearance runs through that
    gene, linearly: the parent's clearance change is part of the formation arithmetic."""
    gene = metabolite.formation.gene
    if parent.saturable is not None:
        r.fail(where, "formation needs a parent with linear clearance (the parent saturates)")
    carried = {f.gene for f in parent.fractions_metabolized}
    if parent.phenotypes is not None:
        carried.add(parent.phenotypes.gene)
    if gene not in carried:
        r.fail(
            where + ("gene",),
            f"the parent's clearance has no {gene} part (pk.fractions_metabolized or "
            "pk.phenotypes), so its formation cannot run through it",
        )


def _read_therapeutic_range(
    r: _Reader, value
) -> tuple[tuple[float, float] | None, str, float | None]:
    """The plasma reference range (AGNP consensus), of the parent or the active moiety, and
    the laboratory alert level above which the consensus asks for action, if given."""
    if value is None:
        return None, "parent", None
    where = ("therapeutic_range",)
    r.mapping(value, where, ("range",), ("of", "alert"))
    bounds = r.sequence(value["range"], where + ("range",), min_len=2)
    if len(bounds) != 2:
        r.fail(where + ("range",), "expected [low, high] plasma concentrations")
    low, high = (
        r.quantity(b, where + ("range", i), "mass_concentration").value
        for i, b in enumerate(bounds)
    )
    if low >= high:
        r.fail(where + ("range",), "the low end is not below the high end")
    of = value.get("of", "parent")
    if of not in ("parent", "active_moiety"):
        r.fail(where + ("of",), "'of' is 'parent' or 'active_moiety' (parent + metabolites)")
    alert = None
    if "alert" in value:
        alert = r.quantity(value["alert"], where + ("alert",), "mass_concentration").value
        if alert < high:  # AGNP's alert equals the range's top for several tricyclics
            r.fail(where + ("alert",), "the alert level must not lie below the range's top")
    return (low, high), of, alert


def _read_sources(r: _Reader, value) -> tuple[tuple[str, str], ...]:
    """Either a list of citations, or a mapping from field path to its citation."""
    if isinstance(value, list):
        r.sequence(value, ("sources",))
        return tuple(("", r.text(v, ("sources", i), lines=True)) for i, v in enumerate(value))
    if isinstance(value, dict) and value:
        return tuple(
            (r.text(k, ("sources",)), r.text(v, ("sources", k), lines=True))
            for k, v in value.items()
        )
    r.fail(("sources",), "expected a list of citations, or a mapping from field to citation")


def _lookup(data, dotted: str):
    node = data
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def unsourced_fields(profile: Profile) -> list[str]:
    """Fields holding numbers with no source entry on them or on a parent field."""
    cited = [key for key, _ in profile.sources if key]
    if not cited and profile.sources:
        return []  # a free-form list of citations cannot be checked field by field

    def walk(node, where: str):
        if isinstance(node, dict):
            for key, value in node.items():
                yield from walk(value, f"{where}.{key}" if where else str(key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from walk(value, f"{where}.{index}")
        elif where.split(".")[0] not in ("schema", "sources") and _is_number(node):
            yield where

    return [
        f for f in walk(profile.raw, "") if not any(f == c or f.startswith(c + ".") for c in cited)
    ]


def _is_number(value) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float)) or bool(QUANTITY_TEXT.match(str(value)))
