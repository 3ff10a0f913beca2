"""The command line's options, declared once, and their parsing into query values.

Typer declares options per command; the bundles here keep each declaration in one place
(sqlite-utils' option bundles), and the parsers turn what was typed into the plain
values the query engine takes. Nothing here computes.
"""

import functools
import inspect
import math
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NamedTuple

import typer

from sert_cli.cli import completion
from sert_cli.errors import InputError
from sert_cli.pgx.patient import Patient
from sert_cli.vocabulary import PRIMARY_TRANSPORTER


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class Transporter(StrEnum):
    SERT = "SERT"
    NET = "NET"


DEFAULT_TRANSPORTER = Transporter(PRIMARY_TRANSPORTER)


class AffinityChoice(StrEnum):
    pet = "pet"
    in_vitro = "in-vitro"


ProfilesDir = Annotated[
    str | None,
    typer.Option(
        "--profiles-dir",
        envvar="SERT_PROFILES_DIR",
        metavar="DIR",
        help="Folder of extra YAML profiles; one named like a bundled profile overrides it.",
    ),
]
Format = Annotated[
    OutputFormat,
    typer.Option(
        "--format",
        "-f",
        case_sensitive=False,
        help="table for people; json and csv are stable contracts (any case).",
    ),
]
Drug = Annotated[
    str,
    typer.Argument(
        metavar="DRUG",
        help="Drug name or alias, e.g. escitalopram.",
        autocompletion=completion.drugs,
    ),
]
DoseOption = Annotated[
    str | None,
    typer.Option("--dose", metavar="MG", help="Dose per interval: 10, '10 mg' or 10mg."),
]
DoseArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="[DOSE]", help="The dose, as an alternative to --dose.", show_default=False
    ),
]
Interval = Annotated[
    str | None,
    typer.Option(
        "--interval",
        metavar="TIME",
        help="Dosing interval: hours, or with a unit, e.g. 12, '12 h', 2d, '1 day' "
        "[default: the profile's]",
    ),
]
Target = Annotated[
    float,
    typer.Option("--target", metavar="FRACTION", help="Target occupancy, a fraction in (0, 1)."),
]
TransporterOption = Annotated[
    Transporter,
    typer.Option("--transporter", case_sensitive=False, help="Which transporter to target."),
]


def repeatable(*flags: str, metavar: str, help: str, complete=None):
    """A repeatable option's type for a command's signature (a list, None when not given)."""
    return Annotated[
        list[str] | None,
        typer.Option(*flags, metavar=metavar, help=help, autocompletion=complete),
    ]


