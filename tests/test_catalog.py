"""``gradgen rules`` and the README's table (issue 12): every user-facing
entry of the registry is listed once, with its aliases, the modes the stages
really support (checked against forward mode and HVPs themselves on rule
files written here) and its note; the README's table is what the registry
gives (the drift test); an unknown function's error names the closest
supported ones."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

import gradgen
from gradgen import catalog
from gradgen.cli import main
from gradgen.rules import Registry, load_registry

ROOT = Path(__file__).resolve().parent.parent

# Made-up primitives (np.catalog_*), so that no bundled entry, present or
# future, changes what is tested.  Each is declared as a user would.
MODE_RULES = '''\
import numpy as np


@adjoint(np.catalog_cumsum)
def catalog_cumsum(y, x):
    # A reverse rule in a form forward mode does not transpose.
    d[x] = np.flip(np.cumsum(np.flip(d[y])))


@adjoint(np.catalog_flip, static="axis")
def catalog_flip(y, x, axis=None):
    if axis == ():
        d[x] = d[y]  # flipping no axis: the identity, which transposes
    else:
        d[x] = np.flip(d[y], axis)


@adjoint(np.catalog_scale)
def catalog_scale(y, x):
    # Transposes (a product by a factor free of d[...]), but the factor
    # calls a primitive without a forward mode: no HVP.
    d[x] = d[y] * np.catalog_cumsum(x)


@tangent(np.catalog_cumsum2)
def catalog_cumsum2_tangent(y, x):
    t[y] = np.cumsum(t[x])


@adjoint(np.catalog_cumsum2)
def catalog_cumsum2(y, x):
    d[x] = np.flip(np.cumsum(np.flip(d[y])))


@adjoint(np.catalog_linear, linear="x", note="a | in a note")
def catalog_linear(y, x):
    d[x] = np.catalog_cumsum(d[y])
'''


@pytest.fixture(scope="module")
def mode_rules(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "mode_rules.py"
    path.write_text(MODE_RULES)
    return path


@pytest.fixture(scope="module")
def bundled() -> catalog.Catalog:
    return catalog.build()


def _row(cat: catalog.Catalog, primitive: str) -> catalog.Row:
    (row,) = [r for r in cat.rows if primitive in r.primitives]
    return row


# ------------------------------------------------------------------ the rows


def test_every_user_facing_entry_is_listed_once_and_no_helper(bundled):
    registry = load_registry()
    listed = [p for r in bundled.rows for p in r.primitives]
    listed += [n.primitive for n in bundled.nondifferentiable]
    assert len(listed) == len(set(listed))
    users = {p for p in registry.entries if p not in registry.helpers}
    assert set(listed) == users
    for helper in ("unbroadcast", "unreduce", "unindex", "checked_seed", "matmul_grad_a",
                   "in_dtype_of", "add_lists", "unstack", "unconcatenate"):
        assert helper not in listed
        assert helper not in catalog.text(bundled)


def test_aliases_operators_methods_and_attributes(bundled):
    assert _row(bundled, "operator.add").spellings[:2] == ("x + y", "np.add")
    assert _row(bundled, "operator.getitem").name == "x[i]"
    assert _row(bundled, "operator.neg").spellings[:2] == ("-x", "np.negative")
    matmul = _row(bundled, "np.matmul")
    assert matmul.name == "x @ y" and {"np.matmul", "np.dot", "x.dot(...)"} <= set(
        matmul.spellings)
    assert "x.sum(...)" in _row(bundled, "np.sum").spellings
    transpose = _row(bundled, "np.transpose")
    assert {"x.T", "x.transpose(...)"} <= set(transpose.spellings)
    abs_row = _row(bundled, "np.abs")
    assert abs_row.name == "np.abs" and {"np.absolute", "abs"} <= set(abs_row.spellings)
    assert _row(bundled, "np.absolute") is abs_row  # one row per declaration


def test_rows_are_grouped_by_their_rule_file(bundled):
    assert _row(bundled, "np.sin").group == "elementwise"
    assert _row(bundled, "np.sum").group == "reductions"
    assert _row(bundled, "np.reshape").group == "shaping"
    assert _row(bundled, "operator.mul").group == "operators"
    groups = [g for g, _ in bundled.groups()]
    assert len(groups) == len(set(groups))  # each file's rows together
    assert "helper_rules" not in groups


def test_nondifferentiable_entries_are_listed_apart(bundled):
    names = {n.primitive for n in bundled.nondifferentiable}
    assert {"np.sign", "np.argmax", "np.shape", "np.zeros_like"} <= names
    assert not names & {p for r in bundled.rows for p in r.primitives}
    text = catalog.text(bundled)
    block = text[text.index("no gradient (piecewise constant"):]
    assert "np.sign," in block and "np.argmax," in block
    assert "x | y" in block  # operator.or_ as it is written


def test_notes_are_the_note_facts(bundled):
    assert _row(bundled, "np.max").note == "ties share the gradient evenly"
    assert _row(bundled, "np.maximum").note == "ties split the gradient evenly"
    assert _row(bundled, "np.sin").note == ""
    line = next(ln for ln in catalog.text(bundled).splitlines() if " np.prod " in ln)
    assert line.endswith(load_registry().entry("np.prod").note)


# ------------------------------------------------------------------ the modes


def test_bundled_rules_report_every_mode(bundled):
    for primitive in ("np.exp", "np.sum", "operator.matmul", "np.max", "np.linalg.norm"):
        row = _row(bundled, primitive)
        assert (row.reverse, row.forward, row.hvp) == ("yes", "yes", "yes"), row


def test_modes_are_what_forward_mode_decides(mode_rules):
    cat = catalog.build(load_registry((str(mode_rules),)))
    no = _row(cat, "np.catalog_cumsum")
    assert (no.reverse, no.forward, no.hvp) == ("yes", "no", "no")
    assert "transpose" in no.why_not and no.modes == "reverse"
    some = _row(cat, "np.catalog_flip")
    assert (some.forward, some.hvp) == ("some", "some")
    assert some.modes == "reverse, forward (some), hvp (some)"
    scale = _row(cat, "np.catalog_scale")
    assert (scale.forward, scale.hvp) == ("yes", "no")
    assert "np.catalog_cumsum" in scale.why_not
    explicit = _row(cat, "np.catalog_cumsum2")
    assert explicit.forward == "yes"  # its @tangent rule
    linear = _row(cat, "np.catalog_linear")
    assert linear.forward == "yes"  # declared linear: no transposition needed
    assert linear.group == "mode_rules"


# Calls of each made-up primitive, covering the static branches of its rule.
CALLS = {
    "np.catalog_cumsum": ["np.catalog_cumsum(x)"],
    "np.catalog_flip": ["np.catalog_flip(x, axis=())", "np.catalog_flip(x, axis=0)"],
    "np.catalog_scale": ["np.catalog_scale(x)"],
    "np.catalog_linear": ["np.catalog_linear(x)"],
    # Forward mode applies its @tangent rule (its reverse rule does not transpose).
    "np.catalog_cumsum2": ["np.catalog_cumsum2(x)"],
}


def _works(text: str, mode: str, rules: Path) -> bool:
    try:
        gradgen.source_from_text(text, "f", mode=mode, rules=[rules])
    except gradgen.UnknownPrimitiveError:
        return False
    return True


@pytest.mark.parametrize("primitive", sorted(CALLS))
def test_the_claimed_modes_are_what_generation_does(mode_rules, primitive):
    """Generate each call in each mode: a mode is "yes" when every call
    generates, "no" when none does, "some" otherwise."""
    row = _row(catalog.build(load_registry((str(mode_rules),))), primitive)
    for mode, claimed in (("reverse", row.reverse), ("forward", row.forward),
                          ("hvp", row.hvp)):
        works = [_works(f"import numpy as np\n\n\ndef f(x):\n    return np.sum({call} * x)\n",
                        mode, mode_rules) for call in CALLS[primitive]]
        observed = "yes" if all(works) else "no" if not any(works) else "some"
        assert claimed == observed, (primitive, mode, works)


# ------------------------------------------------------------------ the formats


def test_text_is_aligned_in_columns(bundled):
    text = catalog.text(bundled)
    rows = [ln for ln in text.splitlines() if ln.startswith("  ") and (
        "reverse" in ln or ln.rstrip().endswith("refused"))]
    assert len(rows) == len(bundled.rows)
    assert len({ln.index("reverse") if "reverse" in ln else ln.index("refused")
                for ln in rows}) == 1
    header = text.splitlines()[0]
    assert header.split() == ["function", "also", "written", "modes", "notes"]
    assert header.index("modes") == rows[0].index("reverse")


def test_markdown_is_one_table_with_escaped_cells(mode_rules):
    cat = catalog.build(load_registry((str(mode_rules),)))
    md = catalog.markdown(cat)
    table = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert table[0] == "| function | also written | modes | notes |"
    for line in table:
        assert len(re.findall(r"(?<!\\)\|", line)) == 5, line  # four cells
    assert "a \\| in a note" in md
    assert "| `x + y` | `np.add` | reverse, forward, hvp |  |" in md
    assert "| **mode rules** | | | |" in md  # the file mode_rules.py


def test_json_is_for_tools(bundled):
    data = json.loads(catalog.as_json(bundled))
    (norm,) = [f for f in data["functions"] if f["name"] == "np.linalg.norm"]
    assert norm["modes"] == {"reverse": "yes", "forward": "yes", "hvp": "yes"}
    assert norm["file"] == "reductions" and norm["where"].startswith("reductions.py:")
    assert norm["note"] == load_registry().entry("np.linalg.norm").note != ""
    assert any(n["name"] == "np.sign" for n in data["nondifferentiable"])


# ------------------------------------------------------------------ the CLI


def test_cli_rules_prints_the_table(capsys):
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    assert "np.linalg.norm" in out and "x + y" in out and "no gradient" in out


def test_cli_rules_filter(capsys):
    assert main(["rules", "norm"]) == 0
    out = capsys.readouterr().out
    assert "np.linalg.norm" in out
    assert "np.sum" not in out and "np.exp" not in out


def test_cli_rules_json_and_markdown(capsys):
    assert main(["rules", "--json", "tanh"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = [f["name"] for f in data["functions"]]
    assert "np.tanh" in names and all("tanh" in n for n in names)
    assert main(["rules", "--markdown", "tanh"]) == 0
    assert "| `np.tanh` |" in capsys.readouterr().out


def test_cli_rules_no_match_suggests_and_exits_1(capsys):
    assert main(["rules", "sine"]) == 1
    err = capsys.readouterr().err
    assert "no supported function matches 'sine'" in err
    assert "did you mean np.sin?" in err or "did you mean math.sin?" in err


def test_cli_rules_both_formats_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["rules", "--json", "--markdown"])
    assert info.value.code == 2
    assert "not allowed" in capsys.readouterr().err


# ------------------------------------------------------------------ the README


def test_readme_table_is_what_the_registry_gives():
    """The drift test: fails when templates/ changed and the README was not
    regenerated."""
    content = (ROOT / "README.md").read_text(encoding="utf-8")
    _, block, _ = catalog.split_readme(content)
    assert block == catalog.readme_block(), (
        "README.md's table of supported functions differs from the registry "
        "(templates/): run `make readme` (or `python -m gradgen.catalog "
        "--update-readme`) and commit README.md")


def test_readme_keeps_its_prose_about_constructs():
    content = (ROOT / "README.md").read_text(encoding="utf-8")
    section = content[content.index("## What is supported"):content.index("## Benchmarks")]
    assert "How loops are differentiated" in section and "**Statements**" in section
    assert catalog.BEGIN in section and catalog.END in section


def test_check_readme_fails_on_a_stale_table_and_update_fixes_it(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n\n{catalog.BEGIN}\n| `np.old` | |\n{catalog.END}\n"
                      "\nafter\n")
    assert catalog.main(["--check-readme", "--readme", str(readme)]) == 1
    assert "make readme" in capsys.readouterr().err
    assert catalog.main(["--update-readme", "--readme", str(readme)]) == 0
    fixed = readme.read_text()
    assert fixed.startswith("# x\n\nbefore\n\n") and fixed.endswith("\n\nafter\n")
    assert "np.old" not in fixed and "| `np.linalg.norm` |" in fixed
    assert catalog.main(["--check-readme", "--readme", str(readme)]) == 0


def test_a_readme_without_markers_is_a_clear_error(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    assert catalog.main(["--update-readme", "--readme", str(readme)]) == 2
    err = capsys.readouterr().err
    assert catalog.BEGIN in err and "Traceback" not in err
    assert readme.read_text() == "# no markers\n"


# ------------------------------------------------------------------ suggestions


HEADER = "import numpy as np\n\n\ndef f(x):\n"


def _unknown(body: str) -> str:
    with pytest.raises(gradgen.UnknownPrimitiveError) as info:
        gradgen.source_from_text(HEADER + body, "f", filename="model.py")
    return str(info.value)


def test_a_misspelt_function_names_the_closest_one():
    first = _unknown("    return np.sum(np.sine(x))\n").splitlines()[0]
    assert first.startswith("model.py:5:19: no gradient rule for np.sine")
    assert first.endswith("did you mean np.sin?")


def test_an_unrelated_name_gets_no_suggestion():
    assert "did you mean" not in _unknown("    return np.sum(np.frobnicate(x))\n")
    assert catalog.suggest("np.frobnicate") == []
    assert catalog.suggest("np.sin") == []  # supported: nothing to suggest


def test_suggestions_are_registry_names_only():
    registry = load_registry()
    without = Registry({p: e for p, e in registry.entries.items()
                        if not p.startswith("scipy.")}, registry.helpers)
    assert catalog.suggest("np.logsumexp", without) == []
    lse = replace(registry.entries["np.exp"], primitive="scipy.special.logsumexp")
    with_lse = Registry({**without.entries, "scipy.special.logsumexp": lse}, registry.helpers)
    assert catalog.suggest("np.logsumexp", with_lse) == ["scipy.special.logsumexp"]
    for name in ("np.sine", "np.summ", "np.lingalg.norm"):
        for found in catalog.suggest(name, registry):
            assert found in registry.entries and found not in registry.helpers


def test_a_misspelt_module_is_matched_whole():
    assert catalog.suggest("np.lingalg.norm") == ["np.linalg.norm"]


def test_cli_rules_lists_extra_rule_files(mode_rules, capsys):
    assert main(["rules", "--rules", str(mode_rules), "catalog_flip"]) == 0
    out = capsys.readouterr().out
    assert "mode rules:" in out
    assert "reverse, forward (some), hvp (some)" in out


def test_cli_rules_with_a_missing_rule_file_is_exit_2(tmp_path, capsys):
    assert main(["rules", "--rules", str(tmp_path / "missing.py")]) == 2
    err = capsys.readouterr().err
    assert "no rule file" in err and "Traceback" not in err
