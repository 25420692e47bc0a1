"""The oracles: run one case through every mode of gradgen and classify it.

Modes, in the order they are checked (the first failing check names a case):

``reverse``   ``grad_from_source``: the gradient of ``sum_k <u_k, f_k(x)>``
              (random cotangents ``u_k``, one per output) against central
              differences, entry by entry, at two relative steps (1e-4 and
              1e-5, times ``max(1, |x_i|)``).  When the two differences disagree
              with each other the point is near a kink or a jump: the case is
              *undecided*, never wrong.  Also: one gradient per ``wrt``
              argument with its shape and float64 dtype, finite, inputs not
              written into.
``raw``       ``simplify=False`` gives the same gradient as the simplified code.
``specialised`` the code generated for the arguments' shape signature (as
              ``gradgen.grad`` runs it, see gradgen.specialize) gives the same
              gradient as the generic code.
``preserve``  ``preserve_result=True``: the value equals the function's output,
              the gradient equals ``reverse``'s.
``forward``   ``jvp_from_source``: the output equals the function's; the
              tangent has each output's shape, agrees with a central
              difference along ``t`` (two steps, as above) and satisfies
              ``<u, J t> == <J^T u, t>`` with ``reverse``'s gradient.
``callback``  ``vjp_from_source``: the output equals the function's;
              ``backprop(*u)`` equals ``reverse``'s gradient, twice.
``hvp``       ``hvp_from_source``: ``H v`` against a central difference of the
              generated gradient along ``v`` (two steps).
``float32``   float32 inputs: where the function itself keeps float32 (its
              outputs are float32), each gradient must be float32, of its
              argument's shape.

Statuses: ``pass``, ``refused`` (a :class:`gradgen.GradgenError` while
generating), ``wrong`` (an oracle disagreed), ``crash`` (any other exception
while generating, generated code that does not compile, or any exception
inside generated code), ``timeout``, ``undecided``, ``skipped`` (a mode that
needs another one's result), ``error`` (a mode whose oracle itself failed: a
fuzzer bug, reported apart), ``invalid`` (the program itself fails or leaves
its safe domain: a generator bug, counted apart).
"""

from __future__ import annotations

import ast
import copy
import re
import signal
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

import gradgen
from gradgen.specialize import shape_annotations, shape_signature
from tests.fuzz.case import Case

MODES = ("reverse", "raw", "specialised", "preserve", "forward", "callback", "hvp", "float32")
FAILURES = ("wrong", "crash", "timeout")
PREFIX = {"reverse": "grad_", "raw": "grad_", "specialised": "grad_", "preserve": "grad_",
          "float32": "grad_", "forward": "jvp_", "callback": "vjp_", "hvp": "hvp_"}

STEPS = (1e-4, 1e-5)  # relative steps of the two central differences
RTOL, ATOL = 1e-5, 1e-6  # of a central difference (ATOL times the gradient's scale)
AGREE = 1e-9  # two generated codes computing the same thing (raw/simplified, vjp/grad)
DOT = 1e-8  # <u, J t> against <J^T u, t>, both analytic


class ProgramTimeout(BaseException):
    """Raised by the alarm; a BaseException so that ``except Exception`` in the
    code under test cannot swallow it."""


class Invalid(Exception):
    """The program itself fails at the sampled point: a generator bug."""


class Refused(Exception):
    def __init__(self, error):
        super().__init__(str(error))
        self.error = error


class Failure(Exception):
    def __init__(self, status, check, message):
        super().__init__(message)
        self.status, self.check, self.message = status, check, message


@dataclass
class ModeResult:
    status: str
    check: str = ""
    message: str = ""
    refusal: str = ""  # the construct class of a refusal


@dataclass
class Result:
    status: str
    modes: dict = field(default_factory=dict)
    check: str = ""  # "mode/check" of the first failure
    message: str = ""
    seconds: float = 0.0

    @property
    def kind(self) -> str:
        """status and check: what shrinking must preserve."""
        return f"{self.status}:{self.check}" if self.check else self.status

    def to_dict(self) -> dict:
        return {"status": self.status, "check": self.check, "message": self.message,
                "seconds": self.seconds, "kind": self.kind,
                "modes": {m: vars(r) for m, r in self.modes.items()}}


