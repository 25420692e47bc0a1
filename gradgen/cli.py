"""The ``gradgen`` command line (also ``python -m gradgen``).

Commands::

    gradgen generate [SRC.py::FUNC ...] [--wrt a,b] [--mode M] [-o DIR] [--no-simplify] [--quiet]
    gradgen check    [SRC.py::FUNC ...] [same options]   # exit 1 if anything is stale
    gradgen diff     [SRC.py::FUNC ...] [same options]   # print the diffs, exit 0
    gradgen show     SRC.py::FUNC [...] [--wrt a,b] [--no-simplify]
    gradgen verify   SRC.py::FUNC --against MINE.py::GRAD [--wrt ..] [--shape x=3,4]
    gradgen cache clear
    gradgen rules    [TEXT] [--markdown | --json] [--rules FILE]  # the supported functions

**Targets and output files.**  A target is ``SRC.py::FUNC``, a top-level
function of a Python file.  ``generate`` groups targets by source file and
writes one standalone module per source file, ``DIR/<stem>_grad.py`` (the
gradient of ``examples/cosine.py::L2_norm`` goes to
``generated/cosine_grad.py`` as ``grad_L2_norm``); the functions of one file
appear in the order the targets are given.  ``--mode`` (or ``mode`` in the
table) generates something else, into a module of its own per source file:
``forward`` (``jvp_FUNC``, ``<stem>_jvp.py``), ``callback`` (``vjp_FUNC``,
``<stem>_vjp.py``) or ``hvp`` (``hvp_FUNC``, ``<stem>_hvp.py``).  Two source files with the same
stem cannot share an output folder.  Everything is generated in memory first:
if any target fails, nothing is written.  Files are written atomically (see
:mod:`gradgen.fileio`) and only when their content changes.

**Configuration.**  Without targets on the command line, the targets and
defaults come from ``[tool.gradgen]`` in the nearest ``pyproject.toml`` (see
:mod:`gradgen.config` for the search and the schema); with targets, the
table's defaults (``output``, ``wrt``, ``simplify``, ``preserve_result``)
still apply but its ``targets`` are ignored.  Command-line flags override the
table.  Paths on the command line are relative to the current directory;
paths in the table, and the default output folder ``generated``, are relative
to the project root (the pyproject's folder, or, without a ``[tool.gradgen]``
table, the nearest folder holding ``pyproject.toml``, ``.git`` or ``.hg``).

**Regenerate commands.**  Each generated module quotes the command that
regenerates it: ``gradgen generate`` for modules made from the table, and
``gradgen generate SRC.py::FUNC ...`` with the module's own targets
otherwise.  Paths in it are relative to the project root (never absolute),
and it carries exactly the flags whose values differ from what the bare
command would use there, so the same request gives the same bytes however it
was spelled and wherever it runs.  ``check`` and ``diff`` compare with the
files on disk (line-end style aside) and print unified diffs (``a/`` is the
file on disk, ``b/`` the regenerated text; paths relative to the root) and
the command that fixes them.

**Left-over modules.**  With targets from the table, a ``*_grad.py`` in the
output folder whose header says it was made by the very same command
(``# Regenerate with: gradgen generate``) but that no target produces any
more (its target was removed from the table, also the last one) is stale:
``check`` reports it with the fix command and ``generate`` deletes it.  Files
without that header line, or made by another command, are never touched.

**Progress.**  With more than one module, ``generate``, ``check`` and
``diff`` report progress on stderr as modules are generated: a bar rewritten
in place on a terminal (erased at the end), else one line per module
(``gradgen: [3/48] gen/model_grad.py: up to date``); ``--quiet`` silences it
(see :mod:`gradgen.progress`).

**verify** calls a hand-written gradient with the calling convention of the
generated one (the function's parameters, keyword-only ones included,
returning one gradient or a tuple in ``wrt`` order; a trailing output seed
is passed, by keyword when the signature names it, only when the function
requires it) and compares it with the generated gradient on random float64
inputs: standard normal, or uniform on [0.5, 2) with ``--positive``, of the
shapes given by ``--shape NAME=3,4`` (``NAME=`` for a scalar) and ``(3,)``
for every parameter without one, from ``--seed`` (default 0).  A parameter
with a default (a hyperparameter such as ``l2=0.0``) keeps its default
unless it is in ``wrt`` or has a ``--shape`` (a differentiated one with a
numeric default gets a scalar).  A checked function (or module) that calls
``sys.exit`` is an error (exit 2), never a pass.  It passes
when ``|yours - generated| <= atol + rtol * |generated|`` everywhere
(defaults ``rtol=1e-7``, ``atol=1e-9``).

**rules** prints every supported function (from the rule files, see
:mod:`gradgen.catalog`) with its aliases, the modes it supports and its
notes, grouped by rule file, then the functions without a gradient: aligned
text, ``--markdown`` (the README's table) or ``--json``.  ``TEXT`` keeps the
functions one of whose names contains it.  Extra rule files (``--rules``, else
``rules`` of ``[tool.gradgen]``) are listed too, under their own names.

**Exit codes.**  0: success.  1: ``check`` found stale, missing or
hand-edited modules, ``verify`` found a mismatch, or ``rules TEXT`` matched
nothing.  2: bad usage or input
(a located ``file.py:LINE:COL: message`` on stderr, never a traceback), or
the machine refused: an output path that is a folder or under a file, a full
disk, a file too large, an input too large for memory (a message naming the
file; the old module is left intact, see :func:`write_module`).
3: an internal error, that is a bug in gradgen (reported with a traceback).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import difflib
import errno
import importlib.util
import inspect
import math
import os
import shlex
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gradgen import __version__
from gradgen.config import (
    Config,
    ConfigError,
    format_wrt,
    load_config,
    parse_target,
    parse_wrt,
)
from gradgen.errors import GradgenError, Location, UsageError
from gradgen.fileio import decode_python, normalize_newlines, read_text, write_if_changed
from gradgen.progress import Progress
from gradgen.runner import run_generation

PROG = "gradgen"
OUTPUT_SUFFIX = "_grad.py"
# One module per source file and mode: grad_f, jvp_f, vjp_f and hvp_f go to
# <stem>_grad.py, <stem>_jvp.py, <stem>_vjp.py and <stem>_hvp.py.
MODE_SUFFIXES = {"reverse": OUTPUT_SUFFIX, "forward": "_jvp.py", "callback": "_vjp.py",
                 "hvp": "_hvp.py"}
REGENERATE_PREFIX = "# Regenerate with: "  # the header line gradgen.emit writes
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
DEFAULT_SHAPE = (3,)
DEFAULT_RTOL = 1e-7
DEFAULT_ATOL = 1e-9


# --------------------------------------------------------------------------
# Plans: what to generate, where, and with which regenerate command.


@dataclass
class Target:
    """One function to differentiate, with its resolved options."""

    function: str
    options: Any  # gradgen.options.Options
    spec: str  # as the user wrote it
    location: Location | None = None  # where it was written (pyproject), if anywhere
    wrt_location: Location | None = None  # where its wrt was set (pyproject), if there


@dataclass
class Module:
    """One source file and the generated module made from it."""

    source: Path  # absolute
    source_rel: str  # relative to the root, POSIX separators
    output: Path  # absolute
    targets: list[Target] = field(default_factory=list)
    command: str = ""


@dataclass
class Plan:
    root: Path
    config: Config
    modules: list[Module]
    from_config: bool
    outdir: Path | None = None  # the output folder
    command: str = ""  # with targets from the table: the command that makes them


def _rel(path: Path, base: Path) -> str:
    """``path`` relative to ``base``, with ``/`` separators."""
    try:
        rel = os.path.relpath(path, base)
    except ValueError:  # another drive on Windows: nothing better exists
        return Path(path).as_posix()
    return Path(rel).as_posix()


def _display(path: Path) -> str:
    """How to show ``path`` to the user: relative to the current directory."""
    return _rel(path, Path.cwd())


def _abspath(path: str | Path, base: Path) -> Path:
    return Path(os.path.normpath(os.path.join(base, path)))


def _options(wrt, simplify, preserve_result, shapes=None, mode="reverse", rules=()):
    from gradgen.options import Options

    return Options.make(
        wrt=wrt,
        preserve_result=preserve_result,
        simplify=simplify,
        shapes=shapes,
        mode=mode,
        rules=list(rules),
    )


def _rules(args, config: Config) -> tuple[tuple[str, ...], list[str]]:
    """The extra rule files (absolute paths) and the ``--rules`` flags that a
    regenerate command (run from the root) needs: ``--rules`` replaces the
    table's ``rules``."""
    table = tuple(str(_abspath(p, config.root)) for p in config.rules)
    given = getattr(args, "rules", None)
    if given is None:
        return table, []
    files = tuple(str(_abspath(p, Path.cwd())) for p in given)
    if files == table:
        return files, []
    flags = []
    for path in files:
        flags += ["--rules", _rel(Path(path), config.root)]
    return files, flags


