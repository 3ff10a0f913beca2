"""`sert batch`: the same numbers as the single queries, bad rows reported, nothing lost."""

import csv
import io
import json
import random
import re

import pytest
from conftest import LEVELS_OFF, sert, sert_json

from sert_cli.errors import SertError
from sert_cli.pgx.patient import Patient
from sert_cli.profiles.library import load_library
from sert_cli.queries.engine import answer
from sert_cli.queries.values import DoseQuery, OccupancyQuery
from sert_cli.render.csv_format import cell, flatten

HEADER = "id,drug,dose_mg,target,CYP2C19,CYP2D6\n"


def run_batch(text: str, *args: str, tmp_path=None, name="in.csv"):
    if tmp_path is None:
        return sert("batch", "-", *args, stdin=text)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return sert("batch", str(path), *args)


def rows_of(done) -> list[dict]:
    return list(csv.DictReader(io.StringIO(done.stdout)))


def random_rows(count: int) -> list[dict]:
    rng = random.Random(7)
    drugs = [
        ("escitalopram", "CYP2C19", ["PM", "IM", "NM", "RM", "UM"]),
        ("sertraline", "CYP2C19", ["PM", "IM", "NM", "UM"]),
        ("venlafaxine", "CYP2D6", ["PM", "IM", "NM", "UM"]),  # ODV's formation too
        ("vortioxetine", "CYP2D6", ["PM", "IM", "NM", "UM"]),
        ("paroxetine", "CYP2D6", ["PM", "NM"]),
        ("fluoxetine", None, []),
    ]
    rows = []
    for i in range(count):
        drug, gene, phenotypes = rng.choice(drugs)
        row = {"id": str(i), "drug": drug, "dose_mg": "", "target": "", "CYP2C19": "", "CYP2D6": ""}
        if gene:
            row[gene] = rng.choice(phenotypes)
        if rng.random() < 0.5:
            row["dose_mg"] = repr(round(rng.uniform(1, 100), 3))
        else:
            row["target"] = repr(round(rng.uniform(0.3, 0.8), 3))
        rows.append(row)
    return rows


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def single_query(row: dict):
    """The query a batch row asks, answered alone (a batch of one)."""
    patient = Patient(tuple((g, row[g]) for g in ("CYP2C19", "CYP2D6") if row[g]))
    if row["dose_mg"]:
        return OccupancyQuery(row["drug"], float(row["dose_mg"]), patient=patient)
    return DoseQuery(row["drug"], float(row["target"]), patient=patient)


def assert_same(batch_value, single_value, where):
    if isinstance(single_value, float):
        assert batch_value == pytest.approx(single_value, rel=1e-12, abs=1e-300), where
    elif isinstance(single_value, dict):
        assert batch_value.keys() == single_value.keys(), where
        for key in single_value:
            assert_same(batch_value[key], single_value[key], (*where, key))
    elif isinstance(single_value, list):
        assert len(batch_value) == len(single_value), where
        for i, (b, s) in enumerate(zip(batch_value, single_value, strict=True)):
            assert_same(b, s, (*where, i))
    else:
        assert batch_value == single_value, where


def test_batch_equals_single_queries_to_1e_12():
    """Every field of every row's record, JSON and CSV, equals the single query's."""
    rows = random_rows(300)
    done = run_batch(to_csv(rows), "--format", "jsonl", "--fields", "all")
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    as_csv = rows_of(run_batch(to_csv(rows), "--fields", "all"))
    assert len(results) == len(rows) == len(as_csv)
    library = load_library()
    for row, result, cells in zip(rows, results, as_csv, strict=True):
        assert result["id"] == row["id"] and result["error"] is None
        single = answer(single_query(row), library).record()
        assert_same({k: result[k] for k in single}, single, (row["id"],))
        flat = flatten(single)
        assert set(flat) <= set(cells), set(flat) - set(cells)
        for key, value in flat.items():
            if isinstance(value, float):
                assert float(cells[key]) == pytest.approx(value, rel=1e-12), (row["id"], key)
            else:
                assert cells[key] == cell(value), (row["id"], key)


