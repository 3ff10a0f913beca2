"""Issue 26, `sert batch` under attack: one bad row, line or worker never loses the others,
never hangs, never grows without bound, and nothing raw from the input reaches a terminal.
"""

import csv
import gc
import io
import json
import os

import pytest
from conftest import sert

from sert_cli.batch import run as batch_run


def write(tmp_path, text: str, name: str = "in.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return str(path)


def rows_of(stdout: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(stdout)))


def one_error_line(stderr: str) -> str:
    assert stderr.startswith("sert: error: ") and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    return stderr


# --- 1. an absurd dose of a saturable drug, and a bug, fail only their own row -------------


def test_a_saturable_drug_at_an_absurd_dose_is_its_rows_error_and_the_others_answer(tmp_path):
    path = write(
        tmp_path,
        "drug,dose_mg\nparoxetine,1e300\nescitalopram,10\nparoxetine,20\nparoxetine,1e308\n",
    )
    done = sert("batch", path, "--fields", "drug,occupancy_SERT", "-q")
    assert done.returncode == 1, done.stderr
    assert done.stderr == ""
    rows = rows_of(done.stdout)
    assert [r["drug"] for r in rows] == ["paroxetine", "escitalopram", "paroxetine", "paroxetine"]
    assert "far beyond the range the model resolves" in rows[0]["error"]
    assert rows[0]["occupancy_SERT"] == ""
    assert 0.5 < float(rows[1]["occupancy_SERT"]) < 1 and rows[1]["error"] == ""
    assert 0.5 < float(rows[2]["occupancy_SERT"]) < 1 and rows[2]["error"] == ""
    assert rows[3]["error"] and rows[3]["occupancy_SERT"] == ""


@pytest.mark.parametrize("dose", ["1e300", "1e308"])
def test_occupancy_of_a_saturable_drug_at_an_absurd_dose_exits_1_in_one_line(dose):
    done = sert("occupancy", "paroxetine", "--dose", dose)
    assert done.returncode == 1
    assert done.stdout == ""
    one_error_line(done.stderr)


def test_a_saturable_steady_state_that_cannot_hold_the_dose_has_no_zero_division():
    """The root: a Css beyond a float gave a zero elimination rate, and steady_state
    divided by it; now its half-life is infinite and the levels say why (check_finite)."""
    from sert_cli.model import formulas
    from sert_cli.pk import steady_state as ss

    assert ss._half_life_h(0.0) == float("inf")
    # b * b beyond a float: the root is found without overflowing, ~ R / CL
    for rate in (2.0, 1e150, 1e300):  # each Css balances its dose rate
        css = formulas.saturable_css_mg_l(rate, 10.0, 5.0, 0.1)
        assert formulas.saturable_dose_rate_mg_h(css, 10.0, 5.0, 0.1) == pytest.approx(rate)
    assert formulas.saturable_css_mg_l(1e300, 10.0, 5.0, 0.1) == pytest.approx(1e299)


def test_a_bug_in_one_row_is_that_rows_internal_error_and_the_others_answer(tmp_path, monkeypatch):
    from sert_cli.queries.engine import Engine

    real = Engine._occupancy_group

    def buggy(self, group, *args):
        if any(float(q.dose_mg) == 13 for q in group):
            raise ZeroDivisionError("float division by zero")
        return real(self, group, *args)

    monkeypatch.setattr(Engine, "_occupancy_group", buggy)
    path = write(tmp_path, "drug,dose_mg\nescitalopram,10\nescitalopram,13\nsertraline,50\n")
    done = sert("batch", path, "--fields", "drug,dose_mg,occupancy_SERT", "-q")
    assert done.returncode == 1, done.stderr
    rows = rows_of(done.stdout)
    assert len(rows) == 3
    assert rows[0]["error"] == "" and float(rows[0]["occupancy_SERT"]) > 0.5
    assert rows[1]["error"].startswith("internal error (a bug in sert")
    assert "ZeroDivisionError" in rows[1]["error"]
    assert rows[2]["error"] == "" and float(rows[2]["occupancy_SERT"]) > 0.5


