"""The `sert` commands: parse what was typed into query values, answer them with the one
query engine, render the result. No science here."""

import os
from pathlib import Path
from typing import Annotated

import typer

from sert_cli.cli.common import (
    PROFILE_COMMANDS,
    command,
    emit,
    emit_records,
    environment,
    profiles_library,
    reports_errors,
)
from sert_cli.cli.options import (
    DEFAULT_TRANSPORTER,
    Affinity,
    AffinityChoice,
    AssumeNm,
    DoseArgument,
    DoseOption,
    Drug,
    Explain,
    Format,
    Interval,
    OutputFormat,
    PlotFile,
    ProfilesDir,
    QueryOptions,
    Target,
    TransporterOption,
    day_list,
    dose_list,
    dose_mg,
    metabolite_levels,
    parse_mg,
    plasma_level,
    query_options,
    schedule_file_steps,
    schedule_steps,
    time_amount,
)
from sert_cli.errors import InputError, printable
from sert_cli.vocabulary import DEFAULT_TARGET


def query_command(function):
    """A query command: registered, its errors reported, the query options bundled."""
    return command()(reports_errors(query_options(function)))


def _run(
    kind, options: QueryOptions, *fields, explain: bool = False, plot: Path | None = None, **named
) -> None:
    """Every query command ends here: one query of this kind (with the options' patient
    and affinity), answered by the engine, rendered; the formats and the plot all take
    the result."""
    from sert_cli.queries.engine import answer

    query = kind(*fields, **named, patient=options.patient, affinity=options.affinity)
    result = answer(query, profiles_library(options.profiles_dir))
    if plot is not None:
        from sert_cli.render.figures import figures_of
        from sert_cli.render.plot import save

        save(figures_of(result, thin=False), plot)
    emit(options.fmt, result, explain)


def _hours(interval: str | None) -> float | None:
    return time_amount(interval, "--interval")


def _check_plot(plot: Path | None) -> None:
    if plot is not None:
        from sert_cli.render.plot import check_plot_path

        check_plot_path(plot)


@query_command
def occupancy(
    drug: Drug,
    dose_argument: DoseArgument = None,
    dose: DoseOption = None,
    interval: Interval = None,
    explain: Explain = False,
    options: QueryOptions = None,
) -> None:
    """Steady-state concentrations and SERT/NET occupancy at a dose."""
    from sert_cli.queries.values import OccupancyQuery

    args = (drug, dose_mg(dose, dose_argument), _hours(interval))
    _run(OccupancyQuery, options, *args, explain=explain)


@query_command
def dose(
    drug: Drug,
    target: Target = DEFAULT_TARGET,
    transporter: TransporterOption = DEFAULT_TRANSPORTER,
    interval: Interval = None,
    explain: Explain = False,
    options: QueryOptions = None,
) -> None:
    """The dose that reaches a target occupancy, and the smallest marketed dose that does."""
    from sert_cli.queries.values import DoseQuery

    _run(DoseQuery, options, drug, target, transporter.value, _hours(interval), explain=explain)


@query_command
def compare(
    drugs: Annotated[
        list[str],
        typer.Argument(
            metavar="DRUG[:DOSE]...",
            help="Up to 8 drugs, each with its dose per interval (escitalopram:10, "
            "'sertraline:50 mg') or without one (its usual dose, the label minimum).",
            show_default=False,
        ),
    ],
    target: Target = DEFAULT_TARGET,
    transporter: TransporterOption = DEFAULT_TRANSPORTER,
    options: QueryOptions = None,
) -> None:
    """Drugs side by side for one patient: occupancy, level, the dose for the target and
    its range, clearance against an average patient, time to steady state, label range."""
    from sert_cli.queries.values import CompareQuery

    pairs = []
    for written in drugs:
        name, _, dose = written.partition(":")
        pairs.append((name.strip(), parse_mg(dose, f"{name.strip()}:DOSE") if dose else None))
    _run(CompareQuery, options, tuple(pairs), target, transporter.value)


@query_command
def table(
    drug: Drug,
    doses: Annotated[
        str | None,
        typer.Option(
            "--doses",
            metavar="LIST|START:STOP:STEP",
            help="Doses per interval in mg, e.g. 2.5,5,10 or 5:40:5 [default: the label's "
            "range in marketed strengths]",
        ),
    ] = None,
    options: QueryOptions = None,
) -> None:
    """Occupancy over the label's dose range (or --doses), one column per phenotype (or,
    for a given patient, NM beside the patient's); at one dose, a row per phenotype with
    each moiety's level and share of SERT and NET."""
    from sert_cli.queries.values import GridQuery

    _run(GridQuery, options, drug, dose_list(doses), "label")