def test_batch_csv_has_every_column_of_the_single_command():
    for args in (("occupancy", "venlafaxine", "--dose", "75"), ("dose", "escitalopram")):
        single = sert(*args, "--format", "csv")
        header = single.stdout.splitlines()[0].split(",")
        text = (
            "drug,dose_mg\nvenlafaxine,75\n" if args[0] == "occupancy" else "drug\nescitalopram\n"
        )
        batch_header = rows_of(run_batch(text, "--fields", "all"))[0].keys()
        assert set(header) <= set(batch_header), set(header) - set(batch_header)


def test_jsonl_input_types_survive():
    text = '{"id": 1, "drug": "escitalopram", "dose_mg": 10, "extra": [1, 2], "flag": true}\n'
    done = run_batch(text, "--input-format", "jsonl", "--format", "jsonl")
    record = json.loads(done.stdout)
    assert record["id"] == 1 and record["extra"] == [1, 2] and record["flag"] is True
    assert record["error"] is None


def test_row_errors_name_the_column():
    done = run_batch("drug,CYP2C19,dose_mg\nescitalopram,XM,10\nescitalopram,NM,-1\n")
    errors = [r["error"] for r in rows_of(done)]
    assert errors[0].startswith("column CYP2C19: unknown phenotype 'XM'")
    assert errors[1].startswith("column dose_mg: must be a positive number")
    assert "--phenotype" not in " ".join(errors)


def test_batch_matches_the_real_single_commands():
    rows = random_rows(12)
    results = [
        json.loads(line)
        for line in run_batch(to_csv(rows), "--format", "jsonl").stdout.splitlines()
    ]
    for row, result in zip(rows, results, strict=True):
        options = [x for g in ("CYP2C19", "CYP2D6") if row[g] for x in ("-p", f"{g}={row[g]}")]
        if row["dose_mg"]:
            single = sert_json("occupancy", row["drug"], "--dose", row["dose_mg"], *options)
            assert result["occupancy"] == pytest.approx(single["occupancy"], rel=1e-12)
        else:
            single = sert_json("dose", row["drug"], "--target", row["target"], *options)
            assert result["dose_mg"] == pytest.approx(single["dose_mg"], rel=1e-12)
        assert result["phenotypes"] == single["phenotypes"]


BAD = HEADER + (
    "1,escitalopram,10,,,\n"
    "2,prozacc,10,,,\n"
    "3,sertraline,-5,,,\n"
    "4,sertraline,abc,,,\n"
    "5,escitalopram,,1.5,,\n"
    "6,escitalopram,,80,,\n"
    "7,escitalopram,10,,XM,\n"
    "8,,10,,,\n"
    "9,vortioxetine,10,,,*1/*43\n"
    "10,sertraline,,0.9,,\n"
    "11,sertraline,nan,,,\n"
)


def test_bad_rows_are_reported_and_the_rest_computed():
    done = run_batch(BAD)
    assert done.returncode == 1
    rows = {r["id"]: r for r in rows_of(done)}
    assert len(rows) == 11
    assert rows["1"]["error"] == "" and float(rows["1"]["occupancy_SERT"]) > 0
    expected = {
        "2": "unknown drug 'prozacc'",
        "3": "column dose_mg: must be a positive",
        "4": "column dose_mg: cannot read 'abc' as a quantity such as '10 mg'",
        "5": "between 0 and 1",
        "6": "did you mean 0.8",
        "7": "unknown phenotype 'XM'",
        "8": "missing drug",
        "9": "Indeterminate",
        "10": LEVELS_OFF,
        "11": "column dose_mg: must be a positive",
    }
    for row_id, message in expected.items():
        assert message in rows[row_id]["error"], (row_id, rows[row_id]["error"])
    assert "11 rows read, 1 computed, 10 with errors" in done.stderr