def test_a_bug_while_writing_one_answer_fails_only_that_row(tmp_path, monkeypatch):
    from sert_cli.queries.results import OccupancyResult

    real = OccupancyResult.key_record

    def buggy(self):
        if float(self.query.dose_mg) == 13:
            raise KeyError("oops")
        return real(self)

    monkeypatch.setattr(OccupancyResult, "key_record", buggy)
    path = write(tmp_path, "drug,dose_mg\nescitalopram,10\nescitalopram,13\n")
    done = sert("batch", path, "--fields", "drug,occupancy_SERT", "-q")
    assert done.returncode == 1
    rows = rows_of(done.stdout)
    assert rows[0]["error"] == "" and rows[0]["occupancy_SERT"]
    assert rows[1]["error"].startswith("internal error") and "KeyError" in rows[1]["error"]


# --- 5. memory: an error row keeps nothing of its chunk alive ------------------------------


def test_error_rows_leave_no_cycles_behind_with_the_collector_off(tmp_path, monkeypatch):
    """Batch runs with the cyclic collector off; an error kept (a cache's, an answer) with
    its context's traceback held its frames, and through them a whole chunk: 688 MB at
    200,000 rows of a mix with errors. Now a run leaves (almost) no cyclic garbage."""
    from sert_cli.cli.common import profiles_library

    lines = ["id,drug,dose_mg,age,CYP2C19"]
    for i in range(600):
        lines.append(
            [
                f"{i},nodrug{i},10,{20 + i % 50}.5,",
                f"{i},escitalopram,-{i},{20 + i % 50},",
                f"{i},sertraline,50,{30 + i % 40},XX{i}",
                f"{i},escitalopram,10,{20 + i % 60}.25,PM",
            ][i % 4]
        )
    path = write(tmp_path, "\n".join(lines) + "\n")
    library = profiles_library(None)
    gc.collect()
    monkeypatch.setattr(batch_run.gc, "enable", lambda: None)  # keep it off to count
    try:
        batch_run.run(
            library, batch_run.Options(input_path=path), say=lambda _: None, stdout=io.StringIO()
        )
        left = gc.collect()
    finally:
        monkeypatch.undo()
        gc.enable()
    assert left < 1_000, left  # (before: ~10 per row, everything the chunk held)


# --- 2. JSON lines: a number JSON or a float cannot hold is its line's error ---------------

BIG = "9" * 400


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (BIG, "too large a number"),
        ("NaN", "NaN is not a number JSON allows"),
        ("Infinity", "Infinity is not a number"),
        ("-Infinity", "-Infinity is not a number"),
        ("1e400", "too large a number"),
        ("[" * 50_000 + "]" * 50_000, "nested too deeply"),
    ],
)
def test_a_json_number_beyond_a_float_is_its_lines_error_naming_the_line(tmp_path, value, words):
    path = write(
        tmp_path,
        '{"drug": "escitalopram", "dose_mg": 10}\n\n'
        f'{{"drug": "escitalopram", "dose_mg": {value}}}\n'
        '{"drug": "sertraline", "dose_mg": 50}\n',
        "in.jsonl",
    )
    done = sert("batch", path, "--fields", "drug,occupancy_SERT", "--format", "jsonl", "-q")
    assert done.returncode == 1, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 3
    assert lines[0]["error"] is None and lines[2]["error"] is None
    assert lines[2]["occupancy"]["SERT"] > 0.5
    assert lines[1]["error"].startswith("bad JSON line 3: ") and words in lines[1]["error"]


@pytest.mark.parametrize("value", [BIG, "NaN", "Infinity"])
def test_a_bad_number_on_the_first_json_line_stops_the_run_naming_its_line(tmp_path, value):
    """The first line's keys are the columns (README): without it nothing can be read."""
    path = write(
        tmp_path,
        f'\n{{"drug": "escitalopram", "dose_mg": {value}}}\n{{"drug": "sertraline"}}\n',
        "in.jsonl",
    )
    done = sert("batch", path)
    assert done.returncode == 2 and done.stdout == ""
    assert "line 2: the first JSON line is not valid JSON" in one_error_line(done.stderr)


def test_a_json_key_given_twice_is_its_lines_error(tmp_path):
    path = write(
        tmp_path,
        '{"drug": "escitalopram", "dose_mg": 10}\n'
        '{"drug": "escitalopram", "dose_mg": 10, "dose_mg": 40}\n',
        "in.jsonl",
    )
    done = sert("batch", path, "--format", "jsonl", "-q")
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 1
    assert lines[0]["error"] is None
    assert "key 'dose_mg' is given twice" in lines[1]["error"]


# --- 3. a stray quote is its line's error, and the lines after it are read -----------------