def _load_config(args) -> Config:
    pyproject = Path(args.config) if getattr(args, "config", None) else None
    return load_config(Path.cwd(), pyproject=pyproject)


def _config_flag(config: Config) -> list[str]:
    """``--config FILE`` when the bare command would not find the same file."""
    if config.pyproject is not None and config.pyproject.name != "pyproject.toml":
        return ["--config", _rel(config.pyproject, config.root)]
    return []


def make_plan(args, *, allow_config_targets: bool = True) -> Plan:
    """Resolve targets, options, output files and regenerate commands."""
    config = _load_config(args)
    root = config.root
    cwd = Path.cwd()
    if args.output is not None:
        outdir = _abspath(args.output, cwd)
    else:
        outdir = _abspath(config.output, root)
    default_outdir = _abspath(config.output, root)

    specs: list[tuple[Path, str, Any, str, Location | None, Location | None]] = []
    from_config = not args.targets
    rules, rule_flags = _rules(args, config)
    if args.targets:
        wrt = args.wrt if args.wrt is not None else config.wrt
        simplify = args.simplify if args.simplify is not None else config.simplify
        preserve = (
            args.preserve_result
            if args.preserve_result is not None
            else config.preserve_result
        )
        mode = args.mode if getattr(args, "mode", None) is not None else config.mode
        wrt_location = config.wrt_location if args.wrt is None else None
        for spec in args.targets:
            path, function = parse_target(spec)
            options = _options(wrt, simplify, preserve, mode=mode, rules=rules)
            specs.append((_abspath(path, cwd), function, options, spec, None, wrt_location))
        flags = []
        if tuple(wrt) != tuple(config.wrt):
            flags += ["--wrt", format_wrt(tuple(wrt))]
        if simplify != config.simplify:
            flags.append("--simplify" if simplify else "--no-simplify")
        if preserve != config.preserve_result:
            flags.append("--preserve-result" if preserve else "--no-preserve-result")
        if mode != config.mode:
            flags += ["--mode", mode]
    else:
        if allow_config_targets and config.has_table and not config.targets:
            # Every target was removed: nothing to generate, but the modules
            # they made are left over, and check must say so.
            flags = [flag for flag in _flags_of(args)]
            out_flags = [] if outdir == default_outdir else ["-o", _rel(outdir, root)]
            command = shlex.join(["gradgen", "generate", *_config_flag(config), *flags,
                                  *out_flags])
            empty = Plan(root, config, [], True, outdir, command)
            if find_orphans(empty):
                return empty
        if not allow_config_targets or not config.targets:
            where = (
                f"{_display(config.pyproject)} has no targets in [tool.gradgen]"
                if config.pyproject is not None and config.has_table
                else "no [tool.gradgen] table was found in a pyproject.toml here or above"
            )
            raise UsageError(
                f"no targets: give SRC.py::FUNC on the command line ({where})",
                hint='or add [tool.gradgen] targets = ["src.py::func"] to pyproject.toml',
            )
        changed = {"wrt": False, "simplify": False, "preserve_result": False,
                   "mode": False}
        for t in config.targets:
            base = {
                "wrt": t.wrt if t.wrt is not None else config.wrt,
                "simplify": t.simplify if t.simplify is not None else config.simplify,
                "preserve_result": (
                    t.preserve_result
                    if t.preserve_result is not None
                    else config.preserve_result
                ),
                "mode": t.mode if t.mode is not None else config.mode,
            }
            base["wrt"] = tuple(base["wrt"])  # type: ignore[arg-type]
            value = dict(base)
            for key in value:
                flag = getattr(args, key, None)
                if flag is not None:
                    value[key] = tuple(flag) if key == "wrt" else flag
                    changed[key] = changed[key] or value[key] != base[key]
            options = _options(
                value["wrt"],
                value["simplify"],
                value["preserve_result"],
                dict(t.shapes) if t.shapes else None,
                value["mode"],
                rules,
            )
            if getattr(args, "wrt", None) is not None:
                wrt_location = None  # the flag's
            elif t.wrt is not None:
                wrt_location = t.location
            else:
                wrt_location = config.wrt_location or t.location
            specs.append(
                (_abspath(t.path, root), t.function, options, t.spec, t.location,
                 wrt_location)
            )
        flags = []
        if changed["wrt"]:
            flags += ["--wrt", format_wrt(tuple(args.wrt))]
        if changed["simplify"]:
            flags.append("--simplify" if args.simplify else "--no-simplify")
        if changed["preserve_result"]:
            flags.append(
                "--preserve-result" if args.preserve_result else "--no-preserve-result"
            )
        if changed["mode"]:
            flags += ["--mode", args.mode]
    flags += rule_flags
    out_flags = [] if outdir == default_outdir else ["-o", _rel(outdir, root)]

    modules: dict[tuple[str, str], Module] = {}
    outputs: dict[Path, Module] = {}
    for source, function, options, spec, location, wrt_location in specs:
        module_key = (os.path.normcase(str(source)), options.mode)
        module = modules.get(module_key)
        if module is None:
            output = outdir / (source.stem + MODE_SUFFIXES[options.mode])
            other = outputs.get(output)
            if other is not None:
                raise UsageError(
                    f"{_display(source)} and {_display(other.source)} would both be "
                    f"generated into {_display(output)}",
                    location,
                    hint="source files with the same name need separate runs with "
                    "different -o folders",
                )
            module = Module(source, _rel(source, root), output)
            modules[module_key] = module
            outputs[output] = module
        if any(t.function == function for t in module.targets):
            raise UsageError(f"target {spec!r} is given twice", location)
        module.targets.append(Target(function, options, spec, location, wrt_location))

    for module in modules.values():
        parts = ["gradgen", "generate"]
        if not from_config:
            parts += [f"{module.source_rel}::{t.function}" for t in module.targets]
        parts += _config_flag(config) + flags + out_flags
        module.command = shlex.join(parts)
    command = ""
    if from_config:
        command = shlex.join(["gradgen", "generate", *_config_flag(config), *flags,
                              *out_flags])
    return Plan(root, config, list(modules.values()), from_config, outdir, command)


