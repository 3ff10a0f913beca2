"""The real `sert` command (its main(), in process; a subprocess where only a process will do):
numbers, exit codes, stdout vs stderr."""

import csv
import io
import json

import pytest
from conftest import EXAMPLAMINE, LEVELS_OFF, sert, sert_json


def test_worked_example_occupancy(examplamine_dir):
    out = sert_json(
        "occupancy", "examplamine", "--dose", "10", "--profiles-dir", str(examplamine_dir)
    )
    assert out["occupancy"]["SERT"] == pytest.approx(0.94554, abs=5e-6)
    assert out["css_plasma_ng_ml"] == pytest.approx(20.8333, rel=1e-5)
    assert out["css_plasma_nm"] == pytest.approx(69.444, rel=1e-5)
    assert out["cu_plasma_nm"] == pytest.approx(34.722, rel=1e-5)
    assert out["cu_brain_nm"] == pytest.approx(34.722, rel=1e-5)
    assert out["clearance_l_h"] == 20.0
    assert out["phenotypes"] == {"CYP2C19": "NM"}
    assert out["interval_h"] == 24.0
    assert 0 <= out["occupancy"]["NET"] < 0.01


def test_worked_example_dose(examplamine_dir):
    out = sert_json("dose", "examplamine", "--profiles-dir", str(examplamine_dir))
    assert out["dose_mg"] == pytest.approx(2.304, rel=1e-9)
    assert out["recommended_dose_mg"] == 5.0
    assert out["target"] == 0.8 and out["transporter"] == "SERT"
    assert out["exceeds_label_max"] is False
    assert any("below the label minimum" in w for w in out["warnings"])


def test_env_var_gives_the_profiles_dir_and_alias_works(examplamine_dir):
    out = sert_json("dose", "Examplex", env={"SERT_PROFILES_DIR": str(examplamine_dir)})
    assert out["drug"] == "examplamine"


def test_pm_needs_less_drug_and_uses_its_clearance(examplamine_dir):
    out = sert_json(
        "dose", "examplamine", "-p", "CYP2C19=PM", "--profiles-dir", str(examplamine_dir)
    )
    assert out["dose_mg"] == pytest.approx(2.304 * 8 / 20)
    assert out["phenotypes"] == {"CYP2C19": "PM"}


def test_dose_above_label_is_flagged(examplamine_dir):
    out = sert_json(
        "dose", "examplamine", "--target", "0.975", "--profiles-dir", str(examplamine_dir)
    )
    # C* = 39 K = 78 nM -> 156 nM plasma -> 46.8 ng/mL -> 22.46 mg
    assert out["dose_mg"] == pytest.approx(0.0468 * 20 * 24)
    assert out["exceeds_label_max"] is True
    # the recommendation stops at the label maximum: 20 mg, theta = 39/(1 + 39 * 20/22.46)
    assert out["recommended_dose_mg"] == 20.0 and out["target_reached"] is False
    x = 39 * 20 / (0.0468 * 20 * 24)
    assert out["occupancy_at_recommended"] == pytest.approx(x / (1 + x), rel=1e-9)
    assert any(
        "not reached within the label" in w and "22.46 mg/day" in w and "point(s) short" in w
        for w in out["warnings"]
    )


def test_a_target_far_beyond_the_label_is_answered_at_the_maximum(examplamine_dir):
    done = sert("dose", "examplamine", "--target", "0.99", "--profiles-dir", str(examplamine_dir))
    # 57.02 mg/day (C* = 99 K) is the model's number; the answer is the 20 mg/day maximum
    assert done.returncode == 0
    assert "57.02 mg every 24 h" in done.stdout and "20 mg (10 mg + 10 mg)" in done.stdout
    assert "SHORT of the target" in done.stdout
    assert "not reached within the label" in done.stderr


def test_interval_option(examplamine_dir):
    out = sert_json(
        "occupancy",
        "examplamine",
        "--dose",
        "5",
        "--interval",
        "12",
        "--profiles-dir",
        str(examplamine_dir),
    )
    assert out["occupancy"]["SERT"] == pytest.approx(0.94554, abs=5e-6)
    assert out["daily_dose_mg"] == 10.0