def test_strict_stops_at_the_first_bad_row(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old contents\n")
    done = run_batch(BAD, "--strict", "--output", str(target), tmp_path=tmp_path)
    assert done.returncode == 1 and "row 2:" in done.stderr and "prozacc" in done.stderr
    assert target.read_text() == "old contents\n"  # never half-written
    assert not list(tmp_path.glob(".sert-batch-*"))


def test_output_file_is_replaced_whole(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old contents\n")
    done = run_batch(HEADER + "1,escitalopram,10,,,\n", "--output", str(target), tmp_path=tmp_path)
    assert done.returncode == 0 and done.stdout == ""
    assert target.read_text().startswith("id,drug,dose_mg")
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        ("id,dose_mg\n1,10\n", [], "no 'drug' column"),
        ("", [], "the input is empty"),
        (HEADER, ["--format", "xml"], "--format must be one of"),
        (HEADER, ["--input-format", "xls"], "--input-format must be one of"),
    ],
)
def test_input_errors_exit_2_before_any_output(text, args, message):
    done = run_batch(text, *args)
    assert done.returncode == 2 and message in done.stderr and done.stdout == ""


def test_non_utf8_file_is_refused_before_output(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes((HEADER + "1,escitalopram,10,,,\n2,caf\xe9,10,,,\n").encode("latin-1"))
    done = sert("batch", str(path))
    assert done.returncode == 2 and "not UTF-8" in done.stderr and done.stdout == ""


def test_formula_cells_are_defused_and_columns_pass_through():
    text = (
        "id,drug,dose_mg,note\n"
        '=1+1,escitalopram,10,"hello, world"\n'
        '@SUM(A1),escitalopram,10,"two\nlines"\n'
        "+3,escitalopram,10,-x\n"
    )
    rows = rows_of(run_batch(text))
    assert [r["id"] for r in rows] == ["'=1+1", "'@SUM(A1)", "+3"]  # a number stays one
    assert rows[0]["note"] == "hello, world" and rows[1]["note"] == "two\nlines"
    assert rows[2]["note"] == "'-x"


def test_cells_outside_the_request_are_copied_into_each_line():
    """A distinct request's line is encoded once and each row's other cells are filled in:
    whatever they hold, wherever they stand, the output reads back as the csv and json
    modules would write it, and the rows of one request differ only in those cells."""
    hostile = ["a,b", 'say "hi"', "two\nlines", "=1+1", "-x", "\x1fz", "", "plain", "é"]
    rows = [
        {
            "note": hostile[i % 9],
            "drug": "escitalopram",
            "id": str(i),
            "dose_mg": "10",
            "tail": hostile[(i + 4) % 9],
        }
        for i in range(18)
    ]
    done = run_batch(to_csv(rows))
    out = rows_of(done)
    assert done.returncode == 0 and len(out) == 18
    safe = ["'" + c if c[:1] in ("=", "+", "-", "@") else c for c in hostile]
    for i, row in enumerate(out):
        assert (row["note"], row["id"], row["tail"]) == (safe[i % 9], str(i), safe[(i + 4) % 9])
    results = [{k: v for k, v in r.items() if k not in ("note", "id", "tail")} for r in out]
    assert all(r == results[0] for r in results)
    lines = "".join(json.dumps(r) + "\n" for r in rows)
    records = [
        json.loads(line)
        for line in run_batch(
            lines, "--input-format", "jsonl", "--format", "jsonl"
        ).stdout.splitlines()
    ]
    for row, record in zip(rows, records, strict=True):
        assert (record["note"], record["id"], record["tail"]) == (
            row["note"],
            row["id"],
            row["tail"],
        )
        assert record["occupancy"] == records[0]["occupancy"]


def test_bom_crlf_blank_lines_and_header_only():
    text = "\ufeffid,drug,dose_mg\r\n1,escitalopram,10\r\n\r\n2,sertraline,50\r\n"
    done = run_batch(text)
    rows = rows_of(done)
    assert done.returncode == 0 and [r["id"] for r in rows] == ["1", "2"]
    header_only = run_batch("id,drug,dose_mg\n")
    assert header_only.returncode == 0 and header_only.stdout.startswith("id,drug,dose_mg,")
    assert "0 rows read" in header_only.stderr


def test_jsonl_in_json_out_with_genotypes_and_comedications():
    text = (
        '{"id": 1, "drug": "vortioxetine", "dose_mg": 10, "CYP2D6": "*4/*4"}\n'
        '{"id": 2, "drug": "vortioxetine", "dose_mg": 10, "with": "paroxetine"}\n'
        "not json\n"
    )
    done = run_batch(text, "--input-format", "jsonl", "--format", "json", "--fields", "all")
    assert done.returncode == 1
    records = json.loads(done.stdout)
    assert [r["phenotypes"] for r in records[:2]] == [{"CYP2D6": "PM"}, {"CYP2D6": "NM"}]
    assert records[1]["functional_phenotypes"] == {"CYP2D6": "PM"}
    assert records[2]["error"].startswith("bad JSON line")


def test_batch_does_not_slow_the_single_query_imports():
    import subprocess
    import sys

    code = (
        "import sys; import sert_cli.cli.app; "
        "print(any(m.startswith(('sert_cli.batch', 'numpy')) for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False"


def test_hostile_rows_each_get_their_error():
    text = (
        "id,drug,dose_mg,target,transporter,interval_h,with\n"
        "1,escitalopram,1e300,,,,\n"
        "2,escitalopram,10,,,0,\n"
        "3,escitalopram,,,DAT,,\n"
        "4,escitalopram,,80,,,\n"
        "5,escitalopram,10,,,,nosuch\n"
        "6,escitalopram,10,,,,,extra,cells\n"
        "7,escitalopram,inf,,,,\n"
        "8,escitalopram,10\n"
    )
    done = run_batch(text)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    rows = {r["id"]: r for r in rows_of(done)}
    assert "indistinguishable from 100 %" in rows["1"]["error"]
    assert "column interval_h: must be a positive" in rows["2"]["error"]
    assert "SERT, NET" in rows["3"]["error"]
    assert "did you mean 0.8" in rows["4"]["error"]
    assert "no interaction data" in rows["5"]["error"]
    assert rows["6"]["error"] == "row 6 has 9 cells but the header 7"  # its own cells kept
    assert "column dose_mg: must be a positive" in rows["7"]["error"]
    assert rows["8"]["error"] == ""  # a short line is padded with empty cells


def _rows_in_chunks(count: int, notes: int = 300, bad: int = 1_700) -> list[dict]:
    """Rows with pass-through columns (300: wide enough that 1,800 make three chunks of
    CHUNK_CELLS), with bad rows and cells a spreadsheet or a CSV reader could trip on."""
    rows = random_rows(count)
    for i, row in enumerate(rows):
        row.update({f"note_{n}": f"{i}-{n}" for n in range(notes)})
        if i % 97 == 0:
            row["note_0"] = '=cmd|" a, b"'
        if i % 211 == 0:
            row["drug"] = "nosuchdrug"
    rows[bad]["dose_mg"] = "ten"
    return rows


def _summary(done) -> str:
    return re.sub(r"[\d,]+ rows/s", "", done.stderr)  # (without the rate)


def test_rows_over_several_chunks_keep_their_order_errors_and_strict_row(tmp_path):
    """Wide rows (300 carried columns) make chunks of fewer rows (CHUNK_CELLS): every row
    is written in its place, bad ones with their error, and --strict names the row in the
    third chunk."""
    from sert_cli.batch.source import CHUNK_CELLS

    per_chunk = CHUNK_CELLS // 302  # (the id, drug and dose columns besides)
    assert 2 * per_chunk < 1_700 < 1_800 <= 3 * per_chunk
    rows = _rows_in_chunks(1_800)
    done = run_batch(to_csv(rows), "--carry", "all", tmp_path=tmp_path)
    out = rows_of(done)
    assert done.returncode == 1 and [r["id"] for r in out] == [r["id"] for r in rows]
    assert out[97]["note_0"] == "'" + rows[97]["note_0"]
    assert out[211]["error"].startswith("unknown drug 'nosuchdrug'")
    assert out[1_700]["error"].startswith("column dose_mg: cannot read 'ten'")
    for row in rows:
        row["drug"] = row["drug"].replace("nosuchdrug", "escitalopram")
    strict = run_batch(to_csv(rows), "--strict", tmp_path=tmp_path)
    assert strict.returncode == 1 and "row 1701: column dose_mg: cannot read 'ten'" in strict.stderr


@pytest.mark.parametrize("output_format", ["csv", "jsonl", "json"])
def test_jobs_give_the_one_process_output_byte_for_byte(tmp_path, monkeypatch, output_format):
    """Forked processes answer the chunks behind the same interface: the same lines, the
    same summary, the same --strict row (the bad row is in the third chunk of 250 rows:
    chunks made small here, so that a few narrow rows make several)."""
    from sert_cli.batch import source

    monkeypatch.setattr(source, "CHUNK_ROWS", 250)
    rows = _rows_in_chunks(1_000, notes=3, bad=600)
    text = to_csv(rows)
    one = run_batch(text, "--format", output_format, tmp_path=tmp_path)
    two = run_batch(text, "--format", output_format, "--jobs", "2", tmp_path=tmp_path)
    assert one.returncode == two.returncode == 1 and one.stdout == two.stdout
    assert _summary(one) == _summary(two) and "1000 rows read" in one.stderr
    if output_format != "csv":
        return  # (--strict writes CSV whatever the format: once is enough)
    for row in rows:
        row["drug"] = row["drug"].replace("nosuchdrug", "escitalopram")
    strict = [
        run_batch(to_csv(rows), "--strict", *jobs, tmp_path=tmp_path) for jobs in ([], ["-j", "2"])
    ]
    assert strict[0].stderr == strict[1].stderr and "row 601:" in strict[0].stderr
    assert strict[0].stdout == strict[1].stdout and len(rows_of(strict[0])) == 600


# --- the contract (issue 24 item 1) -------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "hint"),
    [
        ("Drug,dose_mg", "did you mean 'drug'? names are exact"),
        ("drug,dose_mgs", "'dose_mgs' (did you mean 'dose_mg'?)"),
        ("drug,dose_mg,CYP2C19_activity", "it names CYP2C19"),
        ("drug,dose_mg,cyp2d6 score", "it names CYP2D6"),
        ("drug,dose_mg,comedicatons", "did you mean 'co_medications'?"),
    ],
)
def test_a_column_that_looks_like_a_field_stops_the_run(header, hint):
    done = run_batch(f"{header}\nsertraline,50\n")
    assert done.returncode == 2 and done.stdout == "", done.stderr
    assert hint in done.stderr and "--carry" in done.stderr
    assert done.stderr.count("\n") == 1


def test_carry_names_a_column_to_pass_it_through_unread():
    done = run_batch("drug,dose_mg,dose_mgs\nsertraline,50,x\n", "--carry", "dose_mgs")
    assert done.returncode == 0, done.stderr
    (row,) = rows_of(done)
    assert list(row)[0] == "dose_mgs" and row["dose_mgs"] == "x"  # only what --carry names
    assert float(row["dose_mg"]) == 50.0 and row["query"] == "occupancy"
    refused = run_batch("drug,dose_mg\nsertraline,50\n", "--carry", "dose_mgs")
    assert refused.returncode == 2 and "not a column of the input" in refused.stderr


def test_aliases_are_read_and_other_columns_carried_and_named_once():
    """The issue's first example: `drug,dose` is an occupancy query at that dose."""
    text = (
        "drug,dose,comedication,age_years,CYP2C19_genotype,site\n"
        "sertraline,50,omeprazole,70,*2/*2,A\n"
    )
    done = run_batch(text)
    assert done.returncode == 0, done.stderr
    (row,) = rows_of(done)
    assert row["query"] == "occupancy" and float(row["dose_mg"]) == 50.0
    assert row["phenotypes_CYP2C19"] == "PM" and row["site"] == "A"
    assert done.stderr.count("sert batch: not read: site\n") == 1
    single = sert_json(
        "occupancy",
        "sertraline",
        "--dose",
        "50",
        "--with",
        "omeprazole",
        "--age",
        "70",
        "--genotype",
        "CYP2C19=*2/*2",
    )
    assert float(row["occupancy_SERT"]) == pytest.approx(single["occupancy"]["SERT"], rel=1e-12)


def test_carry_none_and_a_list_choose_the_input_columns():
    text = "id,drug,dose_mg,site\n1,escitalopram,10,A\n"
    none = rows_of(run_batch(text, "--carry", "none"))[0]
    assert "id" not in none and "site" not in none and none["drug"] == "escitalopram"
    some = rows_of(run_batch(text, "--carry", "site,id"))[0]
    assert list(some)[:2] == ["id", "site"]  # in the input's order


@pytest.mark.parametrize(
    ("cells", "same_as"),
    [
        ("10 mg,,", "10,,"),
        ("0.01 g,,", "10,,"),
        ("10,12 h,", "10,12,"),
        ("10,0.5 days,60 mL/min", "10,12,60"),
    ],
)
def test_cells_take_the_units_the_single_commands_take(cells, same_as):
    header = "drug,dose_mg,interval_h,crcl\n"
    with_units = rows_of(run_batch(f"{header}escitalopram,{cells}\n"))[0]
    plain = rows_of(run_batch(f"{header}escitalopram,{same_as}\n"))[0]
    assert with_units["error"] == "" and with_units["occupancy_SERT"] == plain["occupancy_SERT"]
    wrong = rows_of(run_batch(f"{header}escitalopram,10 h,,\n"))[0]
    assert "'h' is a unit of time, expected mass" in wrong["error"]


def test_csv_cells_hold_no_python_syntax():
    done = run_batch(
        "id,drug,dose_mg,target,CYP2D6\n1,vortioxetine,,0.85,*1/*4\n", "--fields", "all"
    )
    (row,) = rows_of(done)
    assert row["target_reached"] == "false" and row["exceeds_label_max"] in ("true", "false")
    assert json.loads(row["recommended_units_mg"]) == [20.0]  # one 20 mg tablet
    assert json.loads(row["genotypes"])[0]["diplotype"] == "*1/*4"
    assert json.loads(row["guidance"])[0]["assumed"] in (True, False)
    text = done.stdout
    assert not re.search(r"\b(True|False|None)\b|\[\{'|': ", text), text


def test_json_lines_are_known_by_their_name_and_pointed_to_otherwise(tmp_path):
    line = '{"id": 1, "drug": "escitalopram", "dose_mg": 10}\n'
    for name in ("in.jsonl", "in.ndjson"):
        done = run_batch(line, tmp_path=tmp_path, name=name)
        assert done.returncode == 0 and rows_of(done)[0]["id"] == "1", done.stderr
    as_json = run_batch(line, tmp_path=tmp_path, name="in.json")
    assert as_json.returncode == 2 and "--input-format jsonl" in as_json.stderr
    piped = run_batch(line)  # standard input: CSV unless told
    assert piped.returncode == 2 and "--input-format jsonl" in piped.stderr
    assert run_batch(line, "--input-format", "jsonl").returncode == 0


def test_a_later_json_line_with_a_key_the_first_lacks_is_its_row_s_error():
    text = (
        '{"id": 1, "drug": "escitalopram", "dose_mg": 10}\n'
        '{"id": 2, "drug": "escitalopram", "dose_mg": 10, "note": "x"}\n'
        '{"id": 3, "drug": "escitalopram", "target": 0.7}\n'
    )
    done = run_batch(text, "--input-format", "jsonl", "--format", "jsonl")
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert rows[0]["error"] is None and "key 'note' is not in the first line" in rows[1]["error"]
    assert rows[2]["query"] == "dose" and rows[2]["target"] == 0.7  # a field: read anywhere


# --- output columns on request (issue 24 item 2) ------------------------------------------


def test_fields_choose_the_result_columns_in_order_with_error_last():
    text = "id,drug,dose_mg\n1,escitalopram,10\n"
    done = run_batch(text, "--fields", "css_plasma_ng_ml,occupancy_sert")
    assert done.stdout.splitlines()[0] == "id,drug,dose_mg,css_plasma_ng_ml,occupancy_SERT,error"
    row = rows_of(done)[0]
    single = sert_json("occupancy", "escitalopram", "--dose", "10")
    assert float(row["css_plasma_ng_ml"]) == single["css_plasma_ng_ml"]
    as_json = json.loads(run_batch(text, "--fields", "occupancy", "--format", "jsonl").stdout)
    assert as_json == {"id": "1", "occupancy": single["occupancy"], "error": None} | {
        "drug": "escitalopram",
        "dose_mg": "10",
    }
    wrong = run_batch(text, "--fields", "occupancy_SERTT")
    assert wrong.returncode == 2 and "did you mean 'occupancy_{transporter}'" in wrong.stderr


def test_the_default_columns_are_the_key_ones():
    done = run_batch("id,drug,dose_mg,target\n1,escitalopram,10,\n2,escitalopram,,0.8\n")
    header = done.stdout.splitlines()[0].split(",")
    assert header[:4] == ["id", "drug", "dose_mg", "target"]
    assert {"query", "occupancy_SERT", "occupancy_NET", "recommended_dose_mg"} <= set(header)
    assert {"recommended_units_mg", "target_reached", "phenotypes_CYP2C19", "warnings"} <= set(
        header
    )
    assert header[-1] == "error" and "guidance" not in header and len(header) < 30
    occupancy, dose = rows_of(done)
    single = sert_json("dose", "escitalopram")
    assert float(dose["dose_mg"]) == single["dose_mg"]
    assert float(dose["recommended_dose_mg"]) == single["recommended_dose_mg"]
    assert occupancy["recommended_dose_mg"] == "" and dose["occupancy_SERT"] == ""


def test_fields_list_prints_every_field_with_its_unit_and_docs_have_them_all():
    from pathlib import Path

    from sert_cli import fields

    done = sert("batch", "--fields", "list")
    listed = list(csv.DictReader(io.StringIO(done.stdout)))
    assert done.returncode == 0 and [r["field"] for r in listed] == [
        f.name for f in fields.catalogue()
    ]
    assert {r["field"]: r["unit"] for r in listed}["css_plasma_ng_ml"] == "ng/mL"
    docs = (Path(__file__).resolve().parents[1] / "docs" / "fields.md").read_text()
    assert docs == fields.markdown(), "regenerate docs/fields.md (see its first line)"


def test_every_record_field_is_in_the_catalogue():
    """What the single commands' records hold, for patients of every kind, is a catalogue
    field (so --fields all loses nothing and every column is documented)."""
    from sert_cli import fields
    from sert_cli.queries.values import TdmQuery

    names = {f.stem for f in fields.catalogue()}
    library = load_library()
    patients = [
        Patient(),
        Patient(genotypes=(("CYP2D6", "*4/*4"),), comedications=("bupropion",)),
        Patient(age_years=70, crcl_ml_min=40, hepatic="mild", sex="female", smoker=True),
    ]
    for profile in library.profiles.values():
        for patient in patients:
            for query in (
                OccupancyQuery(profile.name, profile.label_min_mg, patient=patient),
                DoseQuery(profile.name, 0.6, patient=patient),
                TdmQuery(profile.name, profile.label_min_mg, 10.0, patient=patient),
            ):
                try:
                    record = answer(query, library).record()
                except SertError:  # a patient the label rules out: no record to check
                    continue
                assert set(record) <= names, (query, set(record) - names)


# --- a script author's review (issue 24) ---------------------------------------------------


def test_json_lines_read_aliases_and_keep_true_apart_from_one():
    lines = (
        '{"drug": "escitalopram", "dose": 10}\n'
        '{"drug": "escitalopram", "dose_mg": 1, "smoker": true}\n'
        '{"drug": "escitalopram", "dose": true}\n'
        '{"drug": "escitalopram", "dose": 1, "smoker": 1}\n'
        '{"drug": "escitalopram", "dose": 1e400}\n'
    )
    done = run_batch(lines, "--input-format", "jsonl", "--format", "jsonl")
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert rows[0]["error"] is None and rows[0]["dose_mg"] == 10.0
    assert "key 'dose_mg' is not in the first line" in rows[1]["error"]  # given as dose there
    assert rows[2]["error"] == "column dose: expected text or a number"
    assert rows[3]["error"] is None and rows[3]["dose_mg"] == 1.0  # 1, not true
    assert "1e400 is too large a number" in rows[4]["error"]


def test_csv_and_json_agree_on_carried_cells_a_record_lacks():
    text = "id,drug,dose_mg,target,transporter\n1,escitalopram,10,0.8,NET\n"
    (row,) = rows_of(run_batch(text))
    as_json = json.loads(run_batch(text, "--format", "jsonl").stdout)
    assert (row["target"], row["transporter"]) == ("0.8", "NET")  # an occupancy query's input
    assert (as_json["target"], as_json["transporter"]) == ("0.8", "NET")


def test_lines_with_more_cells_keep_theirs_and_empty_lines_are_skipped():
    done = run_batch("\nid,drug,dose_mg\n1,escitalopram,10,5\n,,\n2,escitalopram,10\n")
    rows = rows_of(done)
    assert [r["id"] for r in rows] == ["1", "2"]
    assert rows[0]["error"] == "row 1 has 4 cells but the header 3"


def test_batch_reads_its_own_output_again(tmp_path):
    """Its default columns (`--fields all` adds daily_dose_mg, which an input means as a
    dose, so it stops the run unless --carry names it)."""
    first = sert("batch", "docs/examples/patients.csv")
    again = run_batch(first.stdout, "--fields", "occupancy_SERT", tmp_path=tmp_path)
    assert again.returncode == 1 and "Traceback" not in again.stderr  # (p4's unknown drug)
    assert rows_of(again)[0]["occupancy_SERT"] == rows_of(first)[0]["occupancy_SERT"]


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [
        ("id,id,drug\n1,2,escitalopram\n", [], "two columns named 'id'"),
        ("drug,,x\nescitalopram,1,2\n", [], "a column without a name"),
        ("drug,dose_mg\nescitalopram,10\n", ["--fields", ","], "--fields: no field named"),
        ("drug,dose_mg\nescitalopram,10\n", ["--fields", "list,query"], "give it alone"),
        ("drug,daily_dose_mg\nescitalopram,40\n", [], "it reads like 'dose_mg'"),
        ("drug,interval_days\nfluoxetine,7\n", [], "it reads like 'interval_h'"),
    ],
)
def test_more_input_errors_exit_2_before_any_output(text, args, message):
    done = run_batch(text, *args)
    assert done.returncode == 2 and message in done.stderr and done.stdout == "", done.stderr


def test_strict_writes_the_rows_before_the_bad_one_and_closes_the_array():
    text = HEADER + "1,escitalopram,10,,,\n2,prozacc,10,,,\n3,escitalopram,10,,,\n"
    done = run_batch(text, "--strict", "--format", "json")
    assert done.returncode == 1 and [r["id"] for r in json.loads(done.stdout)] == ["1"]


def test_the_output_may_not_be_the_input_and_header_cells_are_formula_safe(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("drug,dose_mg,=cmd\nescitalopram,10,x\n")
    same = sert("batch", str(path), "--output", str(path))
    assert same.returncode == 2 and "that is the input" in same.stderr
    assert path.read_text().startswith("drug,dose_mg")
    assert sert("batch", str(path)).stdout.startswith("drug,dose_mg,'=cmd,")


def test_a_chunk_s_requests_are_never_dropped_from_the_kept_answers():
    from sert_cli.batch import output, source

    assert output.KEPT_REQUESTS >= source.CHUNK_ROWS
