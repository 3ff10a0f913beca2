"""Issue 12's conventions, through the real command: help, dose forms, round trips,
terminal behaviour, one definition of time to steady state, and --explain records; and
issue 24's layering of the package, read from its imports."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import sert, sert_json


def test_h_is_help():
    for args in (("-h",), ("occupancy", "-h"), ("profiles", "-h")):
        done = sert(*args)
        assert done.returncode == 0 and "Usage:" in done.stdout, args


@pytest.mark.parametrize(
    "args",
    [
        ("--dose", "10"),
        ("--dose", "10 mg"),
        ("--dose", "10mg"),
        ("10",),
        ("10 mg",),
        ("--dose", "0.01 g"),
    ],
)
def test_every_dose_form_gives_the_same_answer(args):
    record = sert_json("occupancy", "escitalopram", *args)
    assert record["dose_mg"] == pytest.approx(10.0)
    assert record["occupancy"]["SERT"] == pytest.approx(
        sert_json("occupancy", "escitalopram", "--dose", "10")["occupancy"]["SERT"], rel=1e-12
    )


def test_a_dose_in_the_wrong_unit_names_the_option():
    done = sert("occupancy", "escitalopram", "--dose", "10 h")
    assert done.returncode == 2 and done.stderr.startswith("sert: error: --dose '10 h'")


def test_profiles_show_round_trips(tmp_path):
    for drug in ("escitalopram", "venlafaxine", "paroxetine"):
        done = sert("profiles", "show", drug, env={"COLUMNS": "40"})
        target = tmp_path / f"{drug}.yaml"
        target.write_text(done.stdout, encoding="utf-8")
        assert yaml.safe_load(done.stdout)["name"] == drug
        check = sert("profiles", "check", str(target))
        assert check.returncode == 0, check.stderr


def test_no_color_means_no_escape_codes_on_a_terminal():
    code = (
        "import os, pty, sys\n"
        "pid, fd = pty.fork()\n"
        "if pid == 0:\n"
        "    os.execvpe(sys.executable, [sys.executable, '-m', 'sert_cli', 'occupancy',"
        " 'escitalopram', '10'], {**os.environ, 'NO_COLOR': '1', 'TERM': 'xterm'})\n"
        "out = b''\n"
        "while True:\n"
        "    try:\n"
        "        chunk = os.read(fd, 65536)\n"
        "    except OSError:\n"
        "        break\n"
        "    if not chunk:\n"
        "        break\n"
        "    out += chunk\n"
        "os.waitpid(pid, 0)\n"
        "sys.stdout.write(repr(out))\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("_TYPER")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert "SERT occupancy" in done.stdout
    assert "\\x1b[" not in done.stdout


def test_closing_the_pipe_early_exits_0_every_time():
    for _ in range(3):
        for args in (("table", "sertraline"), ("simulate", "fluoxetine", "20", "-f", "csv")):
            done = subprocess.run(
                f"{sys.executable} -m sert_cli {' '.join(args)} | head -c 10 >/dev/null;"
                " echo ${PIPESTATUS[0]}",
                shell=True,
                executable="/bin/bash",
                capture_output=True,
                text=True,
            )
            assert done.stdout.strip() == "0", (args, done.stderr)


def test_table_covers_the_label_range_for_a_patient_with_a_lower_maximum():
    rows = sert_json("table", "citalopram", "-p", "CYP2C19=PM")
    assert sorted({r["dose_mg"] for r in rows}) == [20.0, 30.0, 40.0]


@pytest.mark.parametrize(
    "doses, expected",
    [("2.5,5,10", [2.5, 5.0, 10.0]), ("5:20:5", [5.0, 10.0, 15.0, 20.0]), ("5 mg,10mg", [5, 10])],
)
def test_table_takes_the_doses_asked_for(doses, expected):
    rows = sert_json("table", "escitalopram", "--doses", doses, "-p", "CYP2C19=NM")
    assert sorted({r["dose_mg"] for r in rows}) == expected


def test_time_to_steady_state_is_one_number_in_every_command():
    for drug, dose in (("fluoxetine", "20"), ("escitalopram", "10"), ("paroxetine", "20")):
        single = sert_json("occupancy", drug, dose)
        simulated = sert_json("simulate", drug, dose, "--days", "30")["summary"]
        for key in ("time_to_90pct_steady_state_h", "time_to_95pct_steady_state_h"):
            assert simulated[key] == pytest.approx(single[key], rel=1e-12), (drug, key)


def test_explain_for_a_saturable_drug_reproduces_its_number():
    record = sert_json("occupancy", "paroxetine", "20", "--explain")
    step = next(s for s in record["trace"] if s["step"] == "plasma concentration of paroxetine")
    assert "Michaelis-Menten" in step["formula"]
    v = step["values"]
    rate = v["CL"] * v["Css"] + v["Vmax"] * v["Css"] / (v["Km"] + v["Css"])
    assert rate == pytest.approx(v["R"], rel=1e-9) == pytest.approx(20 / 24)
    assert v["Css"] * 1000 == pytest.approx(record["css_plasma_ng_ml"], rel=1e-12)
    done = sert("occupancy", "paroxetine", "20")
    assert "linear clearance;" not in done.stdout and "saturable clearance" in done.stdout


def test_explain_follows_a_comedication():
    plain = sert_json("occupancy", "paroxetine", "20", "--explain")
    inhibited = sert_json("occupancy", "paroxetine", "20", "--explain", "--with", "bupropion")
    # bupropion, a strong CYP2D6 inhibitor, leaves a fifth of the saturated CYP2D6 path
    assert inhibited["css_plasma_ng_ml"] > 1.5 * plain["css_plasma_ng_ml"]
    step = next(s for s in inhibited["trace"] if s["step"].startswith("plasma concentration"))
    assert step["values"]["Css"] * 1000 == pytest.approx(inhibited["css_plasma_ng_ml"])


def test_outputs_cite_nothing_users_cannot_open():
    texts = [
        sert("occupancy", drug, "--dose", "20", "--explain", "-f", "json").stdout
        for drug in ("escitalopram", "sertraline", "paroxetine", "vortioxetine", "citalopram")
    ]
    texts.append(sert("dose", "citalopram", "-p", "CYP2C19=PM", "--explain").stdout)
    for text in texts:
        for bad in ("pgx.md", "shared/", "drug_facts", "healthline", "droracle"):
            assert bad not in text


def test_plot_hint_names_a_command_that_works_from_a_clone():
    done = sert("simulate", "-h")
    assert "pip install '.[plot]'" in " ".join(done.stdout.split())


def test_cli_errors_name_the_flag_and_batch_the_column():
    done = sert("dose", "escitalopram", "-p", "CYP2C19=XM")
    assert done.stderr.startswith("sert: error: --phenotype CYP2C19=XM: unknown phenotype")
    done = sert("dose", "escitalopram", "--genotype", "CYP2C19=*1/*999")
    assert done.stderr.startswith("sert: error: --genotype CYP2C19=*1/*999:")
    done = sert("occupancy", "escitalopram", "10", "--with", "aspirinn")
    assert done.stderr.startswith("sert: error: --with:")


def test_json_is_the_record_of_the_result():
    record = sert_json("dose", "escitalopram")
    assert record["query"] == "dose" and json.dumps(record)


# --- layering (issue 24): read from the source, every import, lazy ones included ---------

PACKAGE = Path(__file__).resolve().parents[1] / "sert_cli"
# The folders from the bottom up (docs/architecture.md "Layout"); a folder imports only
# folders below it, never one on its own level (pgx and profiles are siblings: each reads
# model and pk).
FOLDER_LEVELS = {
    "model": 0,
    "pk": 1,
    "pgx": 2,
    "profiles": 2,
    "queries": 3,
    "render": 4,
    "batch": 5,
    "cli": 6,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_imports() -> dict[str, set[str]]:
    """Each sert_cli module -> the sert_cli modules it imports, at any depth of the file (a
    lazy import inside a function is a dependency too). `from a.b import c` counts as a.b.c
    where c is a module, else as a.b."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    imports = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the importing package, level - 1 up
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    found.add(full if full in paths else base)
        imports[name] = {m for m in found if m in paths and m != name}
    return imports