Phenotypes = repeatable(
    "--phenotype",
    "-p",
    metavar="GENE=PM|IM|NM|RM|UM",
    help="Metabolizer phenotype, e.g. CYP2C19=PM (repeatable). Default NM.",
    complete=completion.phenotypes,
)
Genotypes = repeatable(
    "--genotype",
    "-g",
    metavar="GENE=DIPLOTYPE",
    help="Diplotype, e.g. CYP2D6=*1/*4 or CYP2C19=*1/*17 (repeatable), read the CPIC way.",
    complete=completion.genotypes,
)
With = repeatable(
    "--with",
    metavar="DRUG",
    help="Co-medication (repeatable): a CYP inhibitor or inducer, a serotonergic drug, or "
    "an NSAID, antiplatelet or anticoagulant (bleeding warning).",
    complete=completion.comedications,
)
PharmcatFile = Annotated[
    Path | None,
    typer.Option(
        "--pharmcat",
        metavar="FILE.json",
        help="A PharmCAT 3.x *.report.json or *.phenotype.json: the CYP2B6, CYP2C19 and "
        "CYP2D6 phenotypes PharmCAT called are used.",
    ),
]
Age = Annotated[
    float | None,
    typer.Option("--age", metavar="YEARS", help="The patient's age; the label's limits apply."),
]
Crcl = Annotated[
    float | None,
    typer.Option(
        "--crcl",
        metavar="ML_PER_MIN",
        help="Creatinine clearance (kidney function); the label's limits apply.",
    ),
]
Hepatic = Annotated[
    str | None,
    typer.Option(
        "--hepatic",
        metavar="none|mild|moderate|severe",
        help="Liver impairment (Child-Pugh A, B, C); the label's limits apply.",
    ),
]
Sex = Annotated[
    str | None,
    typer.Option(
        "--sex",
        metavar="female|male",
        help="The patient's sex, where a study measured its effect on exposure "
        "[default: not known: the profile's mixed cohort].",
    ),
]
Smoker = Annotated[
    bool,
    typer.Option(
        "--smoker",
        help="The patient smokes (tobacco induces CYP1A2: duloxetine, fluvoxamine) "
        "[default: computed as a non-smoker].",
    ),
]
AssumeNm = Annotated[
    bool,
    typer.Option(
        "--assume-nm", help="Compute an Indeterminate genotype as NM (it is refused otherwise)."
    ),
]
Explain = Annotated[
    bool,
    typer.Option(
        "--explain", help="Show each step of the calculation with its numbers and source."
    ),
]
Affinity = Annotated[
    AffinityChoice,
    typer.Option(
        "--affinity",
        help="pet: PET-calibrated constants where the profile has them (else in "
        "vitro); in-vitro: the in vitro Ki/Kd only.",
    ),
]
PlotFile = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        metavar="FILE.svg|FILE.png",
        help="Also write the figure with matplotlib (from a clone: pip install '.[plot]').",
    ),
]


def pairs(options: list[str] | None, flag: str, example: str) -> tuple[tuple[str, str], ...]:
    """['CYP2C19=pm'] -> (('CYP2C19', 'pm'),): only the GENE=VALUE shape is checked here;
    the values are the engine's to judge."""
    found = []
    for option in options or []:
        gene, sep, value = option.partition("=")
        if not sep or not gene.strip() or not value.strip():
            raise InputError(f"{flag} {option!r}: write it as GENE=VALUE, for example {example}")
        found.append((gene.strip().upper(), value.strip()))
    return tuple(found)


def patient(
    phenotype,
    genotype,
    with_,
    assume_nm,
    pharmcat=None,
    age=None,
    crcl=None,
    hepatic=None,
    sex=None,
    smoker=False,
) -> Patient:
    report = None
    if pharmcat is not None:
        from sert_cli.pgx.pharmcat import read

        report = read(str(pharmcat))
    return Patient(
        phenotypes=pairs(phenotype, "--phenotype", "CYP2C19=PM"),
        genotypes=pairs(genotype, "--genotype", "CYP2C19=*1/*17"),
        comedications=tuple(with_ or ()),
        assume_nm=assume_nm,
        pharmcat=report,
        age_years=age,
        crcl_ml_min=crcl,
        hepatic=hepatic,
        sex=sex,
        smoker=True if smoker else None,  # the flag unset: not given
    )


def dose_mg(option: str | None, argument: str | None) -> float:
    """--dose or the positional DOSE: a number of mg, with or without its unit."""
    if option is not None and argument is not None and option != argument:
        raise InputError("give the dose once: as --dose or after the drug, not both")
    text = option if option is not None else argument
    if text is None:
        raise InputError("missing the dose: give --dose MG (e.g. --dose 10 or --dose '10 mg')")
    return parse_mg(text, "--dose")


def parse_mg(text: str, flag: str) -> float:
    from sert_cli.units import parse_quantity

    written = text.strip()
    try:
        return float(written) if _plain_number(written) else parse_quantity(written, "mass").value
    except ValueError as exc:
        raise InputError(f"{flag} {text!r}: {exc}") from None