@query_command
def simulate(
    drug: Drug,
    dose_argument: DoseArgument = None,
    dose: DoseOption = None,
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
        str | None,
        typer.Option(
            "--days",
            metavar="D",
            help="Dose for this many days instead of --doses (or a time: '2 weeks').",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            metavar="TIME",
            help="Simulate until this long after the first dose: hours, or with a unit "
            "('30 days') [default: 5 half-lives past the last dose]",
        ),
    ] = None,
    step: Annotated[
        str | None,
        typer.Option(
            "--step",
            metavar="TIME",
            help="Time between points: hours, or with a unit ('30 min') [default: 1 h]",
            show_default=False,
        ),
    ] = None,
    schedule: Annotated[
        str | None,
        typer.Option(
            "--schedule",
            metavar="STEPS",
            help="A changing regimen instead of --dose, e.g. '20mg x14d, 10mg x14d, 5mg x28d' "
            "or '5mg every 48h x28d'.",
        ),
    ] = None,
    schedule_file: Annotated[
        str | None,
        typer.Option(
            "--schedule-file",
            metavar="FILE",
            help="The regimen as a CSV: columns dose_mg, days and, optionally, interval_h.",
        ),
    ] = None,
    missed: Annotated[
        str | None,
        typer.Option("--missed", metavar="DAYS", help="Days whose doses are missed, e.g. 3,4."),
    ] = None,
    adaptation: Annotated[
        bool,
        typer.Option(
            "--adaptation",
            help="Add the 5-HT1A autoreceptor layer: firing and transmission over weeks "
            "(a hypothesis with rat-derived time constants).",
        ),
    ] = False,
    explain: Explain = False,
    plot: PlotFile = None,
    options: QueryOptions = None,
) -> None:
    """Occupancy hour by hour, from the first dose through steady state to washout."""
    from sert_cli.queries.values import SimulateQuery

    _check_plot(plot)
    if schedule is not None and schedule_file is not None:
        raise InputError("give --schedule or --schedule-file, not both")
    steps = (
        schedule_steps(schedule) if schedule_file is None else schedule_file_steps(schedule_file)
    )
    if steps is not None:
        given = "--schedule" if schedule_file is None else "--schedule-file"
        for value, other in (
            (dose, "--dose"),
            (dose_argument, "a dose after the drug"),
            (doses, "--doses"),
            (days, "--days"),
        ):
            if value is not None:  # the steps set every dose and how long each is taken
                raise InputError(
                    f"give {given} or {other}, not both: the schedule's steps set the doses "
                    "and how many days each is taken"
                )
    first_dose = steps[0][0] if steps else dose_mg(dose, dose_argument)
    _run(
        SimulateQuery,
        options,
        drug,
        first_dose,
        _hours(interval),
        doses,
        time_amount(days, "--days", plain_hours=24.0),
        time_amount(until, "--until"),
        1.0 if step is None else time_amount(step, "--step"),
        explain=explain,
        plot=plot,
        adaptation=adaptation,
        schedule=steps,
        missed_days=day_list(missed),
    )


@query_command
def population(
    drug: Drug,
    dose_argument: DoseArgument = None,
    dose: DoseOption = None,
    ancestry: Annotated[
        str,
        typer.Option(
            "--ancestry",
            metavar="GROUP",
            help="One of CPIC's nine groups, e.g. European, 'East Asian', Latino.",
        ),
    ] = "European",
    n: Annotated[int, typer.Option("--n", metavar="N", help="Virtual patients.")] = 100_000,
    seed: Annotated[
        int, typer.Option("--seed", metavar="S", help="Random seed: same seed, same output.")
    ] = 0,
    target: Target = DEFAULT_TARGET,
    transporter: TransporterOption = DEFAULT_TRANSPORTER,
    interval: Interval = None,
    explain: Explain = False,
    plot: PlotFile = None,
    options: QueryOptions = None,
) -> None:
    """Virtual patients of an ancestry group at one dose: the spread of occupancy, who
    reaches the target, and the dose that brings 90 % there."""
    from sert_cli.queries.values import PopulationQuery

    _check_plot(plot)
    args = (drug, dose_mg(dose, dose_argument), ancestry, n, seed, target, transporter.value)
    _run(PopulationQuery, options, *args, _hours(interval), explain=explain, plot=plot)