def _flags_of(args) -> list[str]:
    """The option flags given on the command line, as the regenerate command
    spells them (for a table without targets)."""
    flags = []
    if getattr(args, "wrt", None) is not None:
        flags += ["--wrt", format_wrt(tuple(args.wrt))]
    if getattr(args, "simplify", None) is not None:
        flags.append("--simplify" if args.simplify else "--no-simplify")
    if getattr(args, "preserve_result", None) is not None:
        flags.append("--preserve-result" if args.preserve_result else "--no-preserve-result")
    if getattr(args, "mode", None) is not None:
        flags += ["--mode", args.mode]
    for path in getattr(args, "rules", None) or ():
        flags += ["--rules", path]
    return flags


def fix_command(plan: Plan, command: str) -> str:
    """``command`` as typed from the current directory (it runs from the root)."""
    if Path.cwd() == plan.root:
        return command
    return f"cd {shlex.quote(_display(plan.root))} && {command}"


# --------------------------------------------------------------------------
# Sources and generation.


def read_source(path: Path, location: Location | None = None) -> str:
    """The text of a Python source file, decoded as Python decodes it (a UTF-8
    BOM, a PEP 263 coding line, else UTF-8; :func:`gradgen.fileio.decode_python`),
    or a located UsageError."""
    display = _display(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{display}: no such file", location) from None
    except IsADirectoryError:
        raise UsageError(
            f"{display} is a folder, not a Python file", location
        ) from None
    except OSError as exc:
        raise UsageError(
            f"cannot read {display}: {exc.strerror or exc}", location
        ) from None
    try:
        return decode_python(data)
    except SyntaxError as exc:  # an unknown encoding, or a BOM and another cookie
        line = exc.lineno or 1
        lines = data.splitlines()
        source_line = lines[line - 1].decode("ascii", "replace") if line <= len(lines) else ""
        raise UsageError(
            f"cannot decode the file: {exc.msg}",
            Location(display, line, 0, source_line),
            hint="name an encoding Python knows in the coding line, or save the file as UTF-8",
        ) from None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1)
        raise UsageError(
            f"the file is not valid {exc.encoding}",
            Location(display, line, col),
            hint="save it as UTF-8" if exc.encoding.lower().replace("-", "") in (
                "utf8", "utf8sig") else "fix its coding line, or save it as UTF-8",
        ) from None


def check_syntax(text: str, display: str) -> ast.Module:
    """Parse ``text``; a SyntaxError becomes a located UsageError."""
    try:
        return ast.parse(text, filename=display)
    except SyntaxError as exc:
        line = exc.lineno or 1
        lines = text.splitlines()
        source_line = lines[line - 1] if 0 < line <= len(lines) else ""
        col = max((exc.offset or 1) - 1, 0)
        raise UsageError(
            f"syntax error: {exc.msg}", Location(display, line, col, source_line)
        ) from None


def _relocate(err: GradgenError, filename: str, display: str) -> GradgenError:
    """Show locations in ``filename`` (as given to the core) as ``display``."""
    if err.location is not None and err.location.filename == filename != display:
        err.location = dataclasses.replace(err.location, filename=display)
    return err


def generate_text(module: Module, command: str | None) -> str:
    """The generated module text for ``module`` (GradgenError on bad input)."""
    from gradgen import driver

    first = module.targets[0]
    text = read_source(module.source, first.location)
    display = _display(module.source)
    tree = check_syntax(text, display)
    for target in module.targets:
        node = _function_def(tree, target.function, display, target.location)
        check_target_options(target, node)
    requests = [(t.function, t.options) for t in module.targets]
    try:
        return run_generation(
            lambda: driver.generate_module(
                text, requests, filename=module.source_rel, command=command,
                path=str(module.source),
            ),
            module.source_rel, text,
        )
    except GradgenError as err:
        raise _relocate(err, module.source_rel, display) from None


