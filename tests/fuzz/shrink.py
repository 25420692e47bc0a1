"""Delta debugging of a failing case over its program's syntax tree.

Candidates, tried greedily (largest reduction first) and kept when the case
still fails *the same way* (same mode, status and check; for a crash, the
same exception and message class):

* delete a statement or a helper function (an emptied block becomes ``pass``);
* replace an ``if``/``for``/``while`` by its body (or an ``if`` by its
  ``else``), drop an ``else``;
* keep one output of a ``return a, b``, or drop one;
* replace an expression by one of its operands, by a parameter, by ``1.0``;
  a test by ``True``/``False``;
* lower an int argument, drop an unused parameter, round float inputs.

Each candidate runs only the failing mode (the oracles generate the reverse
gradient themselves where a check needs it), under a per-candidate timeout,
within a total time budget.  Works in any process: the parallel runner calls
it in its workers.
"""

from __future__ import annotations

import ast
import copy
import sys
import time

import numpy as np

from tests.fuzz.case import Case
from tests.fuzz.oracles import Result, evaluate

# ------------------------------------------------------------------ matching


def target_of(result: Result) -> tuple:
    """What a shrunk case must keep: (mode, status, check, crash class)."""
    mode = result.check.split("/")[0]
    detail = result.message.split("\n")[0] if result.status == "crash" else ""
    return mode, result.status, result.check, detail


def matches(result: Result, target: tuple) -> bool:
    mode, status, check, detail = target
    r = result.modes.get(mode)
    if r is None or r.status != status or r.check != check:
        return False
    return status != "crash" or r.message.split("\n")[0] == detail


# ------------------------------------------------------------------ tree paths


def _paths(node, path=()):
    """(path, node) for every AST node, outermost first; a path is a tuple of
    (field, index or None)."""
    yield path, node
    for name, value in ast.iter_fields(node):
        if isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, ast.AST):
                    yield from _paths(item, path + ((name, i),))
        elif isinstance(value, ast.AST):
            yield from _paths(value, path + ((name, None),))


def _get(tree, path):
    node = tree
    for name, i in path:
        node = getattr(node, name) if i is None else getattr(node, name)[i]
    return node


def _parent(tree, path):
    return _get(tree, path[:-1]), path[-1]


def _replace(tree, path, new):
    parent, (name, i) = _parent(tree, path)
    if i is None:
        setattr(parent, name, new)
    else:
        getattr(parent, name)[i] = new


def _splice(tree, path, new_list):
    parent, (name, i) = _parent(tree, path)
    body = getattr(parent, name)
    body[i:i + 1] = new_list
    if not body and name == "body":
        body.append(ast.Pass())


_SKIP_EXPR_PARENTS = (ast.Subscript, ast.Attribute, ast.keyword, ast.Starred)


def executed_lines(case: Case) -> set:
    """The lines of the program that run at the case's inputs."""
    lines: set = set()

    def trace(frame, event, arg):
        if frame.f_code.co_filename == "<fuzz program>":
            lines.add(frame.f_lineno)
            return trace
        return None

    namespace: dict = {}
    try:
        exec(compile(case.source, "<fuzz program>", "exec"), namespace)
        fn = namespace[case.function]
        sys.settrace(trace)
        try:
            with np.errstate(all="ignore"):
                fn(*[copy.deepcopy(v) for v in case.args.values()])
        finally:
            sys.settrace(None)
    except Exception:  # noqa: BLE001 - an invalid candidate: the oracle says so
        pass
    return lines