@query_command
def taper(
    drug: Drug,
    dose_argument: DoseArgument = None,
    from_dose: Annotated[
        str | None,
        typer.Option("--from", metavar="MG", help="The dose now (per administration)."),
    ] = None,
    dose: Annotated[
        str | None, typer.Option("--dose", metavar="MG", help="The same as --from.")
    ] = None,
    step: Annotated[
        float | None,
        typer.Option(
            "--step",
            metavar="PP",
            help="Percentage points of SERT occupancy per step [default: 10].",
        ),
    ] = None,
    fraction: Annotated[
        float | None,
        typer.Option(
            "--fraction",
            metavar="F",
            help="Instead: each dose a fixed fraction below the last (NICE NG222), e.g. 0.25.",
        ),
    ] = None,
    weeks: Annotated[
        str | None,
        typer.Option(
            "--weeks",
            metavar="N",
            help="Weeks per step, or a time ('10 days') [default: 2; never under 5 half-lives].",
        ),
    ] = None,
    liquid: Annotated[
        bool, typer.Option("--liquid", help="Every step as the oral liquid.")
    ] = False,
    max_cut: Annotated[
        float | None,
        typer.Option(
            "--max-cut",
            metavar="F",
            help="The largest cut of one step, as a fraction of the dose before it "
            "[default: 0.5, NICE NG222].",
        ),
    ] = None,
    interval: Interval = None,
    explain: Explain = False,
    options: QueryOptions = None,
) -> None:
    """A hyperbolic taper: equal steps of SERT occupancy where that is gentler, never a cut
    of more than --max-cut, in doses a patient can measure, then stop; with how to take
    each step."""
    from sert_cli.queries.values import TaperQuery

    start = _taper_start(from_dose, dose, dose_argument)
    weeks_per_step = time_amount(weeks, "--weeks", plain_hours=168.0)
    args = (drug, start, step, fraction, weeks_per_step, liquid, _hours(interval))
    _run(TaperQuery, options, *args, explain=explain, max_cut=max_cut)


def _taper_start(from_dose: str | None, dose: str | None, argument: str | None) -> float:
    """--from, its alias --dose, or the positional DOSE: given once (or the same)."""
    given = [(f, t) for f, t in (("--from", from_dose), ("--dose", dose)) if t is not None]
    if argument is not None:
        given.append(("DOSE", argument))
    if not given:
        raise InputError("missing the dose now: give --from MG (or --dose MG), e.g. --from 20")
    if len({text.strip() for _, text in given}) > 1:
        raise InputError(f"give the dose once: {' and '.join(f for f, _ in given)} differ")
    flag, text = given[0]
    return parse_mg(text, flag)


@query_command
def switch(
    drug: Drug,
    dose_argument: Annotated[
        str | None,
        typer.Argument(
            metavar="[DOSE]",
            help="The dose taken now, as an alternative to --dose.",
            show_default=False,
        ),
    ] = None,
    to_drug: Annotated[
        str | None,
        typer.Argument(metavar="TO_DRUG", help="The drug to switch to.", show_default=False),
    ] = None,
    dose: Annotated[
        str | None,
        typer.Option("--dose", metavar="MG", help="The dose taken now: 20, '20 mg' or 20mg."),
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy",
            metavar="direct|cross-taper|washout",
            help="Stop and start the next day; lower one as the other rises; or stop, "
            "wait, then start. Default: cross-taper, or direct (the new drug starting low "
            "and rising as the old one leaves) when the old drug takes over 14 days to wash "
            "out. Every plan holds the new dose while the two together would occupy more "
            "SERT than either alone.",
            show_default=False,
        ),
    ] = None,
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            metavar="N",
            help="Length of the cross-taper [default: 14] or of the washout [default: 5 "
            "half-lives of the slowest moiety].",
        ),
    ] = None,
    interval: Interval = None,
    explain: Explain = False,
    options: QueryOptions = None,
) -> None:
    """From one drug to another at the same SERT occupancy: the equivalent dose, and the
    days of the change with both drugs competing for the sites."""
    from sert_cli.queries.values import SwitchQuery

    if to_drug is None and dose_argument is not None and not _is_dose(dose_argument):
        dose_argument, to_drug = None, dose_argument  # switch DRUG --dose MG TO_DRUG
    if to_drug is None:
        raise InputError(
            "missing TO_DRUG: the drug to switch to, e.g. sert switch paroxetine --dose 20 "
            "sertraline"
        )
    args = (drug, dose_mg(dose, dose_argument), to_drug, strategy, days, _hours(interval))
    _run(SwitchQuery, options, *args, explain=explain)