# ------------------------------------------------------------------ messages


def refusal_class(error) -> str:
    """The construct class of a refusal: its message up to the first colon, with
    quoted names replaced (``name '…' is used before it is assigned``)."""
    text = getattr(error, "message", None) or str(error)
    text = text.split("\n")[0]
    text = re.sub(r"^[^:\s]*:\d+:\d+: ", "", text)
    text = text.split(": ")[0]
    text = re.sub(r"'[^']*'", "'…'", text)
    return text.strip()


def crash_class(error: BaseException) -> str:
    text = str(error).split("\n")[0]
    text = re.sub(r"'[^']*'", "'…'", text)
    text = re.sub(r"\d+", "N", text)
    return f"{type(error).__name__}: {text[:70]}"


# ------------------------------------------------------------------ helpers


def _copy(args):
    return [copy.deepcopy(a) for a in args]


def _tuple(value, n):
    return tuple(value) if n > 1 else (value,)


def _float(x):
    """A scalar as a Python float (as the generated code's callers pass them)."""
    return float(x) if np.ndim(x) == 0 else x


def _same(a, b) -> bool:
    return np.shape(a) == np.shape(b) and np.array_equal(np.asarray(a), np.asarray(b),
                                                         equal_nan=True)


def _close(a, b, rtol, scale) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    return bool(np.all(np.abs(a - b) <= rtol * (np.abs(b) + scale) + 1e-300))


def _worst(a, b) -> str:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return f"shapes {a.shape} and {b.shape}"
    if a.size == 0:
        return "empty"
    i = int(np.argmax(np.abs(a - b)))
    index = np.unravel_index(i, a.shape) if a.ndim else ()
    return f"at {tuple(int(k) for k in index)}: {a.flat[i]!r} vs {b.flat[i]!r}"


class _Program:
    """The case's own function (code the fuzzer wrote: executed directly)."""

    def __init__(self, case: Case):
        self.case = case
        namespace: dict = {}
        exec(compile(case.source, "<fuzz program>", "exec"), namespace)
        self.fn = namespace[case.function]
        self.names = list(case.args)
        self.args = [case.args[n] for n in self.names]
        self.index = [self.names.index(w) for w in case.wrt]
        frozen = _copy(self.args)
        try:
            out = self.fn(*frozen)
        except ProgramTimeout:
            raise
        except Exception as exc:  # noqa: BLE001 - the generator made a bad program
            raise Invalid(f"the program raises {crash_class(exc)}") from None
        self.mutates = not all(_same(a, b) for a, b in zip(frozen, self.args))
        self.multi = isinstance(out, tuple)
        try:
            inputs = _copy(self.args)
            _WRITES.inputs = [a for a in inputs if isinstance(a, np.ndarray)]
            functional = value_semantics(case)(*inputs)
        except ProgramTimeout:
            raise
        except _InputWrite:
            raise Invalid("the program writes elements of an input array (outside the "
                          "subset: element writes go into arrays the function creates)") from None
        except Exception as exc:  # noqa: BLE001
            raise Invalid(f"the program fails under value semantics: {crash_class(exc)}") from None
        if not _same_outputs(out, functional):
            raise Invalid("the program's result depends on aliasing (an in-place write is "
                          "seen through another name): outside the subset the fuzzer checks")
        self.outputs = out if self.multi else (out,)
        for o in self.outputs:
            if np.asarray(o).dtype.kind != "f":
                raise Invalid(f"an output is not float: {type(o).__name__}")
            if not np.all(np.isfinite(o)) or np.max(np.abs(o), initial=0.0) > 1e6:
                raise Invalid("an output is not finite or too large at the sampled point")
        rng = np.random.default_rng(case.oracle_seed)
        self.seeds = [_float(rng.standard_normal(np.shape(o))) for o in self.outputs]
        self.tangents = [_float(rng.standard_normal(np.shape(self.args[i]))) for i in self.index]
        self.vectors = [_float(rng.standard_normal(np.shape(self.args[i]))) for i in self.index]

    def call(self, args):
        out = self.fn(*_copy(args))
        return out if self.multi else (out,)

    def phi(self, args) -> float:
        """sum_k <u_k, f_k(args)>: the scalar whose gradient the oracles check."""
        return float(sum(np.sum(np.asarray(u) * np.asarray(o, dtype=np.float64))
                         for u, o in zip(self.seeds, self.call(args))))

    def moved(self, i: int, entry, h: float):
        args = list(self.args)
        x = args[i]
        if isinstance(x, float):
            args[i] = x + h
        else:
            y = np.array(x, dtype=np.float64, copy=True)
            y[entry] += h
            args[i] = y
        return args


