"""`make bench`: sert's start-up and batch speed, each as a ratio to a floor.

Every floor is built and measured in the same run, with the same Python, from nothing
outside the repository.

    python benchmarks/run.py [--rows N | --quick] [--runs R] [--startup-runs S] [--jobs J]

Ratios are medians over rounds of interleaved runs (benchmarks/timer.py: A B A B ...).
The floors: a bare Typer app (benchmarks/typer_floor.py) for a single query; for a batch,
a plain csv-module copy of the same input (benchmarks/csv_copy.py) and a writer of as
many output bytes with no computing (benchmarks/output_floor.py). The table at the end
gives each figure, its goal and pass or FAIL. Timings on a shared machine are noisy:
compare ratios, not absolute times, and repeat a figure before trusting a change in it.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import inputs
import timer

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
SERT = str(BIN / "sert")
PY = sys.executable
MB = 1e6
MEMORY_LIMIT_MB = 300
MEMORY_GROWTH = 1.3  # peak at N rows / peak at N/10 rows
BATCH_GOALS = {("mix", "key"): 4.0, ("distinct", "key"): 5.0, "all": 12.0, "jsonl": 1.5}


@dataclass
class Row:
    figure: str
    measured: str
    goal: str = ""
    status: str = ""  # pass, FAIL, n/a or empty (for information)


TABLE: list[Row] = []


def record(figure: str, measured: str, goal: str = "", passed: bool | None = None) -> None:
    status = "" if passed is None else ("pass" if passed else "FAIL")
    if measured.startswith("n/a"):
        status = "n/a"
    TABLE.append(Row(figure, measured, goal, status))
    print(f"  {figure}: {measured}" + (f"  [goal {goal}: {status}]" if goal else ""), flush=True)


def ratio_row(figure: str, value: float, goal: float | None, detail: str = "") -> None:
    measured = f"{value:.2f}x" + (f" ({detail})" if detail else "")
    if goal is None:
        record(figure, measured)
    else:
        record(figure, measured, f"<= {goal:g}x", value <= goal)


# -- start-up ---------------------------------------------------------------------------


def startup(runs: int) -> None:
    print(f"start-up: medians of {runs} interleaved runs", flush=True)
    floor = [PY, str(HERE / "typer_floor.py")]
    single = [SERT, "occupancy", "escitalopram", "--dose", "10"]
    pairs = [
        (
            "single query for a script (`sert occupancy escitalopram --dose 10 --format json`)"
            " / bare Typer app",
            [*single, "--format", "json"],
            [*floor, "occupancy", "escitalopram", "--dose", "10", "--format", "json"],
            1.2,
        ),
        (
            "  the same as a table (Rich's import) / bare Typer app",
            single,
            [*floor, "occupancy", "escitalopram", "--dose", "10"],
            None,
        ),
        (
            "`sert dose escitalopram --format json` / bare Typer app",
            [SERT, "dose", "escitalopram", "--format", "json"],
            [*floor, "dose", "escitalopram", "--format", "json"],
            1.3,
        ),
        (
            "`sert dose escitalopram` (Rich table) / bare Typer app",
            [SERT, "dose", "escitalopram"],
            [*floor, "dose", "escitalopram"],
            None,
        ),
        (
            "`sert dose escitalopram --format json` / `python -c pass`",
            [SERT, "dose", "escitalopram", "--format", "json"],
            [PY, "-c", "pass"],
            15.0,
        ),
        (
            "a year of hourly paroxetine (`sert simulate paroxetine --dose 20 --days 365`)"
            " / single query",
            [SERT, "simulate", "paroxetine", "--dose", "20", "--days", "365"],
            single,
            3.0,
        ),
        (
            "  the same, --format json / `sert occupancy paroxetine --dose 20 --format json`",
            [SERT, "simulate", "paroxetine", "--dose", "20", "--days", "365", "--format", "json"],
            [SERT, "occupancy", "paroxetine", "--dose", "20", "--format", "json"],
            3.0,
        ),
        (
            "1M virtual patients (`sert population escitalopram --dose 10 --n 1000000`)"
            " / single query",
            [SERT, "population", "escitalopram", "--dose", "10", "--n", "1000000"],
            single,
            6.0,
        ),
    ]
    for figure, a, b, goal in pairs:
        try:
            ta, tb = timer.interleave([a, b], runs)
        except timer.CommandFailed as exc:
            record(figure, f"n/a (failed: exit {exc.code})")
            print(exc, file=sys.stderr)
            continue
        a_ms, b_ms = timer.median_seconds(ta) * 1e3, timer.median_seconds(tb) * 1e3
        detail = f"{a_ms:.0f} ms vs {b_ms:.0f} ms"
        ratio_row(figure, timer.median_ratio(ta, tb), goal, detail)


def in_process() -> None:
    """The engine's own speed, without start-up (and issue 3's simulation figure)."""
    try:
        from sert_cli.pk.timecourse import simulate
        from sert_cli.profiles.library import load_library
        from sert_cli.queries.engine import Engine
        from sert_cli.queries.values import DoseQuery, OccupancyQuery
    except ImportError as exc:  # the engine's layout changed: say so, do not crash
        record("in process", f"n/a ({exc})")
        return
    library = load_library()
    engine = Engine(library)
    for name, query in (
        ("in process: one occupancy query (escitalopram)", OccupancyQuery("escitalopram", 10.0)),
        ("in process: one dose query (escitalopram)", DoseQuery("escitalopram")),
    ):
        n = 5000
        started = time.perf_counter()
        for _ in range(n):
            engine.answer_many([query])[0].record()
        record(name, f"{(time.perf_counter() - started) / n * 1e6:.1f} us per call")
    for drug, dose in (("escitalopram", 10.0), ("venlafaxine", 150.0), ("paroxetine", 20.0)):
        profile = library.get(drug)
        phenotypes = dict.fromkeys(profile.genes, "NM")
        times = []
        for _ in range(21):
            started = time.perf_counter()
            simulate(profile, phenotypes, dose, 24.0, days=365, until_h=365 * 24, step_h=1.0)
            times.append(time.perf_counter() - started)
        median_ms = statistics.median(times) * 1e3
        record(
            f"in process: simulate 1 year hourly, {drug}",
            f"{median_ms:.1f} ms",
            "< 50 ms",
            median_ms < 50,
        )


# -- batch ------------------------------------------------------------------------------


@dataclass
class Config:
    name: str  # key, all, jsonl, jobs
    label: str
    options: list[str]
    available: bool = True
    why: str = ""  # when not available: what the table says instead of a figure
    width: int = 0  # output bytes a row (CSV configurations)
    small_peak: int = 0  # bytes, at rows // 10
    peak: int = 0  # bytes, at rows


def batch_argv(source: Path, config: Config, output: Path) -> list[str]:
    return [SERT, "batch", str(source), *config.options, "--output", str(output)]


def summary(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("sert batch:")]
    return lines[-1] if lines else stderr.strip()[-300:]


def batch(rows: int, runs: int, jobs: int) -> None:
    small = max(rows // 10, 1)
    peaks: list[tuple[str, Config]] = []
    with tempfile.TemporaryDirectory(prefix="sert-bench-") as folder:
        work = Path(folder)
        for kind, label in (("mix", "a diverse mix"), ("distinct", "every row distinct")):
            write = inputs.write_mix if kind == "mix" else inputs.write_distinct
            big, little = work / f"{kind}-{rows}.csv", work / f"{kind}-{small}.csv"
            started = time.perf_counter()
            requests = write(big, rows)
            write(little, small)
            print(
                f"batch input, {label}: {rows:,} rows, {requests:,} distinct requests "
                f"(written in {time.perf_counter() - started:.1f} s); {small:,} rows for the "
                "memory baseline",
                flush=True,
            )
            configs = [
                Config("key", "key columns", []),
                Config("all", "--fields all", ["--fields", "all"]),
            ]
            if kind == "mix":
                configs.append(Config("jsonl", "--format jsonl", ["-f", "jsonl"]))
            if kind == "distinct" and jobs > 1:
                configs.append(Config("jobs", f"--jobs {jobs}", ["-j", str(jobs)]))
            # Once each at a tenth of the rows: warms the caches, gives the memory baseline
            # and the output's width.
            for config in configs:
                output = work / f"out-{config.name}"
                try:
                    done = timer.run(batch_argv(little, config, output), memory=True, allow_exit=1)
                except timer.CommandFailed as exc:
                    config.available = False
                    config.why = f"n/a (sert batch failed: exit {exc.code})"
                    print(exc, file=sys.stderr)
                    continue
                config.small_peak = done.peak_bytes
                if config.name != "jsonl":
                    config.width = max(output.stat().st_size // small, 2)
                print(f"  {small:,} rows, {config.label}: {summary(done.stderr)}", flush=True)
            live = [c for c in configs if c.available]
            commands = [batch_argv(big, c, work / f"out-{c.name}") for c in live]
            copy = [PY, str(HERE / "csv_copy.py"), str(big), str(work / "copy.csv")]
            floors = {
                c.name: len(commands) + 1 + i
                for i, c in enumerate(c for c in live if c.name in ("key", "all"))
            }
            commands.append(copy)
            for c in live:
                if c.name in floors:
                    floor = work / f"floor-{c.name}"
                    commands.append([PY, str(HERE / "output_floor.py"), str(big), floor, c.width])
            commands = [[str(part) for part in argv] for argv in commands]
            print(
                f"  {rows:,} rows: {runs} rounds of {len(commands)} commands, interleaved",
                flush=True,
            )
            try:
                timed = timer.interleave(
                    commands, runs, warmup=0, memory=[True] * len(live), allow_exit=1
                )
            except timer.CommandFailed as exc:
                print(exc, file=sys.stderr)
                for config in live:
                    config.available = False
                    config.why = f"n/a (a run failed: exit {exc.code})"
                live, timed = [], [[]]
            copies = timed[len(live)] if live else []
            for config, runs_of in zip(live, timed, strict=False):
                config.peak = max(r.peak_bytes for r in runs_of)
                peaks.append((kind, config))
                print(f"  {rows:,} rows, {config.label}: {summary(runs_of[-1].stderr)}")
            report_batch(kind, label, rows, configs, timed, copies, floors)
            for path in work.glob("out-*"):
                path.unlink()
    report_memory(rows, small, peaks)


def report_batch(kind, label, rows, configs, timed, copies, floors) -> None:
    live = [c for c in configs if c.available]
    times = {c.name: runs_of for c, runs_of in zip(live, timed, strict=False)}
    copy_s = timer.median_seconds(copies)
    for config in configs:
        if config.name not in ("key", "all"):
            continue
        what = "key columns (default output)" if config.name == "key" else "`--fields all`"
        goal = BATCH_GOALS[(kind, "key")] if config.name == "key" else BATCH_GOALS["all"]
        figure = f"batch, {what}, {label}, {rows:,} rows / csv copy"
        if not config.available:
            record(figure, config.why, f"<= {goal:g}x")
            continue
        runs_of = times[config.name]
        seconds = timer.median_seconds(runs_of)
        ratio_row(
            figure,
            timer.median_ratio(runs_of, copies),
            goal,
            f"{seconds:.2f} s, {rows / seconds:,.0f} rows/s; copy {copy_s:.2f} s",
        )
        floor_runs = timed[floors[config.name]]
        ratio_row(
            f"  the same / output floor ({config.width:,} B a row, no computing)",
            timer.median_ratio(runs_of, floor_runs),
            None,
            f"the floor is {timer.median_ratio(floor_runs, copies):.2f}x the copy",
        )
    if kind == "mix":
        figure = "JSON lines out (`--format jsonl`) / CSV out (mix, key columns)"
        if "jsonl" in times and "key" in times:
            ratio_row(figure, timer.median_ratio(times["jsonl"], times["key"]), 1.5)
        else:
            why = next((c.why for c in configs if c.name in ("key", "jsonl") and c.why), "")
            record(figure, why or "n/a (a run failed)", "<= 1.5x")
    if "jobs" in times:
        runs_of = times["jobs"]
        seconds = timer.median_seconds(runs_of)
        ratio_row(
            f"batch, key columns, `{configs[-1].label}`, {label} / csv copy",
            timer.median_ratio(runs_of, copies),
            None,
            f"{seconds:.2f} s, {rows / seconds:,.0f} rows/s",
        )


def report_memory(rows: int, small: int, peaks: list[tuple[str, Config]]) -> None:
    figure = f"peak memory at {rows:,} rows, summed over every process"
    goal = f"<= {MEMORY_LIMIT_MB} MB, <= {MEMORY_GROWTH:g}x the peak at {small:,} rows"
    measured = [(kind, c) for kind, c in peaks if c.peak and c.small_peak]
    if not measured:
        record(figure, "n/a (no batch run)", goal)
        return
    kind, top = max(measured, key=lambda item: item[1].peak)
    growth_kind, grown = max(measured, key=lambda item: item[1].peak / item[1].small_peak)
    growth = grown.peak / grown.small_peak
    for k, c in measured:
        print(
            f"  memory, {k}, {c.label}: {c.peak / MB:.0f} MB at {rows:,} rows, "
            f"{c.small_peak / MB:.0f} MB at {small:,}"
        )
    record(
        figure,
        f"{top.peak / MB:.0f} MB ({kind}, {top.label}); growth at most {growth:.2f}x "
        f"({growth_kind}, {grown.label}: {grown.small_peak / MB:.0f} MB at {small:,} rows)",
        goal,
        top.peak <= MEMORY_LIMIT_MB * MB and growth <= MEMORY_GROWTH,
    )


# -- the table --------------------------------------------------------------------------


def print_table() -> None:
    headers = ("figure", "measured", "goal", "")
    cells = [headers] + [(r.figure, r.measured, r.goal, r.status) for r in TABLE]
    widths = [max(len(row[i]) for row in cells) for i in range(4)]
    print()
    for i, row in enumerate(cells):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    goals = [r for r in TABLE if r.status in ("pass", "FAIL")]
    passed = sum(r.status == "pass" for r in goals)
    print(f"\n{passed} of {len(goals)} goals met; timings on a shared machine are noisy.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="batch rows [1,000,000]")
    parser.add_argument("--quick", action="store_true", help="100,000 rows, 11 start-up runs")
    parser.add_argument("--runs", type=int, default=3, help="interleaved batch rounds [3]")
    parser.add_argument("--startup-runs", type=int, help="interleaved start-up rounds [21]")
    parser.add_argument("--jobs", type=int, default=2, help="also time `--jobs J` (distinct) [2]")
    parser.add_argument("--only", choices=("startup", "batch"), help="one part only")
    args = parser.parse_args()
    rows = 100_000 if args.quick and args.rows == 1_000_000 else args.rows
    startup_runs = args.startup_runs or (11 if args.quick else 21)
    if not Path(SERT).exists():
        sys.exit(f"no {SERT}: run with the Python sert is installed in (make bench does)")
    import typer

    print(
        f"sert bench: Python {platform.python_version()} ({PY}), Typer {typer.__version__}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    subprocess.run([SERT, "dose", "escitalopram", "--format", "json"], capture_output=True)
    if args.only != "batch":
        startup(startup_runs)
        in_process()
    if args.only != "startup":
        batch(rows, args.runs, args.jobs)
    print_table()


if __name__ == "__main__":
    main()