def _is_dose(text: str) -> bool:
    try:
        parse_mg(text, "DOSE")
    except InputError:
        return False
    return True


@query_command
def tdm(
    drug: Drug,
    dose_argument: DoseArgument = None,
    dose: DoseOption = None,
    level: Annotated[
        str | None,
        typer.Option(
            "--level",
            metavar="C",
            help="The measured plasma level of the drug (the parent): ng/mL, or with a unit "
            "such as '120 nmol/L'. Given alone for a drug whose reference range is of the "
            "active moiety (venlafaxine, amitriptyline ...), it is read as that sum, as before.",
        ),
    ] = None,
    metabolite_level: Annotated[
        list[str] | None,
        typer.Option(
            "--metabolite-level",
            metavar="[NAME=]C",
            help="An active metabolite's measured level, beside --level: C for the "
            "profile's one metabolite, or NAME=C (repeatable); units as --level, a molar "
            "one through the metabolite's own molar mass.",
        ),
    ] = None,
    sum_level: Annotated[
        str | None,
        typer.Option(
            "--sum-level",
            metavar="C",
            help="The level of parent + metabolites, where the laboratory reports only the "
            "sum (alone: not with --level or --metabolite-level); no ratio can be read.",
        ),
    ] = None,
    hours_after_dose: Annotated[
        str | None,
        typer.Option(
            "--hours-after-dose",
            metavar="TIME",
            help="Time between the last dose and the sample: hours, or with a unit "
            "('90 min') [default: a trough, just before the next dose].",
        ),
    ] = None,
    interval: Interval = None,
    explain: Explain = False,
    options: QueryOptions = None,
) -> None:
    """Measured levels against the model: expected levels and ranges, the
    metabolite-to-parent ratio, consistent phenotypes, reference range and alert level,
    implied occupancy, and what may explain a difference."""
    from sert_cli.queries.values import TdmQuery

    if level is None and sum_level is None:
        raise InputError(
            "give the measured level: --level C (the drug's), with --metabolite-level for "
            "its metabolites, or --sum-level C where only parent + metabolites is reported"
        )
    where = options.profiles_dir
    level_ng_ml = None if level is None else plasma_level(level, drug, where)
    total = None if sum_level is None else plasma_level(sum_level, drug, where, "--sum-level")
    metabolites = metabolite_levels(metabolite_level, drug, where)
    after = time_amount(hours_after_dose, "--hours-after-dose")
    args = (drug, dose_mg(dose, dose_argument), level_ng_ml, after, _hours(interval))
    _run(
        TdmQuery,
        options,
        *args,
        explain=explain,
        metabolite_levels_ng_ml=metabolites,
        sum_level_ng_ml=total,
    )


@query_command
def curve(
    drug: Drug,
    plot: PlotFile = None,
    options: QueryOptions = None,
) -> None:
    """The steady-state dose-occupancy curve, over and beyond the label range."""
    from sert_cli.queries.values import GridQuery

    _check_plot(plot)
    _run(GridQuery, options, drug, None, "curve", plot=plot)


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
    from sert_cli.pgx.genotype import translate

    records = [translate(gene, d).record() for d in diplotypes]

    def draw(env):
        from sert_cli.render import table_format

        table_format.phenotypes(records, env)

    emit_records(fmt, records, draw)