def _same_outputs(a, b) -> bool:
    a = a if isinstance(a, tuple) else (a,)
    b = b if isinstance(b, tuple) else (b,)
    return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))


class _ValueSemantics(ast.NodeTransformer):
    """``y += e`` -> ``y = y + e``; ``z[i] = e`` -> ``z = _fuzz_set(z, np.s_[i], e)``:
    the program without in-place writes, so without observable aliasing."""

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        if isinstance(node.target, ast.Name):
            load = ast.Name(node.target.id, ast.Load())
            return ast.copy_location(ast.Assign([node.target], ast.BinOp(load, node.op, node.value)), node)
        if isinstance(node.target, ast.Subscript) and isinstance(node.target.value, ast.Name):
            name = node.target.value.id
            index = ast.Subscript(ast.Attribute(ast.Name("np", ast.Load()), "s_", ast.Load()),
                                  node.target.slice, ast.Load())
            op = ast.Constant(type(node.op).__name__)
            call = ast.Call(ast.Name("_fuzz_aug", ast.Load()),
                            [ast.Name(name, ast.Load()), index, op, node.value], [])
            return ast.copy_location(ast.Assign([ast.Name(name, ast.Store())], call), node)
        return node

    def visit_Assign(self, node):
        self.generic_visit(node)
        target = node.targets[0]
        if len(node.targets) == 1 and isinstance(target, ast.Subscript) \
                and isinstance(target.value, ast.Name):
            name = target.value.id
            index = ast.Subscript(ast.Attribute(ast.Name("np", ast.Load()), "s_", ast.Load()),
                                  target.slice, ast.Load())
            call = ast.Call(ast.Name("_fuzz_set", ast.Load()),
                            [ast.Name(name, ast.Load()), index, node.value], [])
            return ast.copy_location(ast.Assign([ast.Name(name, ast.Store())], call), node)
        return node


_OPS = {"Add": np.add, "Sub": np.subtract, "Mult": np.multiply, "Div": np.true_divide,
        "Pow": np.power, "MatMult": np.matmul}


class _InputWrite(Exception):
    pass


class _Writes:
    inputs: list = []


_WRITES = _Writes()


def _check_write(z):
    if any(np.shares_memory(z, a) for a in _WRITES.inputs):
        raise _InputWrite()


def _fuzz_set(z, index, value):
    _check_write(z)
    z = np.array(z, copy=True)
    z[index] = value
    return z


def _fuzz_aug(z, index, op, value):
    _check_write(z)
    z = np.array(z, copy=True)
    z[index] = _OPS[op](z[index], value)
    return z


def value_semantics(case: Case):
    """The case's function with every in-place write made a functional update."""
    tree = _ValueSemantics().visit(ast.parse(case.source))
    ast.fix_missing_locations(tree)
    namespace: dict = {"_fuzz_set": _fuzz_set, "_fuzz_aug": _fuzz_aug}
    exec(compile(tree, "<fuzz program, value semantics>", "exec"), namespace)
    return namespace[case.function]


def _steps(x, rel):
    return rel * max(1.0, abs(float(x)))


def numerical_gradient(prog: _Program):
    """[(fd at STEPS[0], fd at STEPS[1])] per wrt argument, entrywise."""
    out = []
    for i in prog.index:
        x = prog.args[i]
        shape = np.shape(x)
        pair = []
        for rel in STEPS:
            g = np.zeros(shape)
            for entry in np.ndindex(*shape) if shape else [()]:
                value = x if shape == () else x[entry]
                h = _steps(value, rel)
                up = prog.moved(i, entry, h)
                down = prog.moved(i, entry, -h)
                dx = (up[i] if shape == () else up[i][entry]) - (
                    down[i] if shape == () else down[i][entry])
                g[entry] = (prog.phi(up) - prog.phi(down)) / dx
            pair.append(g)
        out.append(tuple(pair))
    return out