def test_bundled_profiles_from_any_directory(tmp_path):
    done = sert("dose", "escitalopram", "-p", "CYP2C19=PM", "--format", "json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    # CYP2C19 PM exposure ratio 3.3 (Jukic 2018): the PM dose is the NM dose / 3.3
    nm = sert_json("dose", "escitalopram")
    assert out["dose_mg"] == pytest.approx(nm["dose_mg"] / 3.3)


def test_venlafaxine_metabolite_competes():
    out = sert_json("occupancy", "venlafaxine", "--dose", "75", "--affinity", "in-vitro")
    load = out["cu_brain_nm"] / 82
    load += out["metabolites"][0]["cu_brain_nm"] / 40.2
    assert out["occupancy"]["SERT"] == pytest.approx(load / (1 + load))
    (odv,) = out["metabolites"]
    assert odv["name"] == "O-desmethylvenlafaxine"
    # molar ratio ODV:venlafaxine is CL_parent / CL_odv = 91 / 28
    assert odv["css_plasma_nm"] / out["css_plasma_nm"] == pytest.approx(91 / 28)
    shares = out["occupancy_by_moiety"]["SERT"]
    assert sum(shares.values()) == pytest.approx(out["occupancy"]["SERT"])
    assert shares["O-desmethylvenlafaxine"] > shares["venlafaxine"]


def test_csv_output_is_one_header_and_one_row():
    done = sert("occupancy", "sertraline", "--dose", "50", "--format", "csv")
    assert done.returncode == 0
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert len(rows) == 1
    assert float(rows[0]["occupancy_SERT"]) == pytest.approx(
        sert_json("occupancy", "sertraline", "--dose", "50")["occupancy"]["SERT"]
    )
    assert rows[0]["phenotypes_CYP2C19"] == "NM"


def test_table_format_for_people():
    done = sert("occupancy", "escitalopram", "--dose", "10")
    assert done.returncode == 0
    assert "SERT occupancy" in done.stdout and "%" in done.stdout
    assert "\x1b[" not in done.stdout  # no colour when not on a terminal


def test_dose_table_json_covers_label_range_and_phenotypes():
    rows = sert_json("table", "escitalopram")
    doses = sorted({r["dose_mg"] for r in rows})
    assert doses == [10.0, 15.0, 20.0]
    assert {r["phenotypes"]["CYP2C19"] for r in rows} == {"PM", "IM", "NM", "RM", "UM"}
    assert all(0 < r["occupancy"]["SERT"] < 1 for r in rows)


def test_profiles_list_show_and_override(tmp_path):
    names = [p["name"] for p in sert_json("profiles", "list")]
    assert names == sorted(names) and {"escitalopram", "sertraline", "venlafaxine"} <= set(names)
    (tmp_path / "sertraline.yaml").write_text(
        EXAMPLAMINE.replace("name: examplamine", "name: sertraline").replace(
            "aliases: [Examplex]", "aliases: []"
        ),
        encoding="utf-8",
    )
    listed = sert_json("profiles", "list", "--profiles-dir", str(tmp_path))
    assert [p for p in listed if p["name"] == "sertraline"][0]["overrides_bundled"]
    done = sert("profiles", "show", "sertraline", "--profiles-dir", str(tmp_path))
    assert done.returncode == 0 and "overrides the bundled" in done.stderr
    shown = sert_json("profiles", "show", "escitalopram")
    assert shown["profile"]["name"] == "escitalopram" and shown["profile"]["sources"]


def test_profiles_check_names_every_invalid_file(tmp_path, examplamine_dir):
    good = examplamine_dir / "examplamine.yaml"
    bad1 = tmp_path / "one.yaml"
    bad1.write_text(EXAMPLAMINE.replace("fraction_unbound", "fraction_unbund"), encoding="utf-8")
    bad2 = tmp_path / "two.yaml"
    bad2.write_text("a: 1\na: 2\n", encoding="utf-8")
    done = sert("profiles", "check", str(good), str(bad1), str(bad2))
    assert done.returncode == 2
    assert "ok: " in done.stdout and "examplamine" in done.stdout
    assert f"{bad1}:12: pk.fraction_unbund: unknown key" in done.stderr
    assert "did you mean 'fraction_unbound'" in done.stderr
    assert f"{bad2}:2" in done.stderr and "duplicate key 'a'" in done.stderr
    assert sert("profiles", "check", str(good)).returncode == 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["occupancy", "escitalopran", "--dose", "10"], 2, "did you mean 'escitalopram'"),
        (["occupancy", "escitalopram", "--dose", "-5"], 2, "--dose: must be a positive"),
        (["occupancy", "escitalopram", "--dose", "0"], 2, "--dose: must be a positive"),
        (["occupancy", "escitalopram", "--dose", "nan"], 2, "--dose: must be a positive"),
        (["occupancy", "escitalopram", "--dose", "ten"], 2, "ten"),
        (["occupancy", "escitalopram"], 2, "--dose"),
        (
            ["occupancy", "escitalopram", "--dose", "10", "-p", "CYP2C19=XM"],
            2,
            "unknown phenotype 'XM'",
        ),
        (
            ["occupancy", "escitalopram", "--dose", "10", "-p", "CYP2D66=PM"],
            2,
            "did you mean 'CYP2D6'",
        ),
        (["occupancy", "escitalopram", "--dose", "10", "-p", "CYP2C19"], 2, "GENE=VALUE"),
        (["dose", "escitalopram", "--target", "80"], 2, "did you mean 0.8 (80 %)"),
        (["dose", "escitalopram", "--target", "1"], 2, "infinite concentration"),
        (["dose", "escitalopram", "--target", "0"], 2, "between 0 and 1"),
        (["dose", "escitalopram", "--transporter", "DAT"], 2, "DAT"),
        (["dose", "escitalopram", "--format", "xml"], 2, "xml"),
        (["dose", "sertraline", "--target", "0.9"], 1, LEVELS_OFF),
        (["dose", "escitalopram", "--profiles-dir", "/nonexistent/dir"], 2, "does not exist"),
    ],
)
def test_errors_are_one_line_with_their_exit_status(args, code, message):
    done = sert(*args)
    assert done.returncode == code, (done.stdout, done.stderr)
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_user_errors_are_single_lines():
    done = sert("dose", "escitalopram", "--target", "80")
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("sert: error: ")