def time_amount(text: str | None, flag: str, plain_hours: float = 1.0) -> float | None:
    """A time option (None when not given): a plain number in the option's own unit (hours,
    or days for plain_hours=24), or a time with its unit ('12 h', 2d, '1 day', '2 weeks'),
    converted to that unit."""
    if text is None:
        return None
    from sert_cli.units import read_amount

    written = text.strip()
    try:
        if _plain_number(written):
            return read_amount(written, "time")[0]
        return read_amount(written, "time")[0] / plain_hours
    except ValueError as exc:
        raise InputError(f"{flag} {text!r}: {exc}") from None


def plasma_level(
    text: str,
    drug: str,
    profiles_dir: str | None,
    flag: str = "--level",
    moiety=None,
    typed: str | None = None,
) -> float:
    """--level 38, '38 ng/mL' or '117 nmol/L' (molar levels converted with the molar mass
    of the drug, or of the moiety `moiety(profile)` picks) -> ng/mL. A message quotes
    `typed` (what the option was given), else the text."""
    from sert_cli.units import level_ng_ml

    written = text.strip()
    if _plain_number(written):
        return float(written)

    def molar_mass_g_mol() -> float:
        from sert_cli.profiles.library import load_library

        profile = load_library(profiles_dir).get(drug)
        return (profile.parent if moiety is None else moiety(profile)).molar_mass_g_mol

    try:
        return level_ng_ml(written, molar_mass_g_mol)
    except ValueError as exc:
        raise InputError(f"{flag} {(typed or text)!r}: {exc}") from None


def metabolite_levels(
    texts: list[str] | None, drug: str, profiles_dir: str | None
) -> tuple[tuple[str | None, float], ...]:
    """--metabolite-level C (the profile's one metabolite) or NAME=C, repeatable -> (name
    or None, ng/mL) each; a molar level converts with that metabolite's molar mass."""
    from sert_cli.queries.tdm import metabolite_index, named_level

    levels = []
    for text in texts or ():
        name, value = named_level(text)
        level = plasma_level(
            value,
            drug,
            profiles_dir,
            "--metabolite-level",
            lambda profile, name=name: profile.metabolites[metabolite_index(profile, name)],
            typed=text,
        )
        levels.append((name, level))
    return tuple(levels)


SCHEDULE_EXAMPLE = "'20mg x14d, 10mg x14d, 5mg every 48h x28d'"
# A number as a step writes it: ASCII digits, a decimal point, an exponent (no sign: a
# count of days or hours is positive; "nan", "inf" and other scripts' digits are refused).
_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_SCHEDULE_STEP = (
    rf"\s*(?P<dose>{_NUMBER}\s*[a-zµ]*)\s*(?:every\s*(?P<every>{_NUMBER})\s*h)?"
    rf"\s*x\s*(?P<count>{_NUMBER})\s*(?P<unit>d|w|day|days|week|weeks)\s*"
)


def schedule_steps(text: str | None) -> tuple | None:
    """--schedule '20mg x14d, 10mg x2w, 5mg every 48h x28d': (mg, days, hours or None).
    More steps than a schedule may have doses are refused before any is read further."""
    if text is None:
        return None
    from sert_cli.pk.timecourse import MAX_DOSES

    steps = []
    for number, item in enumerate(text.split(","), start=1):
        if number > MAX_DOSES:  # every step has at least one dose
            raise InputError(
                f"--schedule: more than {MAX_DOSES:,} steps; a schedule has at most "
                f"{MAX_DOSES:,} doses"
            )
        if not item.strip():
            raise InputError(
                f"--schedule: step {number} is empty; write each step as DOSE xDAYSd, "
                f"e.g. {SCHEDULE_EXAMPLE}"
            )
        match = re.fullmatch(_SCHEDULE_STEP, item, flags=re.ASCII)
        if not match:
            raise InputError(
                f"--schedule {item.strip()!r}: write each step as DOSE xDAYSd, "
                f"e.g. {SCHEDULE_EXAMPLE}"
            )
        days = float(match["count"]) * (7 if match["unit"].startswith("w") else 1)
        every = float(match["every"]) if match["every"] else None
        for value, what in ((days, "days"), (every, "hours")):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise InputError(
                    f"--schedule {item.strip()!r}: the {what} must be a positive, finite "
                    f"number (got {value:g})"
                )
        steps.append((parse_mg(match["dose"], "--schedule"), days, every))
    return tuple(steps)


