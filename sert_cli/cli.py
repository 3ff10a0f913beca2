"""The `sert` command line: parse arguments, call the core, render. No science here."""

import functools
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sert_cli import __version__
from sert_cli.errors import SertError

DISCLAIMER = "Educational and research tool: not medical advice, not for prescribing."

APP_SETTINGS = {
    "help": "Serotonin (SERT) and norepinephrine (NET) transporter occupancy of antidepressants "
    f"at a dose, and the dose for a target occupancy, by CYP phenotype.\n\n{DISCLAIMER}",
    "epilog": "Exit status: 0 success; 1 the model cannot satisfy the request; "
    "2 bad input or usage.",
    "add_completion": False,
    "no_args_is_help": True,
    "rich_markup_mode": None,
    "pretty_exceptions_enable": False,
}
PROFILES_SETTINGS = {
    "help": "List, show and check drug profiles.",
    "no_args_is_help": True,
    "rich_markup_mode": None,
}
COMMANDS: dict[str, object] = {}  # name -> function, registered on the app by build_app
PROFILE_COMMANDS: dict[str, object] = {}


def command(name: str | None = None, group: dict | None = None):
    """Collect a command; build_app registers only what the command line needs."""

    def collect(function):
        (COMMANDS if group is None else group)[name or function.__name__] = function
        return function

    return collect


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class Transporter(StrEnum):
    SERT = "SERT"
    NET = "NET"


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
    typer.Option("--format", "-f", help="table for people; json and csv are stable contracts."),
]
Phenotypes = Annotated[
    list[str] | None,
    typer.Option(
        "--phenotype",
        "-p",
        metavar="GENE=PM|IM|NM|RM|UM",
        help="Metabolizer phenotype, e.g. CYP2C19=PM (repeatable). Default NM.",
    ),
]
Interval = Annotated[
    float | None,
    typer.Option(
        "--interval", metavar="H", help="Dosing interval in hours [default: the profile's]"
    ),
]
Drug = Annotated[str, typer.Argument(metavar="DRUG", help="Drug name or alias, e.g. escitalopram.")]


class AffinityChoice(StrEnum):
    pet = "pet"
    in_vitro = "in-vitro"


Affinity = Annotated[
    AffinityChoice,
    typer.Option(
        "--affinity",
        help="pet: PET-calibrated constants where the profile has them (else in "
        "vitro); in-vitro: the in vitro Ki/Kd only.",
    ),
]


def reports_errors(command):
    """User errors end as one line on stderr and their exit status, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SertError as exc:
            sys.stderr.write(f"sert: error: {' '.join(str(exc).split())}\n")
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def emit(fmt: OutputFormat, data, draw) -> None:
    """Write data in the chosen format; `draw` renders the people's table."""
    if fmt is OutputFormat.json:
        from sert_cli.render.json_format import render

        sys.stdout.write(render(data))
    elif fmt is OutputFormat.csv:
        from sert_cli.render.csv_format import render

        sys.stdout.write(render(data if isinstance(data, list) else [data]))
    else:
        draw()


def _library(profiles_dir: str | None):
    from sert_cli.loader import load_library

    return load_library(profiles_dir)


def _profile(drug: str, profiles_dir: str | None, affinity: "AffinityChoice"):
    return _library(profiles_dir).get(drug).with_affinity(affinity.value)


def _phenotypes(options: list[str] | None) -> dict[str, str]:
    from sert_cli.pgx import parse_phenotype_options

    return parse_phenotype_options(options or [])


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"sert {__version__}\n")
        raise typer.Exit()


