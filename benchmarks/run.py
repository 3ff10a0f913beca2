"""`make bench`: start-up of single queries against the bare Typer floor, and core speed.

Start-up ratios are medians of interleaved runs by ../shared/tools/ratio.py (the team's
tool); the floor is ../shared/tools/typer_floor.py run with the same Python and Typer.
"""

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_TOOLS = ROOT.parent / "shared" / "tools"
BIN = Path(sys.executable).parent


def ratio(label: str, a: str, b: str, runs: int = 21) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(SHARED_TOOLS / "ratio.py"),
            "--allow-exit",
            "1",
            "--runs",
            str(runs),
            a,
            b,
        ],
        capture_output=True,
        text=True,
        cwd="/tmp",
    )
    last = done.stdout.strip().splitlines()[-1:] or [done.stderr.strip()]
    print(f"{label:<58} {last[0]}")


def core_speed() -> None:
    from sert_cli.profiles.library import load_library
    from sert_cli.queries.engine import Engine
    from sert_cli.queries.values import DoseQuery, OccupancyQuery

    engine = Engine(load_library())
    for name, query in (
        ("one occupancy query (escitalopram)", OccupancyQuery("escitalopram", 10.0)),
        ("one dose query (escitalopram)", DoseQuery("escitalopram")),
    ):
        n = 5000
        start = time.perf_counter()
        for _ in range(n):
            engine.answer_many([query])[0].record()
        per_call = (time.perf_counter() - start) / n
        print(f"{name:<58} {per_call * 1e6:.1f} us per call")


def simulation_speed() -> None:
    """Issue 3's figure: one patient, one year of hourly points, under 50 ms."""
    import statistics

    from sert_cli.pk.timecourse import simulate
    from sert_cli.profiles.library import load_library

    library = load_library()
    for drug, dose in (("escitalopram", 10.0), ("venlafaxine", 150.0), ("paroxetine", 20.0)):
        profile = library.get(drug)
        phenotypes = dict.fromkeys(profile.genes, "NM")
        times = []
        for _ in range(21):
            start = time.perf_counter()
            simulate(profile, phenotypes, dose, 24.0, days=365, until_h=365 * 24, step_h=1.0)
            times.append(time.perf_counter() - start)
        print(
            f"{'simulate 1 year hourly, ' + drug + ' (goal < 50 ms)':<58} "
            f"{statistics.median(times) * 1e3:.1f} ms median"
        )


PLAIN_COPY = """import csv, sys
reader = csv.reader(open(sys.argv[1], newline=""))
writer = csv.writer(open(sys.argv[2], "w", newline=""))
for row in reader:
    writer.writerow(row)
"""


# The least a batch must do without computing anything: read each row, look its request
# up, and write a line as wide as batch's own (argv[3] bytes); what is left is the answers.
OUTPUT_FLOOR = """import csv, itertools, sys
line, lines = b"x" * int(sys.argv[3]) + b"\\n", {}
with open(sys.argv[1], newline="") as source, open(sys.argv[2], "wb", 1 << 20) as out:
    reader = csv.reader(source)
    next(reader)
    while chunk := list(itertools.islice(reader, 5000)):
        pieces = [lines.setdefault(tuple(row[1:]), line) for row in chunk]
        for start in range(0, len(pieces), 120):
            out.write(b"".join(pieces[start : start + 120]))
"""


LABEL_DOSES = {
    "citalopram": [20, 40],
    "escitalopram": [10, 20],
    "fluoxetine": [20, 40, 60],
    "fluvoxamine": [100, 200],
    "paroxetine": [20, 30, 40],
    "sertraline": [50, 100, 150, 200],
    "vortioxetine": [10, 20],
    "venlafaxine": [75, 150, 225],
    "desvenlafaxine": [50, 100],
    "duloxetine": [60, 120],
    "milnacipran": [100, 200],
    "levomilnacipran": [40, 80, 120],
}
C19 = ["", "PM", "IM", "NM", "RM", "UM", "*1/*2", "*1/*17", "*2/*2", "*17/*17", "*1/*1"]
D6 = ["", "PM", "IM", "NM", "UM", "*1/*4", "*4/*4", "*1/*1", "*1/*2x2", "*4/*10"]
WITH = ["", "", "", "omeprazole", "bupropion", "esomeprazole;duloxetine"]