SCHEDULE_FILE_COLUMNS = ("dose_mg", "days", "interval_h")
MAX_SCHEDULE_FILE_BYTES = 1 << 20  # a regular file only, and at most this (README)


def schedule_file_steps(path: str | None) -> tuple | None:
    """--schedule-file FILE: a CSV with columns dose_mg, days and, optionally, interval_h,
    one row a step, as --schedule's steps. Read a row at a time: a file with more rows
    than a schedule may have doses is refused at the first row too many."""
    if path is None:
        return None
    import csv
    import io

    from sert_cli.pk.timecourse import MAX_DOSES
    from sert_cli.untrusted import read_at_most, reason

    flag = f"--schedule-file {path}"
    steps = []
    try:
        raw = read_at_most(path, MAX_SCHEDULE_FILE_BYTES)
    except OSError as exc:
        raise InputError(f"{flag}: {reason(exc)}") from None
    if raw is None:
        raise InputError(
            f"{flag}: larger than {MAX_SCHEDULE_FILE_BYTES >> 20} MiB; a schedule is a few lines"
        )
    try:
        # utf-8-sig: a spreadsheet's byte-order mark is not part of the first column's name
        handle = io.StringIO(raw.decode("utf-8-sig"), newline="")
        reader = csv.reader(_short_lines(handle, flag))
        header = next(reader, None)
        if header is None or not {"dose_mg", "days"} <= {h.strip() for h in header}:
            raise InputError(
                f"{flag}: needs a header with dose_mg and days (and, optionally, interval_h)"
            )
        header = [h.strip() for h in header]
        for name in header:
            if name not in SCHEDULE_FILE_COLUMNS:
                raise InputError(f"{flag}: unknown column {name!r}")
            if header.count(name) > 1:
                raise InputError(f"{flag}: column {name!r} appears twice")
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # a blank line
            number = reader.line_num
            if len(steps) >= MAX_DOSES:  # every step has at least one dose
                raise InputError(
                    f"{flag}, line {number}: more than {MAX_DOSES:,} steps; a schedule "
                    f"has at most {MAX_DOSES:,} doses"
                )
            steps.append(_schedule_row(row, header, f"{flag}, line {number}"))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{flag}: cannot read it ({exc})") from None
    if not steps:
        raise InputError(f"{flag}: has a header but no steps (one row per step)")
    return tuple(steps)


# A step is one short line; a longer one is not a schedule (and is not read whole).
MAX_SCHEDULE_LINE_CHARS = 10_000


def _short_lines(handle, flag: str):
    """The lines of a schedule file, one at a time, each refused past its limit before
    more of it is read."""
    while line := handle.readline(MAX_SCHEDULE_LINE_CHARS + 1):
        if len(line) > MAX_SCHEDULE_LINE_CHARS:
            raise InputError(
                f"{flag}: a line longer than {MAX_SCHEDULE_LINE_CHARS:,} characters; a "
                "schedule file has one short line per step"
            )
        yield line


def _schedule_row(row: list[str], header: list[str], where: str) -> tuple:
    """One row of a schedule file: (mg, days, hours or None), each number checked."""
    if len(row) != len(header):
        raise InputError(f"{where}: {len(row)} field(s) where the header has {len(header)}")
    cells = dict(zip(header, (cell.strip() for cell in row), strict=True))
    numbers = {}
    for name, what in (("days", "days"), ("interval_h", "hours")):
        text = cells.get(name, "")
        if name == "interval_h" and not text:
            numbers[name] = None
            continue
        value = float(text) if re.fullmatch(_NUMBER, text, flags=re.ASCII) else None
        if value is None or not math.isfinite(value) or value <= 0:
            raise InputError(
                f"{where}: {name} must be a positive, finite number of {what} (got {text!r})"
            )
        numbers[name] = value
    dose = parse_mg(cells["dose_mg"], where)
    if not math.isfinite(dose) or dose <= 0:
        raise InputError(
            f"{where}: dose_mg must be a positive, finite dose (got {cells['dose_mg']!r})"
        )
    return (dose, numbers["days"], numbers["interval_h"])


