"""Rich tables for people. Imported only when the table format is asked for.

Each entry point takes the command line's environment (`sert_cli/cli/environment.py`, read
by attribute: stdout, stderr, width_columns, colour, stderr_colour): where to draw, how
wide, and whether in colour."""

from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sert_cli.errors import printable
from sert_cli.model.profile import Profile
from sert_cli.pgx.patient import advice_subject, advised_against
from sert_cli.pk.dosing import smallest_dose_from_strengths, unit_pieces
from sert_cli.pk.platelets import platelet_model
from sert_cli.profiles.library import bundled_profiles_dir
from sert_cli.queries import results
from sert_cli.queries.grid import liquid_dose_mg
from sert_cli.queries.results import (
    assumptions,
    factor_assumptions,
    notable_transporters,
    steady_state_key,
)
from sert_cli.queries.taper import most_dilute_liquid
from sert_cli.render.fit import print_table
from sert_cli.trace import Note, note_parts
from sert_cli.units import percent
from sert_cli.vocabulary import (
    GENES_WITH_RM,
    HOURS_PER_DAY,
    PHENOTYPE_NAMES,
    PHENOTYPES,
    STATEMENT,
    TRANSPORTERS,
)


class _Console(Console):
    """Rich's console, but every string it is given is shown as text that cannot act on
    the terminal: control characters (ESC, CSI, BEL, CR, C1) escaped by errors.printable,
    line by line (a cell may hold lines). Rich strips BEL and CR but passes ESC, so a
    label or path from a file could otherwise recolour, retitle or clear the terminal."""

    def render_str(self, text: str, **options) -> Text:
        if not text.isprintable():
            text = "\n".join(map(printable, text.split("\n")))
        return super().render_str(text, **options)


def _console(env, stderr: bool = False) -> Console:
    """A console on the environment's stdout (or stderr), at its width. Without colour (not
    a terminal, NO_COLOR, TERM=dumb) no style is written at all, bold and dim included.
    Text is never read as Rich markup or emoji codes: a cell, a note or a warning may hold
    text from a file (a PharmCAT label, a profile's path), which is shown as written
    (`[link=...]` stays those characters); a style is given as a style, never in the text."""
    colour = env.stderr_colour if stderr else env.colour
    console = _Console(
        file=env.stderr if stderr else env.stdout,
        width=env.width_columns,
        force_terminal=colour,
        color_system="auto" if colour else None,
        highlight=False,
        markup=False,
        emoji=False,
    )
    console.on_broken_pipe = _reader_gone  # Rich's own exits 1; the CLI decides (README)
    return console


def _reader_gone() -> None:
    raise BrokenPipeError


def draw(result, explain: bool, env) -> None:
    """The people's view of any query result."""
    console = _console(env)
    render = RENDERERS.get(type(result))
    if render is None:  # a grid: `curve` or `table` (at one dose, a row per phenotype)
        render = curve if result.query.span == "curve" else dose_table
        if render is dose_table and len(result.doses_mg) == 1:
            render = phenotype_table
    render(console, result)
    patient_extras(console, result, explain, _console(env, stderr=True))


def titled_table(title: str, columns: tuple[str, ...], right: tuple[str, ...] = ()) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    for name in columns:
        table.add_column(name, justify="right" if name in right else "left")
    return table


def pct(value: float | None) -> str:
    """Whole percent: the precision `sert validate` supports (held-out studies differ from
    the model by 5-15 points); JSON and CSV keep every digit."""
    if value is None:
        return "n/a"
    text = f"{value * 100:.0f} %"
    if text == "0 %" and value > 0:
        return "< 1 %"  # never 0 for a number that is not
    return "> 99 %" if text == "100 %" else text  # occupancy never reaches 100 %


def points(value: float) -> str:
    """Percentage points, whole as occupancy is printed."""
    if value < 0.5:
        return "under 1 point"
    return "1 point" if round(value) == 1 else f"{value:.0f} points"


def num(value: float) -> str:
    return f"{value:.4g}"


def span(low: str, high: str, unit: str = "") -> str:
    """A range as every table writes it: '4–36 mg', '77–83 %'; one value where the two
    ends are the same ('10 mg/day', not '10–10')."""
    text = low if low == high else f"{low}–{high}"
    return f"{text} {unit}" if unit else text


def phenotype_text(phenotypes: dict[str, str]) -> str:
    return ", ".join(f"{g} {p}" for g, p in phenotypes.items()) or "no CYP data in profile"


def patient_text(prepared) -> str:
    """The patient as entered, for a heading: phenotypes, co-medications, factors. The
    phenotypes not given (NM, assumed) are the "Assumed:" line's."""
    given = {g: p for g, p in prepared.phenotypes.items() if g not in prepared.assumed_genes}
    said = [phenotype_text(given) if given or not prepared.phenotypes else "no phenotype given"]
    if given:  # the other genes a guideline's advice rests on
        unsaid = (g for a in prepared.guidance for g in a["not_given"] if g not in given)
        said += [f"{gene} not given" for gene in dict.fromkeys(unsaid)]
    if prepared.comedications:
        said.append("with " + ", ".join(prepared.comedications))
    for name, value in prepared.factors.items():
        if name == "smoker":
            said.append("smoker" if value else "non-smoker")
        elif name == "sex":
            said.append(str(value))
        else:
            said.append(f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}")
    return ", ".join(said)


def print_warnings(warnings: list[str], err: Console) -> None:
    for warning in warnings:
        err.print(Text.assemble(("warning:", "bold yellow"), " ", printable(warning)))


def constants(profile: Profile) -> list[str]:
    """Each moiety's binding constants: in the "Assumed:" line with --explain only."""
    return [
        Note(
            f"{m.name} K (unbound brain): "
            + ", ".join(f"{t} {num(k)} nM" for t, k in m.k_nm.items()),
            short="",
        )
        for m in profile.moieties
    ]


def _print_assumptions(console: Console, notes: list[str]) -> None:
    """The "Assumed:" line, each assumption short (--explain prints each whole)."""
    said = list(dict.fromkeys(p for note in notes for p in note_parts(note)))  # each once
    console.print("Assumed: " + "; ".join(said) + ".", style="dim", markup=False)


def _assumed(prepared) -> dict[str, str]:
    """The phenotypes the patient did not give: NM, assumed."""
    return {g: prepared.phenotypes[g] for g in prepared.assumed_genes}


def _print_factor_assumptions(console: Console, result) -> None:
    """The "Assumed:" line of a command that has no other: what the patient factors
    assumed (sex, smoking), if anything."""
    said = factor_assumptions(result.trace())
    if said:
        _print_assumptions(console, said)


def headed_table(console: Console, heading: str) -> Table:
    """The bold heading line, and the table that follows it (first column unnamed)."""
    console.print(heading, style="bold", markup=False)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)  # print_table(margins=False)
    table.add_column("")
    return table


def how_often(interval_h: float) -> str:
    """'twice daily', 'every 8 h': how often a dose is taken, in words."""
    return "twice daily" if interval_h == HOURS_PER_DAY / 2 else f"every {num(interval_h)} h"


def dose_words(dose_mg: float, interval_h: float, units: str = "") -> str:
    """A dose per administration as people read it: '75 mg' once a day; '75 mg twice daily
    (150 mg/day)', '10 mg every 48 h (5 mg/day)' at another interval (so that a dose is never
    read as a day's). units: the strengths in brackets after the dose, '(50 mg + 25 mg)'."""
    said = f"{num(dose_mg)} mg" + (f" ({units})" if units else "")
    if interval_h == HOURS_PER_DAY:
        return said
    return f"{said} {how_often(interval_h)} ({num(dose_mg * HOURS_PER_DAY / interval_h)} mg/day)"


def regimen(drug: str, dose_mg: float, interval_h: float) -> str:
    """'escitalopram 10 mg every 24 h'; 'amitriptyline 75 mg twice daily (150 mg/day)'."""
    if interval_h == HOURS_PER_DAY:
        return f"{drug} {num(dose_mg)} mg every {num(interval_h)} h"
    return f"{drug} {dose_words(dose_mg, interval_h)}"