def compare_fd(name: str, analytic: list, fds: list, labels: list):
    """Raise Failure(undecided) when the two differences disagree, Failure(wrong)
    when the analytic values disagree with them."""
    scale = max([float(np.max(np.abs(f2), initial=0.0)) for _, f2 in fds] + [1.0])
    for label, g, (f1, f2) in zip(labels, analytic, fds):
        g = np.asarray(g, dtype=np.float64)
        bound = ATOL * scale + RTOL * np.abs(f2)
        spread = np.abs(f1 - f2)
        if not np.all(np.isfinite(f1)) or not np.all(np.isfinite(f2)):
            raise Failure("undecided", f"{name}/fd", f"{label}: finite differences not finite")
        if np.any(spread > bound):
            raise Failure("undecided", f"{name}/fd",
                          f"{label}: the two central differences disagree ({_worst(f1, f2)})")
        if not np.all(np.isfinite(g)):
            raise Failure("wrong", f"{name}/nonfinite",
                          f"{label}: the gradient is not finite: {g!r}; differences {f2!r}")
        error = np.abs(g - f2)
        if np.any(error > 10 * bound + 10 * spread):
            raise Failure("wrong", f"{name}/fd",
                          f"{label}: gradient {_worst(g, f2)} (generated vs central "
                          f"difference)\n  generated: {g.tolist()!r}\n  numerical: {f2.tolist()!r}")


# ------------------------------------------------------------------ the modes