def test_a_stray_quote_does_not_swallow_the_rest_of_the_file(tmp_path):
    lines = ["drug,dose_mg", "escitalopram,10", '"escitalopram,10'] + ["sertraline,50"] * 3000
    path = write(tmp_path, "\n".join(lines) + "\n")
    done = sert("batch", path, "--fields", "drug", "-q")
    assert done.returncode == 1
    rows = rows_of(done.stdout)
    assert len(rows) == 3002
    assert rows[0]["error"] == ""
    assert rows[1]["error"].startswith("a quote opened on line 3 runs on over 100 lines")
    assert all(r["drug"] == "sertraline" and r["error"] == "" for r in rows[2:])


def test_a_stray_quote_closed_a_few_lines_later_merges_nothing(tmp_path):
    text = (
        "id,drug,dose_mg,note\n"
        '1,"escitalopram,10,x\n'
        "2,sertraline,50,y\n"
        '3,x",20,z\n'
        '4,escitalopram,20,"a note\nover two lines"\n'
        "5,sertraline,25,w\n"
        '6,sertraline,25,"never closed\n'
    )
    done = sert("batch", write(tmp_path, text), "--fields", "drug", "-q")
    assert done.returncode == 1
    rows = rows_of(done.stdout)
    assert [r["id"] for r in rows] == ["", "2", "3", "4", "5", ""]
    assert rows[0]["error"].startswith("line 2: a quote runs the line on over 3 lines")
    assert rows[1]["error"] == "" and rows[1]["drug"] == "sertraline"
    assert rows[3]["note"] == "a note\nover two lines" and rows[3]["error"] == ""
    assert rows[4]["error"] == ""
    assert rows[5]["error"].startswith("line 8: a quote is not closed before the end")


def test_a_quote_left_open_in_the_header_stops_the_run_naming_its_line(tmp_path):
    done = sert("batch", write(tmp_path, '\ndrug,"dose_mg\nescitalopram,10\n'))
    assert done.returncode == 2 and done.stdout == ""
    assert "line 2: the CSV header runs on" in one_error_line(done.stderr)


def test_a_record_cut_by_a_block_of_lines_is_read_whole(tmp_path, monkeypatch):
    """A note over lines that straddle two blocks of the fast reader is one record."""
    from sert_cli.batch import source

    monkeypatch.setattr(source, "CHUNK_ROWS", 2)
    text = 'id,drug,dose_mg,note\n1,escitalopram,10,"a\nb\nc"\n2,sertraline,50,d\n'
    done = sert("batch", write(tmp_path, text), "--fields", "drug", "-q")
    assert done.returncode == 0, done.stdout
    rows = rows_of(done.stdout)
    assert [r["note"] for r in rows] == ["a\nb\nc", "d"]


# --- 4. wide rows: at most 10,000 columns, checked in linear time --------------------------


def test_more_than_ten_thousand_columns_stop_the_run_before_any_row(tmp_path):
    header = ",".join(["drug", "dose_mg", *(f"c{i}" for i in range(10_000))])
    done = sert("batch", write(tmp_path, header + "\nescitalopram,10\n"))
    assert done.returncode == 2 and done.stdout == ""
    assert "10,002 columns; sert batch reads at most 10,000" in one_error_line(done.stderr)
    keys = {"drug": "escitalopram", **{f"c{i}": 1 for i in range(10_001)}}
    done = sert("batch", write(tmp_path, json.dumps(keys) + "\n", "in.jsonl"))
    assert done.returncode == 2 and "10,002 columns" in one_error_line(done.stderr)


def test_the_look_alike_check_of_many_columns_is_linear():
    import time

    from sert_cli.batch import requests

    def seconds(n: int) -> float:
        header = ["drug", "dose_mg", *(f"column{i}" for i in range(n))]
        started = time.perf_counter()
        requests.contract(header)
        return time.perf_counter() - started

    small, large = seconds(500), seconds(4_000)
    assert large < 8 * small * 3 + 0.05, (small, large)  # 8x the columns: not 64x the time


def test_thousands_of_blank_lines_lose_no_row_after_them(tmp_path):
    """A chunk of nothing but blank lines ended the input (rows after it were lost)."""
    text = "drug,dose_mg\nescitalopram,10\n" + "\n" * 12_000 + ",\n" * 6_000 + "sertraline,50\n"
    done = sert("batch", write(tmp_path, text), "--fields", "drug", "-q")
    assert done.returncode == 0
    assert [r["drug"] for r in rows_of(done.stdout)] == ["escitalopram", "sertraline"]


