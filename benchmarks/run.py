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
        [sys.executable, str(SHARED_TOOLS / "ratio.py"), "--runs", str(runs), a, b],
        capture_output=True,
        text=True,
        cwd="/tmp",
    )
    last = done.stdout.strip().splitlines()[-1:] or [done.stderr.strip()]
    print(f"{label:<58} {last[0]}")


def core_speed() -> None:
    from sert_cli.pk.steady_state import dose_for_target, occupancy_at
    from sert_cli.profiles.library import load_library

    profile = load_library().get("escitalopram")
    for name, call in (
        ("occupancy_at (escitalopram)", lambda: occupancy_at(profile, 10.0)),
        ("dose_for_target (escitalopram)", lambda: dose_for_target(profile)),
    ):
        n = 20000
        start = time.perf_counter()
        for _ in range(n):
            call()
        per_call = (time.perf_counter() - start) / n
        print(f"{name:<58} {per_call * 1e6:.1f} us per call")


def simulation_speed() -> None:
    """Issue 3's figure: one patient, one year of hourly points, under 50 ms."""
    import statistics

    from sert_cli.pk.timecourse import simulate
    from sert_cli.profiles.library import load_library

    library = load_library()
    for drug, dose in (("escitalopram", 10.0), ("venlafaxine", 150.0)):
        profile = library.get(drug)
        times = []
        for _ in range(21):
            start = time.perf_counter()
            simulate(profile, dose, days=365, until_h=365 * 24, step_h=1.0)
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


def write_batch_input(path: Path, rows: int) -> None:
    """Issue 6's mix: 5 drugs, their phenotypes, half occupancy and half dose rows."""
    import csv
    import random

    rng = random.Random(1)
    drugs = [
        ("escitalopram", "CYP2C19", ["PM", "IM", "NM", "RM", "UM"], [5, 10, 15, 20]),
        ("sertraline", "CYP2C19", ["PM", "IM", "NM", "UM"], [25, 50, 100, 150]),
        ("venlafaxine", None, [], [75, 150, 225]),
        ("vortioxetine", "CYP2D6", ["PM", "IM", "NM", "UM"], [5, 10, 20]),
        ("citalopram", "CYP2C19", ["PM", "NM"], [10, 20, 40]),
    ]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "drug", "dose_mg", "target", "CYP2C19", "CYP2D6"])
        for i in range(rows):
            drug, gene, phenotypes, doses = drugs[i % 5]
            c19 = rng.choice(phenotypes) if gene == "CYP2C19" else ""
            d6 = rng.choice(phenotypes) if gene == "CYP2D6" else ""
            if i % 2 == 0:
                writer.writerow([i, drug, rng.choice(doses), "", c19, d6])
            else:
                writer.writerow([i, drug, "", rng.choice(["0.7", "0.8", "0.85"]), c19, d6])


def batch_speed(rows: int = 1_000_000) -> None:
    """Issue 6's figures: wall time against a plain csv copy (goal <= 4x), peak memory
    (goal < 300 MB), rows per second."""
    import resource
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        source, copier = work / "in.csv", work / "plain_copy.py"
        write_batch_input(source, rows)
        copier.write_text(PLAIN_COPY)
        sert = BIN / "sert"
        batch = f"{sert} batch {source} --output {work / 'out.csv'}"
        plain = f"{sys.executable} {copier} {source} {work / 'copy.csv'}"
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        done = subprocess.run(batch, shell=True, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(
            f"{'batch ' + format(rows, ',') + ' rows, one run':<58} {seconds:.2f} s, "
            f"{rows / seconds:,.0f} rows/s, peak RSS {peak_mb:.0f} MB (goal < 300; "
            f"before {before / 1024:.0f} MB)"
        )
        print(f"{'':<58} {done.stderr.strip()}")
        if SHARED_TOOLS.is_dir():
            ratio(f"batch {rows:,} rows / plain csv copy (goal <= 4)", batch, plain, runs=3)


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
            "sert dose --format json / python3 -c pass (goal <= 15)",
            f"{sert} dose escitalopram --format json",
            f"{sys.executable} -c pass",
        )
    else:
        print(f"skipped start-up ratios: {SHARED_TOOLS} not found")
    core_speed()
    simulation_speed()
    batch_speed()


if __name__ == "__main__":
    main()