def pairs_table(console: Console, heading: str) -> Table:
    """The bold heading line, and a table of (what, value) rows without a header."""
    table = headed_table(console, heading)
    table.show_header = False
    table.add_column("", justify="right")
    return table


def occupancy(console: Console, result: results.OccupancyResult) -> None:
    levels = result.levels()
    table = headed_table(
        console,
        f"{regimen(result.drug, result.query.dose_mg, result.interval_h)} "
        f"({patient_text(result.prepared)})",
    )
    for lv in levels:
        table.add_column(lv["name"], justify="right")
    rows = (
        ("CL/F, L/h", "clearance_l_h"),
        ("plasma, ng/mL", "css_plasma_ng_ml"),
        ("plasma, nM", "css_plasma_nm"),
        ("unbound plasma, nM", "cu_plasma_nm"),
        ("unbound brain, nM", "cu_brain_nm"),
    )
    for label, key in rows:
        table.add_row(label, *(num(lv[key]) for lv in levels))
    record = result.record()
    for transporter in TRANSPORTERS:
        shares = record["occupancy_by_moiety"].get(transporter, {})
        if len(levels) > 1 and shares:
            table.add_row(f"{transporter} share", *(pct(shares.get(lv["name"])) for lv in levels))
        table.add_row(
            Text(f"{transporter} occupancy", style="bold"),
            Text(pct(record["occupancy"][transporter]), style="bold"),
            *([""] * (len(levels) - 1)),
        )
        spread = record["occupancy_range"][transporter]
        if spread is not None:
            table.add_row(
                "  90 % range (patients, model)",
                span(*(f"{min(end * 100, 99.4):.0f}" for end in spread), "%"),  # (< 100)
                *([""] * (len(levels) - 1)),
            )
    print_table(console, table, margins=False)
    if len(levels) > 1:
        drivers = _drivers(record)
        console.print(
            f"{drivers}: the moieties compete (docs/model.md section 4)."
            if drivers
            else "Occupancy is of all moieties together, competing (docs/model.md section 4).",
            markup=False,
        )
    platelet = record["platelet_sert_occupancy"]
    if platelet is not None:  # (a line, not a row: its label would widen the table)
        console.print(f"{platelet_model().label}: {pct(platelet)}.", markup=False)
    t95 = record[steady_state_key(0.95)]
    if t95:
        console.print(
            f"95 % of steady state after about {t95 / HOURS_PER_DAY:.1f} days.", markup=False
        )
    trace = result.trace()
    _print_assumptions(
        console, assumptions(trace, _assumed(result.prepared)) + constants(result.prepared.profile)
    )


def _drivers(record: dict) -> str:
    """Which moiety drives each transporter the drug notably occupies: "SERT mostly
    amitriptyline (33 of 49 %), NET mostly nortriptyline (56 of 59 %)"."""
    said = []
    for t in notable_transporters([record["occupancy"]]):
        shares = record["occupancy_by_moiety"].get(t, {})
        total = record["occupancy"][t]
        if len(shares) < 2 or not total:
            continue
        (first, a), (second, b) = sorted(shares.items(), key=lambda kv: -kv[1])[:2]
        whole = [pct(v).removesuffix(" %") for v in (a, b, total)]
        if a > total / 2:
            said.append(f"{t} mostly {first} ({whole[0]} of {whole[2]} %)")
        else:
            said.append(f"{t} from {first} and {second} ({whole[0]} + {whole[1]} of {whole[2]} %)")
    return ", ".join(said)


def taper(console: Console, result) -> None:
    r = result.record()
    how = (
        f"{r['step_pp']:g}-point steps of SERT occupancy"
        if "step_pp" in r
        else f"each dose {percent(r['fraction'])} below the last"
    ) + (f", no cut over {percent(r['max_cut'])}" if r.get("fraction", 0) > r["max_cut"] else "")
    console.print(
        f"{result.drug} from {regimen('', r['from_dose_mg'], r['interval_h']).strip()}: {how}",
        style="bold",
        markup=False,
    )
    shown = notable_transporters([s["occupancy"] for s in r["steps"]])
    table = titled_table(
        "",
        ("step", "from day", "dose, mg", *shown, "how to take it"),
        right=("step", "from day", "dose, mg", *shown),
    )
    for s in r["steps"]:
        table.add_row(
            str(s["step"]),
            num(s["start_day"]),
            num(s["dose_mg"]) + (" (above max)" if s["above_label_max"] else ""),
            *(pct(s["occupancy"][t]) for t in shown),
            s["formulation"]["description"]
            + (
                f" {how_often(r['interval_h'])} ({num(s['daily_dose_mg'])} mg/day)"
                if r["interval_h"] != HOURS_PER_DAY and s["dose_mg"] > 0
                else ""
            ),
        )
    print_table(console, table)
    changes = [
        f"step {s['step']} {s['formulation']['change']}"
        for s in r["steps"]
        if "change" in s["formulation"]
    ]
    _print_factor_assumptions(console, result)
    print_notes([*changes, *result.notes_], console)


def switch(console: Console, result) -> None:
    """The equivalent dose, then the days on which a dose changes (and weekly between):
    the JSON and CSV have every day."""
    r = result.record()
    old, new = r["from"], r["to"]
    exact = new["equivalent_dose_mg"]
    short = (old["occupancy"]["SERT"] - new["occupancy_at_recommended"]["SERT"]) * 100
    console.print(
        f"{old['drug']} {dose_words(old['dose_mg'], old['interval_h'])} (SERT "
        f"{pct(old['occupancy']['SERT'])}) to {new['drug']}: "
        + (f"equivalent {num(exact)} mg, " if exact is not None else "")
        + f"take {dose_words(new['recommended_dose_mg'], new['interval_h'])} (SERT "
        f"{pct(new['occupancy_at_recommended']['SERT'])}"
        + ("" if new["target_reached"] else f", {points(short)} SHORT: the {new['held_by']}")
        + "); "
        + (
            f"a washout of {r['days']} days"
            if r["strategy"] == "washout"
            else f"{r['strategy']} over {r['days']} days"
            if r["strategy"] == "cross-taper"
            else "direct switch"
        ),
        style="bold",
        markup=False,
    )
    days = r["schedule"]
    shown = notable_transporters([d["occupancy"] for d in days])
    headings = [_schedule_heading(side["drug"], side["interval_h"]) for side in (old, new)]
    table = titled_table("", ("day", *headings, *shown), right=("day", *headings, *shown))
    for i, d in enumerate(days):
        changed = i == 0 or (d["from_dose_mg"], d["to_dose_mg"]) != (
            days[i - 1]["from_dose_mg"],
            days[i - 1]["to_dose_mg"],
        )
        if changed or d["day"] % 7 == 0 or i == len(days) - 1:
            table.add_row(
                str(d["day"]),
                _schedule_cell(d["from_dose_mg"], d["from_daily_dose_mg"], old["interval_h"]),
                _schedule_cell(d["to_dose_mg"], d["to_daily_dose_mg"], new["interval_h"]),
                *(pct(d["occupancy"][t]) for t in shown),
            )
    print_table(console, table)
    _print_factor_assumptions(console, result)
    print_notes(result.notes_, console)


def _schedule_heading(drug: str, interval_h: float) -> str:
    """A switch schedule's dose column: 'sertraline, mg'; a drug taken at another interval
    says it, with the day's dose in brackets: 'amitriptyline, mg twice daily (mg/day)'."""
    if interval_h == HOURS_PER_DAY:
        return f"{drug}, mg"
    return f"{drug}, mg {how_often(interval_h)} (mg/day)"


def _schedule_cell(dose_mg: float, daily_mg: float, interval_h: float) -> str:
    return (
        num(dose_mg)
        if interval_h == HOURS_PER_DAY or not dose_mg
        else f"{num(dose_mg)} ({num(daily_mg)})"
    )