def write_batch_input(path: Path, rows: int, distinct: bool = False) -> None:
    """Issue 12's realistic mix: 12 drugs at label doses, both gene columns with
    phenotypes and diplotypes, co-medications, half of the rows dose queries. With
    `distinct`, every dose and target is different (nothing repeats)."""
    import csv
    import random

    rng = random.Random(1)
    drugs = sorted(LABEL_DOSES)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "drug", "dose_mg", "target", "CYP2C19", "CYP2D6", "with"])
        for i in range(rows):
            drug = drugs[i % len(drugs)]
            c19, d6, comed = rng.choice(C19), rng.choice(D6), rng.choice(WITH)
            if i % 2 == 0:
                dose = rng.uniform(5, 200) if distinct else rng.choice(LABEL_DOSES[drug])
                writer.writerow([i, drug, dose, "", c19, d6, comed])
            else:
                target = rng.uniform(0.5, 0.9) if distinct else rng.choice([0.7, 0.8, 0.85])
                writer.writerow([i, drug, "", target, c19, d6, comed])


def batch_speed(rows: int = 1_000_000) -> None:
    """Issue 12's figures, each against a plain csv copy of the same file: the realistic
    mix (goal <= 3x), every row distinct (goal <= 10x), JSON-lines out (goal <= 1.5x CSV);
    peak memory (goal <= 300 MB)."""
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        copier = work / "plain_copy.py"
        copier.write_text(PLAIN_COPY)
        floor_script = work / "output_floor.py"
        floor_script.write_text(OUTPUT_FLOOR)
        sert = BIN / "sert"
        for label, distinct, fmt, jobs in (
            ("realistic mix, CSV out", False, "csv", 1),
            ("realistic mix, JSON lines out", False, "jsonl", 1),
            ("every row distinct, CSV out", True, "csv", 1),
            ("every row distinct, CSV out, --jobs 2", True, "csv", 2),
        ):
            source = work / f"in-{distinct}.csv"
            if not source.exists():
                write_batch_input(source, rows, distinct)
            batch = f"{sert} batch {source} --format {fmt} --jobs {jobs} --output {work / 'out'}"
            plain = f"{sys.executable} {copier} {source} {work / 'copy.csv'}"
            started = time.perf_counter()
            with subprocess.Popen(batch.split(), stderr=subprocess.PIPE, text=True) as process:
                stderr = process.stderr.read()
                # wait4: this run's own peak memory, not the largest of every child so far
                _, status, usage = os.wait4(process.pid, 0)
                process.returncode = os.waitstatus_to_exitcode(status)
            seconds = time.perf_counter() - started
            # (with workers: the largest process's; each worker's is about the same)
            print(
                f"{f'batch {rows:,} rows, {label}':<58} {seconds:.2f} s, "
                f"{rows / seconds:,.0f} rows/s, peak RSS {usage.ru_maxrss / 1024:.0f} MB"
                + (f" per process ({jobs} workers and the parent)" if jobs > 1 else "")
            )
            print(f"{'':<58} {stderr.strip()}")
            if SHARED_TOOLS.is_dir():
                ratio("  / plain csv copy", batch, plain, runs=3)
                if fmt == "csv":  # the output's own cost, at its width, with no answers
                    width = (work / "out").stat().st_size // rows
                    floor = f"{sys.executable} {floor_script} {source} {work / 'floor'} {width}"
                    ratio(
                        f"  read, look up, write {width} B a row / plain csv copy", floor, plain, 3
                    )


def main() -> None:
    sert = str(BIN / "sert")
    floor = f"{sys.executable} {SHARED_TOOLS / 'typer_floor.py'} dose escitalopram"
    subprocess.run([sert, "dose", "escitalopram", "--format", "json"], capture_output=True)
    if SHARED_TOOLS.is_dir():
        ratio(
            "sert dose --format json / typer floor (goal <= 1.3)",
            f"{sert} dose escitalopram --format json",
            floor,
        )
        ratio(
            "sert dose (Rich table) / typer floor", f"{sert} dose escitalopram > /dev/null", floor
        )
        ratio(
            "sert population, 1,000,000 patients / sert occupancy (goal <= 6)",
            f"{sert} population escitalopram --dose 10 --n 1000000 --format json",
            f"{sert} occupancy escitalopram --dose 10 --format json",
        )
        ratio(
            "sert simulate paroxetine, 1 year / sert occupancy (goal <= 3)",
            f"{sert} simulate paroxetine --dose 20 --days 365 --format json",
            f"{sert} occupancy paroxetine --dose 20 --format json",
        )
        ratio(
            "sert dose --format json / python3 -c pass (goal <= 15)",
            f"{sert} dose escitalopram --format json",
            f"{sys.executable} -c pass",
        )
    else:
        print(f"skipped start-up ratios: {SHARED_TOOLS} not found")
    core_speed()
    simulation_speed()
    batch_speed(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)


if __name__ == "__main__":
    main()