def check_target_options(target: Target, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
    """A wrt entry or shape naming no parameter of the function: a UsageError at
    the line of pyproject.toml that set it (the flag's when none did)."""
    from gradgen.options import parameter_problems

    args = node.args
    params = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    for option, message, hint in parameter_problems(target.options, target.function, params):
        location = target.wrt_location if option == "wrt" else target.location
        raise UsageError(f"target {target.spec}: {message}", location, hint=hint)


def generate_all(
    plan: Plan,
    *,
    quiet: bool = True,
    status: Callable[[Module, str], str] | None = None,
) -> list[tuple[Module, str]]:
    """Generate every module in memory; report all errors, then raise.

    Unless ``quiet``, progress goes to stderr (:mod:`gradgen.progress`): a bar
    on a terminal, else one line per module saying ``status(module, text)``
    (default: ``generated (N functions)``).
    """
    results, errors = [], []
    with Progress(len(plan.modules), quiet=quiet) as progress:
        for module in plan.modules:
            label = _display(module.output)
            progress.start(_display(module.source))
            try:
                text = generate_text(module, module.command)
            except GradgenError as err:
                errors.append(err)
                progress.step(label, "error (reported below)")
                continue
            results.append((module, text))
            progress.step(label, status(module, text) if status is not None else
                          f"generated ({_plural(len(module.targets), 'function')})")
    if errors:
        raise _Errors(errors)
    return results


def _check_status(module: Module, text: str) -> str:
    """What ``check`` will say of one module (its progress line)."""
    try:
        on_disk = read_output(module.output)
    except UsageError:
        return "cannot be read"
    if on_disk is None:
        return "missing"
    return "up to date" if on_disk == normalize_newlines(text) else "stale"


class _Errors(Exception):
    """Several input errors, reported together."""

    def __init__(self, errors: list[GradgenError]):
        super().__init__("\n".join(e.format() for e in errors))
        self.errors = errors


# --------------------------------------------------------------------------
# Output helpers.


def _err(*lines: str) -> None:
    for line in lines:
        print(line, file=sys.stderr)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def unified_diff(old: str | None, new: str | None, rel: str) -> str:
    """A ``git apply``-able unified diff; None is a missing (or deleted) file."""
    out = []
    for line in difflib.unified_diff(
        [] if old is None else old.splitlines(keepends=True),
        [] if new is None else new.splitlines(keepends=True),
        fromfile="/dev/null" if old is None else f"a/{rel}",
        tofile="/dev/null" if new is None else f"b/{rel}",
    ):
        out.append(line)
        if not line.endswith("\n"):
            out.append("\n\\ No newline at end of file\n")
    return "".join(out)


# --------------------------------------------------------------------------
# Orphans: modules the table once produced and no target produces any more.


def regenerate_command(path: Path) -> str | None:
    """The ``# Regenerate with:`` command in a generated module's header, if any."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:  # the leading comment block only
                if not line.startswith("#"):
                    break
                if line.startswith(REGENERATE_PREFIX):
                    return line[len(REGENERATE_PREFIX) :].strip()
    except OSError:
        return None
    return None


def find_orphans(plan: Plan) -> list[Path]:
    """``*_grad.py`` files in the output folder that say they come from the
    table's command (the exact one this run stands for) and that no target of
    the table produces: modules of targets since removed.  Files made by other
    commands, or by hand, are never orphans.  Only when targets come from the
    table, which then lists every target of the project.
    """
    if not plan.from_config or not plan.command:
        return []
    command = plan.command
    produced = {m.output for m in plan.modules}
    orphans = []
    folders = {m.output.parent for m in plan.modules}
    if plan.outdir is not None:
        folders.add(plan.outdir)
    for folder in sorted(folders):
        if not folder.is_dir():
            continue
        paths = {p for suffix in MODE_SUFFIXES.values() for p in folder.glob("*" + suffix)}
        for path in sorted(paths):
            if path not in produced and regenerate_command(path) == command:
                orphans.append(path)
    return orphans


@dataclass
class Change:
    """A generated file that differs from what the plan makes of it."""

    path: Path
    on_disk: str | None  # None: missing
    new: str | None  # None: an orphan, to delete
    command: str


def _os_reason(exc: OSError) -> str:
    """What went wrong, in words: ``No space left on device``, not ``[Errno 28] ...``."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    hint = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
            errno.EFBIG: "the file system refuses a file this large"}.get(exc.errno or 0)
    return f"{reason} ({hint})" if hint else reason


def output_problem(path: Path) -> str | None:
    """Why a generated module cannot be written at ``path``, found before trying:
    the path is a folder, or the output folder (or a folder above it) is a file."""
    if path.is_dir():
        return f"{_display(path)} is a folder, not a file: cannot write the generated module there"
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                if parent == path.parent:
                    return f"the output folder {_display(parent)} is a file, not a folder"
                return (f"cannot create the output folder {_display(path.parent)}: "
                        f"{_display(parent)} is a file, not a folder")
            break
    return None


def _output_hint() -> str:
    return "choose another output folder with -o DIR (or output = ... in [tool.gradgen])"


def write_module(path: Path, text: str) -> bool:
    """Write a generated module atomically if it changed; True if written.

    Any failure is a UsageError (exit 2) saying that the old module, if any, is
    unchanged: writes go through a temporary file and ``os.replace``.
    """
    problem = output_problem(path)
    if problem is not None:
        raise UsageError(problem, hint=_output_hint())
    existed = path.exists()
    try:
        return write_if_changed(path, text)
    except OSError as exc:
        kept = ("the old module is unchanged" if existed
                else "nothing was written there")
        raise UsageError(
            f"cannot write {_display(path)}: {_os_reason(exc)}; {kept}",
            hint="free some space, fix the permissions, or " + _output_hint(),
        ) from None


def read_output(path: Path) -> str | None:
    """The text of a generated module on disk (None: missing), or a UsageError."""
    if path.is_dir():
        raise UsageError(f"{_display(path)} is a folder, not a generated module",
                         hint=_output_hint())
    try:
        return read_text(path)
    except NotADirectoryError:
        return None  # a file where a folder above should be: nothing there yet
    except OSError as exc:
        raise UsageError(f"cannot read {_display(path)}: {_os_reason(exc)}") from None


def compare(plan: Plan, results: list[tuple[Module, str]]) -> list[Change]:
    """The modules (and orphans) that are not up to date, in plan order."""
    changes = []
    for module, text in results:
        on_disk = read_output(module.output)
        if on_disk != normalize_newlines(text):
            changes.append(Change(module.output, on_disk, text, module.command))
    for path in find_orphans(plan):
        changes.append(Change(path, read_output(path), None, plan.command))
    return changes


# --------------------------------------------------------------------------
# Commands.