def tdm(console: Console, result) -> None:
    """The level against the model, in a few lines a clinician reads at a glance."""
    r = result.record()
    moieties = r["levels_by_moiety"]
    given = [m for m in moieties if m["measured_ng_ml"] is not None]
    if len(given) > 1:
        level = ", ".join(f"{m['name']} {num(m['measured_ng_ml'])} ng/mL" for m in given)
        if r["level_of"] == "active moiety":
            level += f" (sum {num(r['level_read_ng_ml'])} ng/mL)"
    else:
        level = f"a level of {num(r['level_read_ng_ml'])} ng/mL ({r['level_of']})"
    when = f"{num(r['hours_after_dose'])} h after a dose"
    regimen_text = regimen(result.drug, r["dose_mg"], r["interval_h"])
    table = pairs_table(
        console, f"{regimen_text} ({phenotype_text(r['phenotypes'])}): {level} {when}"
    )
    spread = r["expected_range_ng_ml"]
    table.add_row("expected level", f"{num(r['expected_level_ng_ml'])} ng/mL")
    if spread:
        table.add_row("  90 % of patients", span(num(spread[0]), num(spread[1]), "ng/mL"))
    table.add_row("measured / expected", f"{r['ratio_to_expected']:.2f}")
    if len(moieties) > 1:  # each moiety: measured where given, and expected
        for m in moieties:
            expected = f"{num(m['expected_ng_ml'])} ng/mL expected"
            if m["measured_ng_ml"] is not None:
                expected = f"{num(m['measured_ng_ml'])} measured, " + expected
            table.add_row(f"  {m['name']}", expected)
    for ratio in r["metabolite_ratios"]:
        table.add_row(
            f"{ratio['metabolite']}/{result.drug} (molar)",
            f"{ratio['measured']:.3g} (expected {ratio['expected']:.3g})",
        )
    table.add_row("implied CL/F", f"{num(r['implied_clearance_l_h'])} L/h")
    read = r["consistent_phenotypes_read"]
    joint = any(how != "one gene at a time" for how in read.values())
    for gene, hits in r["consistent_phenotypes"].items():
        label = f"consistent {gene} phenotypes"
        if read[gene] == "one gene at a time":
            label += " (other genes as given)" if joint else ""
            table.add_row(label, ", ".join(hits) or "none")
        else:
            table.add_row(label, (", ".join(hits) or "none") + _joint_words(gene, r))
    of = f" ({r['reference_range_of']})" if len(moieties) > 1 else ""
    if r["reference_range_ng_ml"]:
        low, high = r["reference_range_ng_ml"]
        table.add_row(f"reference range{of}", span(num(low), num(high), "ng/mL"))
    if r["alert_level_ng_ml"]:
        alert = f"{num(r['alert_level_ng_ml'])} ng/mL"
        table.add_row("laboratory alert level", alert + (" REACHED" if r["above_alert"] else ""))
    for transporter, value in r["occupancy_implied"].items():
        table.add_row(f"{transporter} occupancy implied", pct(value))
    print_table(console, table, margins=False)
    console.print(f"Interpretation: {r['interpretation']}.", markup=False)
    if r["ratio_interpretation"]:
        console.print(f"Metabolite/parent: {r['ratio_interpretation']}.", markup=False)
    _print_factor_assumptions(console, result)


def _joint_words(gene: str, r: dict) -> str:
    """' (with CYP2D6 PM)': the other genes' phenotypes that go with the gene's consistent
    ones in the combinations read together with the metabolite-to-parent ratio (nothing
    where any of theirs does)."""
    said = []
    for ratio in r["metabolite_ratios"]:
        if gene not in ratio["genes"] or not ratio["combinations_read"]:
            continue
        combinations = ratio["consistent_with_levels"]
        for other in ratio["genes"]:
            if other == gene or not combinations:
                continue
            found = {c[other] for c in combinations}
            every = [p for p in PHENOTYPES if p != "RM" or other in GENES_WITH_RM]
            if set(every) - found:
                words = [p for p in PHENOTYPES if p in found]
                either = words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"
                said.append(f"{other} {either}")
    return f" (with {', '.join(dict.fromkeys(said))})" if said else ""


def moiety_words(profile: Profile) -> str:
    """What the profile's reference range and alert level are of, in words."""
    if profile.therapeutic_range_of == "active_moiety" and profile.metabolites:
        return " + ".join(m.name for m in profile.moieties)
    return profile.parent.name


def population(console: Console, result) -> None:
    """Percentiles, who reaches the target, and a histogram of occupancy in the terminal."""
    record = result.record()
    table = headed_table(
        console,
        f"{regimen(result.drug, record['dose_mg'], record['interval_h'])}, "
        f"{record['n']:,} virtual patients of {record['ancestry']} ancestry (seed "
        f"{record['seed']}), steady state",
    )
    for p in record["occupancy_percentiles"][record["transporter"]]:
        table.add_column(f"{p}th pct", justify="right")
    for transporter, values in record["occupancy_percentiles"].items():
        table.add_row(f"{transporter} occupancy", *(pct(v) for v in values.values()))
    print_table(console, table, margins=False)
    console.print(
        f"Reaching {percent(record['target'])} {record['transporter']}: "
        f"{percent(record['fraction_reaching_target'], 1)} of patients. "
        "Dose that brings 90 % there: "
        + (
            f"{regimen('', record['dose_for_target_in_90pct_mg'], record['interval_h']).strip()}."
            if record["dose_for_target_in_90pct_mg"]
            else "none within the label maximum."
        ),
        markup=False,
    )
    if record["alert_level_ng_ml"] is not None:
        console.print(
            f"At or above the laboratory alert level of {num(record['alert_level_ng_ml'])} "
            f"ng/mL ({moiety_words(result.prepared.profile)}, steady-state average): "
            f"{percent(record['fraction_at_or_above_alert'], 1)} of patients (expected).",
            markup=False,
        )
    bands = record["histogram_5pp"][record["transporter"]]
    top = max(bands) or 1.0
    first = next((i for i, b in enumerate(bands) if b > 0), 0)
    for i, share in enumerate(bands[first:], start=first):
        bar = "#" * round(40 * share / top)
        console.print(f"  {5 * i:3d}-{5 * i + 5:3d} %  {bar} {percent(share, 1)}", markup=False)
    phenotypes = titled_table(
        "By phenotype",
        ("phenotypes", "share", "median", "reaching target"),
        right=("share", "median", "reaching target"),
    )
    for row in record["by_phenotype"]:
        phenotypes.add_row(
            phenotype_text(row["phenotypes"]) or "-",
            f"{percent(row['fraction'], 1)}",
            pct(row["median_occupancy"]),
            "-"
            if row["fraction_reaching_target"] is None
            else f"{percent(row['fraction_reaching_target'], 1)}",
        )
    print_table(console, phenotypes)
    variability = ", ".join(f"{k} CV {percent(v['cv'])}" for k, v in record["variability"].items())
    console.print(
        f"Phenotype frequencies: CPIC ({'; '.join(record['frequency_sources'])[:200]}). "
        f"Between-patient variability: {variability or 'none sourced'}.",
        style="dim",
        markup=False,
    )
    _print_factor_assumptions(console, result)


def dose(console: Console, result: results.DoseResult) -> None:
    profile = result.prepared.profile
    query = result.query
    table = pairs_table(
        console,
        f"{result.drug}: dose for {percent(query.target)} {query.transporter} occupancy "
        f"({patient_text(result.prepared)})",
    )
    table.add_row(
        "exact dose (the model's number)",
        regimen("", result.dose_mg, result.interval_h).strip(),
    )
    spread = result.dose_range_mg()
    if spread is not None:
        table.add_row(
            "  90 % range (patients, model)", span(f"{spread[0]:.2g}", f"{spread[1]:.2g}", "mg")
        )
    if result.recommended_dose_mg is not None:
        units = " + ".join(f"{num(u)} mg" for u in result.recommended_units_mg)
        table.add_row(
            "dose from marketed strengths",
            dose_words(result.recommended_dose_mg, result.interval_h, units),
        )
        reached = pct(result.occupancy_at_recommended)
        if not result.target_reached:
            short = (query.target - result.occupancy_at_recommended) * 100
            reached += f", {points(short)} SHORT of the target"
        table.add_row(f"{query.transporter} occupancy at that dose", reached)
        if result.platelet_at_recommended is not None:
            table.add_row(
                "platelet SERT at that dose",
                f"{pct(result.platelet_at_recommended)} ({platelet_model().basis})",
            )
    elif advised_against(result.prepared.guidance):
        table.add_row("dose from marketed strengths", "none: the guideline advises against it")
    else:
        table.add_row("dose from marketed strengths", "none within the label maximum")
    table.add_row(
        "label range", span(num(profile.label_min_mg), num(profile.label_max_mg), "mg/day")
    )
    table.add_row(
        "exact dose above label maximum",
        "no"
        if not result.exceeds_label_max
        else "YES"
        if result.recommended_dose_mg is None
        else "YES: capped at the maximum",
    )
    print_table(console, table, margins=False)
    _print_assumptions(
        console, assumptions(result.trace(), _assumed(result.prepared)) + constants(profile)
    )