def _unit(module: str) -> str | None:
    """The folder (sert_cli/pk/... -> pk) or top-level module (sert_cli/units.py -> units) a
    module belongs to; None for the package itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every edge a -> b from which a is reachable again, as the path a -> b -> ... -> a."""
    found = []
    for start, targets in sorted(edges.items()):
        for first in sorted(targets):
            path, seen, stack = {first: None}, {first}, [first]
            while stack and start not in seen:
                node = stack.pop()
                for nxt in sorted(edges.get(node, ())):
                    if nxt not in seen:
                        seen.add(nxt)
                        path[nxt] = node
                        stack.append(nxt)
            if start in seen:
                walk, node = [], start
                while node is not None:
                    walk.append(node)
                    node = path[node]
                found.append([start, *reversed(walk)])
    return found


def _folder_imports() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module, targets in _module_imports().items():
        for target in targets:
            importer, imported = _unit(module), _unit(target)
            if importer and imported and importer != imported:
                edges.setdefault(importer, set()).add(imported)
    return edges


def test_the_import_reader_sees_lazy_and_from_imports():
    imports = _module_imports()
    assert "sert_cli.model.formulas" in imports["sert_cli.pk.steady_state"]
    assert "sert_cli.cli.commands" in imports["sert_cli.cli.app"]  # inside build_app
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}})[0] == ["a", "b", "c", "a"]