def _candidates(tree: ast.Module, case: Case, executed=None):
    """Yield (description, function mutating a copy of the tree, args/wrt edit).

    Expressions are rewritten only on lines that run (``executed``): code in an
    untaken branch is deleted, never rewritten into something of the wrong
    type that Python would not notice."""
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == case.function)
    floats = [p for p, v in case.args.items() if not isinstance(v, int)]
    nodes = list(_paths(tree))

    # statements: delete, unwrap, drop else
    for path, node in nodes:
        if not isinstance(node, ast.stmt) or not path:
            continue
        parent, (field, i) = _parent(tree, path)
        if isinstance(node, (ast.Import, ast.ImportFrom)) or node is main:
            continue
        if isinstance(node, ast.Return) and isinstance(parent, ast.FunctionDef) \
                and i == len(parent.body) - 1:
            continue
        yield f"delete line {getattr(node, 'lineno', '?')}", (lambda t, p=path: _splice(t, p, [])), None
        if isinstance(node, (ast.If, ast.For, ast.While)):
            yield "unwrap", (lambda t, p=path: _splice(t, p, list(_get(t, p).body))), None
            if isinstance(node, ast.If) and node.orelse:
                yield "take else", (lambda t, p=path: _splice(t, p, list(_get(t, p).orelse))), None
                yield "drop else", (lambda t, p=path: setattr(_get(t, p), "orelse", [])), None

    # outputs
    for path, node in nodes:
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
            n = len(node.value.elts)
            for k in range(n):
                yield "keep one output", (lambda t, p=path, k=k: setattr(
                    _get(t, p), "value", _get(t, p).value.elts[k])), None
                if n > 2:
                    yield "drop an output", (lambda t, p=path, k=k: _get(t, p).value.elts.pop(k)), None

    # expressions
    for path, node in nodes:
        if not isinstance(node, ast.expr) or not path:
            continue
        if executed is not None and getattr(node, "lineno", None) not in executed:
            continue
        parent, (field, i) = _parent(tree, path)
        if isinstance(parent, _SKIP_EXPR_PARENTS) or (isinstance(parent, ast.Call) and field == "func"):
            continue
        if isinstance(getattr(node, "ctx", None), (ast.Store, ast.Del)):
            continue
        if isinstance(parent, (ast.For, ast.comprehension)) and field == "iter":
            continue
        if isinstance(node, (ast.Compare, ast.BoolOp)) or (
                isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)):
            for value in (True, False):
                yield "fix a test", (lambda t, p=path, v=value: _replace(t, p, ast.Constant(v))), None
            continue
        children = []
        if isinstance(node, ast.BinOp):
            children = ["left", "right"]
        elif isinstance(node, ast.UnaryOp):
            children = ["operand"]
        elif isinstance(node, ast.IfExp):
            children = ["body", "orelse"]
        elif isinstance(node, ast.Subscript):
            children = ["value"]
        for child in children:
            yield "hoist", (lambda t, p=path, c=child: _replace(t, p, getattr(_get(t, p), c))), None
        if isinstance(node, ast.Call):
            for k, arg in enumerate(node.args):
                if not isinstance(arg, (ast.List, ast.Tuple, ast.Constant)):
                    yield "hoist arg", (lambda t, p=path, k=k: _replace(t, p, _get(t, p).args[k])), None
            if node.keywords:
                yield "drop keywords", (lambda t, p=path: setattr(_get(t, p), "keywords", [])), None
            if isinstance(node.func, ast.Attribute) and not (
                    isinstance(node.func.value, ast.Name) and node.func.value.id == "np"):
                yield "hoist method", (lambda t, p=path: _replace(t, p, _get(t, p).func.value)), None
        if isinstance(node, ast.Attribute) and node.attr == "T":
            yield "drop .T", (lambda t, p=path: _replace(t, p, _get(t, p).value)), None
        if not isinstance(node, ast.Name):
            for name in floats:
                yield "to a parameter", (lambda t, p=path, n=name: _replace(
                    t, p, ast.Name(n, ast.Load()))), None
        if not isinstance(node, ast.Constant) and not isinstance(node, (ast.List, ast.Tuple)):
            yield "to 1.0", (lambda t, p=path: _replace(t, p, ast.Constant(1.0))), None

    # arguments
    for name, value in case.args.items():
        if isinstance(value, int) and value > 0:
            for smaller in range(value):
                yield "lower an int", None, ("int", name, smaller)
    used = {n.id for n in ast.walk(main) if isinstance(n, ast.Name)}
    for k, arg in enumerate(main.args.args):
        if arg.arg not in used:
            yield "drop a parameter", (lambda t, k=k, n=arg.arg: _drop_param(t, case.function, k)), \
                ("drop", arg.arg, None)
    for name in floats:
        yield "round an input", None, ("round", name, None)


def _drop_param(tree, function, k):
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function)
    main.args.args.pop(k)


def _edit_args(case: Case, edit):
    args, wrt = dict(case.args), tuple(case.wrt)
    how, name, value = edit
    if how == "int":
        args[name] = value
    elif how == "drop":
        del args[name]
        wrt = tuple(w for w in wrt if w != name)
        if not wrt:
            return None
    elif how == "round":
        x = args[name]
        rounded = float(round(x, 1)) if isinstance(x, float) else np.round(x, 1)
        if np.any(np.asarray(rounded) == 0) or np.array_equal(rounded, x):
            return None
        args[name] = rounded
    return args, wrt


def _cost(tree) -> tuple:
    return sum(1 for _ in ast.walk(tree)), len(ast.unparse(tree))


def render(tree: ast.Module) -> str:
    text = ast.unparse(tree) + "\n"
    try:
        import black

        return black.format_str(text, mode=black.Mode(line_length=88))
    except Exception:  # noqa: BLE001 - formatting is cosmetic
        return text