# --- 7. inputs: keys, headers, rows --------------------------------------------------------


def test_a_json_key_absent_from_the_first_line_is_read_or_its_lines_error(tmp_path):
    path = write(
        tmp_path,
        '{"drug": "escitalopram", "dose_mg": 10}\n'
        '{"drug": "escitalopram", "dose_mg": 10, "CYP2C19": "PM"}\n'
        '{"drug": "escitalopram", "dose_mg": 10, "notes": "x"}\n'
        '{"drug": "escitalopram", "dose_mg": 10, "Dose": 20}\n',
        "in.jsonl",
    )
    done = sert("batch", path, "--fields", "drug,occupancy_SERT", "--format", "jsonl", "-q")
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert lines[1]["occupancy"]["SERT"] > lines[0]["occupancy"]["SERT"]  # PM: read
    assert "key 'notes' is not in the first line" in lines[2]["error"]
    assert "key 'Dose' is not in the first line" in lines[3]["error"]


def test_a_header_name_given_twice_stops_the_run_even_when_not_carried(tmp_path):
    path = write(tmp_path, "drug,dose_mg,id, id\nescitalopram,10,1,2\n")
    for carry in ("all", "none", "drug"):
        done = sert("batch", path, "--carry", carry)
        assert done.returncode == 2 and done.stdout == ""
        assert "two columns named 'id'" in one_error_line(done.stderr)


def test_a_row_with_a_dose_and_a_target_is_the_occupancy_at_the_dose(tmp_path):
    """As the README's contract says (a target is read where the dose is empty), so that
    batch's own output, which has both on a dose row, reads back."""
    path = write(tmp_path, "drug,dose_mg,target\nescitalopram,10,0.5\nescitalopram,,0.5\n")
    rows = rows_of(sert("batch", path, "--fields", "query,dose_mg", "-q").stdout)
    assert [r["query"] for r in rows] == ["occupancy", "dose"]
    assert float(rows[0]["dose_mg"]) == 10.0


def test_jobs_are_capped_at_the_cpus_and_a_short_input_forks_nothing(tmp_path, monkeypatch):
    import multiprocessing

    assert batch_run.workers_for(1000, cpus=2) == 2
    assert batch_run.workers_for(3, cpus=8) == 3
    assert batch_run.workers_for(5, cpus=0) == 1

    def no_fork(*_args, **_kwargs):
        raise AssertionError("a worker was started for one chunk")

    monkeypatch.setattr(multiprocessing, "get_context", no_fork)
    path = write(tmp_path, "drug,dose_mg\n" + "escitalopram,10\n" * 10)
    done = sert("batch", path, "--jobs", "1000", "-q")
    assert done.returncode == 0, done.stderr
    assert len(rows_of(done.stdout)) == 10


def _chunks_of_rows(tmp_path, monkeypatch, rows: int = 40):
    from sert_cli.batch import source

    monkeypatch.setattr(source, "CHUNK_ROWS", 5)
    return write(tmp_path, "drug,dose_mg\n" + "escitalopram,10\n" * rows)


def test_a_fork_that_fails_is_said_as_such_not_as_an_output_error(tmp_path, monkeypatch):
    path = _chunks_of_rows(tmp_path, monkeypatch)

    def fork():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", fork)
    out = tmp_path / "out.csv"
    done = sert("batch", path, "--jobs", "2", "--output", str(out))
    assert done.returncode == 1
    message = one_error_line(done.stderr)
    assert "--jobs 2: cannot start a worker process (Resource temporarily unavailable)" in message
    assert "--output" not in message.split("--jobs")[0]
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["in.csv"]


def test_a_worker_killed_ends_the_run_with_an_error_not_a_hang(tmp_path, monkeypatch):
    import signal

    path = _chunks_of_rows(tmp_path, monkeypatch)

    parent, real = os.getpid(), batch_run.Pipeline.answer

    def killed(self, rows, problems, rows_before):
        if rows_before >= 10 and os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(self, rows, problems, rows_before)

    monkeypatch.setattr(batch_run.Pipeline, "answer", killed)
    out = tmp_path / "out.csv"
    done = sert("batch", path, "--jobs", "2", "--output", str(out), timeout=30)
    assert done.returncode == 1
    assert "a worker process ended without its answer" in one_error_line(done.stderr)
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["in.csv"]