def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Serotonin and norepinephrine transporter occupancy calculator."""


Genotypes = Annotated[
    list[str] | None,
    typer.Option(
        "--genotype",
        "-g",
        metavar="GENE=DIPLOTYPE",
        help="Diplotype, e.g. CYP2D6=*1/*4 or CYP2C19=*1/*17 (repeatable), read the CPIC way.",
    ),
]
With = Annotated[
    list[str] | None,
    typer.Option(
        "--with", metavar="DRUG", help="Co-medication that may inhibit a CYP enzyme (repeatable)."
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
        "--explain", help="Show each step from genotype to dose with its formula and source."
    ),
]
PlotFile = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        metavar="FILE.svg|FILE.png",
        help="Also write the figure with matplotlib (pip install 'sert-cli[plot]').",
    ),
]


def _patient(profile, phenotype, genotype, with_, assume_nm):
    """Genotypes, co-medications and label limits -> the profile and phenotypes to use."""
    from sert_cli.patient import prepare

    genotypes = {}
    if genotype:
        from sert_cli.genotype import parse_genotype_options

        genotypes = parse_genotype_options(genotype)
    return prepare(profile, _phenotypes(phenotype), genotypes, with_ or [], assume_nm)


def _check_plot(plot: Path | None) -> None:
    if plot is not None:
        from sert_cli.render.plot import check_plot_path

        check_plot_path(plot)


@command()
@reports_errors
def occupancy(
    drug: Drug,
    dose: Annotated[float, typer.Option("--dose", metavar="MG", help="Dose per interval, mg.")],
    interval: Interval = None,
    phenotype: Phenotypes = None,
    genotype: Genotypes = None,
    with_: With = None,
    assume_nm: AssumeNm = False,
    explain: Explain = False,
    affinity: Affinity = AffinityChoice.pet,
    profiles_dir: ProfilesDir = None,
    fmt: Format = OutputFormat.table,
) -> None:
    """Steady-state concentrations and SERT/NET occupancy at a dose."""
    from sert_cli.core import occupancy_at

    prepared = _patient(
        _profile(drug, profiles_dir, affinity), phenotype, genotype, with_, assume_nm
    )
    result = occupancy_at(prepared.profile, dose, interval, prepared.phenotypes)
    record = prepared.annotate(result.record())
    if explain:
        from sert_cli.explain import steps

        record["explain"] = steps(prepared, result)

    def draw():
        from sert_cli.render import table_format

        table_format.occupancy(result, record, prepared.profile)

    emit(fmt, record, draw)


@command()
@reports_errors
def dose(
    drug: Drug,
    target: Annotated[
        float,
        typer.Option(
            "--target", metavar="FRACTION", help="Target occupancy, a fraction in (0, 1)."
        ),
    ] = 0.8,
    transporter: Annotated[
        Transporter,
        typer.Option("--transporter", case_sensitive=False, help="Which transporter to target."),
    ] = Transporter.SERT,
    interval: Interval = None,
    phenotype: Phenotypes = None,
    genotype: Genotypes = None,
    with_: With = None,
    assume_nm: AssumeNm = False,
    explain: Explain = False,
    affinity: Affinity = AffinityChoice.pet,
    profiles_dir: ProfilesDir = None,
    fmt: Format = OutputFormat.table,
) -> None:
    """The dose that reaches a target occupancy, and the smallest marketed dose that does."""
    from sert_cli.core import dose_for_target, occupancy_at

    prepared = _patient(
        _profile(drug, profiles_dir, affinity), phenotype, genotype, with_, assume_nm
    )
    result = dose_for_target(
        prepared.profile, target, transporter.value, interval, prepared.phenotypes
    )
    record = prepared.annotate(result.record())
    if explain:
        from sert_cli.explain import steps

        at_exact = occupancy_at(prepared.profile, result.dose_mg, interval, prepared.phenotypes)
        record["explain"] = steps(prepared, at_exact, result)

    def draw():
        from sert_cli.render import table_format

        table_format.dose(result, record, prepared.profile)

    emit(fmt, record, draw)


@command()
@reports_errors
def table(
    drug: Drug,
    phenotype: Phenotypes = None,
    genotype: Genotypes = None,
    with_: With = None,
    assume_nm: AssumeNm = False,
    affinity: Affinity = AffinityChoice.pet,
    profiles_dir: ProfilesDir = None,
    fmt: Format = OutputFormat.table,
) -> None:
    """Occupancy over the label's dose range, one column per phenotype (or, for a given
    patient, NM beside the patient's)."""
    from sert_cli.core import dose_table

    prepared = _patient(
        _profile(drug, profiles_dir, affinity), phenotype, genotype, with_, assume_nm
    )
    patient = prepared.phenotypes if (phenotype or genotype or with_) else None
    result = dose_table(prepared.profile, patient)

    def draw():
        from sert_cli.render import table_format

        table_format.dose_table(result, prepared.profile)
        table_format.print_notes(prepared.notes)

    emit(fmt, result.records(), draw)