@command()
@reports_errors
def batch(
    input_path: Annotated[
        str,
        typer.Argument(metavar="INPUT", help="CSV or JSON-lines file of queries, or - for stdin."),
    ] = "",
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
        str | None,
        typer.Option(
            "--input-format",
            metavar="csv|jsonl",
            help="Format of INPUT [default: from its name (.csv, .jsonl, .ndjson); csv for -].",
        ),
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", "-f", metavar="csv|jsonl|json", help="Output format.")
    ] = "csv",
    fields: Annotated[
        str,
        typer.Option(
            "--fields",
            metavar="key|all|list|NAME,...",
            help="Result columns: key (the default set), all (the single command's whole "
            "record), a comma list of field names, or list (print them with units and exit).",
        ),
    ] = "key",
    carry: Annotated[
        str,
        typer.Option(
            "--carry",
            metavar="all|none|COLUMN,...",
            help="Input columns copied into each output row; a column named here is carried "
            "unread even if it looks like a field.",
        ),
    ] = "all",
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Stop at the first bad row (exit 1) instead of reporting it."
        ),
    ] = False,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            metavar="N",
            help="Processes that answer the chunks (forked, at most one per CPU; each with its "
            "own caches): about "
            "1.9x faster with 2 on 2 idle CPUs where rows are distinct; no faster on busy ones.",
        ),
    ] = 1,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="No summary line and no note of the columns not read on stderr (errors "
            "still print).",
        ),
    ] = False,
    assume_nm: AssumeNm = False,
    affinity: Affinity = AffinityChoice.pet,
    profiles_dir: ProfilesDir = None,
) -> None:
    """Many queries in one run: one row per query, results streamed out.

    Columns read: drug (required); dose_mg (given: occupancy; empty: the dose for target);
    target (default 0.8); transporter (default SERT); interval_h; with (co-medications,
    separated by ;); one column per gene (CYP2C19, CYP2D6, ...) holding a phenotype or a
    diplotype; age, crcl, hepatic, sex, smoker; level_ng_ml, metabolite_level_ng_ml,
    sum_level_ng_ml and hours_after_dose (tdm).
    Cells take units as the single commands do (10 mg, 12 h). A column that looks like one
    of these but is not stops the run (exit 2) unless --carry names it; any other column is
    carried through. Exit 1 if any row failed, 0 if none did.
    """
    from sert_cli.batch import output as batch_output

    env = environment()
    if fields.strip().lower() == "list":
        env.stdout.write(batch_output.field_list())
        return
    if not input_path:
        raise InputError("missing INPUT: a CSV or JSON-lines file, or - for stdin")
    from sert_cli.batch.run import Options, RowError, run

    if jobs > 1 and not hasattr(os, "fork"):
        env.stderr.write("sert batch: --jobs needs fork(); one process answers the rows\n")
        jobs = 1
    try:
        summary = run(
            profiles_library(profiles_dir),
            Options(
                input_path=input_path,
                output_path=output,
                input_format=input_format,
                output_format=output_format.lower(),
                fields=fields,
                carry=carry,
                strict=strict,
                affinity=affinity,
                assume_nm=assume_nm,
                progress=input_path != "-",
                jobs=jobs,
            ),
            say=lambda line: not quiet and env.stderr and env.stderr.write(printable(line) + "\n"),
            stdout=env.stdout,
        )
    except RowError as exc:
        env.stderr.write(f"sert: error: {printable(str(exc))} (--strict)\n")
        raise typer.Exit(1) from None
    if env.stderr is not None and not quiet:
        env.stderr.write(summary.line() + "\n")
    if summary.errors:
        raise typer.Exit(1)


# The tables of `sert validate` that --table can choose (lists of records).
VALIDATE_TABLES = (
    "points",
    "drugs",
    "unverified",
    "therapeutic_ranges",
    "exposure_ratios",
    "observed_levels",
    "eighty_percent_rule",
    "platelets",
)


@command()
@reports_errors
def validate(
    fit: Annotated[
        str | None,
        typer.Option(
            "--fit",
            metavar="DRUG",
            help="Print DRUG's (or, with 'all', every drug's) PET-scale constants from the "
            "joint fit to the shipped PET points, as profile YAML, instead of validating; "
            "'platelet': the platelet SERT scale fitted to ex vivo uptake inhibition.",
        ),
    ] = None,
    table: Annotated[
        str | None,
        typer.Option(
            "--table",
            metavar="NAME",
            help="With --format csv or json: only this table ("
            + ", ".join(VALIDATE_TABLES)
            + "); csv's default is points.",
        ),
    ] = None,
    profiles_dir: ProfilesDir = None,
    fmt: Format = OutputFormat.table,
) -> None:
    """Predicted vs observed PET occupancy, therapeutic ranges, exposure ratios vs NM and
    observed plasma levels."""
    from sert_cli import calibration as validation

    if table is not None and table not in VALIDATE_TABLES:
        raise InputError(f"unknown table {table!r}: choose one of {', '.join(VALIDATE_TABLES)}")
    if table is not None and (fit is not None or fmt is OutputFormat.table):
        raise InputError("--table selects a table of --format csv or json, without --fit")
    library = profiles_library(profiles_dir)
    if fit == "platelet":
        from sert_cli import platelet_fit

        found = platelet_fit.fit(library)

        def draw_platelet(env):
            from sert_cli.render import table_format

            table_format.platelet_fit(found, env)

        emit_records(fmt, [found] if fmt is OutputFormat.csv else found, draw_platelet)
        return
    if fit is not None:
        result = validation.fit(library, None if fit == "all" else fit)

        def draw_fit(env):
            from sert_cli.render import table_format

            table_format.fit(result, env)

        emit_records(fmt, result["fits"] if fmt is OutputFormat.csv else result, draw_fit)
        return
    result = validation.validate(library)

    def draw(env):
        from sert_cli.render import table_format

        table_format.validation(result, env)

    chosen = table or ("points" if fmt is OutputFormat.csv else None)
    emit_records(fmt, result if chosen is None else result[chosen], draw)