# --- 6. the input is read as it was when the run began -------------------------------------


def test_the_input_is_a_snapshot_growth_and_replacement_are_not_read(tmp_path):
    from sert_cli.batch import source

    path = write(tmp_path, "drug,dose_mg\nescitalopram,10\n")
    stream, raw = source.open_input(path)
    with stream:
        with open(path, "a", encoding="utf-8") as more:
            more.write("sertraline,50\n")
        replacement = tmp_path / "new.csv"
        replacement.write_text("drug,dose_mg\nfluoxetine,20\nfluoxetine,40\n", encoding="utf-8")
        os.replace(replacement, path)
        assert stream.read() == "drug,dose_mg\nescitalopram,10\n"
    assert raw.closed


def test_jobs_read_the_snapshot_too(tmp_path, monkeypatch):
    """The parent reads the input once, at the size it had; the workers read nothing."""
    path = _chunks_of_rows(tmp_path, monkeypatch, rows=30)
    real = batch_run._stream

    def grow_then_stream(pipeline, chunks, *args):
        with open(path, "a", encoding="utf-8") as more:
            more.write("sertraline,50\n" * 30)
        return real(pipeline, chunks, *args)

    monkeypatch.setattr(batch_run, "_stream", grow_then_stream)
    done = sert("batch", path, "--jobs", "2", "--fields", "drug", "-q")
    assert done.returncode == 0, done.stderr
    assert [r["drug"] for r in rows_of(done.stdout)] == ["escitalopram"] * 30


# --- 8. a killed run's temporary file is removed by the next run ---------------------------


def test_a_killed_runs_temporary_file_is_removed_by_the_next_run(tmp_path):
    import subprocess
    import sys

    from sert_cli.batch import output

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = tmp_path / f"{output._temporary_prefix(gone.pid)}abcd.tmp"
    stale.write_text("half a batch")
    alive = tmp_path / f"{output._temporary_prefix(os.getppid())}efgh.tmp"
    alive.write_text("a run still going")
    other = tmp_path / ".sert-batch-otherhost-1-ijkl.tmp"
    other.write_text("another machine's")
    path = write(tmp_path, "drug,dose_mg\nescitalopram,10\n")
    done = sert("batch", path, "--output", str(tmp_path / "out.csv"))
    assert done.returncode == 0
    assert "removed 1 temporary file(s) of killed runs" in done.stderr
    assert not stale.exists() and alive.exists() and other.exists()
    assert (tmp_path / "out.csv").read_text().startswith("drug,dose_mg")


# --- 9. untrusted text reaches the terminal escaped ----------------------------------------


def test_cells_and_names_echoed_on_stderr_have_their_control_characters_escaped(tmp_path):
    path = write(tmp_path, "drug,dose_mg,n\x1b]0;t\x07\n\x1b[31mred,10,x\n")
    done = sert("batch", path, "--strict")
    assert done.returncode == 1
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr
    assert "row 1: unknown drug '\\x1b[31mred'" in done.stderr
    assert "not read: n\\x1b]0;t\\x07" in done.stderr
    path = write(tmp_path, "drug,Dose\x1b[2J\nescitalopram,10\n")
    done = sert("batch", path)
    assert done.returncode == 2 and "\x1b" not in one_error_line(done.stderr)
    path = write(tmp_path, 'drug,dose_mg\n"\x1b[2Jx,10\n')
    done = sert("batch", path, "--strict")
    assert done.returncode == 1 and "\x1b" not in one_error_line(done.stderr)


@pytest.mark.parametrize("name", ["in.csv", "in.jsonl"])
def test_a_line_without_end_is_read_no_further_than_the_limit(tmp_path, monkeypatch, name):
    """A file with no line break was read whole into memory: now at most MAX_LINE_CHARS
    of a line are read, and the run stops naming the line (here with a small limit)."""
    from sert_cli.batch import source

    monkeypatch.setattr(source, "MAX_LINE_CHARS", 1_000)
    first = (
        "drug,dose_mg\n" if name.endswith("csv") else '{"drug": "escitalopram", "dose_mg": 10}\n'
    )
    path = tmp_path / name
    path.write_text(first + "x" * 50_000)
    done = sert("batch", str(path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1].startswith("sert: error: line 2 is longer than")
    path.write_text(first + "escitalopram,10\n" * 3 if name.endswith("csv") else first * 3)
    assert sert("batch", str(path)).returncode == 0  # lines under the limit read as ever
