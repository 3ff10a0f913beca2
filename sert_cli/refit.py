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
    head = re.sub(r",\s*pet_.*$", "", head)
    return f"{head}, {', '.join(fields)}}}"


SPREAD_FILE = Path(__file__).resolve().parent / "data" / "pet_spread.csv"


def write_spread(omega: float, plateau_sd: dict[str, float]) -> None:
    SPREAD_FILE.write_text(
        "# The between-study spread of the log transporter load that the PET fit leaves\n"
        "# unexplained (omega, sert_cli/pet_fit.py): PD variability and model error, added to\n"
        "# PK and constant uncertainty in every occupancy and dose range. Written by make refit.\n"
        "quantity,value,source\n"
        f'between_study_log_sd,{omega:.3f},"ESTIMATED by maximum likelihood jointly with the '
        "PET constants and plateaus over sert_cli/data/pet_occupancy.csv (sert validate --fit "
        'all)"\n'
        + "".join(
            f'plateau_sd_{transporter},{sd:.4f},"'
            + (
                "ESTIMATED: the SD of the reference plateau, its 95 % profile-likelihood "
                "interval / 3.92 "
                '(sert validate --fit all)"\n'
                if sd
                else 'ASSUMED plateau, not estimated: no SD (see pet_plateaus.csv)"\n'
            )
            for transporter, sd in sorted(plateau_sd.items())
        )
    )


def refit(directory: Path) -> list[Path]:
    library = load_library(use_cache=False)
    result = fit(library)
    write_spread(result["between_study_log_sd"], result["plateau_sd"])
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