def test_bad_profile_in_profiles_dir_fails_the_query(tmp_path):
    (tmp_path / "broken.yaml").write_text("schema: 1\nname: [\n", encoding="utf-8")
    done = sert("dose", "escitalopram", "--profiles-dir", str(tmp_path))
    assert done.returncode == 2 and "broken.yaml:" in done.stderr


def test_version_and_help_carry_the_disclaimer():
    assert sert("--version").stdout.startswith("sert ")
    help_text = sert("--help").stdout
    assert "not medical advice" in help_text
    for command in ("occupancy", "dose", "table", "profiles"):
        assert command in help_text


def test_python_dash_m_and_no_heavy_imports_for_json(examplamine_dir):
    code = (
        "import sys, runpy; sys.argv=['sert','dose','escitalopram','--format','json'];"
        "import sert_cli.cli.app as c\ntry: c.main()\nexcept SystemExit: pass\n"
        "heavy=[m for m in ('numpy','scipy','rich.table','yaml') if m in sys.modules];"
        "sys.stderr.write(repr(heavy))"
    )
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stderr.strip().endswith("[]"), done.stderr


def test_installed_command_ships_its_profiles(tmp_path):
    """`pip install .` puts drug_profiles/ inside the package: found from any folder."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    entry = Path(sys.executable).parent / "sert"
    if not entry.exists():
        pytest.skip("no installed `sert` entry point beside this Python")
    done = subprocess.run(
        [str(entry), "profiles", "list", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        # (a PYTHONPATH naming the source tree would run the source, not the install)
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert done.returncode == 0, done.stderr
    paths = [p["path"] for p in json.loads(done.stdout)]
    assert paths and all("sert_cli/drug_profiles/" in p for p in paths), (paths, done.stderr)


def test_simulate_json_contract():
    out = sert_json(
        "simulate", "escitalopram", "--dose", "10", "--doses", "3", "--until", "96", "--step", "2"
    )
    assert out["drug"] == "escitalopram" and out["doses"] == 3 and out["interval_h"] == 24.0
    assert out["t_h"][:3] == [0.0, 2.0, 4.0] and out["t_h"][-1] == 96.0
    n = len(out["t_h"])
    assert len(out["c_plasma_ng_ml"]) == n and len(out["cu_brain_nm"]) == n
    assert len(out["occupancy"]["SERT"]) == n and len(out["occupancy"]["NET"]) == n
    assert all(0 <= v < 1 for v in out["occupancy"]["SERT"])
    assert out["c_plasma_ng_ml"][0] == 0.0
    for key in (
        "time_to_90pct_steady_state_h",
        "steady_state_peak_ng_ml",
        "days_after_last_dose_to_sert_below_50pct",
    ):
        assert key in out["summary"]


def test_simulate_csv_has_one_row_per_time_point():
    done = sert(
        "simulate", "venlafaxine", "--dose", "75", "--days", "2", "--until", "48", "--format", "csv"
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert len(rows) == 49
    assert "O-desmethylvenlafaxine_c_plasma_ng_ml" in rows[0] and "occupancy_SERT" in rows[0]


def test_simulate_table_has_summary_and_chart():
    done = sert("simulate", "sertraline", "--dose", "50", env={"COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    assert "95 % of steady state" in done.stdout
    assert "occupancy, %" in done.stdout and "days after the first dose" in done.stdout
    assert max(len(line) for line in done.stdout.splitlines()) <= 80


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--doses", "0"], "--doses: must be between"),
        (["--doses", "3", "--days", "2"], "not both"),
        (["--step", "0"], "--step: must be a positive"),
        (["--until", "1e9", "--step", "0.01"], "take a larger step"),
        (["--plot", "out.pdf"], ".svg or .png"),
    ],
)
def test_simulate_refuses_bad_options(args, message):
    done = sert("simulate", "escitalopram", "--dose", "10", *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_curve_points_cover_twice_the_label_maximum():
    rows = sert_json("curve", "escitalopram", "-p", "CYP2C19=PM")
    assert {r["phenotypes"]["CYP2C19"] for r in rows} == {"PM"}
    doses = [r["dose_mg"] for r in rows]
    assert max(doses) == pytest.approx(40.0) and doses == sorted(doses)
    sert_values = [r["occupancy"]["SERT"] for r in rows]
    assert sert_values == sorted(sert_values)
    done = sert("curve", "escitalopram")
    assert done.returncode == 0 and "80 % target" in done.stdout and "label maximum" in done.stdout


def test_plot_needs_matplotlib_or_writes_a_file(tmp_path):
    target = tmp_path / "curve.svg"
    done = sert("curve", "sertraline", "--plot", str(target))
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert done.returncode == 1 and "pip install '.[plot]'" in done.stderr
    else:
        assert done.returncode == 0 and target.read_text().startswith("<?xml")
