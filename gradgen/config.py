"""The ``[tool.gradgen]`` table of a project's ``pyproject.toml``.

Finding it works like black: starting from the current directory, walk up the
parents; the first ``pyproject.toml`` that holds a ``[tool.gradgen]`` table
wins.  The walk stops at the first directory holding ``.git`` or ``.hg`` (the
repository root, which is still searched).  The folder of that
``pyproject.toml`` is the project *root*: every path in the table is relative
to it, and so are the paths gradgen writes into generated modules and
regenerate commands, so that the output is the same on every machine.

Schema (strict: an unknown key, a wrong type or a malformed target is an
error that names the line of ``pyproject.toml``, and the CLI exits with 2)::

    [tool.gradgen]
    output = "generated"          # folder for generated modules (default "generated")
    simplify = true               # run the simplifier (default true)
    preserve_result = false       # gradients return (value, gradient) (default false)
    mode = "reverse"              # reverse (grad_f, into <stem>_grad.py), forward
                                  # (jvp_f, <stem>_jvp.py), callback (vjp_f,
                                  # <stem>_vjp.py) or hvp (hvp_f, <stem>_hvp.py)
    wrt = [0]                     # default wrt for every target: indices and/or
                                  # parameter names, or one of them (default [0])
    rules = ["tools/grad_rules.py"]  # extra rule files (the contract of
                                  # templates/README.md) for every target
    targets = [                   # SRC.py::FUNC, SRC.py relative to the pyproject
      "examples/cosine.py::L2_norm",
      # a table overrides the defaults above for one target; keys: target
      # (required), wrt, simplify, preserve_result, mode, and shapes (shape
      # annotations such as {X = "n d"}, see gradgen.options.Options)
      { target = "examples/cosine.py::cosine_similarity", wrt = ["x", "y"] },
    ]

Command-line flags override the table, including the per-target values.

TOML is read with :mod:`tomllib` (Python 3.11+) or, on Python 3.10, with its
backport ``tomli``, which black (a dependency of gradgen) already installs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradgen.errors import GradgenError, Location
from gradgen.options import SHAPE_HINT, shape_problem

try:  # Python 3.11+
    import tomllib as _toml
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    try:
        import tomli as _toml  # type: ignore[no-redef]
    except ModuleNotFoundError:
        _toml = None  # type: ignore[assignment]

PYPROJECT = "pyproject.toml"
DEFAULT_OUTPUT = "generated"
DEFAULT_WRT: tuple[int | str, ...] = (0,)

TOP_KEYS = ("mode", "output", "preserve_result", "rules", "simplify", "targets", "wrt")
TARGET_KEYS = ("mode", "preserve_result", "shapes", "simplify", "target", "wrt")
MODES = ("reverse", "forward", "callback", "hvp")  # as gradgen.options.MODES
_VCS_MARKERS = (".git", ".hg")


class ConfigError(GradgenError):
    """``[tool.gradgen]`` (or the pyproject.toml holding it) is invalid."""


@dataclass(frozen=True)
class TargetSpec:
    """One entry of ``targets``: a function and its per-target overrides.

    ``None`` means "not set here, use the table's default".
    """

    path: str
    function: str
    wrt: tuple[int | str, ...] | None = None
    simplify: bool | None = None
    preserve_result: bool | None = None
    mode: str | None = None
    shapes: tuple[tuple[str, str], ...] | None = None
    location: Location | None = None

    @property
    def spec(self) -> str:
        return f"{self.path}::{self.function}"


@dataclass(frozen=True)
class Config:
    """The validated ``[tool.gradgen]`` table (or the defaults, when absent)."""

    root: Path
    pyproject: Path | None = None
    output: str = DEFAULT_OUTPUT
    simplify: bool = True
    preserve_result: bool = False
    mode: str = "reverse"
    wrt: tuple[int | str, ...] = DEFAULT_WRT
    targets: tuple[TargetSpec, ...] = field(default=())
    has_table: bool = False
    wrt_location: Location | None = None  # of the table's wrt key, when set
    rules: tuple[str, ...] = ()  # extra rule files, relative to root


# --------------------------------------------------------------------------
# Targets and wrt lists, shared with the command line.


def parse_target(spec: str, location: Location | None = None) -> tuple[str, str]:
    """Split ``"path/to/src.py::func"`` into ``("path/to/src.py", "func")``."""
    path, sep, function = spec.rpartition("::")
    if not sep:
        raise ConfigError(
            f"target {spec!r} names no function",
            location,
            hint="write targets as SRC.py::FUNC, e.g. examples/cosine.py::L2_norm",
        )
    if not path:
        raise ConfigError(
            f"target {spec!r} names no source file",
            location,
            hint="write targets as SRC.py::FUNC, e.g. examples/cosine.py::L2_norm",
        )
    if not function.isidentifier():
        raise ConfigError(
            f"target {spec!r}: {function!r} is not a function name",
            location,
            hint="name a function defined at the top level of the file: SRC.py::FUNC",
        )
    return path, function


def parse_wrt_item(item: str) -> int | str:
    """A ``--wrt`` entry: digits are a parameter index, anything else a name."""
    item = item.strip()
    if item.isdigit():
        return int(item)
    if item.isidentifier():
        return item
    raise ValueError(f"{item!r} is neither a parameter index nor a parameter name")


def parse_wrt(text: str) -> tuple[int | str, ...]:
    """``"x,1"`` -> ``("x", 1)``; raises ValueError for a malformed list."""
    items = tuple(parse_wrt_item(part) for part in text.split(","))
    if len(set(items)) != len(items):
        raise ValueError(f"{text!r} names a parameter twice")
    return items


def format_wrt(wrt: tuple[int | str, ...]) -> str:
    """The inverse of :func:`parse_wrt`."""
    return ",".join(str(item) for item in wrt)


# --------------------------------------------------------------------------
# Finding and reading pyproject.toml.


def find_pyproject(start: Path) -> tuple[Path | None, Path]:
    """``(pyproject with [tool.gradgen] or None, project root)`` for ``start``.

    Without a ``[tool.gradgen]`` table the root is, as for black, the nearest
    folder holding ``pyproject.toml``, ``.git`` or ``.hg``, or ``start``.
    """
    start = Path(os.path.abspath(start))
    fallback_root: Path | None = None
    for directory in (start, *start.parents):
        candidate = directory / PYPROJECT
        if candidate.is_file():
            if _has_gradgen_table(candidate):
                return candidate, directory
            fallback_root = fallback_root or directory
        if any((directory / marker).exists() for marker in _VCS_MARKERS):
            fallback_root = fallback_root or directory
            break
    return None, fallback_root or start


def _has_gradgen_table(path: Path) -> bool:
    data = _load_toml(path)
    tool = data.get("tool")
    return isinstance(tool, dict) and "gradgen" in tool


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {_display(path)}: {exc}") from None
    if _toml is None:  # pragma: no cover - only on a broken Python 3.10 install
        raise ConfigError(
            f"cannot read {_display(path)}: no TOML parser",
            hint="on Python 3.10, install tomli: pip install tomli",
        )
    try:
        return _toml.loads(text)
    except _toml.TOMLDecodeError as exc:
        message = str(exc)
        lines = text.splitlines() or [""]
        line, col = len(lines), len(lines[-1]) + 1  # "(at end of document)"
        match = re.search(
            r"\s*\(at (?:line (\d+), column (\d+)|end of document)\)$", message
        )
        if match:
            message = message[: match.start()]
            if match.group(1):
                line, col = int(match.group(1)), int(match.group(2))
        location = Location(_display(path), line, col - 1, _line(text, line))
        raise ConfigError(f"invalid TOML: {message}", location) from None


def load_config(start: Path | None = None, pyproject: Path | None = None) -> Config:
    """The configuration seen from ``start`` (default: the current directory).

    ``pyproject`` names the file to read instead of searching for it; its
    folder is then the root even if it has no ``[tool.gradgen]`` table.
    """
    if pyproject is None:
        found, root = find_pyproject(start if start is not None else Path.cwd())
        if found is None:
            return Config(root=root)
        pyproject = found
    pyproject = Path(os.path.abspath(pyproject))
    if not pyproject.is_file():
        raise ConfigError(f"{_display(pyproject)}: no such file")
    data = _load_toml(pyproject)
    text = pyproject.read_text(encoding="utf-8-sig")
    tool = data.get("tool", {})
    table = tool.get("gradgen") if isinstance(tool, dict) else None
    if table is None:
        return Config(root=pyproject.parent, pyproject=pyproject)
    return _validate(table, _Locator(pyproject, text), pyproject)


# --------------------------------------------------------------------------
# Validation.


class _Locator:
    """Best-effort positions of keys and strings inside ``[tool.gradgen]``.

    tomllib reports no positions, so errors point at the first plausible
    match in the table's text, or at the table's header.
    """

    def __init__(self, path: Path, text: str):
        self.filename = _display(path)
        self.lines = text.splitlines()
        self.start, self.end = 0, len(self.lines)
        header = re.compile(r"^\s*\[\s*tool\s*\.\s*gradgen\s*\]")
        for number, line in enumerate(self.lines):
            if header.match(line):
                self.start = number
                for after in range(number + 1, len(self.lines)):
                    if re.match(r"^\[", self.lines[after]):
                        self.end = after
                        break
                break

    def _at(self, number: int, col: int) -> Location:
        return Location(self.filename, number + 1, col, self.lines[number])

    def header(self) -> Location | None:
        if not self.lines:
            return None
        return self._at(self.start, 0)

    def key(self, key: str) -> Location | None:
        at_start = re.compile(rf"^\s*(?P<k>{re.escape(key)})\s*=")
        anywhere = re.compile(rf"(?:^|[{{,\s])(?P<k>{re.escape(key)})\s*=")
        for pattern in (at_start, anywhere):
            for number in range(self.start, self.end):
                match = pattern.search(self.lines[number].split("#", 1)[0])
                if match:
                    return self._at(number, match.start("k"))
        subtable = re.compile(
            rf"^\s*\[+\s*tool\s*\.\s*gradgen\s*\.\s*{re.escape(key)}\b"
        )
        for number, line in enumerate(self.lines):
            if subtable.match(line):
                return self._at(number, 0)
        return self.header()

    def string(self, value: str) -> Location | None:
        for number in range(self.start, self.end):
            line = self.lines[number]
            for quote in ('"', "'"):
                col = line.find(f"{quote}{value}{quote}")
                if col >= 0:
                    return self._at(number, col)
        return self.header()


def _validate(table: Any, where: _Locator, pyproject: Path) -> Config:
    if not isinstance(table, dict):
        raise ConfigError("[tool.gradgen] must be a table", where.header())
    _check_keys(table, TOP_KEYS, "[tool.gradgen]", where)
    output = table.get("output", DEFAULT_OUTPUT)
    if not isinstance(output, str) or not output.strip():
        raise ConfigError(
            "output must be a non-empty string (a folder)", where.key("output")
        )
    if os.path.isabs(output):
        raise ConfigError(
            "output must be relative to the folder of pyproject.toml",
            where.key("output"),
            hint="absolute paths would make generated files differ between machines",
        )
    simplify = _bool(table, "simplify", True, where)
    preserve = _bool(table, "preserve_result", False, where)
    mode = _mode(table.get("mode", "reverse"), where.key("mode"))
    wrt = _wrt(table.get("wrt", list(DEFAULT_WRT)), where.key("wrt"))
    rules = _rules(table.get("rules", []), where.key("rules"))
    raw_targets = table.get("targets", [])
    if not isinstance(raw_targets, list):
        raise ConfigError(
            "targets must be a list of SRC.py::FUNC strings or tables",
            where.key("targets"),
        )
    targets = tuple(_target(item, where) for item in raw_targets)
    seen: dict[tuple[str, str, str], TargetSpec] = {}
    for target in targets:
        key = (os.path.normpath(target.path), target.function, target.mode or mode)
        if key in seen:
            raise ConfigError(
                f"target {target.spec!r} is listed twice", target.location
            )
        seen[key] = target
    return Config(
        root=pyproject.parent,
        pyproject=pyproject,
        output=output,
        simplify=simplify,
        preserve_result=preserve,
        mode=mode,
        wrt=wrt,
        targets=targets,
        has_table=True,
        wrt_location=where.key("wrt") if "wrt" in table else None,
        rules=rules,
    )


def _check_keys(table: dict, allowed: tuple[str, ...], what: str, where: _Locator):
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"unknown key {key!r} in {what}",
                where.key(key),
                hint="known keys: " + ", ".join(allowed),
            )


def _bool(table: dict, key: str, default: bool, where: _Locator) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, not {value!r}", where.key(key))
    return value


def _mode(value: Any, location: Location | None) -> str:
    if value not in MODES:
        raise ConfigError(f"invalid mode {value!r}", location,
                          hint="mode is one of: " + ", ".join(MODES))
    return value


def _wrt(value: Any, location: Location | None) -> tuple[int | str, ...]:
    items = value if isinstance(value, list) else [value]
    hint = 'wrt is a parameter index or name, or a list of them: wrt = [0] or wrt = ["x", "y"]'
    if not items:
        raise ConfigError("wrt must name at least one parameter", location, hint=hint)
    for item in items:
        ok_int = isinstance(item, int) and not isinstance(item, bool) and item >= 0
        ok_name = isinstance(item, str) and item.isidentifier()
        if not (ok_int or ok_name):
            raise ConfigError(f"invalid wrt entry {item!r}", location, hint=hint)
    if len(set(items)) != len(items):
        raise ConfigError(
            f"wrt names a parameter twice: {value!r}", location, hint=hint
        )
    return tuple(items)


def _rules(value: Any, location: Location | None) -> tuple[str, ...]:
    hint = 'rules is a list of rule files relative to pyproject.toml: rules = ["tools/grad_rules.py"]'
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ConfigError(f"rules must be a list of paths, not {value!r}", location, hint=hint)
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(f"invalid rules entry {item!r}: not a path", location, hint=hint)
        if os.path.isabs(item):
            raise ConfigError(f"rules entry {item!r} must be relative to the folder of "
                              "pyproject.toml", location,
                              hint="absolute paths would make the project differ between machines")
    return tuple(items)


def _target(item: Any, where: _Locator) -> TargetSpec:
    if isinstance(item, str):
        location = where.string(item)
        path, function = parse_target(item, location)
        return TargetSpec(path, function, location=location)
    if not isinstance(item, dict):
        raise ConfigError(
            f"invalid target {item!r}",
            where.key("targets"),
            hint='a target is "SRC.py::FUNC" or { target = "SRC.py::FUNC", wrt = [...] }',
        )
    spec = item.get("target")
    if not isinstance(spec, str):
        raise ConfigError(
            'a target table needs target = "SRC.py::FUNC"',
            where.key("targets"),
        )
    location = where.string(spec)
    for key in item:
        if key not in TARGET_KEYS:
            raise ConfigError(
                f"unknown key {key!r} in the table of target {spec!r}",
                location,
                hint="known keys: " + ", ".join(TARGET_KEYS),
            )
    path, function = parse_target(spec, location)
    wrt = _wrt(item["wrt"], location) if "wrt" in item else None
    flags = {}
    for key in ("simplify", "preserve_result"):
        if key in item and not isinstance(item[key], bool):
            raise ConfigError(
                f"{key} of target {spec!r} must be true or false", location
            )
        flags[key] = item.get(key)
    shapes = None
    if "shapes" in item:
        raw = item["shapes"]
        if not isinstance(raw, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
        ):
            raise ConfigError(
                f"shapes of target {spec!r} must be a table of strings",
                location,
                hint='e.g. shapes = { X = "n d", w = "d" }',
            )
        for name, text in raw.items():
            problem = shape_problem(text)
            if problem is not None:
                raise ConfigError(f"shapes of target {spec!r}: {name} = {problem}",
                                  location, hint=SHAPE_HINT.split(", e.g.")[0]
                                  + ', e.g. shapes = { X = "n d", w = "d", b = "" }')
        shapes = tuple(sorted(raw.items()))
    target_mode = _mode(item["mode"], location) if "mode" in item else None
    return TargetSpec(
        path,
        function,
        wrt=wrt,
        simplify=flags["simplify"],
        preserve_result=flags["preserve_result"],
        mode=target_mode,
        shapes=shapes,
        location=location,
    )


# --------------------------------------------------------------------------
# Small helpers.


def _line(text: str, number: int) -> str:
    lines = text.splitlines()
    return lines[number - 1] if 0 < number <= len(lines) else ""


def _display(path: Path) -> str:
    """``path`` relative to the current directory when below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return str(path) if rel.startswith("..") else rel
