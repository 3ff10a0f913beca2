"""Fault injection (issue 15): each numbered bug and each class of hostile input, run
through the real command (its main(), in process; a subprocess for signals, closed or full
streams, pipes and start-up environments). Nothing lost, nothing stale, nothing widened."""

import csv
import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import EXAMPLAMINE, run_batch_text, sert, sert_json

SERT = [sys.executable, "-m", "sert_cli"]
ROWS = "id,drug,dose_mg\n1,escitalopram,10\n2,sertraline,50\n"


def shell(command: str, **kwargs) -> subprocess.CompletedProcess:
    """A command line through the shell, for redirections a list of arguments cannot make."""
    return subprocess.run(
        ["bash", "-c", command.replace("SERT", " ".join(SERT))],
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,
    )


def assert_clean_error(done, codes=(1, 2)):
    assert done.returncode in codes, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("sert: error: ") and done.stderr.count("\n") == 1, done.stderr


# --- 1. rows are never lost ---------------------------------------------------------


def test_a_cell_beyond_the_csv_default_limit_keeps_every_row(tmp_path):
    path = tmp_path / "big.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "drug", "dose_mg", "note"])
        writer.writerow([1, "escitalopram", 10, "x" * 200_000])
        writer.writerow([2, "escitalopram", 20, "short"])
    done = sert("batch", str(path))
    csv.field_size_limit(1 << 24)
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [r["id"] for r in rows] == ["1", "2"]
    assert all(r["error"] == "" for r in rows) and len(rows[0]["note"]) == 200_000


def test_a_cell_too_large_to_read_is_an_error_row_not_a_lost_one(tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text(
        "id,drug,dose_mg\n1,escitalopram,10\n2," + "y" * (17 << 20) + ",10\n3,sertraline,50\n"
    )
    done = sert("batch", str(path))
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert len(rows) == 3
    assert rows[1]["error"].startswith("malformed CSV line")
    assert rows[2]["error"] == "" and rows[2]["drug"] == "sertraline"


# --- 2. --output never damages what it was not asked to replace ---------------------


def test_output_writes_through_a_symlink_and_keeps_the_mode(tmp_path):
    (tmp_path / "in.csv").write_text(ROWS)
    target = tmp_path / "results.csv"
    target.write_text("old\n")
    target.chmod(0o600)
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    done = sert("batch", str(tmp_path / "in.csv"), "-o", str(link))
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and "escitalopram" in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".sert-batch-*"))


@pytest.mark.parametrize("kind", ["fifo", "folder", "empty"])
def test_output_refuses_what_is_not_a_regular_file(tmp_path, kind):
    (tmp_path / "in.csv").write_text(ROWS)
    path = tmp_path / "out"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    target = "" if kind == "empty" else str(path)
    done = sert("batch", str(tmp_path / "in.csv"), "-o", target)
    assert_clean_error(done, (2,))
    if kind == "fifo":
        assert stat.S_ISFIFO(path.stat().st_mode)
    assert not list(tmp_path.glob(".sert-batch-*"))


def test_output_refuses_a_read_only_file(tmp_path, monkeypatch):
    (tmp_path / "in.csv").write_text(ROWS)
    target = tmp_path / "locked.csv"
    target.write_text("keep\n")
    target.chmod(0o400)
    if os.geteuid() == 0:  # root may write any file: let os.access answer as for its owner
        access = os.access

        def as_owner(path, mode, *args, **kwargs):
            if mode & os.W_OK and not os.stat(path).st_mode & stat.S_IWUSR:
                return False
            return access(path, mode, *args, **kwargs)

        monkeypatch.setattr(os, "access", as_owner)
    done = sert("batch", str(tmp_path / "in.csv"), "-o", str(target))
    assert_clean_error(done, (2,))
    assert target.read_text() == "keep\n"