def day_list(text: str | None) -> tuple[int, ...]:
    """--missed 3,4,10: the days (1 = the first) whose doses are not taken."""
    if not text:
        return ()
    parts = [part.strip() for part in text.split(",")]
    if not all(re.fullmatch(r"[0-9]{1,9}", part, flags=re.ASCII) for part in parts):
        raise InputError(f"--missed {text!r}: write whole day numbers (1 to 999999999), e.g. 3,4")
    days = tuple(int(part) for part in parts)
    if any(d < 1 for d in days):
        raise InputError(f"--missed {text!r}: days count from 1 (the first day)")
    return days


def _plain_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def dose_list(text: str | None) -> tuple[float, ...] | None:
    """--doses 2.5,5,10 or a range START:STOP:STEP (mg), e.g. 5:40:5."""
    if text is None:
        return None
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise InputError(f"--doses {text!r}: write a range as START:STOP:STEP, e.g. 5:40:5")
        start, stop, step = (parse_mg(p, "--doses") for p in parts)
        if not all(math.isfinite(v) and v > 0 for v in (start, stop, step)):
            raise InputError(
                f"--doses {text!r}: START, STOP and STEP must be positive, finite doses"
            )
        span = (stop - start) / step
        count = int(span + 1e-9) + 1 if span < 1000 else 1001
        if stop < start or count > 1000:
            raise InputError(f"--doses {text!r}: from 1 to 1000 doses, STOP not below START")
        return tuple(round(start + i * step, 9) for i in range(count))
    doses = tuple(parse_mg(p, "--doses") for p in text.split(",") if p.strip())
    if not doses:
        raise InputError(f"--doses {text!r}: give doses such as 2.5,5,10")
    return doses


class QueryOptions(NamedTuple):
    """What every query command takes besides its own arguments (the option bundle)."""

    patient: Patient
    affinity: str
    profiles_dir: str | None
    fmt: OutputFormat


PATIENT_OPTIONS = (
    "phenotype",
    "genotype",
    "with_",
    "assume_nm",
    "pharmcat",
    "age",
    "crcl",
    "hepatic",
    "sex",
    "smoker",
)
_BUNDLE = (
    ("phenotype", Phenotypes, None),
    ("genotype", Genotypes, None),
    ("with_", With, None),
    ("assume_nm", AssumeNm, False),
    ("pharmcat", PharmcatFile, None),
    ("age", Age, None),
    ("crcl", Crcl, None),
    ("hepatic", Hepatic, None),
    ("sex", Sex, None),
    ("smoker", Smoker, False),
    ("affinity", Affinity, AffinityChoice.pet),
    ("profiles_dir", ProfilesDir, None),
    ("fmt", Format, OutputFormat.table),
)


def query_options(function):
    """Declare the bundle's options once: the command's `options` parameter receives
    them as one QueryOptions (sqlite-utils' option bundles)."""
    signature = inspect.signature(function)
    kept = [p for p in signature.parameters.values() if p.name != "options"]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
        for name, kind, default in _BUNDLE
    ]

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        who = patient(*(kwargs.pop(n) for n in PATIENT_OPTIONS))
        options = QueryOptions(
            who, kwargs.pop("affinity").value, kwargs.pop("profiles_dir"), kwargs.pop("fmt")
        )
        return function(*args, options=options, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*kept, *added])
    return wrapper