@command()
@reports_errors
def simulate(
    drug: Drug,
    dose: Annotated[float, typer.Option("--dose", metavar="MG", help="Dose per interval, mg.")],
    interval: Interval = None,
    doses: Annotated[
        int | None,
        typer.Option(
            "--doses",
            metavar="N",
            help="Number of doses (default: 5 half-lives' worth, at least a week).",
        ),
    ] = None,
    days: Annotated[
        float | None,
        typer.Option("--days", metavar="D", help="Dose for this many days instead of --doses."),
    ] = None,
    until: Annotated[
        float | None,
        typer.Option(
            "--until",
            metavar="H",
            help="Simulate until this many hours after the first dose "
            "[default: 5 half-lives past the last dose]",
        ),
    ] = None,
    step: Annotated[
        float, typer.Option("--step", metavar="H", help="Hours between time points.")
    ] = 1.0,
    phenotype: Phenotypes = None,
    genotype: Genotypes = None,
    with_: With = None,
    assume_nm: AssumeNm = False,
    plot: PlotFile = None,
    affinity: Affinity = AffinityChoice.pet,
    profiles_dir: ProfilesDir = None,
    fmt: Format = OutputFormat.table,
) -> None:
    """Occupancy hour by hour, from the first dose through steady state to washout."""
    from sert_cli.timecourse import simulate as run_simulation

    _check_plot(plot)
    prepared = _patient(
        _profile(drug, profiles_dir, affinity), phenotype, genotype, with_, assume_nm
    )
    result = run_simulation(
        prepared.profile, dose, interval, doses, days, until, step, prepared.phenotypes
    )
    record = prepared.annotate(result.record())
    if plot is not None:
        from sert_cli.render.figures import simulation_figures
        from sert_cli.render.plot import save

        save(simulation_figures(record, thin=False), plot)

    def draw():
        from sert_cli.render import table_format

        table_format.simulation(record, prepared.profile)

    emit(fmt, result.rows() if fmt is OutputFormat.csv else record, draw)


@command()
@reports_errors
def curve(
    drug: Drug,
    phenotype: Phenotypes = None,
    genotype: Genotypes = None,
    with_: With = None,
    assume_nm: AssumeNm = False,
    plot: PlotFile = None,
    affinity: Affinity = AffinityChoice.pet,
    profiles_dir: ProfilesDir = None,
    fmt: Format = OutputFormat.table,
) -> None:
    """The steady-state dose-occupancy curve, over and beyond the label range."""
    from sert_cli.core import dose_curve

    _check_plot(plot)
    prepared = _patient(
        _profile(drug, profiles_dir, affinity), phenotype, genotype, with_, assume_nm
    )
    chosen = bool(phenotype or genotype or with_)
    result = dose_curve(prepared.profile, prepared.phenotypes if chosen else None)
    if plot is not None:
        from sert_cli.render.figures import curve_figure
        from sert_cli.render.plot import save

        save([curve_figure(result, prepared.profile)], plot)

    def draw():
        from sert_cli.render import table_format

        table_format.curve(result, prepared.profile)
        table_format.print_notes(prepared.notes)

    emit(fmt, result.records(), draw)