def _varied_genes(columns: tuple[dict[str, str], ...]) -> tuple[list[str], str]:
    """The genes whose phenotype differs between the columns, and the others' phenotypes
    (the same in every column), e.g. (["CYP2C19"], "CYP2D6 NM")."""
    genes = list(dict.fromkeys(g for c in columns for g in c))
    varied = [g for g in genes if len({c.get(g) for c in columns}) > 1] or genes
    same = ", ".join(f"{g} {columns[0][g]}" for g in genes if g not in varied and g in columns[0])
    return varied, same


def _column_heading(column: dict[str, str], varied: list[str]) -> str:
    """A column's phenotypes, each with its gene: "CYP2C19 PM" (a heading "PM" alone does
    not say of which gene). Where several genes vary, the genes not at NM ("CYP2D6 PM"),
    and "all NM" for the reference."""
    if len(varied) == 1:
        return " ".join(f"{g} {p}" for g, p in column.items() if g in varied)
    said = [f"{g} {p}" for g, p in column.items() if g in varied and p != "NM"]
    return " ".join(said) or "all NM"


def dose_table(console: Console, result: results.GridResult) -> None:
    """Doses by phenotype for each transporter the drug notably occupies;
    a profile without phenotype data gets one table with a column per transporter."""
    profile = result.prepared.profile
    shown = result.notable_transporters()
    every = f"dose {how_often(result.interval_h)}, steady state"
    daily = result.interval_h != HOURS_PER_DAY  # then a column of the day's dose
    if len(result.columns) == 1:
        blocks = [(f"{result.drug}: occupancy, %, {every}", [(f"{t} %", t, 0) for t in shown])]
    else:
        varied, same = _varied_genes(result.columns)
        by = f"by {', '.join(varied)} phenotype" + (f" ({same})" if same else "")
        several = len(varied) > 1 and not result.query.patient.given
        if several:
            by = f"by {' or '.join(varied)} phenotype (other genes NM)"
        headings = [_column_heading(c, varied) for c in result.columns]
        if several:  # gene above phenotype in every heading, evenly
            headings = [h.replace(" ", "\n") for h in headings]
        if result.query.patient.given and headings[-1] == headings[0]:
            headings[-1] = "this patient"  # (the same phenotypes, with a co-medication)
        blocks = [
            (
                f"{result.drug}: {t} occupancy, %, {by}; {every}",
                [(heading, t, i) for i, heading in enumerate(headings)],
            )
            for t in shown
        ]
    for title, columns in blocks:
        console.print(title, style="bold", markup=False)
        table = Table(box=box.SIMPLE_HEAD)
        table.add_column(
            f"mg {how_often(result.interval_h)}" if daily else "dose mg", justify="right"
        )
        if daily:
            table.add_column("mg/day", justify="right")
        for heading, _, _ in columns:
            table.add_column(heading, justify="right")
        for d, (dose_mg, row) in enumerate(zip(result.doses_mg, result.occupancy, strict=True)):
            table.add_row(
                num(dose_mg),
                *([num(dose_mg * HOURS_PER_DAY / result.interval_h)] if daily else []),
                *(
                    "above max"
                    if result.above_label_max(dose_mg, i)
                    else f"{row[i][t] * 100:.0f}" + _alert_mark(result, d, i)
                    for _, t, i in columns
                ),
            )
        print_table(console, table)
    label = "label range " + span(
        num(profile.label_min_mg), num(profile.label_range_max_mg), "mg/day"
    )
    varied, _ = _varied_genes(result.columns)
    lower = [
        f"column {i + 1} ({_column_heading(c, varied) or result.drug}) {num(m)} mg/day"
        for i, (c, m) in enumerate(zip(result.columns, result.label_max_mg, strict=True))
        if m < profile.label_range_max_mg
    ]
    if lower:
        label += "; lower maximum, doses above it not shown: " + ", ".join(lower)
    label = [label, *_liquid_words(result)]
    _print_platelet_line(console, result)
    _print_alert_legend(console, result)
    _print_assumptions(console, assumptions(result.trace(), {}) + [*label, *_class_words(result)])


def _print_platelet_line(console: Console, result: results.GridResult) -> None:
    """The dose table's platelet SERT occupancy, one line (docs/model.md section 20) at
    each dose, of the column it names: the patient's where one is given (phenotypes,
    co-medications), else the all-NM column's (else the first one's)."""
    if not _has_platelet(result):
        return
    if result.query.patient.given:  # the patient's column is the last
        column = len(result.columns) - 1
        whose = f", this patient ({patient_text(result.prepared)})"
    else:
        nm = [i for i, c in enumerate(result.columns) if set(c.values()) <= {"NM"}]
        column = nm[0] if nm else 0
        varied, _ = _varied_genes(result.columns)
        heading = _column_heading(result.columns[column], varied) or "all NM"
        whose = "" if len(result.columns) == 1 else f", {heading}"
    cells = ", ".join(
        f"{num(dose)} mg {_platelet_cell(result, d, column)}"
        for d, dose in enumerate(result.doses_mg)
        if not result.above_label_max(dose, column)
    )
    console.print(f"{platelet_model().label}, %{whose}: {cells}.", markup=False)


def _has_platelet(result: results.GridResult) -> bool:
    return bool(result.platelet) and result.platelet[0][0] is not None


def _platelet_cell(result: results.GridResult, dose_index: int, column: int) -> str:
    if result.above_label_max(result.doses_mg[dose_index], column):
        return "above max"
    value = result.platelet[dose_index][column]
    return "-" if value is None else f"{value * 100:.0f}"


ALERT_MARK = " !"


def _alert_mark(result: results.GridResult, dose_index: int, column: int) -> str:
    """' !' beside a cell (or row) whose expected level reaches the alert level."""
    return ALERT_MARK if result.alert_level(dose_index, column) else ""


def _print_alert_legend(console: Console, result: results.GridResult) -> None:
    """The one line that says what the mark means, where a cell has it."""
    marked = any(
        result.alert_level(d, i) and not result.above_label_max(dose, i)
        for d, dose in enumerate(result.doses_mg)
        for i in range(len(result.columns))
    )
    if marked:
        profile = result.prepared.profile
        console.print(
            f"{ALERT_MARK.strip()} the expected {moiety_words(profile)} level (steady-state "
            f"average) is at or above the laboratory alert level of "
            f"{num(profile.therapeutic_alert_ng_ml)} ng/mL.",
            markup=False,
        )


def _liquid_words(result: results.GridResult) -> list[str]:
    """The default doses no strength makes, which the table shows as the marketed oral
    liquid measures them (the label minimum shared over the day's doses)."""
    profile = result.prepared.profile
    if result.query.doses_mg is not None or not profile.oral_liquids:
        return []
    form, mg_per_ml = most_dilute_liquid(profile)
    said = []
    for dose_mg in result.doses_mg:
        made = smallest_dose_from_strengths(dose_mg, unit_pieces(profile))
        if (made is None or made[0] != dose_mg) and liquid_dose_mg(profile, dose_mg):
            said.append(
                f"{num(dose_mg)} mg as {num(dose_mg / mg_per_ml)} mL of the {form}, "
                f"{num(mg_per_ml)} mg/mL (no tablet makes it)"
            )
    return said