@command("list", PROFILE_COMMANDS)
@reports_errors
def profiles_list(profiles_dir: ProfilesDir = None, fmt: Format = OutputFormat.table) -> None:
    """The profiles sert can use, bundled and your own."""
    library = profiles_library(profiles_dir)
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

    def draw(env):
        from sert_cli.render import table_format

        table_format.profile_list(profiles, library.overrides, env)

    emit_records(fmt, records, draw)


@command("show", PROFILE_COMMANDS)
@reports_errors
def profiles_show(
    drug: Drug, profiles_dir: ProfilesDir = None, fmt: Format = OutputFormat.table
) -> None:
    """One profile in full, with its sources."""
    library = profiles_library(profiles_dir)
    profile = library.get(drug)
    overridden = library.overrides.get(profile.name)
    if overridden:
        environment().stderr.write(
            f"note: {printable(str(profile.path))} overrides the bundled {overridden}\n"
        )
    sources = [{"field": f, "source": s} for f, s in profile.sources]

    def draw(env):
        from sert_cli.render import table_format

        table_format.profile_show(Path(profile.path).read_text(encoding="utf-8"), env)

    if fmt is OutputFormat.csv:
        emit_records(fmt, sources, draw)
    else:
        emit_records(
            fmt,
            {
                "name": profile.name,
                "path": profile.path,
                "overrides_bundled": overridden,
                "profile": profile.raw,
            },
            draw,
        )


def _source_counts(files: list[Path] | None, fmt: OutputFormat) -> None:
    from sert_cli import provenance
    from sert_cli.profiles.library import load_library, load_profile_file

    profiles = (
        [(path, load_profile_file(path)) for path in files]
        if files
        else [(p.path, p) for _, p in sorted(load_library(use_cache=False).profiles.items())]
    )
    counts = [provenance.profile_counts(path, profile.sources) for path, profile in profiles]
    if not files:
        counts += provenance.data_file_counts()
    records = [
        {"file": c.file, **{k: getattr(c, k) for k in provenance.KINDS}, "total": c.total}
        for c in counts
    ]

    def draw(env):
        from sert_cli.render.table_format import source_counts

        source_counts(records, provenance.KINDS, env)

    emit_records(fmt, records, draw)


@command("check", PROFILE_COMMANDS)
@reports_errors
def profiles_check(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Profile files to validate (with --sources: default, the bundled ones).",
            show_default=False,
        ),
    ] = None,
    sources: Annotated[
        bool,
        typer.Option(
            "--sources",
            help="Count the primary, secondary, derived and unverified sources of each "
            "profile and shipped data file.",
        ),
    ] = False,
    fmt: Format = OutputFormat.table,
) -> None:
    """Validate profile files; exit 2 if any is invalid, naming each."""
    from sert_cli.errors import ProfileError

    if sources:
        _source_counts(files, fmt)
        return
    if not files:
        raise InputError("give profile files to check (or --sources)")
    from sert_cli.profiles.library import load_profile_file
    from sert_cli.profiles.schema import unsourced_fields

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

    def draw(env):
        for r in results:
            if r["valid"]:
                env.stdout.write(f"ok: {printable(r['file'])} ({printable(r['name'])})\n")
            if r["unsourced_fields"]:
                env.stderr.write(
                    f"warning: {printable(r['file'])}: numbers without a source: "
                    f"{printable(', '.join(r['unsourced_fields']))}\n"
                )
        for r in bad:
            env.stderr.write(f"sert: error: {printable(r['error'])}\n")

    emit_records(fmt, results, draw)
    if bad:
        if fmt is not OutputFormat.table:
            environment().stderr.write(
                f"sert: error: {len(bad)} invalid profile(s): "
                f"{printable(', '.join(r['file'] for r in bad))}\n"
            )
        raise typer.Exit(2)
