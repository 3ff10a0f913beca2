"""The batch inputs of `make bench`: a diverse mix with repeats, and every row distinct.

Both have the same columns: id, drug, dose_mg, target, CYP2C19, CYP2D6, with, age, sex,
smoker. A request is everything but the id; half the requests are occupancy queries
(dose_mg given), half dose-for-target queries (target given).
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

COLUMNS = ["id", "drug", "dose_mg", "target", "CYP2C19", "CYP2D6", "with", "age", "sex", "smoker"]
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
    "amitriptyline": [25, 50, 75],
    "nortriptyline": [25, 50, 75],
    "clomipramine": [25, 75, 150],
    "imipramine": [25, 75, 150],
    "desipramine": [50, 100, 150],
}
DRUGS = sorted(LABEL_DOSES)
TARGETS = [0.7, 0.75, 0.8, 0.85]
# Each gene column: empty, phenotypes and diplotypes.
C19 = ["", "PM", "IM", "NM", "RM", "UM", "*1/*1", "*1/*2", "*1/*17", "*2/*2", "*2/*17", "*17/*17"]
D6 = ["", "PM", "IM", "NM", "UM", "*1/*1", "*1/*2", "*2/*2", "*1/*4", "*4/*4", "*4/*10", "*1/*2x2"]
# Named in sert_cli/data/interactions.csv or perpetrators.csv.
WITH = ["omeprazole", "bupropion", "fluconazole", "esomeprazole;duloxetine", "cimetidine"]
NEW_SHARE = 0.2  # of the mix's rows: a request not seen before


def _request(rng: random.Random, distinct: bool) -> tuple:
    drug = rng.choice(DRUGS)
    doses = LABEL_DOSES[drug]
    if rng.random() < 0.5:  # occupancy at a dose
        dose = rng.uniform(doses[0] / 2, doses[-1]) if distinct else rng.choice(doses)
        dose_mg, target = dose, ""
    else:  # the dose for a target
        dose_mg, target = "", rng.uniform(0.6, 0.85) if distinct else rng.choice(TARGETS)
    comed = rng.choice(WITH) if rng.random() < 0.25 else ""
    age = rng.randint(18, 90) if rng.random() < 0.15 else ""
    sex = rng.choice(["female", "male"]) if rng.random() < 0.2 else ""
    smoker = "yes" if rng.random() < 0.1 else ""
    return (drug, dose_mg, target, rng.choice(C19), rng.choice(D6), comed, age, sex, smoker)


def write_mix(path: Path, rows: int, seed: int = 1) -> int:
    """About one row in five a new request, the others a request drawn from all those
    seen so far (so a request comes back anywhere later in the file, not only nearby).
    Returns the number of distinct requests."""
    rng = random.Random(seed)
    seen: list[tuple] = []
    known: set[tuple] = set()
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for i in range(rows):
            if not seen or rng.random() < NEW_SHARE:
                for _ in range(100):  # a new one, unless the space is nearly used up
                    request = _request(rng, distinct=False)
                    if request not in known:
                        break
                known.add(request)
                seen.append(request)
            else:
                request = rng.choice(seen)
            writer.writerow((i, *request))
    return len(known)


def write_distinct(path: Path, rows: int, seed: int = 2) -> int:
    """Every row its own request: every dose and every target different."""
    rng = random.Random(seed)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for i in range(rows):
            writer.writerow((i, *_request(rng, distinct=True)))
    return rows
