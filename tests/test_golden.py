"""The generated source of each tests/cases/ input, byte for byte."""

from __future__ import annotations

import ast
import difflib
import importlib.util

import numpy as np
import pytest

from gradgen.testing import check_grads
from tests.golden import case_files, expected_path, options_of, render

CASES = case_files()


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_generated_source_matches_golden_file(path):
    expected = expected_path(path)
    assert expected.exists(), f"{expected} is missing: run `make golden`"
    actual = render(path)
    wanted = expected.read_text(encoding="utf-8")
    if actual != wanted:
        diff = "".join(difflib.unified_diff(wanted.splitlines(True), actual.splitlines(True),
                                            str(expected), "generated now"))
        pytest.fail(f"{path.name} generates different code:\n{diff}\n"
                    "If the change is intended, run `make golden` and review the diff.")


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_golden_file_is_a_correct_gradient(path):
    """The checked-in expected module itself, run against finite differences."""
    options = options_of(path)
    name = options["function"]
    source_ns: dict = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), source_ns)
    spec = importlib.util.spec_from_file_location(f"golden_{path.stem}", expected_path(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    func = source_ns[name]
    params = list(func.__code__.co_varnames[: func.__code__.co_argcount])
    shapes = {p: (3,) for p in params}
    annotations = {k: v.replace("_", " ") for k, v in options.get("shapes", {}).items()}
    for k, v in func.__annotations__.items():
        if isinstance(v, str) and v != "int":
            # compile() inherits this module's `from __future__ import annotations`:
            # the annotation arrives as its source text, quotes included.
            annotations[k] = ast.literal_eval(v) if v[:1] in "'\"" else v
    sizes = {"n": 4, "d": 3, "h": 5, "k": 2, "c": 3}
    for p, text in annotations.items():
        shapes[p] = tuple(sizes.get(t, int(t) if t.isdigit() else 3) for t in text.split())
    rng = np.random.default_rng(7)
    args = []
    for p in params:
        if func.__annotations__.get(p) in (int, "int"):
            args.append(3)  # a trip count
            continue
        a = rng.uniform(0.2, 1.0, shapes[p])
        if p in ("y", "T") and name in ("mlp_log_loss", "softmax_cross_entropy"):
            a = (rng.uniform(size=shapes[p]) > 0.5).astype(float)
        args.append(a)
    wrt = options.get("wrt", (params[0],))
    if isinstance(func(*args), tuple):  # several outputs: the first has the default seed
        first_output = func
        func = lambda *a: first_output(*a)[0]  # noqa: E731
    wrt = tuple(params.index(w) if isinstance(w, str) else w for w in wrt)
    check_grads(func, tuple(args), wrt=wrt, grad=getattr(module, f"grad_{name}"))