def test_no_folder_imports_a_folder_that_imports_it_back():
    cycles = _cycles(_folder_imports())
    assert not cycles, "folder import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_module_imports_a_module_that_imports_it_back():
    cycles = _cycles(_module_imports())
    assert not cycles, "module import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_folders_import_only_folders_below_them():
    edges = _folder_imports()
    assert "pgx" not in edges.get("profiles", ()), "profiles imports pgx"
    upward = [
        f"{importer} -> {imported}"
        for importer, targets in sorted(edges.items())
        for imported in sorted(targets)
        if importer in FOLDER_LEVELS
        and imported in FOLDER_LEVELS
        and FOLDER_LEVELS[imported] >= FOLDER_LEVELS[importer]
    ]
    assert not upward, f"imports that go up or sideways: {upward}"
    assert set(FOLDER_LEVELS) == {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}


# --- the environment (issue 24): what the process gives the command line, read once -----


def test_the_environment_reads_width_and_colour_from_streams_and_variables():
    import io
    import os

    from sert_cli.cli.environment import DEFAULT_WIDTH_COLUMNS, Environment

    out = io.StringIO()
    plain = Environment.of(None, out, out, {})
    assert (plain.stdout_isatty, plain.width_columns, plain.colour) == (
        False,
        DEFAULT_WIDTH_COLUMNS,
        False,
    )
    assert Environment.of(None, out, out, {"COLUMNS": "60"}).width_columns == 60
    assert Environment.of(None, out, out, {"COLUMNS": "0"}).width_columns == DEFAULT_WIDTH_COLUMNS
    assert Environment.of(None, out, out, {"FORCE_COLOR": "1"}).colour
    assert not Environment.of(None, out, out, {"FORCE_COLOR": "1", "NO_COLOR": "1"}).colour
    main_fd, terminal_fd = os.openpty()
    with open(terminal_fd, "w", encoding="utf-8") as terminal:
        on_terminal = Environment.of(None, terminal, out, {"TERM": "xterm"})
        assert on_terminal.stdout_isatty and on_terminal.colour and not on_terminal.stderr_colour
        assert not Environment.of(None, terminal, out, {"TERM": "dumb"}).colour
        assert not Environment.of(None, terminal, out, {"NO_COLOR": "1"}).colour
    os.close(main_fd)