def shrink(case: Case, result: Result, budget_s: float = 45.0, max_evals: int = 400,
           timeout: float = 10.0) -> tuple:
    """(smaller case, its result for the failing mode, number of evaluations)."""
    target = target_of(result)
    mode = target[0]
    deadline = time.monotonic() + budget_s
    best = case
    best_result = result
    evals = 0
    tree = ast.parse(best.source)
    progress = True
    while progress and time.monotonic() < deadline and evals < max_evals:
        progress = False
        position = 0
        while time.monotonic() < deadline and evals < max_evals:
            found = list(_candidates(tree, best, executed_lines(best)))
            if position >= len(found):
                break
            accepted = False
            for index in range(position, len(found)):
                if time.monotonic() >= deadline or evals >= max_evals:
                    break
                _, mutate, edit = found[index]
                candidate_tree = copy.deepcopy(tree)
                args, wrt = best.args, best.wrt
                try:
                    if mutate is not None:
                        mutate(candidate_tree)
                    if edit is not None:
                        edited = _edit_args(best, edit)
                        if edited is None:
                            continue
                        args, wrt = edited
                    source = ast.unparse(candidate_tree) + "\n"
                    compile(source, "<candidate>", "exec")
                except Exception:  # noqa: BLE001 - a mutation that makes no sense here
                    continue
                if edit is None and _cost(candidate_tree) >= _cost(tree):
                    continue  # only strictly smaller programs: no cycles
                candidate = Case(source, args, wrt, best.oracle_seed, best.function, best.origin)
                evals += 1
                r = evaluate(candidate, modes=(mode,), timeout=timeout)
                if matches(r, target):
                    # re-parsed, so that line numbers are those of best.source
                    best, best_result, tree = candidate, r, ast.parse(source)
                    position = index
                    accepted = progress = True
                    break
            if not accepted:
                break
    final = Case(render(tree), best.args, best.wrt, best.oracle_seed, best.function, best.origin)
    r = evaluate(final, modes=(mode,), timeout=timeout)
    if not matches(r, target):  # black changed nothing semantic, but be safe
        final = Case(ast.unparse(tree) + "\n", best.args, best.wrt, best.oracle_seed,
                     best.function, best.origin)
        r = best_result
    return final, r, evals


# ------------------------------------------------------------------ signatures

_TRICKY = None


def fingerprint(source: str) -> list:
    """The constructs a (shrunk) program uses: the finding's signature."""
    global _TRICKY
    if _TRICKY is None:
        from tests.fuzz.grammar import TRICKY

        _TRICKY = set(TRICKY)
    tree = ast.parse(source)
    out = set()
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    if len(functions) > 1:
        out.add("module helper")
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node not in functions:
            out.add("nested def")
        elif isinstance(node, ast.Assign):
            target = node.targets[0]
            if isinstance(target, ast.Tuple):
                out.add("tuple assign")
            elif isinstance(target, ast.Subscript):
                out.add("element write")
            if isinstance(node.value, ast.Name) and isinstance(target, ast.Name):
                out.add("x = x" if node.value.id == target.id else "name copy")
        elif isinstance(node, ast.AugAssign):
            op = type(node.op).__name__
            out.add(f"aug {op} " + ("element" if isinstance(node.target, ast.Subscript) else "name"))
        elif isinstance(node, ast.For):
            it = node.iter
            kind = it.func.id if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) else "array"
            out.add(f"for {kind}")
        elif isinstance(node, (ast.While, ast.If, ast.Break, ast.Continue, ast.IfExp)):
            out.add(type(node).__name__.lower())
        elif isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
            out.add("several outputs")
        elif isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute):
                base = f.value
                dotted = f.attr
                while isinstance(base, ast.Attribute):
                    dotted = f"{base.attr}.{dotted}"
                    base = base.value
                if isinstance(base, ast.Name) and base.id == "np":
                    out.add(f"np.{dotted}")
                else:
                    out.add(f".{f.attr}()")
            elif isinstance(f, ast.Name):
                if f.id in ("len", "abs"):
                    out.add(f"{f.id}()")
                elif f.id not in ("range", "enumerate", "reversed"):
                    out.add("helper call")
        elif isinstance(node, ast.BinOp):
            out.add(type(node.op).__name__)
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            out.add("index read")
        elif isinstance(node, ast.Attribute) and node.attr == "T":
            out.add(".T")
        elif isinstance(node, ast.List):
            out.add("list")
        elif isinstance(node, ast.Name) and node.id in _TRICKY:
            out.add(f"name {node.id}")
    return sorted(out)
