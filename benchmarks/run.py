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
    from sert_cli.core import dose_for_target, occupancy_at
    from sert_cli.loader import load_library

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

    from sert_cli.loader import load_library
    from sert_cli.timecourse import simulate

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


if __name__ == "__main__":
    main()