def _class_words(result: results.GridResult) -> list[str]:
    """The phenotypes shown at a class activity (no measured value for the drug), gene by
    gene: ["CYP2D6 PM, IM, UM class activity"]."""
    by_gene: dict[str, list[str]] = {}
    for column, genes in zip(result.columns, result.class_genes, strict=True):
        for gene in genes:
            if column[gene] not in by_gene.setdefault(gene, []):
                by_gene[gene].append(column[gene])
    return [f"{g} {', '.join(p)} class activity" for g, p in by_gene.items()]


def _one_gene_columns(result: results.GridResult) -> list[int]:
    """The columns with at most one gene away from NM (the others are combinations)."""
    return [
        i
        for i, column in enumerate(result.columns)
        if sum(p != "NM" for p in column.values()) <= 1 or result.query.patient.given
    ]


def phenotype_table(console: Console, result: results.GridResult) -> None:
    """One dose: a row per phenotype with each moiety's level, and each transporter's
    occupancy with each moiety's share; where two genes both vary, their combinations
    as a matrix of occupancy."""
    profile, shown = result.prepared.profile, result.notable_transporters()
    names = [m.name for m in profile.moieties]
    dose_mg = result.doses_mg[0]
    varied, same = _varied_genes(result.columns)
    patient = result.query.patient.given
    rows = _one_gene_columns(result)

    def label_of(i: int) -> str:
        if patient and i == len(result.columns) - 1:
            return patient_text(result.prepared)
        return _column_heading(result.columns[i], varied) or "all NM"

    def whose(i: int) -> str:  # the platelet line: the patient's row said as such
        if patient and i == len(result.columns) - 1:
            return f"this patient ({label_of(i)})"
        return label_of(i)

    def build() -> Table:
        table = Table(box=box.SIMPLE_HEAD)
        table.add_column("phenotype")
        for name in names:
            table.add_column(f"{name} ng/mL", justify="right")
        for t in shown:  # "50 (36 + 15)" kept on one line: the headings wrap first
            table.add_column(f"{t} %", justify="right", no_wrap=len(names) > 1)
        for i in rows:
            label = label_of(i)
            if result.above_label_max(dose_mg, i):
                table.add_row(label, *(["above max"] * (len(names) + len(shown))))
                continue
            levels, shares = result.levels_ng_ml[0][i], result.shares[0][i]
            table.add_row(
                label + _alert_mark(result, 0, i),
                *(num(levels[name]) for name in names),
                *(_with_shares(result.occupancy[0][i][t], shares.get(t, {}), names) for t in shown),
            )
        return table

    table = build()
    heading = f"{regimen(result.drug, dose_mg, result.interval_h)}: steady state by phenotype"
    if same and len(varied) == 1:
        heading += f" ({same})"
    elif len(varied) > 1 and not patient:
        heading += " (one gene at a time, other genes NM)"
    console.print(heading, style="bold", markup=False)
    print_table(console, table)
    if len(names) > 1:
        console.print(
            f"In brackets: {' + '.join(names)}, each one's share of the occupancy "
            "(they compete: docs/model.md section 4).",
            markup=False,
        )
    _combined(console, result, shown)
    _print_alert_legend(console, result)
    if _has_platelet(result):  # (one line below the tables: the screen stays as it was)
        console.print(
            f"{platelet_model().label}, %: "
            + ", ".join(f"{whose(i)} {_platelet_cell(result, 0, i)}" for i in rows)
            + ".",
            markup=False,
        )
    label = "label range " + span(
        num(profile.label_min_mg), num(profile.label_range_max_mg), "mg/day"
    )
    _print_assumptions(console, assumptions(result.trace(), {}) + [label, *_class_words(result)])


def _with_shares(total: float, shares: dict[str, float], names: list[str]) -> str:
    """ "50 (36 + 15)": the occupancy, and each moiety's share where there are several."""

    def whole(value: float | None) -> str:
        return pct(value).removesuffix(" %").replace("< ", "<").replace("> ", ">")

    if len(names) < 2:
        return whole(total)
    return f"{whole(total)} ({' + '.join(whole(shares.get(n)) for n in names)})"


def _combined(console: Console, result: results.GridResult, shown: list[str]) -> None:
    """Two genes' combinations (rows the first, columns the second): occupancy of each
    transporter shown, "SERT/NET"."""
    both = [c for c in result.columns if sum(p != "NM" for p in c.values()) == 2]
    if not both or result.query.patient.given:
        return
    first, second = (g for g, p in both[0].items() if p != "NM")
    where = {(c[first], c[second]): i for i, c in enumerate(result.columns)}
    rows = [p for p in PHENOTYPES if any(k[0] == p for k in where)]
    columns = [p for p in PHENOTYPES if any(k[1] == p for k in where)]
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("")
    for phenotype in columns:
        table.add_column(f"{second} {phenotype}", justify="right")
    dose_mg = result.doses_mg[0]
    for a in rows:
        cells = []
        for b in columns:
            i = where.get((a, b))
            if i is None:
                cells.append("-")
            elif result.above_label_max(dose_mg, i):
                cells.append("above max")
            else:
                occupancy = result.occupancy[0][i]
                cells.append(
                    "/".join(pct(occupancy[t]).removesuffix(" %") for t in shown)
                    + _alert_mark(result, 0, i)
                )
        table.add_row(f"{first} {a}", *cells)
    console.print(
        f"{'/'.join(shown)} occupancy, %, both genes: {first} by {second}",
        style="bold",
        markup=False,
    )
    print_table(console, table)


def profile_list(profiles: list[Profile], overrides: dict[str, str], env) -> None:
    table = Table(box=box.SIMPLE_HEAD)
    for name in ("drug", "class", "genes", "label mg/day", "from"):
        table.add_column(name)
    bundled = str(bundled_profiles_dir())
    for p in profiles:
        origin = "bundled" if p.path.startswith(bundled) else printable(p.path)
        table.add_row(
            p.name,
            p.drug_class,
            ", ".join(p.genes) or "-",
            span(num(p.label_min_mg), num(p.label_max_mg)),
            origin + (" (overrides bundled)" if p.name in overrides else ""),
        )
    print_table(_console(env), table)


def profile_show(text: str, env) -> None:
    from rich.syntax import Syntax

    console = _console(env)
    if env.stdout_isatty:  # a file's text on a screen: no control character gets through
        text = printable(text.replace("\r\n", "\n"), lines=True)
    if not env.colour:
        console.file.write(text)  # byte for byte: `profiles show X > x.yaml` round-trips
        return
    width = max(len(line) for line in text.splitlines() or [""]) + 8
    syntax = Syntax(text, "yaml", theme="ansi_dark", background_color="default", code_width=width)
    console.print(syntax, soft_wrap=True, crop=False)


