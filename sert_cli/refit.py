"""`python -m sert_cli.refit`: write the joint PET fit into the bundled profiles (a
developer's step after pet_occupancy.csv or a profile's PK changes; `make refit`).

Only the PET keys of each targets line and their two source lines change; everything
else in the YAML stays byte for byte. tests/test_validation.py checks the profiles agree
with the fit, so a forgotten refit fails the suite.
"""

import re
from pathlib import Path

from sert_cli.calibration import fit
from sert_cli.profiles.library import load_library

PET_KEYS = re.compile(r",\s*pet_[a-z0-9_]+:.*$")


def _targets_line(line: str, fields: list[str]) -> str:
    """`  SERT: {ki: 1 nM, pet_...}` -> the same line with the fit's PET fields."""
    head = PET_KEYS.sub("", line.rstrip().rstrip("}"))
    return f"{head}, {', '.join(fields)}}}"


SPREAD_FILE = Path(__file__).resolve().parent / "data" / "pet_spread.csv"


def write_spread(between: float, within: float) -> None:
    SPREAD_FILE.write_text(
        "# The spread of the log transporter load that the PET fit leaves unexplained\n"
        "# (sert_cli/pet_fit.py): shared by a study's points (between) and beyond them\n"
        "# (within). Their sum, the PD spread, is added to PK and to the constant's\n"
        "# uncertainty in every occupancy and dose range. Written by make refit.\n"
        "quantity,value,source\n"
        + "".join(
            f'{name},{value:.3f},"ESTIMATED by maximum likelihood jointly with the PET '
            "constants and plateaus over sert_cli/data/pet_occupancy.csv "
            '(sert validate --fit all)"\n'
            for name, value in (("between_study_log_sd", between), ("within_study_log_sd", within))
        )
    )


PLATELET_FILE = Path(__file__).resolve().parent / "data" / "platelet_model.csv"


def write_platelet_scale(found: dict, path: Path = PLATELET_FILE) -> bool:
    """The fitted platelet scale's rows (platelet_scale and its interval) in place of the
    old ones in platelet_model.csv, every other line kept; nothing without a fit."""
    if found["scale"] is None:
        return False
    names = ("platelet_scale", "platelet_scale_ci_low", "platelet_scale_ci_high")
    text = path.read_text()
    kept = [line for line in text.splitlines() if line.split(",")[0] not in names]
    new = "\n".join([*kept, *found["csv_rows"]]) + "\n"
    if new == text:
        return False
    path.write_text(new)
    return True


def refit(directory: Path) -> list[Path]:
    library = load_library(use_cache=False)
    from sert_cli import platelet_fit

    if write_platelet_scale(platelet_fit.fit(library)):
        print(f"refitted {PLATELET_FILE.name}")
    result = fit(library)
    write_spread(result["between_study_log_sd"], result["within_study_log_sd"])
    results = result["fits"]
    changed = []
    for path in sorted(directory.glob("*.yaml")):
        text = path.read_text()
        name = re.search(r"^name:\s*(\S+)", text, re.M).group(1)
        lines = text.splitlines()
        for result in (r for r in results if r["drug"] == name):
            transporter = result["transporter"]
            for i, line in enumerate(lines):
                if re.match(rf"^  {transporter}: \{{", line) and "pet_" in line:
                    lines[i] = _targets_line(line, result["yaml_fields"])
            for key, words in result["sources"].items():
                quoted = words.replace('"', "'")
                for i, line in enumerate(lines):
                    if line.startswith(f"  {key}: "):
                        lines[i] = f'  {key}: "{quoted}"'
        new = "\n".join(lines) + "\n"
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


if __name__ == "__main__":
    for path in refit(Path(__file__).resolve().parent.parent / "drug_profiles"):
        print(f"refitted {path.name}")