def cmd_generate(args) -> int:
    plan = make_plan(args)
    results = generate_all(plan, quiet=args.quiet)
    unchanged = 0
    for module, text in results:
        if write_module(module.output, text):
            if not args.quiet:
                count = _plural(len(module.targets), "function")
                _err(f"wrote {_display(module.output)} ({count})")
        else:
            unchanged += 1
    for path in find_orphans(plan):
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise UsageError(
                f"cannot remove the left-over module {_display(path)}: {_os_reason(exc)}"
            ) from None
        if not args.quiet:
            _err(f"removed {_display(path)} (no target in the table produces it)")
    if unchanged and not args.quiet:
        are = "is" if unchanged == 1 else "are"
        _err(f"gradgen: {_plural(unchanged, 'generated module')} {are} unchanged")
    return EXIT_OK


def cmd_check(args) -> int:
    plan = make_plan(args)
    changes = compare(plan, generate_all(plan, quiet=args.quiet, status=_check_status))
    total = len(plan.modules)
    if not changes:
        if not args.quiet:
            are = "is" if total == 1 else "are"
            _err(f"gradgen: {_plural(total, 'generated module')} {are} up to date")
        return EXIT_OK
    commands = []
    for change in changes:
        sys.stdout.write(
            unified_diff(change.on_disk, change.new, _rel(change.path, plan.root))
        )
        sys.stdout.flush()
        if change.new is None:
            what = "left over: no target in [tool.gradgen] produces it any more"
        elif change.on_disk is None:
            what = "missing"
        else:
            what = "stale (or edited by hand)"
        _err(f"gradgen: {_display(change.path)} is {what}")
        if change.command not in commands:
            commands.append(change.command)
    are = "is" if len(changes) == 1 else "are"
    _err(
        f"gradgen: {_plural(len(changes), 'generated module')} {are} not up to date; "
        "to fix, run:"
    )
    for command in commands:
        _err(f"    {fix_command(plan, command)}")
    return EXIT_FAILED


def cmd_diff(args) -> int:
    plan = make_plan(args)
    for change in compare(plan, generate_all(plan, quiet=args.quiet, status=_check_status)):
        sys.stdout.write(
            unified_diff(change.on_disk, change.new, _rel(change.path, plan.root))
        )
    return EXIT_OK


def cmd_show(args) -> int:
    plan = make_plan(args, allow_config_targets=False)
    if len(plan.modules) != 1:
        raise UsageError(
            "show prints one module: give targets from a single source file",
            hint="use `gradgen generate` for several source files",
        )
    if args.stages:
        from gradgen import driver

        (module,) = plan.modules
        source = read_source(module.source, module.targets[0].location)
        for target in module.targets:
            def stages(target: Target = target) -> str:
                return driver.stages(source, target.function, target.options,
                                     module.source_rel, str(module.source))

            try:
                sys.stdout.write(run_generation(stages, module.source_rel, source,
                                                target.function, check_output=False))
            except GradgenError as err:
                raise _relocate(err, module.source_rel, _display(module.source)) from None
        return EXIT_OK
    ((module, text),) = generate_all(plan)
    sys.stdout.write(text)
    return EXIT_OK


def cmd_cache_clear(args) -> int:
    try:
        from gradgen import cache
    except ImportError:
        raise UsageError("this gradgen has no gradient cache") from None
    removed = cache.clear()
    if not args.quiet:
        print(
            f"removed {_plural(removed, 'cached gradient module')} "
            f"from {cache.cache_dir()}"
        )
    return EXIT_OK


# --------------------------------------------------------------------------
# verify