def simulation(console: Console, result: results.SimulationResult) -> None:
    from sert_cli.render.chart import draw
    from sert_cli.render.figures import figures_of

    record = result.record()
    summary = record["summary"]
    steps = record.get("schedule") or []
    if len(steps) > 1 or record.get("missed_days"):  # say the regimen as it was taken
        taken = ", then ".join(
            f"{step['dose_mg']:g} mg every {step['interval_h']:g} h for {step['days']:g} days"
            for step in steps
        )
        missed = record.get("missed_days") or []
        said = f"{record['drug']} {taken}" + (
            f", day {', '.join(map(str, missed))} missed" if missed else ""
        )
    else:
        said = regimen(record["drug"], record["dose_mg"], record["interval_h"])
    table = pairs_table(
        console,
        f"{said}, {record['doses']} doses ({phenotype_text(record['phenotypes'])})",
    )

    def days(hours):
        return "not reached" if hours is None else f"{hours / 24:.1f} days"

    if "steady_state_peak_ng_ml" in summary:  # one regimen, kept to steady state
        table.add_row("90 % of steady state", days(summary.get(steady_state_key(0.90))))
        table.add_row("95 % of steady state", days(summary.get(steady_state_key(0.95))))
        table.add_row(
            "steady-state plasma, peak / trough",
            f"{num(summary['steady_state_peak_ng_ml'])} / "
            f"{num(summary['steady_state_trough_ng_ml'])} ng/mL",
        )
    else:  # a schedule that changes, or missed days: no one steady state to speak of
        table.add_row("doses taken", str(summary["doses_taken"]))
        table.add_row("last dose", f"day {summary['last_dose_h'] / 24 + 1:g}")
        for transporter in TRANSPORTERS:
            if f"peak_occupancy_{transporter}" in summary:
                table.add_row(
                    f"{transporter} occupancy, highest / at the end",
                    f"{pct(summary[f'peak_occupancy_{transporter}'])} / "
                    f"{pct(summary[f'final_occupancy_{transporter}'])}",
                )
    for transporter in TRANSPORTERS:
        if f"steady_state_peak_occupancy_{transporter}" in summary:
            table.add_row(
                f"steady-state {transporter} occupancy, peak / trough",
                f"{pct(summary[f'steady_state_peak_occupancy_{transporter}'])} / "
                f"{pct(summary[f'steady_state_trough_occupancy_{transporter}'])}",
            )
    no_sert = (record.get("occupancy") or {}).get("SERT") is None
    for level in (50, 20):
        value = summary.get(f"days_after_last_dose_to_sert_below_{level}pct")
        table.add_row(
            f"SERT occupancy below {level} % after the last dose",
            ("n/a" if no_sert else "not reached within the window")
            if value is None
            else f"{value:.1f} days",
        )
    if "platelet_serotonin_fraction_steady_state" in summary:
        _platelet_rows(table, summary, changing=len(steps) > 1)
    if "adaptation" in record:
        for share in (50, 90):
            value = summary.get(f"days_to_{share}pct_adaptation")
            table.add_row(
                f"5-HT1A autoreceptor desensitization, {share} %",
                "not reached" if value is None else f"{value:.1f} days",
            )
    print_table(console, table, margins=False)
    if "platelet_evidence" in summary:
        console.print(f"Platelets: {summary['platelet_evidence']}.", style="dim", markup=False)
    if "adaptation" in record:
        console.print(f"Adaptation: {record['adaptation']['note']}.", style="dim", markup=False)
    width = min(console.width, 100)
    for figure in figures_of(result):
        console.print(
            draw(figure, width=width), markup=False, highlight=False, end="", soft_wrap=True
        )
        console.print()
    _print_factor_assumptions(console, result)


def _platelet_rows(table: Table, summary: dict, changing: bool) -> None:
    """A time course's platelet lines (docs/model.md section 20). A level the course did not
    reach is said as beyond the time window (with a row for its end day and how to extend
    it), or, for one regimen whose steady state stays above it, as never reached at that
    dose; a changing regimen's steady state is said as of its first dose."""
    steady = summary["platelet_serotonin_fraction_steady_state"]
    beyond = []

    def days(value, level: float | None = None) -> str:
        if value is not None:
            return f"{value:.1f} days"
        if level is not None and not changing and steady is not None and steady > level:
            return f"never (settles at {pct(steady)})"
        beyond.append(True)
        return "beyond the window"

    table.add_row(
        "platelet occupancy (SERT) / 5-HT, steady state",
        f"{pct(summary['platelet_sert_occupancy_steady_state'])} / {pct(steady)} of baseline",
    )
    if changing:  # (its steady state is the first dose's)
        dose, interval = (
            summary["platelet_steady_state_dose_mg"],
            summary["platelet_steady_state_interval_h"],
        )
        table.add_row("  of the first dose", f"{num(dose)} mg every {num(interval)} h")
    for level in (50, 20):
        table.add_row(
            f"platelet 5-HT down to {level} % of baseline",
            days(summary[f"days_to_platelet_serotonin_{level}pct"], level / 100),
        )
    table.add_row(
        "platelet 5-HT back to 80 % after the last dose",
        days(summary["days_after_last_dose_to_platelet_serotonin_80pct"]),
    )
    if beyond:
        end_days = summary["window_end_h"] / HOURS_PER_DAY
        table.add_row("  the window", f"ends day {end_days:.0f}; --until to extend")


def curve(console: Console, result: results.GridResult) -> None:
    from sert_cli.render.chart import draw
    from sert_cli.render.figures import figures_of

    width = min(console.width, 100)
    for figure in figures_of(result):
        console.print(
            draw(figure, width=width), markup=False, highlight=False, end="", soft_wrap=True
        )
        console.print()
    _print_factor_assumptions(console, result)
    _print_assumptions(console, assumptions(result.trace(), {}))


