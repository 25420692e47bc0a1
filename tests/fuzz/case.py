"""A fuzz case (a program, its inputs, what to differentiate) and its file format.

A case file is a small self-describing Python module, the same for
``fuzz-findings/`` and ``tests/fuzz/regressions/``::

    '''gradgen fuzz case: wrong (reverse/fd) ...'''
    import numpy as np

    STATUS = "wrong"          # what the fuzzer saw when it wrote the file
    CHECK = "reverse/fd"      # the oracle that disagreed
    SIGNATURE = "..."         # how findings are grouped
    MESSAGE = '''...'''       # the oracle's report
    FUNCTION = "f"
    WRT = ("x",)
    ORACLE_SEED = 7           # seeds the random cotangents/tangents of the oracles
    ARGS = {"x": np.array([0.5, -1.25]), "n": 2}
    SOURCE = '''...'''        # the program

Moving a finding into ``tests/fuzz/regressions/`` makes it a regression test:
``tests/test_fuzz.py`` replays every file there through all oracles and
expects ``pass``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tests.fuzz.draw import Draw, RandomDraw
from tests.fuzz.grammar import Generator


@dataclass
class Case:
    source: str
    args: dict  # parameter name -> value, in parameter order
    wrt: tuple
    oracle_seed: int = 0
    function: str = "f"
    origin: str = ""
    constructs: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["args"] = {k: (v.tolist(), str(v.dtype)) if isinstance(v, np.ndarray) else v
                     for k, v in self.args.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Case:
        d = dict(d)
        d["args"] = {k: np.array(v[0], dtype=v[1]) if isinstance(v, (list, tuple)) else v
                     for k, v in d["args"].items()}
        d["wrt"] = tuple(d["wrt"])
        return cls(**d)

    def size(self) -> int:
        """Lines of the program, the measure shrinking minimises."""
        return sum(1 for line in self.source.splitlines() if line.strip())

    def digest(self) -> str:
        text = self.source + repr(sorted((k, _literal(v)) for k, v in self.args.items()))
        return hashlib.sha1(text.encode()).hexdigest()[:10]


def make_case(draw: Draw, enabled=None, disabled=(), origin: str = "") -> Case:
    """Generate a program with the ``draw`` and inputs in its safe domain."""
    gen = Generator(draw, enabled, disabled)
    program = gen.program()
    rng = np.random.default_rng(draw.seed())
    args = {}
    floats = []
    for name, kind, shape, positive in program["params"]:
        if kind == "int":
            args[name] = int(rng.integers(0, 4))
            continue
        floats.append(name)
        if positive:
            value = rng.uniform(0.5, 1.5, size=shape)
        else:
            value = rng.uniform(0.2, 1.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)
        args[name] = float(value) if shape == () else value
    k = draw.integer(1, len(floats))
    start = draw.integer(0, len(floats) - k)
    wrt = tuple(floats) if draw.boolean(0.5) else tuple(floats[start:start + k])
    return Case(program["source"], args, wrt, oracle_seed=draw.seed(), origin=origin,
                constructs=program["constructs"])


def program_case(seed: int, index: int, enabled=None, disabled=()) -> Case:
    """Program ``index`` of run ``seed``: the same on every machine and process."""
    return make_case(RandomDraw.for_program(seed, index), enabled, disabled,
                     origin=f"FUZZ_SEED={seed} program {index}")


# ------------------------------------------------------------------ files


def _literal(value) -> str:
    if isinstance(value, np.ndarray):
        dtype = "" if value.dtype == np.float64 else f", dtype=np.{value.dtype}"
        return f"np.array({value.tolist()!r}{dtype})"
    return repr(value)


def _quoted(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("'''", "\\'\\'\\'")
    return "'''\n" + text.rstrip("\n") + "\n'''"


def write_case(path: Path, case: Case, status: str, check: str, signature: str,
               message: str, note: str = "") -> None:
    args = "".join(f"    {k!r}: {_literal(v)},\n" for k, v in case.args.items())
    head = f"gradgen fuzz case: {status} ({check})."
    lines = [f'"""{head}', ""]
    if case.origin:
        lines.append(f"Found by {case.origin}{note}.")
    lines += ["Replay: .venv/bin/python -m tests.fuzz replay " + path.name,
              "A regression test once moved into tests/fuzz/regressions/.", '"""', ""]
    body = "\n".join(lines) + "\n".join([
        "import numpy as np",
        "",
        f"STATUS = {status!r}",
        f"CHECK = {check!r}",
        f"SIGNATURE = {signature!r}",
        f"MESSAGE = {_quoted(message)}",
        f"FUNCTION = {case.function!r}",
        f"WRT = {tuple(case.wrt)!r}",
        f"ORACLE_SEED = {case.oracle_seed!r}",
    ]) + "\n"
    body += "ARGS = {\n" + args + "}\n"
    body += f"SOURCE = {_quoted(case.source)}\n"
    path.write_text(body, encoding="utf-8")


def read_case(path: Path) -> tuple:
    """(Case, the module's namespace) of a case file."""
    namespace: dict = {}
    exec(compile(Path(path).read_text(encoding="utf-8"), str(path), "exec"), namespace)
    source = namespace["SOURCE"].lstrip("\n")
    case = Case(source, dict(namespace["ARGS"]), tuple(namespace["WRT"]),
                namespace.get("ORACLE_SEED", 0), namespace.get("FUNCTION", "f"),
                origin=str(path))
    return case, namespace
