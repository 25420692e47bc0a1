"""Unit tests of gradgen.config: finding pyproject.toml and validating [tool.gradgen]."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gradgen.config import (  # noqa: E402
    DEFAULT_OUTPUT,
    Config,
    ConfigError,
    TargetSpec,
    find_pyproject,
    format_wrt,
    load_config,
    parse_target,
    parse_wrt,
)
from gradgen.errors import GradgenError  # noqa: E402

HEAD = '[project]\nname = "demo"\n\n[tool.gradgen]\n'  # the table starts on line 5


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load_table(tmp_path: Path, table: str) -> Config:
    write(tmp_path / "pyproject.toml", HEAD + table)
    return load_config(tmp_path)


def error_of(tmp_path: Path, table: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_table(tmp_path, table)
    assert isinstance(info.value, GradgenError)
    return info.value


# --------------------------------------------------------------------------
# Finding the file


def test_nearest_pyproject_with_a_table_wins(tmp_path: Path):
    write(tmp_path / "pyproject.toml", HEAD + 'output = "top"\n')
    write(tmp_path / "pkg" / "pyproject.toml", '[project]\nname = "inner"\n')
    deep = tmp_path / "pkg" / "a" / "b"
    deep.mkdir(parents=True)
    found, root = find_pyproject(deep)
    assert found == tmp_path / "pyproject.toml"
    assert root == tmp_path
    config = load_config(deep)
    assert config.output == "top" and config.root == tmp_path and config.has_table


def test_nearer_table_shadows_outer_one(tmp_path: Path):
    write(tmp_path / "pyproject.toml", HEAD + 'output = "outer"\n')
    write(tmp_path / "pkg" / "pyproject.toml", HEAD + 'output = "inner"\n')
    assert load_config(tmp_path / "pkg").output == "inner"
    assert load_config(tmp_path / "pkg").root == tmp_path / "pkg"


def test_search_stops_at_the_repository_root(tmp_path: Path):
    write(tmp_path / "pyproject.toml", HEAD + 'output = "outside"\n')
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "src").mkdir()
    found, root = find_pyproject(repo / "src")
    assert found is None
    assert root == repo  # black's rule: the folder holding .git
    config = load_config(repo / "src")
    assert config.output == DEFAULT_OUTPUT and not config.has_table


def test_without_any_table_the_root_is_the_nearest_pyproject(tmp_path: Path):
    write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n')
    (tmp_path / "sub").mkdir()
    config = load_config(tmp_path / "sub")
    assert config.root == tmp_path
    assert config.targets == () and config.wrt == (0,) and config.simplify is True


def test_explicit_file(tmp_path: Path):
    path = write(tmp_path / "conf" / "gradgen.toml", '[tool.gradgen]\noutput = "o"\n')
    config = load_config(tmp_path, pyproject=path)
    assert config.output == "o" and config.root == tmp_path / "conf"
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path, pyproject=tmp_path / "missing.toml")


# --------------------------------------------------------------------------
# The schema


def test_full_table(tmp_path: Path):
    config = load_table(
        tmp_path,
        'output = "generated/grads"\n'
        "simplify = false\n"
        "preserve_result = true\n"
        'wrt = [0, "y"]\n'
        "targets = [\n"
        '  "examples/cosine.py::L2_norm",  # a comment\n'
        '  { target = "examples/cosine.py::cosine_similarity", wrt = ["x", "y"],'
        ' simplify = true, shapes = { x = "n", y = "n" } },\n'
        "]\n",
    )
    assert config.output == "generated/grads"
    assert config.simplify is False and config.preserve_result is True
    assert config.wrt == (0, "y")
    first, second = config.targets
    assert first == TargetSpec("examples/cosine.py", "L2_norm", location=first.location)
    assert first.location.line == 10 and first.location.col == 2
    assert second.function == "cosine_similarity"
    assert second.wrt == ("x", "y") and second.simplify is True
    assert second.preserve_result is None
    assert second.shapes == (("x", "n"), ("y", "n"))
    assert second.spec == "examples/cosine.py::cosine_similarity"


def test_defaults_and_single_wrt(tmp_path: Path):
    config = load_table(tmp_path, 'wrt = "x"\n')
    assert config.wrt == ("x",)
    assert config.output == "generated" and config.simplify is True
    assert config.preserve_result is False and config.targets == ()


@pytest.mark.parametrize(
    "table, message, line, col",
    [
        ('outptu = "x"\n', "unknown key 'outptu' in [tool.gradgen]", 5, 0),
        ('output = "g"\n  simplify = 1\n', "simplify must be true or false", 6, 2),
        ("output = 3\n", "output must be a non-empty string", 5, 0),
        ('output = ""\n', "output must be a non-empty string", 5, 0),
        ('output = "/abs/dir"\n', "output must be relative", 5, 0),
        ("preserve_result = 0\n", "preserve_result must be true or false", 5, 0),
        ("wrt = []\n", "at least one parameter", 5, 0),
        ("wrt = [true]\n", "invalid wrt entry True", 5, 0),
        ("wrt = [-1]\n", "invalid wrt entry -1", 5, 0),
        ('wrt = ["x y"]\n', "invalid wrt entry 'x y'", 5, 0),
        ("wrt = [0, 0]\n", "names a parameter twice", 5, 0),
        ('targets = "a.py::f"\n', "targets must be a list", 5, 0),
        ('targets = [\n  "a.py",\n]\n', "names no function", 6, 2),
        ('targets = ["::f"]\n', "names no source file", 5, 11),
        ('targets = ["a.py::1f"]\n', "is not a function name", 5, 11),
        ("targets = [3]\n", "invalid target 3", 5, 0),
        ("targets = [{ wrt = [0] }]\n", "needs target =", 5, 0),
        ('targets = [{ target = "a.py::f", wrtt = 0 }]\n', "unknown key 'wrtt'", 5, 22),
        (
            'targets = [{ target = "a.py::f", simplify = "no" }]\n',
            "must be true or false",
            5,
            22,
        ),
        (
            'targets = [{ target = "a.py::f", shapes = ["n"] }]\n',
            "table of strings",
            5,
            22,
        ),
        (
            'targets = [{ target = "a.py::f", wrt = [] }]\n',
            "at least one parameter",
            5,
            22,
        ),
        ('targets = ["a.py::f", "./a.py::f"]\n', "listed twice", 5, 22),
        ("[tool.gradgen.extra]\nx = 1\n", "unknown key 'extra'", 5, 0),
    ],
)
def test_invalid_tables(tmp_path: Path, table, message, line, col):
    err = error_of(tmp_path, table)
    assert message in err.message
    assert err.location is not None
    assert err.location.filename == str(
        tmp_path / "pyproject.toml"
    ) or err.location.filename.endswith("pyproject.toml")
    assert (err.location.line, err.location.col) == (line, col), err.format()
    report = err.format()
    assert f"pyproject.toml:{line}:{col + 1}: " in report
    assert "^" in report  # the caret under the column


def test_unknown_key_hint_lists_known_keys(tmp_path: Path):
    err = error_of(tmp_path, 'outptu = "x"\n')
    assert "output" in err.hint and "targets" in err.hint


def test_toml_syntax_error_is_located(tmp_path: Path):
    err = error_of(tmp_path, 'output = "gen\n')
    assert err.message.startswith("invalid TOML")
    assert err.location.line == 5


def test_table_that_is_not_a_table(tmp_path: Path):
    write(tmp_path / "pyproject.toml", "[tool]\ngradgen = 3\n")
    with pytest.raises(ConfigError, match="must be a table"):
        load_config(tmp_path)


def test_errors_are_relative_to_the_current_directory(tmp_path: Path, monkeypatch):
    write(tmp_path / "pyproject.toml", HEAD + 'outptu = "x"\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config(Path("."))
    assert info.value.location.filename == "pyproject.toml"


# --------------------------------------------------------------------------
# Targets and wrt lists


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("a.py::f", ("a.py", "f")),
        ("src/pkg/mod.py::loss_fn", ("src/pkg/mod.py", "loss_fn")),
        ("C:\\x\\a.py::f", ("C:\\x\\a.py", "f")),
        ("we::ird.py::f", ("we::ird.py", "f")),
    ],
)
def test_parse_target(spec, expected):
    assert parse_target(spec) == expected


@pytest.mark.parametrize("spec", ["a.py", "a.py::", "::f", "a.py::f.g", "a.py::1"])
def test_parse_target_rejects(spec):
    with pytest.raises(ConfigError):
        parse_target(spec)


def test_parse_wrt_round_trip():
    assert parse_wrt("0") == (0,)
    assert parse_wrt("x, 1,y") == ("x", 1, "y")
    assert format_wrt(parse_wrt("x,1")) == "x,1"
    for bad in ("", "x,,y", "1x", "x,x", "-1"):
        with pytest.raises(ValueError):
            parse_wrt(bad)