def _pp(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _range_cell(bounds) -> str:
    return "-" if bounds is None else span(f"{bounds[0] * 100:.0f}", f"{bounds[1] * 100:.0f}")


def _status_cell(row) -> str:
    """The point's status, and 'outside' where it falls outside its held-out range."""
    words = [] if row["status"] == "verified" else [row["status"]]
    bounds = row["left_out_range"]
    if bounds is not None and not bounds[0] <= row["observed"] <= bounds[1]:
        words.append("outside")
    return ", ".join(words)


def _whole(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}"


def _pet_points(transporter: str, points: list[dict]) -> Table:
    """One transporter's PET points, each study's under its name (a row of its own)."""
    table = titled_table(
        f"{transporter} PET occupancy, observed vs predicted (%)",
        ("drug", "mg/day", "when", "obs", "in vitro", "model", "left out", "90 % range", ""),
        right=("mg/day", "when", "obs", "in vitro", "model", "left out", "90 % range"),
    )
    study = None
    for r in points:
        if r["study"] != study:
            study = r["study"]
            table.add_row(Text(study, style="bold"))
        when = (
            "steady" if r["regimen"] == "steady_state" else f"{num(r['hours_after_last_dose'])} h"
        )
        if r["regimen"] == "repeated":
            when = f"rep {when}"
        table.add_row(
            r["drug"],
            num(r["dose_mg_day"]),
            when,
            _whole(r["observed"]),
            _whole(r["predicted_in_vitro"]),
            _whole(r["predicted"]),
            _whole(r["predicted_left_out"]),
            _range_cell(r["left_out_range"]),
            _status_cell(r),
        )
    return table


def validation(result: dict, env) -> None:
    console = _console(env)
    for transporter in TRANSPORTERS:
        chosen = [r for r in result["points"] if r["transporter"] == transporter]
        if chosen:
            print_table(console, _pet_points(transporter, chosen))
    drugs = titled_table(
        "Mean absolute error by drug and kind of point (percentage points)",
        ("drug", "T", "kind", "points", "in vitro", "model", "left out", "constant"),
        right=("points", "in vitro", "model", "left out"),
    )
    for d in result["drugs"]:
        drugs.add_row(
            d["drug"],
            d["transporter"],
            d["kind"].replace("_", " "),
            str(d["points"]),
            _pp(d["mae_in_vitro_pp"]),
            _pp(d["mae_pp"]),
            _pp(d["mae_left_out_pp"]),
            (d["constant"] or "").split(" (")[0],
        )
    print_table(console, drugs)
    model = result["model"]
    plateaus = "; ".join(
        f"{p['transporter']} {p['tracer']} {percent(p['emax'])}"
        + next(
            (
                " (95 % "
                + span(f"{i['interval'][0] * 100:.0f}", f"{i['interval'][1] * 100:.0f}", "%")
                + ")"
                for i in model["plateau_intervals"]
                if (i["transporter"], i["tracer"]) == (p["transporter"], p["tracer"])
            ),
            " (assumed)",
        )
        for p in model["plateaus"]
    )
    console.print(
        f"PET plateaus (Emax): {plateaus}. Spread of the log load the model leaves "
        f"unexplained: between studies {model['between_study_log_sd']:.2f}, within "
        f"{model['within_study_log_sd']:.2f}.",
        markup=False,
    )
    cover = result["coverage"]["all"]
    if cover["share"] is not None:
        console.print(
            f"Study means inside the 90 % range sert prints for patients, the study left out "
            f"of the fit: {cover['inside']} of {cover['points']} ({percent(cover['share'])}; goal "
            f"{percent(cover['goal'])}; 'outside' marks the others); inside the narrower range "
            f"for a study's mean: {cover['inside_study_mean_range']}.",
            markup=False,
        )
    for name, s in result["summary"].items():
        console.print(
            f"{name.replace('_', ' ')}: {s['points']} points; MAE in vitro "
            f"{_pp(s['mae_in_vitro_pp'])}, model {_pp(s['mae_pp'])}, leave-one-study-out "
            f"{_pp(s['mae_left_out_pp'])} pp (worst drug {_pp(s['worst_drug_mae_left_out_pp'])}; "
            f"{_pp(s['mae_left_out_own_drug_pp'])} pp over the {s['points_left_out_own_drug']} "
            "points whose drug keeps another study).",
            markup=False,
        )
    limits = model["limits"]
    console.print(
        f"Goals for SERT steady state, leave-one-study-out: {limits['overall_pp']:g} pp overall, "
        f"{limits['per_drug_pp']:g} pp for any drug. Unverified points (not counted): "
        f"{len(result['unverified'])}.",
        markup=False,
    )
    ranges = titled_table(
        "Therapeutic range at the label's minimum dose, NM",
        ("drug", "mg/day", "predicted ng/mL", "range", "inside"),
    )
    for c in result["therapeutic_ranges"]:
        ranges.add_row(
            c["drug"],
            num(c["daily_dose_mg"]),
            num(c["predicted_ng_ml"]),
            span(num(c["range_ng_ml"][0]), num(c["range_ng_ml"][1])) + f" ({c['of']})",
            "yes" if c["inside"] else "NO",
        )
    print_table(console, ranges)
    ratios = titled_table(
        "Exposure vs NM (other genes NM)",
        ("drug", "moiety", "phenotype", "mg/day", "model", "cited", "within 15 %"),
    )
    for c in result["exposure_ratios"]:
        ratios.add_row(
            c["drug"],
            c["moiety"].replace("_", " "),
            f"{c['gene']} {c['phenotype']}",
            num(c["daily_dose_mg"]),
            f"{c['model_ratio']:.2f}",
            f"{c['cited_ratio']:.2f}",
            "yes" if c["within_15pct"] else "NO",
        )
    print_table(console, ratios)
    _observed_levels(console, result)
    _platelet_checks(console, result)
    rule = titled_table(
        "SERT occupancy at the label's minimum and maximum doses, NM",
        ("drug", "min mg/day", "SERT", "max mg/day", "SERT", "70-90 % at min"),
    )
    for c in result["eighty_percent_rule"]:
        rule.add_row(
            c["drug"],
            num(c["daily_dose_mg"]),
            pct(c["sert_occupancy"]),
            num(c["max_daily_dose_mg"]),
            pct(c["sert_occupancy_at_max"]),
            "yes" if c["inside_70_90"] else "NO",
        )
    print_table(console, rule)
    for c in result["eighty_percent_rule"]:  # (under the table: a sentence, not a cell)
        if c["reason"]:
            console.print(f"{c['drug']}, not 70-90 % at min: {c['reason']}", markup=False)


def _observed_levels(console, result: dict) -> None:
    """Observed plasma levels against the model's, and the fold errors beneath."""
    rows = result["observed_levels"]
    if not rows:
        return
    table = titled_table(
        "Observed plasma levels (ng/mL) vs the model",
        (
            "study",
            "drug",
            "moiety",
            "mg/day",
            "phenotype",
            "sampling",
            "observed",
            "model",
            "model/obs",
            "90 % range",
            "derives",
        ),
        right=("mg/day", "observed", "model", "model/obs"),
    )
    for r in rows:
        low_high = r["range_ng_ml"]
        table.add_row(
            r["study"],
            r["drug"],
            r["moiety"].replace("_", " "),
            num(r["daily_dose_mg"]),
            f"{r['gene']} {r['phenotype']}" if r["gene"] else "unselected",
            r["sampling"],
            num(r["observed_ng_ml"]),
            num(r["predicted_ng_ml"]),
            f"{r['ratio']:.2f}",
            "-"
            if low_high is None
            else span(num(low_high[0]), num(low_high[1]))
            + ("" if r["inside_range"] else " (outside)"),
            r["derives"] or "- (independent)",
        )
    print_table(console, table)
    parts = []
    for name, words in (("in_sample", "in sample"), ("independent", "independent")):
        s = result["observed_levels_summary"][name]
        if s["rows"]:
            parts.append(
                f"{words}: geometric mean fold error {s['gmfe']:.2f} over {s['rows']} rows "
                f"(model/observed {s['geometric_mean_ratio']:.2f} on average; "
                f"{s['inside_range']} of {s['with_range']} inside the 90 % range)"
            )
    console.print(
        "Observed levels (an unselected cohort against NM; other genes NM), "
        + "; ".join(parts)
        + ".",
        markup=False,
    )


def fit(result: dict, env) -> None:
    console = _console(env)
    for f in result["fits"]:
        interval = f["pet_ec50_interval_ng_ml"]
        interval_words = (
            ""
            if interval is None
            else "; 95 % interval "
            + "-".join("open" if v in (0, float("inf")) else f"{v:.3g}" for v in interval)
        )
        console.print(
            f"{f['drug']} {f['transporter']}: EC50 {f['pet_ec50_plasma_ng_ml']:.4g} ng/mL "
            f"(total plasma{interval_words}), plateau {percent(f['pet_emax'])}, {f['kind']}: "
            f"{f['basis']} ({f['points']} points; MAE {_pp(f['mae_in_vitro_pp'])} pp in vitro "
            f"-> {_pp(f['mae_fitted_pp'])} pp fitted); profile has {f['profile_value_ng_ml']} "
            "ng/mL",
            markup=False,
        )
        console.print(f"  targets.{f['yaml']}", markup=False)


def source_counts(records: list[dict], kinds: tuple[str, ...], env) -> None:
    console = _console(env)
    table = titled_table(
        "Sources of the shipped numbers, by file",
        ("file", *kinds, "total"),
        right=(*kinds, "total"),
    )
    for r in records:
        table.add_row(Path(r["file"]).name, *(str(r[k]) for k in kinds), str(r["total"]))
    totals = {k: sum(r[k] for r in records) for k in (*kinds, "total")}
    table.add_row("all files", *(str(totals[k]) for k in kinds), str(totals["total"]))
    print_table(console, table)


def print_notes(notes, console: Console, explain: bool = False) -> None:
    """Each note short (its source is --explain's), or whole with --explain; a note with
    an empty short form (a co-medication that changes nothing here) is --explain's only."""
    for note in notes:
        text = note if explain else getattr(note, "short", note)
        if text:
            console.print(f"Note: {text}", style="dim", markup=False)


def print_advice(console: Console, advice: dict, explain: bool) -> None:
    """A guideline's advice for the patient: in a few words (guidance.csv's brief), or
    whole, in the guideline's terms, with --explain."""
    strength = f" {advice['strength']}" if advice["strength"] else ""
    if explain:
        subject = " ".join(w for w in (advice["gene"], advice["cpic_term"]) if w)
        if advice["not_given"]:
            subject += f" ({', '.join(advice['not_given'])} not given)"
        text = advice["advice"]
    else:
        subject = advice_subject(advice)  # a gene not given: "CYP2C19 (not given)"
        text = advice["brief"]
    subject = f", {subject}" if subject else ""
    console.print(f"{advice['source']}{strength}{subject}: {text}", markup=False)


def patient_extras(console: Console, result, explain: bool, err: Console) -> None:
    """What the patient layer did, guideline advice, the --explain trace, then warnings."""
    prepared = result.prepared
    print_notes(prepared.notes, console, explain)
    for advice in prepared.guidance:
        print_advice(console, advice, explain)
    if explain:
        for number, step in enumerate(result.trace(), start=1):
            console.print(f"{number}. {step.name}: {step.formula}", style="bold", markup=False)
            if step.values:
                console.print(f"   {step.numbers()}", markup=False)
            if step.assumes and isinstance(step.assumes, str):
                console.print(f"   assumes: {step.assumes}", markup=False)
            console.print(f"   source: {step.source}", style="dim", markup=False)
        console.print("Binding constants: " + "; ".join(constants(prepared.profile)), markup=False)
    console.print(f"{STATEMENT[0].upper()}{STATEMENT[1:]}.", style="dim", markup=False)
    print_warnings(result.warnings, err)


def phenotypes(records: list[dict], env) -> None:
    table = Table(box=box.SIMPLE_HEAD)
    for name in ("gene", "diplotype", "activity score", "phenotype", "CPIC term", "alleles"):
        table.add_column(name, no_wrap=name == "CPIC term")  # (on one line where it fits)
    for r in records:
        score = (
            "-"
            if r["activity_score"] is None
            else ("≥" if r["activity_score_at_least"] else "") + f"{r['activity_score']:g}"
        )
        alleles = "; ".join(
            f"{a['allele']} {a['function'].replace(' function', '')}"
            + ("" if a["activity_value"] is None else f" ({a['activity_value']:g})")
            for a in r["alleles"]
        )
        table.add_row(
            r["gene"], r["diplotype"], score, r["phenotype"], r["cpic_phenotype"], alleles
        )
    console = _console(env)
    print_table(console, table, keys=2)  # gene and diplotype name a row
    if records:
        console.print(
            f"CPIC data version {records[0]['cpic_data_version']}", style="dim", markup=False
        )


def compare(console: Console, result: results.CompareResult) -> None:
    """`sert compare`: a column per drug, a row per measure a resident compares."""
    q, columns = result.query, result.columns
    patient = _patient_words(result)
    table = Table(
        title=f"{', '.join(c['drug'] for c in columns)}{patient}",
        box=box.SIMPLE_HEAD,
        title_justify="left",
    )
    table.add_column("")
    for column in columns:
        table.add_column(column["drug"], justify="right", overflow="fold")

    def row(label: str, cells) -> None:
        table.add_row(label, *cells)

    daily = all(c["interval_h"] == HOURS_PER_DAY for c in columns)
    row(
        "dose, mg/day" if daily else "dose",
        [
            (
                f"{c['daily_dose_mg']:g}" + ("" if daily else " mg/day")
                if c["interval_h"] == HOURS_PER_DAY
                else dose_words(c["dose_mg"], c["interval_h"])
            )
            + ("" if c["dose_given"] else " (usual)")
            for c in columns
        ],
    )
    for transporter in ("SERT", "NET"):
        row(f"{transporter} occupancy", [pct(c["occupancy"].get(transporter)) for c in columns])
    row("platelet occupancy (SERT)", [pct(c["platelet_sert_occupancy"]) for c in columns])
    row("plasma, ng/mL", [num(c["css_plasma_ng_ml"]) for c in columns])
    row(
        f"dose for {q.target * 100:g} % {q.transporter}, mg/day",
        [_dose_for_target(c) for c in columns],
    )
    row(
        f"platelet SERT at the dose for {q.target * 100:g} %",
        [pct(c.get("platelet_sert_occupancy_at_dose_for_target")) for c in columns],
    )
    row(
        "  90 % of patients, mg/day",
        [
            "-"
            if not c.get("dose_for_target_range_mg")
            else span(*(f"{d * 24 / c['interval_h']:.3g}" for d in c["dose_for_target_range_mg"]))
            for c in columns
        ],
    )
    row(
        "CL/F vs an average patient", [f"x{c['clearance_vs_average_patient']:.2f}" for c in columns]
    )
    row(
        "95 % of steady state",
        [
            "n/a"
            if c["time_to_95pct_steady_state_days"] is None
            else f"{c['time_to_95pct_steady_state_days']:.1f} days"
            for c in columns
        ],
    )
    row("label, mg/day", [_label(*c["label_range_mg_day"]) for c in columns])
    print_table(console, table)
    console.print(
        "Each drug's notes and CPIC/DPWG guidance: `sert dose DRUG` with the same options.",
        style="dim",
        markup=False,
    )
    console.print(f"Platelets: {result.record()['platelet_evidence']}.", style="dim", markup=False)


def _label(low_mg: float, high_mg: float) -> str:
    """The patient's label range: one number where the limits leave one dose."""
    return span(f"{low_mg:g}", f"{high_mg:g}")


def _dose_for_target(column: dict) -> str:
    """The exact dose, then what the strengths make (never above the label maximum)."""
    exact = column.get("dose_for_target_mg")
    if exact is None:
        return "none"
    per_day = 24 / column["interval_h"]
    made = column.get("recommended_dose_mg")
    text = f"{exact * per_day:.3g}"
    if made is not None:
        text += f" -> {made * per_day:g}"
    return text + ("" if column.get("target_reached", True) else " (short)")


def _patient_words(result: results.CompareResult) -> str:
    """' for CYP2C19 poor metabolizer, with omeprazole, age 72': the patient as given."""
    query, said = result.query, []
    for gene, phenotype in query.patient.phenotypes:
        said.append(f"{gene} {PHENOTYPE_NAMES.get(phenotype, phenotype)}")
    said += [f"{gene} {diplotype}" for gene, diplotype in query.patient.genotypes]
    if query.patient.comedications:
        said.append("with " + ", ".join(query.patient.comedications))
    for name, value in result.prepared.factors.items():
        said.append(f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}")
    return (" for " + ", ".join(said)) if said else " for an average patient (NM)"


RENDERERS = {
    results.CompareResult: compare,
    results.OccupancyResult: occupancy,
    results.DoseResult: dose,
    results.SimulationResult: simulation,
    results.PopulationResult: population,
    results.TdmResult: tdm,
    results.TaperResult: taper,
    results.SwitchResult: switch,
}


def _platelet_checks(console: Console, result: dict) -> None:
    """`sert validate`'s platelet table (docs/model.md section 20): each platelet_uptake.csv
    row observed vs model, and the MAE of the rows fitted and of those checked."""
    summary = result["platelets_summary"]
    table = titled_table(
        "Platelet SERT: observed vs model (%)",
        ("study", "drug", "mg/day", "days", "measure", "obs", "model", "use"),
        right=("mg/day", "days", "obs", "model"),
    )
    for r in result["platelets"]:
        table.add_row(
            r["study"],
            r["drug"],
            "-" if r["daily_dose_mg"] is None else num(r["daily_dose_mg"]),
            "steady" if r["days_on_drug"] is None else num(r["days_on_drug"]),
            r["measure"].replace("_", " "),
            "-" if r["observed_pct"] is None else f"{r['observed_pct']:.0f}",
            "-" if r["model_pct"] is None else f"{r['model_pct']:.0f}",
            r["use"] + (f" ({r['note']})" if r["note"] else ""),
        )
    if result["platelets"]:
        print_table(console, table)
    fitted, checked = summary["summary"]["fit"], summary["summary"]["check"]
    fit_words = (
        f"MAE fitted (in sample) {_pp(fitted['mae_pp'])} pp over {fitted['rows']}"
        if fitted["rows"]
        else "no fit rows (nothing fitted)"
    )
    uncounted = sum(r["use"] == "not counted" for r in result["platelets"])
    shown = f" ({uncounted} shown, not counted: unverified or excluded)" if uncounted else ""
    console.print(
        f"Platelets: {len(result['platelets'])} rows; {fit_words}; checked MAE "
        f"{_pp(checked['mae_pp'])} pp over {checked['rows']}{shown}; {summary['evidence']}.",
        markup=False,
    )


def platelet_fit(found: dict, env) -> None:
    """`sert validate --fit platelet`: the scale, its interval and the rows to write."""
    console = _console(env)
    if found["scale"] is None:
        console.print(
            "Platelet scale: no fit (no usable uptake_inhibition row with use fit in "
            "sert_cli/data/platelet_uptake.csv); outputs use the in vitro K (s_plt = 1) and "
            "say so.",
            markup=False,
        )
        return
    interval = (
        "no interval (one row)"
        if found["interval"] is None
        else "95 % interval " + span(*(f"{v:.3g}" for v in found["interval"]))
    )
    console.print(
        f"Platelet scale s_plt {found['scale']:.3g} ({interval}), from {found['rows']} rows of "
        f"{len(found['studies'])} studies: K_plt = s_plt * K in vitro.",
        markup=False,
    )
    console.print("platelet_model.csv rows (make refit writes them):", markup=False)
    for line in found["csv_rows"]:
        console.print(line, markup=False, soft_wrap=True)