def test_an_in_process_run_writes_only_to_its_environment(capsys):
    streams = sys.stdin, sys.stdout, sys.stderr
    done = sert("occupancy", "escitalopram", "10")
    assert done.returncode == 0 and "SERT" in done.stdout
    assert (sys.stdin, sys.stdout, sys.stderr) == streams  # main() put them back
    assert capsys.readouterr() == ("", "")  # nothing reached the process's own streams
    done = sert("occupancy", "escitalopram", "--dose", "10 h")  # an error, and help
    assert done.stderr.startswith("sert: error: --dose") and "Usage:" in sert("-h").stdout
    assert capsys.readouterr() == ("", "")


# A record of more than five fields (a NamedTuple or a dataclass in sert_cli) is built with
# its fields named: by position at most its leading two (the subject, as in
# `DoseQuery("escitalopram", 0.8)` or `Step(name, formula, ...)`' first fields), so that a
# reordered or inserted field cannot silently shift values. A `*splat` counts as too many.
WIDE_FIELDS = 5
MAX_POSITIONAL = 2
# batch/ is being rewritten on main (issue 24): its TdmQuery calls by position and its
# DoseQuery with a splatted target are named there. An exemption that no longer matches
# fails the test, so it is removed when that lands.
EXEMPT: set = set()


def _record_fields(node) -> list[str] | None:
    """The fields of a NamedTuple or dataclass definition; None for any other class."""
    import ast

    bases = [getattr(b, "id", getattr(b, "attr", None)) for b in node.bases]
    decorators = [d.func if isinstance(d, ast.Call) else d for d in node.decorator_list]
    named = [getattr(d, "id", getattr(d, "attr", None)) for d in decorators]
    if "NamedTuple" not in bases and "dataclass" not in named:
        return None
    return [
        item.target.id
        for item in node.body
        if isinstance(item, ast.AnnAssign)
        and isinstance(item.target, ast.Name)
        and "ClassVar" not in ast.unparse(item.annotation)
    ]


def test_wide_records_are_built_with_keywords():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    trees = {
        path.relative_to(root).as_posix(): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted((root / "sert_cli").rglob("*.py"))
    }
    wide = {
        node.name
        for tree in trees.values()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef) and len(_record_fields(node) or ()) > WIDE_FIELDS
    }
    assert {"Profile", "Prepared", "DoseQuery", "OccupancyResult", "Simulation"} <= wide
    found, exempted = [], set()
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            starred = any(isinstance(a, ast.Starred) for a in node.args)
            if name in wide and (len(node.args) > MAX_POSITIONAL or starred):
                if (path, name) in EXEMPT:
                    exempted.add((path, name))
                else:
                    found.append(f"{path}:{node.lineno}: {name} with {len(node.args)} by position")
    assert not found, "name the fields:\n" + "\n".join(found)
    assert exempted == EXEMPT, f"stale exemptions: {EXEMPT - exempted}"


def _imports_of_package() -> dict[str, set[str]]:
    """module -> the sert_cli modules it imports, at the top or inside a function."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    graph: dict[str, set[str]] = {}
    for path in sorted((root / "sert_cli").rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found = graph.setdefault(module, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            found.update(n for n in names if n.startswith("sert_cli"))
    return {m: {n for n in names if n in graph and n != m} for m, names in graph.items()}


def test_the_engine_and_its_workflows_import_nothing_that_imports_them_back():
    """The engine dispatches to the workflow modules (queries/*.py), which take the engine
    as a parameter: no cycle through sert_cli.queries, lazy imports included."""
    graph = _imports_of_package()
    cycles = []
    for start in (m for m in graph if m.startswith("sert_cli.queries")):
        stack, seen = [(start, (start,))], set()
        while stack:
            module, path = stack.pop()
            for nxt in graph[module]:
                if nxt == start:
                    cycles.append(" -> ".join((*path, start)))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, (*path, nxt)))
    assert not cycles, "\n".join(cycles)
    assert "sert_cli.queries.engine" not in {
        n for m, names in graph.items() if m.startswith("sert_cli.queries.") for n in names
    }