class _Run:
    def __init__(self, case: Case, modes):
        self.case = case
        self.modes = tuple(modes)
        self.prog = _Program(case)
        self.n = len(case.wrt)
        self._grad = None
        self._fd = None
        self.results = {}

    def make(self, mode, **options):
        """The generated function of ``mode`` (Refused / crash classified)."""
        case = self.case
        gen_mode = {"forward": "forward", "callback": "callback", "hvp": "hvp"}.get(mode, "reverse")
        try:
            text = gradgen.source_from_text(case.source, case.function, wrt=case.wrt,
                                            mode=gen_mode, **options)
        except gradgen.GradgenError as exc:
            raise Refused(exc) from None
        except ProgramTimeout:
            raise
        except RecursionError as exc:
            raise Failure("crash", f"{mode}/generate", crash_class(exc)) from None
        except Exception as exc:  # noqa: BLE001
            raise Failure("crash", f"{mode}/generate", crash_class(exc)) from None
        try:
            namespace = gradgen.compile_module(text, f"<{mode} of {case.function}>")
            return namespace[PREFIX[mode] + case.function]
        except ProgramTimeout:
            raise
        except Exception as exc:  # noqa: BLE001
            raise Failure("crash", f"{mode}/compile", crash_class(exc)) from None

    def call(self, mode, fn, *args):
        try:
            return fn(*args)
        except ProgramTimeout:
            raise
        except Exception as exc:  # noqa: BLE001
            raise Failure("crash", f"{mode}/run", crash_class(exc)) from None

    def grads(self, mode, value) -> list:
        """A gradient result as a list of one entry per wrt argument."""
        if self.n == 1:
            return [value]
        if not isinstance(value, tuple) or len(value) != self.n:
            raise Failure("wrong", f"{mode}/arity",
                          f"expected a tuple of {self.n} gradients, got {type(value).__name__}")
        return list(value)

    def check_shapes(self, mode, grads, dtype=np.float64):
        for w, i, g in zip(self.case.wrt, self.prog.index, grads):
            x = self.prog.args[i]
            if np.shape(g) != np.shape(x):
                raise Failure("wrong", f"{mode}/shape",
                              f"d_{w} has shape {np.shape(g)}, {w} has {np.shape(x)}")
            got = np.asarray(g).dtype
            if got != dtype:
                raise Failure("wrong", f"{mode}/dtype", f"d_{w} is {got}, expected {np.dtype(dtype)}")

    @property
    def fd(self):
        if self._fd is None:
            self._fd = numerical_gradient(self.prog)
        return self._fd

    def reference(self):
        """The reverse-mode gradient (generated once), or None if unavailable."""
        if self._grad is None:
            try:
                fn = self.make("reverse")
                self._grad = ("ok", self.grads("reverse", self.call(
                    "reverse", fn, *_copy(self.prog.args), *self.prog.seeds)), fn)
            except (Refused, Failure) as exc:
                self._grad = ("missing", exc, None)
        return self._grad[1] if self._grad[0] == "ok" else None

    def expected(self, mode, got, what="the reverse gradient"):
        ref = self.reference()
        if ref is None:
            compare_fd(mode, got, self.fd, [f"d_{w}" for w in self.case.wrt])
            return
        scale = max([float(np.max(np.abs(np.asarray(r, dtype=float)), initial=0.0))
                     for r in ref] + [1e-12])
        for w, g, r in zip(self.case.wrt, got, ref):
            if not _close(g, r, AGREE, scale):
                raise Failure("wrong", f"{mode}/differs",
                              f"d_{w} differs from {what}: {_worst(g, r)}")

    def same_output(self, mode, value):
        outs = _tuple(value, len(self.prog.outputs)) if self.prog.multi else (value,)
        if self.prog.multi and (not isinstance(value, tuple) or len(value) != len(self.prog.outputs)):
            raise Failure("wrong", f"{mode}/value", f"the output is not a tuple of "
                          f"{len(self.prog.outputs)}: {type(value).__name__}")
        for k, (a, b) in enumerate(zip(outs, self.prog.outputs)):
            if not _close(a, b, 1e-12, float(np.max(np.abs(b), initial=0.0)) + 1e-300):
                raise Failure("wrong", f"{mode}/value",
                              f"output {k} differs from the function's: {_worst(a, b)}")

    # -- one method per mode

    def reverse(self):
        fn = self.make("reverse")
        before = _copy(self.prog.args)
        args = _copy(self.prog.args)
        grads = self.grads("reverse", self.call("reverse", fn, *args, *self.prog.seeds))
        self._grad = ("ok", grads, fn)
        self.check_shapes("reverse", grads)
        if not self.prog.mutates and not all(_same(a, b) for a, b in zip(args, before)):
            raise Failure("wrong", "reverse/mutates", "the gradient writes into its inputs")
        compare_fd("reverse", grads, self.fd, [f"d_{w}" for w in self.case.wrt])

    def raw(self):
        fn = self.make("raw", simplify=False)
        grads = self.grads("raw", self.call("raw", fn, *_copy(self.prog.args), *self.prog.seeds))
        self.check_shapes("raw", grads)
        self.expected("raw", grads, "the simplified gradient")

    def specialised(self):
        args = _copy(self.prog.args)
        params = gradgen.api.parameters(self.case.source, self.case.function) or []
        shapes = shape_annotations(params, shape_signature(args))
        if not shapes:
            return
        fn = self.make("specialised", shapes=shapes)
        grads = self.grads("specialised", self.call("specialised", fn, *args, *self.prog.seeds))
        self.check_shapes("specialised", grads)
        self.expected("specialised", grads, "the generic gradient")

    def preserve(self):
        fn = self.make("preserve", preserve_result=True)
        out = self.call("preserve", fn, *_copy(self.prog.args), *self.prog.seeds)
        if not isinstance(out, tuple) or len(out) != 2:
            raise Failure("wrong", "preserve/arity", "expected (value, gradient)")
        self.same_output("preserve", out[0])
        grads = self.grads("preserve", out[1])
        self.check_shapes("preserve", grads)
        self.expected("preserve", grads)

    def forward(self):
        fn = self.make("forward")
        prog = self.prog
        out = self.call("forward", fn, *_copy(prog.args), *prog.tangents)
        if not isinstance(out, tuple) or len(out) != 2:
            raise Failure("wrong", "forward/arity", "expected (output, tangent)")
        value, tangent = out
        self.same_output("forward", value)
        tangents = _tuple(tangent, len(prog.outputs)) if prog.multi else (tangent,)
        if prog.multi and (not isinstance(tangent, tuple) or len(tangent) != len(prog.outputs)):
            raise Failure("wrong", "forward/arity", "expected one tangent per output")
        for k, (t, o) in enumerate(zip(tangents, prog.outputs)):
            if np.shape(t) != np.shape(o):
                raise Failure("wrong", "forward/shape",
                              f"tangent {k} has shape {np.shape(t)}, output {np.shape(o)}")
        # a central difference along the tangents, two steps
        pairs = []
        for rel in STEPS:
            h = rel * max([1.0] + [float(np.max(np.abs(prog.args[i]), initial=0.0))
                                   for i in prog.index])
            h /= max([float(np.max(np.abs(t), initial=0.0)) for t in prog.tangents] + [1e-12])
            up, down = list(prog.args), list(prog.args)
            for i, t in zip(prog.index, prog.tangents):
                up[i] = _float(np.asarray(prog.args[i]) + h * np.asarray(t))
                down[i] = _float(np.asarray(prog.args[i]) - h * np.asarray(t))
            plus, minus = prog.call(up), prog.call(down)
            pairs.append([(np.asarray(p, dtype=float) - np.asarray(m, dtype=float)) / (2 * h)
                          for p, m in zip(plus, minus)])
        fds = list(zip(pairs[0], pairs[1]))
        compare_fd("forward", tangents, fds, [f"tangent {k}" for k in range(len(tangents))])
        ref = self.reference()
        if ref is None or any(np.shape(g) != np.shape(prog.args[i])
                              for g, i in zip(ref, prog.index)):
            return  # no usable reverse gradient (reverse mode reports why)
        lhs_terms = [np.asarray(u) * np.asarray(t) for u, t in zip(prog.seeds, tangents)]
        rhs_terms = [np.asarray(g) * np.asarray(t) for g, t in zip(ref, prog.tangents)]
        lhs = sum(float(np.sum(x)) for x in lhs_terms)
        rhs = sum(float(np.sum(x)) for x in rhs_terms)
        scale = sum(float(np.sum(np.abs(x))) for x in lhs_terms + rhs_terms)
        if abs(lhs - rhs) > DOT * scale + 1e-12:
            raise Failure("wrong", "forward/dot",
                          f"<u, J t> = {lhs!r} (forward) but <J^T u, t> = {rhs!r} (reverse)")

    def callback(self):
        fn = self.make("callback")
        out = self.call("callback", fn, *_copy(self.prog.args))
        if not isinstance(out, tuple) or len(out) != 2 or not callable(out[1]):
            raise Failure("wrong", "callback/arity", "expected (output, backprop)")
        value, backprop = out
        self.same_output("callback", value)
        first = self.grads("callback", self.call("callback", backprop, *self.prog.seeds))
        self.check_shapes("callback", first)
        self.expected("callback", first)
        second = self.grads("callback", self.call("callback", backprop, *self.prog.seeds))
        for w, a, b in zip(self.case.wrt, first, second):
            if not _same(a, b):
                raise Failure("wrong", "callback/again",
                              f"a second backprop() gives another d_{w}: {_worst(b, a)}")

    def hvp(self):
        fn = self.make("hvp")
        prog = self.prog
        hv = self.grads("hvp", self.call("hvp", fn, *_copy(prog.args), *prog.vectors, *prog.seeds))
        for w, i, g in zip(self.case.wrt, prog.index, hv):
            if np.shape(g) != np.shape(prog.args[i]):
                raise Failure("wrong", "hvp/shape",
                              f"(H v) for {w} has shape {np.shape(g)}, {w} has {np.shape(prog.args[i])}")
        if self.reference() is None:
            raise Failure("skipped", "hvp/no-gradient", "no reverse gradient to differentiate")
        grad_fn = self._grad[2]
        pairs = []
        for rel in STEPS:
            h = rel * max([1.0] + [float(np.max(np.abs(prog.args[i]), initial=0.0))
                                   for i in prog.index])
            h /= max([float(np.max(np.abs(v), initial=0.0)) for v in prog.vectors] + [1e-12])
            up, down = list(prog.args), list(prog.args)
            for i, v in zip(prog.index, prog.vectors):
                up[i] = _float(np.asarray(prog.args[i]) + h * np.asarray(v))
                down[i] = _float(np.asarray(prog.args[i]) - h * np.asarray(v))
            plus = self.grads("reverse", self.call("reverse", grad_fn, *_copy(up), *prog.seeds))
            minus = self.grads("reverse", self.call("reverse", grad_fn, *_copy(down), *prog.seeds))
            pairs.append([(np.asarray(p, dtype=float) - np.asarray(m, dtype=float)) / (2 * h)
                          for p, m in zip(plus, minus)])
        compare_fd("hvp", hv, list(zip(pairs[0], pairs[1])),
                   [f"(H v) for {w}" for w in self.case.wrt])

    def float32(self):
        prog = self.prog
        args32 = [np.float32(a) if isinstance(a, float) else
                  a.astype(np.float32) if isinstance(a, np.ndarray) else a for a in prog.args]
        seeds32 = [np.float32(u) if isinstance(u, float) else u.astype(np.float32)
                   for u in prog.seeds]
        try:
            out = prog.fn(*_copy(args32))
        except Exception:  # noqa: BLE001 - the program is not float32-clean: nothing to check
            raise Failure("skipped", "float32/program", "the function fails in float32") from None
        outs = out if prog.multi else (out,)
        if not all(np.asarray(o).dtype == np.float32 for o in outs):
            raise Failure("skipped", "float32/promotes", "the function itself promotes float32")
        fn = self.make("float32")
        grads = self.grads("float32", self.call("float32", fn, *_copy(args32), *seeds32))
        self.check_shapes("float32", grads, np.float32)