@command()
@reports_errors
def phenotype(
    gene: Annotated[str, typer.Argument(help="CYP2C19, CYP2D6 or CYP2B6.")],
    diplotypes: Annotated[
        list[str],
        typer.Argument(help="One or more diplotypes, e.g. *1/*17 '*1/*4x2'.", show_default=False),
    ],
    fmt: Format = OutputFormat.table,
) -> None:
    """Translate diplotypes to CPIC phenotypes (one result per diplotype)."""
    from sert_cli.genotype import translate

    records = [translate(gene, d).record() for d in diplotypes]

    def draw():
        from sert_cli.render import table_format

        table_format.phenotypes(records)

    emit(fmt, records, draw)


@command()
@reports_errors
def batch(
    input_path: Annotated[
        str,
        typer.Argument(metavar="INPUT", help="CSV or JSON-lines file of queries, or - for stdin."),
    ],
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write here (atomically, via a temporary file) instead of stdout.",
        ),
    ] = None,
    input_format: Annotated[
        str, typer.Option("--input-format", metavar="csv|jsonl", help="Format of INPUT.")
    ] = "csv",
    output_format: Annotated[
        str, typer.Option("--format", "-f", metavar="csv|jsonl|json", help="Output format.")
    ] = "csv",
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Stop at the first bad row (exit 1) instead of reporting it."
        ),
    ] = False,
    assume_nm: AssumeNm = False,
    affinity: Affinity = AffinityChoice.pet,
    profiles_dir: ProfilesDir = None,
) -> None:
    """Many queries in one process: one row per query, results streamed out.

    Columns: drug (required); dose_mg (given: occupancy; empty: the dose for target);
    target (default 0.8); transporter (default SERT); interval_h; with (co-medications,
    separated by ;); one column per gene (CYP2C19, CYP2D6, ...) holding a phenotype or a
    diplotype. Any other column passes through. Exit 1 if any row failed, 0 if none did.
    """
    from sert_cli.batch import RowError, run

    try:
        summary = run(
            _library(profiles_dir),
            input_path,
            output,
            input_format.lower(),
            output_format.lower(),
            strict,
            affinity.value,
            assume_nm,
            progress=input_path != "-",
        )
    except RowError as exc:
        sys.stderr.write(f"sert: error: {exc} (--strict)\n")
        raise typer.Exit(1) from None
    sys.stderr.write(summary.line() + "\n")
    if summary.errors:
        raise typer.Exit(1)


@command()
@reports_errors
def validate(
    fit: Annotated[
        str | None,
        typer.Option(
            "--fit",
            metavar="DRUG",
            help="Fit DRUG's PET EC50 to its verified reference points "
            "and print it, instead of validating.",
        ),
    ] = None,
    profiles_dir: ProfilesDir = None,
    fmt: Format = OutputFormat.table,
) -> None:
    """Predicted vs observed PET occupancy, therapeutic ranges and PM/NM exposure ratios."""
    from sert_cli import validation

    library = _library(profiles_dir)
    if fit is not None:
        result = validation.fit(library, fit)

        def draw_fit():
            from sert_cli.render import table_format

            table_format.fit(result)

        emit(fmt, result["fits"] if fmt is OutputFormat.csv else result, draw_fit)
        return
    result = validation.validate(library)

    def draw():
        from sert_cli.render import table_format

        table_format.validation(result)

    emit(fmt, result["points"] if fmt is OutputFormat.csv else result, draw)


@command("list", PROFILE_COMMANDS)
@reports_errors
def profiles_list(profiles_dir: ProfilesDir = None, fmt: Format = OutputFormat.table) -> None:
    """The profiles sert can use, bundled and your own."""
    library = _library(profiles_dir)
    profiles = sorted(library.profiles.values(), key=lambda p: p.name)
    records = [
        {
            "name": p.name,
            "class": p.drug_class,
            "aliases": list(p.aliases),
            "genes": list(p.genes),
            "label_min_mg": p.label_min_mg,
            "label_max_mg": p.label_max_mg,
            "path": p.path,
            "overrides_bundled": p.name in library.overrides,
        }
        for p in profiles
    ]

    def draw():
        from sert_cli.render import table_format

        table_format.profile_list(profiles, library.overrides)

    emit(fmt, records, draw)