def test_sigterm_during_batch_output_leaves_no_temporary_file(tmp_path):
    source = tmp_path / "in.csv"
    with open(source, "w") as handle:
        handle.write("id,drug,dose_mg\n")
        for i in range(300_000):
            handle.write(f"{i},escitalopram,{5 + i % 1000 / 100}\n")
    process = subprocess.Popen(
        [*SERT, "batch", str(source), "-o", str(tmp_path / "out.csv")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while not list(tmp_path.glob(".sert-batch-*")) and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    assert process.returncode != 0
    assert not list(tmp_path.glob(".sert-batch-*"))
    assert not (tmp_path / "out.csv").exists()


# --- 3. a co-medication counts once --------------------------------------------------


def test_a_repeated_co_medication_counts_once_in_commands_and_batch():
    once = sert_json("occupancy", "escitalopram", "--dose", "10", "--with", "omeprazole")
    many = sert_json("occupancy", "escitalopram", "--dose", "10", *(["--with", "omeprazole"] * 50))
    assert many["occupancy"]["SERT"] == pytest.approx(once["occupancy"]["SERT"])
    rows = run_batch_text(
        "id,drug,dose_mg,with\n1,escitalopram,10,omeprazole\n2,escitalopram,10,omeprazole;omeprazole\n"
    )
    assert rows["1"]["occupancy_SERT"] == rows["2"]["occupancy_SERT"]


# --- 4. the profile cache is never trusted over the file -----------------------------


def cache_env(tmp_path) -> dict:
    return {**os.environ, "SERT_CACHE_DIR": str(tmp_path / "cache")}


def test_a_profile_replaced_with_the_same_size_and_time_is_read_again(tmp_path):
    folder = tmp_path / "profiles"
    folder.mkdir()
    path = folder / "examplamine.yaml"
    path.write_text(EXAMPLAMINE)
    env = cache_env(tmp_path)
    args = ("occupancy", "examplamine", "--dose", "5", "--profiles-dir", str(folder))
    before = sert_json(*args, env=env)["occupancy"]["SERT"]
    info = path.stat()
    changed = EXAMPLAMINE.replace("ki: 2 nM", "ki: 4 nM")
    assert len(changed) == len(EXAMPLAMINE)
    path.write_text(changed)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    after = sert_json(*args, env=env)["occupancy"]["SERT"]
    assert after < before


def test_a_corrupt_or_foreign_cache_is_ignored(tmp_path):
    env = cache_env(tmp_path)
    sert_json("dose", "escitalopram", env=env)
    (cache,) = (tmp_path / "cache").glob("profiles-*.json")
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    stored = json.loads(cache.read_text())
    for entry in stored["entries"].values():
        entry["data"] = {"name": "escitalopram", "pk": "broken"}
    cache.write_text(json.dumps(stored))
    assert sert_json("dose", "escitalopram", env=env)["dose_mg"] > 0
    cache.write_text("{not json")
    assert sert_json("dose", "escitalopram", env=env)["dose_mg"] > 0
    cache.chmod(0o666)  # writable by anyone: not trusted
    assert sert_json("dose", "escitalopram", env=env)["dose_mg"] > 0


def test_no_home_creates_no_tilde_folder(tmp_path, monkeypatch):
    # in process: the cache folder is found from HOME when a library loads, not at start-up
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("SERT_CACHE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    done = sert("dose", "escitalopram", "--format", "json", env={"HOME": "~"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["dose_mg"] > 0
    assert not (tmp_path / "~").exists()


# --- 5. and 6. label maxima and the reference column ---------------------------------


@pytest.mark.parametrize("interval", ["8", "12"])
def test_no_recommended_dose_is_above_the_maximum_and_a_shortfall_is_said(interval):
    for drug, patient in (("citalopram", ["-p", "CYP2C19=PM"]), ("vortioxetine", [])):
        out = sert_json("dose", drug, "--interval", interval, *patient)
        made = out["recommended_dose_mg"]  # None: not even one unit fits under the maximum
        assert made is None or made * 24 / float(interval) <= out["label_max_mg"] + 1e-9
        if not out["target_reached"]:
            assert any("not reached within the label" in w for w in out["warnings"])


def test_table_reference_column_is_plain_nm():
    plain = sert_json("occupancy", "escitalopram", "--dose", "10")["occupancy"]["SERT"]
    rows = sert_json("table", "escitalopram", "--with", "omeprazole", "-p", "CYP2C19=PM")
    nm = next(r for r in rows if r["phenotypes"]["CYP2C19"] == "NM" and r["dose_mg"] == 10)
    assert nm["occupancy"]["SERT"] == pytest.approx(plain)


# --- 7. profiles check refuses what the model cannot compute --------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("strengths: [5 mg, 10 mg]", "strengths: [0.0004 mg, 10 mg]"),
        ("half_life: 30 h", "half_life: 1e308 h"),
        ("molar_mass: 300 g/mol", "molar_mass: 1e308 g/mol"),
        ("kp_uu_brain: 1.0", "kp_uu_brain: 1e308"),
    ],
)
def test_profiles_check_refuses_numbers_the_model_cannot_compute(tmp_path, old, new):
    assert old in EXAMPLAMINE, old
    path = tmp_path / "examplamine.yaml"
    path.write_text(EXAMPLAMINE.replace(old, new))
    assert_clean_error(sert("profiles", "check", str(path)), (2,))
    for args in (("dose", "examplamine"), ("table", "examplamine")):
        assert_clean_error(sert(*args, "--profiles-dir", str(tmp_path)), (2,))


# --- classes: output, input, sizes, text, warnings -----------------------------------


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_one_line():
    assert_clean_error(shell("SERT occupancy escitalopram --dose 10 > /dev/full"), (2,))


def test_a_closed_stdout_is_one_line():
    assert_clean_error(shell("SERT occupancy escitalopram --dose 10 >&-"), (2,))


def test_an_ascii_only_output_still_answers():
    """PYTHONIOENCODING is read when the interpreter starts: a process of its own."""
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    done = shell("SERT table sertraline", env=env)
    assert done.returncode == 0, done.stderr
    assert "sertraline: SERT occupancy" in done.stdout
    done = shell("SERT dose escitalopram --format json", env=env)
    assert json.loads(done.stdout)["dose_mg"] > 0


def test_a_zero_column_terminal_still_answers_in_json():
    """COLUMNS is read when output is drawn (in process; TERMINAL_WIDTH, read at start-up,
    is the tests' 120)."""
    assert sert_json("dose", "escitalopram", env={"COLUMNS": "0"})["dose_mg"] > 0


@pytest.mark.parametrize("args", [("table", "sertraline"), ("occupancy", "escitalopram", "10")])
def test_a_zero_column_terminal_still_gets_the_table(args):
    """Before main's cli/environment, COLUMNS=0 gave an empty table and exit 0 (the old
    subprocess test checked only the exit status)."""
    done = sert(*args, env={"COLUMNS": "0"})
    assert done.returncode == 0, done.stderr
    assert "SERT" in done.stdout


def test_input_that_is_not_a_plain_file(tmp_path):
    fifo = tmp_path / "in.csv"
    os.mkfifo(fifo)
    done = shell(f"(printf '{ROWS}' > {fifo} &) ; SERT batch {fifo}")
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 3, done.stderr
    done = shell(f"SERT batch <(printf '{ROWS}')")
    assert done.returncode == 0 and "sertraline" in done.stdout
    done = shell(f"printf '{ROWS}' | SERT batch /dev/stdin")
    assert done.returncode == 0 and "sertraline" in done.stdout
    assert_clean_error(shell("SERT batch - <&-"), (2,))
    assert_clean_error(shell(r"printf 'id,drug,dose_mg\n1,esc\xff,10\n' | SERT batch -"), (2,))


def test_a_fifo_in_the_profiles_folder_does_not_hang(tmp_path):
    os.mkfifo(tmp_path / "trap.yaml")
    # in process: a hang would be cut by sert's timeout (SIGALRM interrupts the open)
    done = sert("dose", "escitalopram", "--profiles-dir", str(tmp_path), timeout=30)
    assert_clean_error(done, (2,))
    assert "not a file" in done.stderr


def test_absurd_sizes():
    rows = run_batch_text(
        "id,drug,dose_mg,CYP2D6\n1,vortioxetine,10,*1/*1x" + "9" * 5000 + "\n2,vortioxetine,10,\n"
    )
    assert rows["1"]["error"].startswith("column CYP2D6")
    assert rows["2"]["error"] == ""
    assert_clean_error(sert("simulate", "paroxetine", "--dose", "1e200"), (1,))
    done = sert("simulate", "paroxetine", "--dose", "20", "--doses", "100000", "--step", "48")
    assert done.returncode == 0, done.stderr


def test_untrusted_text_is_escaped_or_refused(tmp_path):
    done = sert("occupancy", "\x1b[31mred", "--dose", "10")
    assert_clean_error(done, (2,))
    assert "\x1b" not in done.stderr and "\\x1b" in done.stderr
    path = tmp_path / "examplamine.yaml"
    path.write_text(EXAMPLAMINE.replace("aliases: [Examplex]", 'aliases: ["Exam\\nplex"]'))
    assert_clean_error(sert("profiles", "check", str(path)), (2,))
    path.write_text(EXAMPLAMINE.replace("aliases: [Examplex]", "aliases: [Lexapro]"))
    done = sert("dose", "Lexapro", "--profiles-dir", str(tmp_path), "--format", "json")
    assert done.returncode == 0 and json.loads(done.stdout)["drug"] == "escitalopram"
    assert "already names the bundled escitalopram" in done.stderr


def test_numpy_warnings_never_abort_a_batch():
    rows = run_batch_text(
        "id,drug,dose_mg,interval_h\n1,escitalopram,1e-300,24\n2,escitalopram,10,1e-300\n"
        "3,escitalopram,10,24\n"
    )
    assert len(rows) == 3 and rows["3"]["error"] == ""
    # in process, under pytest's filterwarnings = error: what PYTHONWARNINGS=error sets at
    # start-up, so a numpy warning that escaped the program would fail this call
    rows = run_batch_text(
        "id,drug,dose_mg,interval_h\n1,escitalopram,1e-300,1e300\n2,escitalopram,10,24\n"
    )
    assert rows["1"]["error"] == rows["2"]["error"] == ""
    assert rows["1"]["occupancy_SERT"] == "0.0"  # 1e-300 mg every 1e300 h: nothing on board


def test_thousands_of_columns_stay_in_small_chunks(tmp_path):
    from sert_cli.batch.source import CHUNK_CELLS, _csv_chunks

    width = 10_003
    rows = [[str(i), "escitalopram", "10", *(["v"] * (width - 3))] for i in range(200)]
    chunks = list(_csv_chunks(iter(rows), width))
    assert sum(len(c) for c, _ in chunks) == 200
    assert all(len(c) * width <= max(CHUNK_CELLS, width) for c, _ in chunks)
