"""The validation tables of docs/validation.md, made from `sert validate --format json`.

tests/test_readme.py checks the README block between the markers equals what this makes
from the live output, so the tables cannot go stale; after a refit, regenerate them with
`python tests/readme_tables.py` (it rewrites the block in README.md).
"""

import json
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "docs" / "validation.md"  # (their home)
START, END = "<!-- validate tables: start -->", "<!-- validate tables: end -->"


def _pct(value) -> str:
    return "-" if value is None else f"{value * 100:.1f}"


def _pp(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def _when(row) -> str:
    if row["regimen"] == "steady_state":
        return "steady state"
    last = "last " if row["regimen"] == "repeated" else ""
    return f"{row['hours_after_last_dose']:g} h after {last}dose"


def _range(row) -> str:
    if row["left_out_range"] is None:
        return "-"
    low, high = row["left_out_range"]
    inside = low <= row["observed"] <= high
    return f"{low * 100:.0f}-{high * 100:.0f}" + ("" if inside else " (outside)")


def tables(report: dict) -> str:
    lines = [
        "| study | drug | T | mg/day | when | tracer | observed % | model % | left out % "
        "| left-out 90 % range | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["points"]:
        lines.append(
            f"| {r['study']} | {r['drug']} | {r['transporter']} | {r['dose_mg_day']:g} | "
            f"{_when(r)} | {r['tracer']} | {_pct(r['observed'])} | {_pct(r['predicted'])} | "
            f"{_pct(r['predicted_left_out'])} | {_range(r)} | {r['status']} |"
        )
    lines += [
        "",
        "| drug | T | kind | points | studies | MAE in vitro | MAE model | MAE left out |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in report["drugs"]:
        lines.append(
            f"| {d['drug']} | {d['transporter']} | {d['kind'].replace('_', ' ')} | "
            f"{d['points']} | {', '.join(d['studies'])} | {_pp(d['mae_in_vitro_pp'])} | "
            f"{_pp(d['mae_pp'])} | {_pp(d['mae_left_out_pp'])} |"
        )
    lines += [
        "",
        "| points | n | MAE in vitro (pp) | MAE model, in sample (pp) | left out: all (pp) "
        "| left out: drug keeps another study (pp) | worst drug left out (pp) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in report["summary"].items():
        lines.append(
            f"| {name.replace('_', ' ')} | {s['points']} | {_pp(s['mae_in_vitro_pp'])} | "
            f"{_pp(s['mae_pp'])} | {_pp(s['mae_left_out_pp'])} | "
            f"{_pp(s['mae_left_out_own_drug_pp'])} ({s['points_left_out_own_drug']}) | "
            f"{_pp(s['worst_drug_mae_left_out_pp'])} |"
        )
    model, cover = report["model"], report["coverage"]["all"]
    intervals = {(i["transporter"], i["tracer"]): i["interval"] for i in model["plateau_intervals"]}
    plateaus = "; ".join(
        f"{p['transporter']} {p['tracer']} {p['emax']:.1%} "
        + (
            f"(95 % {intervals[key][0]:.1%}-{intervals[key][1]:.1%})"
            if (key := (p["transporter"], p["tracer"])) in intervals
            else "(assumed)"
        )
        for p in model["plateaus"]
    )
    outside = [
        f"{r['study']} {r['drug']} {r['dose_mg_day']:g} mg/day {_when(r)} "
        f"({r['observed'] * 100:.1f} % against {_range(r).split(' ')[0]})"
        for r in report["points"]
        if r["left_out_range"] is not None
        and not r["left_out_range"][0] <= r["observed"] <= r["left_out_range"][1]
    ]
    lines += [
        "",
        f"Plateaus: {plateaus}. Spread of the log load the model leaves unexplained: "
        f"between studies {model['between_study_log_sd']:.2f}, within "
        f"{model['within_study_log_sd']:.2f}. Study means inside the 90 % range printed "
        f"for patients, the study left out: {cover['inside']} of {cover['points']} "
        f"({cover['share']:.0%}; goal {cover['goal']:.0%}); inside the narrower range for a "
        f"study's mean (its subjects' PK spread averaged): "
        f"{cover['inside_study_mean_range']} of {cover['points']}. Outside: "
        + "; ".join(outside)
        + ".",
    ]
    lines += ["", *_observed_tables(report)]
    lines += _platelet_tables(report)
    return "\n".join(lines)


def _platelet_tables(report: dict) -> list[str]:
    """Platelet SERT (docs/model.md section 20): each platelet_uptake.csv row observed vs
    model, and the MAE of the fitted and the checked rows (absent in an older report)."""
    if "platelets_summary" not in report:
        return []
    lines = [
        "",
        "| study | drug | mg/day | days on drug | measure | observed % | model % | use |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["platelets"]:
        lines.append(
            f"| {r['study']} | {r['drug']} | "
            f"{'-' if r['daily_dose_mg'] is None else format(r['daily_dose_mg'], 'g')} | "
            f"{'steady state' if r['days_on_drug'] is None else format(r['days_on_drug'], 'g')} | "
            f"{r['measure'].replace('_', ' ')} | {_pp(r['observed_pct'])} | "
            f"{_pp(r['model_pct'])} | {r['use']} |"
        )
    summary = report["platelets_summary"]
    fitted, checked = summary["summary"]["fit"], summary["summary"]["check"]
    interval = summary["interval"]
    fit_words = (
        f"MAE of the fitted rows {_pp(fitted['mae_pp'])} pp ({fitted['rows']})"
        if fitted["rows"]
        else "no fit rows (nothing fitted)"
    )
    uncounted = sum(r["use"] == "not counted" for r in report["platelets"])
    return [
        *lines,
        "",
        f"Platelets: scale s_plt {summary['scale']:.3g}"
        + ("" if interval is None else f" (95 % {interval[0]:.3g}-{interval[1]:.3g})")
        + f"; {fit_words}; MAE of the checked rows {_pp(checked['mae_pp'])} pp "
        f"({checked['rows']}"
        + (f"; {uncounted} shown, not counted" if uncounted else "")
        + f"); {summary['evidence']}.",
    ]


def _observed_tables(report: dict) -> list[str]:
    """Exposure ratios vs NM and observed levels, by moiety (absent in an older report)."""
    lines = [
        "| drug | moiety | phenotype (other genes NM) | mg/day | model | cited | within 15 % |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in report.get("exposure_ratios", []):
        lines.append(
            f"| {c['drug']} | {c.get('moiety', 'parent')} | {c['gene']} {c['phenotype']} | "
            f"{c['daily_dose_mg']:g} | {c['model_ratio']:.2f} | {c['cited_ratio']:.2f} | "
            f"{'yes' if c['within_15pct'] else 'NO'} |"
        )
    observed = report.get("observed_levels")
    if not observed:
        return lines
    lines += [
        "",
        "| study | drug | moiety | mg/day | phenotype | sampling | observed ng/mL | model ng/mL "
        "| model/observed | 90 % range | derives |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in observed:
        low_high = r["range_ng_ml"]
        span = (
            "-"
            if low_high is None
            else f"{low_high[0]:.3g}-{low_high[1]:.3g}"
            + ("" if r["inside_range"] else " (outside)")
        )
        lines.append(
            f"| {r['study']} | {r['drug']} | {r['moiety']} | {r['daily_dose_mg']:g} | "
            f"{(r['gene'] + ' ' + r['phenotype']) if r['gene'] else 'unselected (vs NM)'} | "
            f"{r['sampling']} | {r['observed_ng_ml']:.3g} | {r['predicted_ng_ml']:.3g} | "
            f"{r['ratio']:.2f} | {span} | {r['derives'] or '- (independent)'} |"
        )
    words = []
    for name in ("in_sample", "independent"):
        s = report["observed_levels_summary"][name]
        if s["rows"]:
            words.append(
                f"{name.replace('_', ' ')}: geometric mean fold error {s['gmfe']:.2f} over "
                f"{s['rows']} rows (model/observed {s['geometric_mean_ratio']:.2f})"
            )
    return [*lines, "", "Observed levels, " + "; ".join(words) + "."]


def current_block() -> str:
    text = README.read_text(encoding="utf-8")
    return text[text.index(START) + len(START) : text.index(END)].strip("\n")


def live_report() -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "sert_cli", "validate", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=README.parent.parent,  # the repository (its sert_cli)
    )
    return json.loads(done.stdout)


if __name__ == "__main__":
    text = README.read_text(encoding="utf-8")
    before, after = text.split(START)[0], text.split(END)[1]
    README.write_text(f"{before}{START}\n{tables(live_report())}\n{END}{after}", encoding="utf-8")