@command("show", PROFILE_COMMANDS)
@reports_errors
def profiles_show(
    drug: Drug, profiles_dir: ProfilesDir = None, fmt: Format = OutputFormat.table
) -> None:
    """One profile in full, with its sources."""
    library = _library(profiles_dir)
    profile = library.get(drug)
    overridden = library.overrides.get(profile.name)
    if overridden:
        sys.stderr.write(f"note: {profile.path} overrides the bundled {overridden}\n")
    sources = [{"field": f, "source": s} for f, s in profile.sources]

    def draw():
        from sert_cli.render import table_format

        table_format.profile_show(Path(profile.path).read_text(encoding="utf-8"))

    if fmt is OutputFormat.csv:
        emit(fmt, sources, draw)
    else:
        emit(
            fmt,
            {
                "name": profile.name,
                "path": profile.path,
                "overrides_bundled": overridden,
                "profile": profile.raw,
            },
            draw,
        )


@command("check", PROFILE_COMMANDS)
@reports_errors
def profiles_check(
    files: Annotated[
        list[Path], typer.Argument(help="Profile files to validate.", show_default=False)
    ],
    fmt: Format = OutputFormat.table,
) -> None:
    """Validate profile files; exit 2 if any is invalid, naming each."""
    from sert_cli.errors import ProfileError
    from sert_cli.loader import load_profile_file
    from sert_cli.profile import unsourced_fields

    results = []
    for path in files:
        try:
            profile = load_profile_file(path)
            results.append(
                {
                    "file": str(path),
                    "valid": True,
                    "name": profile.name,
                    "error": None,
                    "unsourced_fields": unsourced_fields(profile),
                }
            )
        except ProfileError as exc:
            results.append(
                {
                    "file": str(path),
                    "valid": False,
                    "name": None,
                    "error": str(exc),
                    "unsourced_fields": [],
                }
            )
    bad = [r for r in results if not r["valid"]]

    def draw():
        for r in results:
            if r["valid"]:
                sys.stdout.write(f"ok: {r['file']} ({r['name']})\n")
            if r["unsourced_fields"]:
                sys.stderr.write(
                    f"warning: {r['file']}: numbers without a source: "
                    f"{', '.join(r['unsourced_fields'])}\n"
                )
        for r in bad:
            sys.stderr.write(f"sert: error: {r['error']}\n")

    emit(fmt, results, draw)
    if bad:
        if fmt is not OutputFormat.table:
            sys.stderr.write(
                f"sert: error: {len(bad)} invalid profile(s): {', '.join(r['file'] for r in bad)}\n"
            )
        raise typer.Exit(2)


def build_app(argv: list[str]) -> typer.Typer:
    """The Typer app with every command, or only the one the command line names: Typer
    builds a click command for each registered function at every start, and a single
    query should not pay for eleven (start-up is a feature; README "Start-up")."""
    app = typer.Typer(**APP_SETTINGS)
    app.callback()(root)
    wanted = next((a for a in argv if not a.startswith("-")), None)
    names = [wanted] if wanted in COMMANDS or wanted == "profiles" else [*COMMANDS, "profiles"]
    for name in names:
        if name == "profiles":
            profiles_app = typer.Typer(**PROFILES_SETTINGS)
            for sub, function in PROFILE_COMMANDS.items():
                profiles_app.command(sub)(function)
            app.add_typer(profiles_app, name="profiles")
        else:
            app.command(name)(COMMANDS[name])
    return app


def main() -> None:
    build_app(sys.argv[1:])()