def evaluate(case: Case, modes=MODES, timeout: float | None = None) -> Result:
    """Run ``case`` through ``modes`` and classify it (never raises, except
    :class:`ProgramTimeout` when no ``timeout`` handler is installed by us)."""
    start = time.perf_counter()
    previous = None
    if timeout:
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _evaluate(case, modes, start)
    finally:
        if timeout:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous or signal.SIG_DFL)


def _alarm(signum, frame):
    raise ProgramTimeout()


def _evaluate(case, modes, start) -> Result:
    current = "program"
    results: dict = {}
    try:
        try:
            run = _Run(case, modes)
        except Invalid as exc:
            return Result("invalid", {}, "program/invalid", str(exc),
                          time.perf_counter() - start)
        except ProgramTimeout:
            raise
        except Exception as exc:  # noqa: BLE001 - the program itself: a generator bug
            return Result("invalid", {}, "program/invalid", crash_class(exc),
                          time.perf_counter() - start)
        for mode in MODES:
            if mode not in modes:
                continue
            current = mode
            try:
                getattr(run, mode)()
                results[mode] = ModeResult("pass")
            except Refused as exc:
                results[mode] = ModeResult("refused", f"{mode}/refused", str(exc.error),
                                           refusal_class(exc.error))
            except Failure as exc:
                results[mode] = ModeResult(exc.status, exc.check, exc.message)
            except Exception as exc:  # noqa: BLE001 - a bug of the oracle, not of gradgen
                import traceback

                results[mode] = ModeResult("error", f"{mode}/oracle", "".join(
                    traceback.format_exception(exc, limit=-3)))
    except ProgramTimeout:
        if current == "program":
            return Result("timeout", {}, "program/timeout",
                          "the function itself ran past the per-program timeout",
                          time.perf_counter() - start)
        results[current] = ModeResult("timeout", f"{current}/timeout", "the per-program timeout")
        for mode in modes:
            results.setdefault(mode, ModeResult("skipped", "", "after a timeout"))
    return summarize(results, modes, time.perf_counter() - start)


def summarize(results: dict, modes, seconds: float) -> Result:
    order = [m for m in MODES if m in results]
    for status in ("crash", "wrong", "timeout"):
        for mode in order:
            r = results[mode]
            if r.status == status:
                return Result(status, results, r.check, r.message, seconds)
    if "reverse" in results and results["reverse"].status == "refused":
        r = results["reverse"]
        return Result("refused", results, r.check, r.message, seconds)
    for mode in order:
        if results[mode].status == "undecided":
            r = results[mode]
            return Result("undecided", results, r.check, r.message, seconds)
    return Result("pass", results, "", "", seconds)