def _function_def(
    tree: ast.Module, name: str, display: str, location: Location | None = None
) -> ast.FunctionDef | ast.AsyncFunctionDef:
    """The top-level ``def name`` of a parsed file, or a UsageError at ``location``."""
    for node in tree.body:
        if (
            isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.name == name
        ):
            return node
    names = [
        n.name
        for n in tree.body
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    close = difflib.get_close_matches(name, names, n=1)
    hint = (
        f"did you mean {close[0]!r}?"
        if close
        else (
            "top-level functions here: " + ", ".join(names)
            if names
            else "it defines no functions"
        )
    )
    raise UsageError(
        f"{display} has no top-level function {name!r}", location, hint=hint
    )


def _parse_shape(text: str) -> tuple[str, tuple[int, ...]]:
    name, sep, dims = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(
            f"{text!r}: write NAME=3,4 (or NAME= for a scalar)"
        )
    dims = dims.strip().strip("()").strip()
    if dims.lower() in ("", "scalar"):
        return name, ()
    try:
        shape = tuple(int(d) for d in dims.split(",") if d.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: dimensions must be integers"
        ) from None
    if any(d < 0 for d in shape):
        raise argparse.ArgumentTypeError(f"{text!r}: dimensions must be >= 0")
    return name, shape


def _user_code_error(exc: BaseException, path: Path, what: str) -> UsageError:
    """An exception raised by the user's code, located at its deepest frame in ``path``."""
    location = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename and os.path.abspath(frame.filename) == str(path):
            col = getattr(frame, "colno", None) or 0  # (Python 3.11+)
            location = Location(_display(path), frame.lineno or 1, col, frame.line or "")
    message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return UsageError(f"{what} raised {message}", location)


def _load_function(spec: str) -> tuple[Callable, Path]:
    path_text, function = parse_target(spec)
    path = _abspath(path_text, Path.cwd())
    display = _display(path)
    text = read_source(path)
    check_syntax(text, display)
    name = "_gradgen_verify_" + "".join(c if c.isalnum() else "_" for c in path.stem)
    spec_obj = importlib.util.spec_from_file_location(name, path)
    if spec_obj is None or spec_obj.loader is None:
        raise UsageError(f"cannot import {display}")
    module = importlib.util.module_from_spec(spec_obj)
    sys.path.insert(0, str(path.parent))
    try:
        spec_obj.loader.exec_module(module)
    except SystemExit as exc:
        raise _exit_error(exc, path, f"importing {display}") from None
    except Exception as exc:
        raise _user_code_error(exc, path, f"importing {display}") from None
    finally:
        try:
            sys.path.remove(str(path.parent))
        except ValueError:
            pass
    func = getattr(module, function, None)
    if not callable(func):
        raise UsageError(f"{display} has no function {function!r}")
    return func, path


def _exit_error(exc: SystemExit, path: Path | None, what: str) -> UsageError:
    """A checked function (or module) that ended the process is no pass."""
    location = _user_code_error(exc, path, what).location if path is not None else None
    return UsageError(
        f"{what} called sys.exit({exc.code!r}): the check cannot pass that way",
        location,
        hint="a gradient must return its value, not end the program",
    )


def _seed_name(func: Callable, params: list[str]) -> str | None:
    """The parameter of ``func`` that takes the output seed: the first one,
    passable by keyword, that is not a parameter of the verified function."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    for param in signature.parameters.values():
        if param.kind in keyword and param.name not in params:
            return param.name
    return None


def _call(func: Callable, args: list, kwargs: dict, seed, what: str,
          path: Path | None, params: list[str], with_seed: bool = False):
    """Call ``func(*args, **kwargs)``, with the output seed too if it requires one
    (by keyword when its signature names it, so that it lands in no parameter
    left at its default), or always (``with_seed``: a generated gradient)."""
    call_kwargs = dict(kwargs)
    call_args = list(args)
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        signature = None
    name = _seed_name(func, params) if with_seed else None
    if name is not None:
        call_kwargs[name] = seed
    elif signature is not None:
        try:
            signature.bind(*call_args, **call_kwargs)
        except TypeError:
            name = _seed_name(func, params)
            try:
                if name is not None:
                    signature.bind(*call_args, **call_kwargs, **{name: seed})
                    call_kwargs[name] = seed
                else:
                    signature.bind(*call_args, seed, **call_kwargs)
                    call_args.append(seed)
            except TypeError:
                given = ", ".join([*(["..."] * len(call_args)), *call_kwargs])
                raise UsageError(
                    f"{what} takes neither the function's arguments ({given}) "
                    f"nor those and an output seed: {what}{signature}"
                ) from None
    try:
        return func(*call_args, **call_kwargs)
    except SystemExit as exc:
        raise _exit_error(exc, path, what) from None
    except Exception as exc:
        if path is None:  # generated code: the inputs do not suit the function
            message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            raise UsageError(
                f"{what} raised {message}",
                hint="give inputs the function accepts with --shape NAME=3,4 "
                "(or --positive)",
            ) from None
        raise _user_code_error(exc, path, what) from None


def _bytes(n: int) -> str:
    """``8e+11`` bytes as ``800 GB``."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000:
            return f"{size:.3g} {unit}"
        size /= 1000
    return f"{size:.3g} PB"


def _index(flat: int, shape: tuple[int, ...]) -> str:
    if not shape:
        return ""
    import numpy as np

    return " at [" + ", ".join(str(int(i)) for i in np.unravel_index(flat, shape)) + "]"


@dataclass
class _Param:
    """A parameter of the verified function, as its definition reads."""

    name: str
    keyword_only: bool
    has_default: bool
    default: Any = None  # the literal default, when it is one


def _verify_params(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[_Param]:
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    params = []
    pairs = [*zip(positional, defaults), *zip(args.kwonlyargs, args.kw_defaults)]
    for arg, default in pairs:
        value = None
        if default is not None:
            try:
                value = ast.literal_eval(default)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                value = None
        params.append(_Param(arg.arg, arg in args.kwonlyargs, default is not None, value))
    return params


def _default_node(node: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> ast.expr | None:
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    for arg, default in [*zip(positional, defaults), *zip(args.kwonlyargs, args.kw_defaults)]:
        if arg.arg == name:
            return default
    return None


def cmd_verify(args) -> int:
    import numpy as np

    from gradgen import api, driver

    config = _load_config(args)
    root = config.root
    path_text, function = parse_target(args.target)
    source = _abspath(path_text, Path.cwd())
    display = _display(source)
    text = read_source(source)
    tree = check_syntax(text, display)
    node = _function_def(tree, function, display)
    if node.args.vararg or node.args.kwarg:
        raise UsageError(
            f"verify needs {function}() to take named parameters only (no *args, **kwargs)",
            Location(
                display,
                node.lineno,
                node.col_offset,
                text.splitlines()[node.lineno - 1],
            ),
        )
    declared = _verify_params(node)
    params = [p.name for p in declared]
    wrt = tuple(args.wrt) if args.wrt is not None else config.wrt
    simplify = args.simplify if args.simplify is not None else config.simplify
    names = []
    for item in wrt:
        if isinstance(item, int):
            if item >= len(params):
                raise UsageError(
                    f"--wrt {item}: {function}() has only {_plural(len(params), 'parameter')}"
                )
            names.append(params[item])
        elif item not in params:
            raise UsageError(
                f"--wrt {item}: {function}() has no parameter {item!r}",
                hint="its parameters: " + ", ".join(params),
            )
        else:
            names.append(item)

    shapes = dict(args.shape or ())
    for name in shapes:
        if name not in params:
            raise UsageError(
                f"--shape {name}=...: {function}() has no parameter {name!r}",
                hint="its parameters: " + ", ".join(params),
            )

    options = _options(wrt, simplify, False, rules=_rules(args, config)[0])
    try:
        module_text = run_generation(
            lambda: driver.generate_module(
                text, [(function, options)], filename=_rel(source, root), command=None
            ),
            _rel(source, root), text, function,
        )
    except GradgenError as err:
        raise _relocate(err, _rel(source, root), display) from None
    generated = api.compile_module(module_text)[driver.gradient_name(function)]
    mine, mine_path = _load_function(args.against)

    # A parameter with a default keeps it (a hyperparameter such as l2=0.0),
    # unless it is differentiated or given a --shape; the others get random
    # inputs.  Positional ones are passed positionally up to the first one left
    # at its default, by keyword after it; keyword-only ones by keyword.
    rng = np.random.default_rng(args.seed)
    inputs: list = []
    keywords: dict = {}
    defaulted = []
    by_keyword = False
    for param in declared:
        name = param.name
        if param.has_default and name not in names and name not in shapes:
            defaulted.append(name)
            by_keyword = True
            continue
        if name in shapes:
            shape = shapes[name]
        elif param.has_default and isinstance(param.default, (int, float)) and not isinstance(
                param.default, bool):
            shape = ()  # a scalar default: a scalar input
        else:
            shape = DEFAULT_SHAPE
        try:
            if args.positive:
                value = rng.uniform(0.5, 2.0, size=shape)
            else:
                value = rng.standard_normal(size=shape)
        except (MemoryError, ValueError) as exc:
            size = math.prod(shape)
            what = ("not enough memory" if isinstance(exc, MemoryError)
                    else "NumPy cannot make it")
            raise UsageError(
                f"--shape {name}={','.join(map(str, shape))}: {what} for an input of "
                f"{size:,} float64 entries ({_bytes(8 * size)})",
                hint="give smaller shapes with --shape NAME=3,4",
            ) from None
        value = float(value) if shape == () else value
        if by_keyword or param.keyword_only:
            keywords[name] = value
        else:
            inputs.append(value)

    def fresh():
        return [v.copy() if isinstance(v, np.ndarray) else v for v in inputs]

    def fresh_keywords():
        return {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in keywords.items()}

    # The gradient of the output's sum: a seed of ones of the output's shape
    # (1.0 for a scalar output), for both gradients.
    primal, primal_path = _load_function(args.target)
    try:
        output = _call(primal, fresh(), fresh_keywords(), None, function, primal_path, params)
    except UsageError as err:
        raise UsageError(err.message, err.location, hint="give inputs the function "
                         "accepts with --shape NAME=3,4 (or --positive)") from None
    seed = 1.0 if np.ndim(output) == 0 else np.ones(np.shape(output))
    ours = _call(generated, fresh(), fresh_keywords(), seed,
                 f"the generated grad_{function}", None, params, with_seed=True)
    theirs = _call(mine, fresh(), fresh_keywords(), seed, args.against, mine_path, params)
    if len(wrt) == 1:
        ours = (ours,)
        if not (isinstance(theirs, (tuple, list)) and len(theirs) == 1):
            theirs = (theirs,)
    elif not isinstance(theirs, (tuple, list)) or len(theirs) != len(wrt):
        got = (
            f"a {type(theirs).__name__} of {len(theirs)}"
            if isinstance(theirs, (tuple, list))
            else f"one {type(theirs).__name__}"
        )
        _err(
            f"gradgen: MISMATCH: {args.against} returned {got}; expected a tuple of "
            f"{len(wrt)} gradients, for {', '.join(names)} in that order"
        )
        return EXIT_FAILED

    ok = True
    report: list[str] = []
    report.append(
        f"verify {args.against} against the generated gradient of {args.target} "
        f"(seed {args.seed}, rtol {args.rtol:g}, atol {args.atol:g})"
    )
    if defaulted:
        shown = []
        for name in defaulted:
            default = _default_node(node, name)
            shown.append(f"{name}={ast.unparse(default) if default is not None else '?'}")
        report.append("  left at their defaults: " + ", ".join(shown))
    for name, yours, gen in zip(names, theirs, ours):
        gen_arr = np.asarray(gen, dtype=np.float64)
        try:
            if yours is None:
                raise TypeError("None is not a gradient")
            yours_arr = np.asarray(yours, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            report.append(
                f"  d/d{name}: MISMATCH: got a {type(yours).__name__}, not an array "
                f"of reals ({exc})"
            )
            ok = False
            continue
        if yours_arr.shape != gen_arr.shape:
            report.append(
                f"  d/d{name}: MISMATCH: shape {yours_arr.shape}, but the generated "
                f"gradient has shape {gen_arr.shape}"
            )
            ok = False
            continue
        if not np.all(np.isfinite(gen_arr)):
            report.append(
                f"  d/d{name}: the generated gradient is not finite at these inputs "
                "(outside the function's domain? try --positive or other --shape)"
            )
            ok = False
            continue
        if yours_arr.size == 0:
            report.append(f"  d/d{name}: empty, nothing to compare")
            continue
        diff = np.abs(yours_arr - gen_arr)
        diff = np.where(np.isnan(diff), np.inf, diff)
        scale = np.abs(gen_arr)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(diff == 0, 0.0, diff / scale)
        worst_abs = int(np.argmax(diff))
        worst_rel = int(np.argmax(rel))
        good = bool(np.all(diff <= args.atol + args.rtol * scale))
        ok &= good
        flat_y, flat_g = yours_arr.ravel(), gen_arr.ravel()
        max_abs, max_rel = float(diff.ravel()[worst_abs]), float(rel.ravel()[worst_rel])
        line = (
            f"  d/d{name}: max abs error {max_abs:.3g}"
            f"{_index(worst_abs, gen_arr.shape) if max_abs else ''}, "
            f"max rel error {max_rel:.3g}"
            f"{_index(worst_rel, gen_arr.shape) if max_rel else ''}"
        )
        if good:
            report.append(line + ": ok")
        else:
            report.append(
                line + f": MISMATCH (yours {float(flat_y[worst_abs])!r}, generated "
                f"{float(flat_g[worst_abs])!r}{_index(worst_abs, gen_arr.shape)})"
            )
    if not (ok and args.quiet):
        print("\n".join(report))
    if ok:
        if not args.quiet:
            _err(f"gradgen: {args.against} agrees with the generated gradient")
        return EXIT_OK
    _err(f"gradgen: MISMATCH: {args.against} differs from the generated gradient")
    return EXIT_FAILED


# --------------------------------------------------------------------------
# Argument parsing.


def cmd_rules(args) -> int:
    from gradgen import catalog

    files, _ = _rules(args, _load_config(args))  # --rules, else [tool.gradgen] rules
    registry = catalog.load_registry(tuple(files))
    found = catalog.build(registry)
    if args.filter is not None:
        found = found.matching(args.filter)
        if not found:
            _err(f"gradgen: no supported function matches {args.filter!r}"
                 f"{catalog.did_you_mean(args.filter, registry)}")
            _err("hint: `gradgen rules` lists them all")
            return EXIT_FAILED
    if args.json:
        sys.stdout.write(catalog.as_json(found))
    elif args.markdown:
        sys.stdout.write(catalog.markdown(found))
    else:
        sys.stdout.write(catalog.text(found))
    return EXIT_OK


def _wrt_type(text: str):
    try:
        return parse_wrt(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_options(
    parser: argparse.ArgumentParser, *, output: bool = True, preserve: bool = True
) -> None:
    parser.add_argument(
        "--wrt",
        type=_wrt_type,
        metavar="A,B",
        help="parameters to differentiate with respect to, by index or name, "
        "comma-separated (default: [tool.gradgen] wrt, else 0)",
    )
    parser.add_argument(
        "--simplify",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the simplifier (default: on)",
    )
    if preserve:
        parser.add_argument(
            "--preserve-result",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="gradient functions return (value, gradient) (default: off)",
        )
    if preserve:
        parser.add_argument(
            "--mode",
            choices=list(MODE_SUFFIXES),
            default=None,
            help="what to generate: reverse (grad_FUNC, the gradient; default), "
            "forward (jvp_FUNC: output and tangent), callback (vjp_FUNC: output and "
            "a backprop function) or hvp (hvp_FUNC: Hessian-vector products); "
            "each mode has its own module, DIR/<stem>_{grad,jvp,vjp,hvp}.py",
        )
    if output:
        parser.add_argument(
            "-o",
            "--output",
            metavar="DIR",
            help="folder for generated modules (default: [tool.gradgen] output, "
            "else 'generated', relative to the project root)",
        )
    parser.add_argument(
        "--rules",
        action="append",
        metavar="FILE",
        default=None,
        help="an extra rule file (the contract of templates/README.md); repeat for "
        "several; replaces [tool.gradgen] rules",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="read [tool.gradgen] from FILE instead of the nearest pyproject.toml",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print errors only")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Generate readable, standalone NumPy gradient code from Python "
        "functions.",
        epilog="Exit codes: 0 ok, 1 check failed or verify mismatch, 2 usage or "
        "input error, 3 internal error. Run `gradgen COMMAND --help` for details.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    targets_help = (
        "SRC.py::FUNC targets (default: targets of [tool.gradgen] in the nearest "
        "pyproject.toml)"
    )

    p = commands.add_parser(
        "generate",
        help="write gradient modules",
        description="Write one gradient module per source file, DIR/<stem>_grad.py, "
        "holding grad_FUNC for each target of that file, in the order given. "
        "Files are written atomically, and only when their content changes.",
    )
    p.add_argument("targets", nargs="*", metavar="SRC.py::FUNC", help=targets_help)
    _add_options(p)
    p.set_defaults(handler=cmd_generate)

    p = commands.add_parser(
        "check",
        help="fail if generated modules are stale",
        description="Regenerate in memory and compare with the files on disk: exit 1 "
        "with a diff and the command that fixes it when any module is stale, missing "
        "or edited by hand; exit 0 when all are up to date.",
    )
    p.add_argument("targets", nargs="*", metavar="SRC.py::FUNC", help=targets_help)
    _add_options(p)
    p.set_defaults(handler=cmd_check)

    p = commands.add_parser(
        "diff",
        help="print how generated modules would change",
        description="Print a unified diff for every generated module that is not up "
        "to date (a/ on disk, b/ regenerated); exit 0.",
    )
    p.add_argument("targets", nargs="*", metavar="SRC.py::FUNC", help=targets_help)
    _add_options(p)
    p.set_defaults(handler=cmd_diff)

    p = commands.add_parser(
        "show",
        help="print a generated module",
        description="Print the module `gradgen generate` would write for these "
        "targets (all from one source file) to stdout.",
    )
    p.add_argument("targets", nargs="+", metavar="SRC.py::FUNC")
    p.add_argument("--stages", action="store_true",
                   help="print the function after each pipeline stage (normalize, "
                   "transform, simplify) and every simplifier rewrite applied, instead "
                   "of the module")
    _add_options(p, output=False)
    p.set_defaults(handler=cmd_show, output=None)

    p = commands.add_parser(
        "verify",
        help="compare a hand-written gradient with the generated one",
        description="Call a hand-written gradient (the function's parameters, "
        "returning one gradient or a tuple in wrt order; a trailing output seed only "
        "if it requires one) and the generated gradient on the same random float64 "
        "inputs, and report the largest absolute and relative errors and where they "
        f"are. Parameters without --shape get shape {DEFAULT_SHAPE}. Exit 0 if "
        "|yours - generated| <= atol + rtol * |generated| everywhere, 1 if not.",
    )
    p.add_argument("target", metavar="SRC.py::FUNC")
    p.add_argument(
        "--against",
        required=True,
        metavar="MINE.py::GRAD",
        help="the hand-written gradient",
    )
    p.add_argument(
        "--shape",
        action="append",
        type=_parse_shape,
        metavar="NAME=3,4",
        help=f"shape of a parameter's random input (repeatable; NAME= for a scalar; "
        f"default {DEFAULT_SHAPE})",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--positive",
        action="store_true",
        help="draw inputs uniformly from [0.5, 2) instead of a standard normal",
    )
    p.add_argument(
        "--rtol", type=float, default=DEFAULT_RTOL, help="default %(default)g"
    )
    p.add_argument(
        "--atol", type=float, default=DEFAULT_ATOL, help="default %(default)g"
    )
    _add_options(p, output=False, preserve=False)
    p.set_defaults(handler=cmd_verify)

    p = commands.add_parser(
        "rules",
        help="list the supported functions",
        description="List every function gradgen differentiates, from its rule files: "
        "the aliases it may be written as, the modes it supports (reverse, forward, hvp) "
        "and its notes (ties, kinks, domains), then the functions that have no gradient. "
        "Exit 1 when TEXT matches nothing.",
    )
    p.add_argument("filter", nargs="?", metavar="TEXT",
                   help="only the functions one of whose names contains TEXT (any case)")
    form = p.add_mutually_exclusive_group()
    form.add_argument("--markdown", action="store_true",
                      help="a markdown table (the README's form)")
    form.add_argument("--json", action="store_true", help="JSON, for tools")
    p.add_argument("--rules", action="append", metavar="FILE", default=None,
                   help="an extra rule file to list too; repeat for several; replaces "
                   "[tool.gradgen] rules")
    p.add_argument("--config", metavar="FILE",
                   help="read [tool.gradgen] from FILE instead of the nearest pyproject.toml")
    p.set_defaults(handler=cmd_rules)

    p = commands.add_parser("cache", help="manage the decorator's on-disk cache")
    cache_commands = p.add_subparsers(dest="cache_command", metavar="ACTION")
    cache_commands.required = True
    c = cache_commands.add_parser(
        "clear",
        help="remove every cached gradient module",
        description="Remove every cached gradient module of @differentiable.",
    )
    c.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    c.set_defaults(handler=cmd_cache_clear)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except GradgenError as err:
        _err(err.format())
        return EXIT_USAGE
    except _Errors as errs:
        for error in errs.errors:
            _err(error.format())
        return EXIT_USAGE
    except KeyboardInterrupt:
        _err("gradgen: interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (`gradgen show ... | head`): not an error.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK
    except MemoryError:
        _err("gradgen: out of memory (smaller --shape inputs, or fewer targets at once, "
             "may help)")
        return EXIT_USAGE
    except OSError as exc:  # the machine's fault, not gradgen's: a message, no traceback
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        _err(f"gradgen: {_os_reason(exc)}{where}")
        return EXIT_USAGE
    except Exception:
        _err(
            "gradgen: internal error (a bug in gradgen; please report it with the "
            "traceback below and the input that caused it)"
        )
        traceback.print_exc()
        return EXIT_INTERNAL


__all__ = ["main", "build_parser", "make_plan", "ConfigError"]
