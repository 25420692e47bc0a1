"""Stage 5, transform: the reverse-mode adjoint, instantiated from the rules.

Input: a function in ANF (see normalize).  Output: one IR function whose body
is the forward pass (the primal statements, plus what the backward pass needs
recorded), then the backward pass: for each definition, in reverse order, the
rule of its primitive with parameters bound to the statement's operands and
``d[result]`` bound to the gradient of its result.

The model, and why it is right
------------------------------

A variable ``v`` holds a sequence of values; each definition starts a new one.
At every point of the backward pass, the gradient variable of ``v`` holds the
gradient of the output with respect to the value ``v`` holds at the matching
point of the forward pass, and ``v`` itself holds that value wherever the
backward pass reads it.  One rule, the same for every definition ``v = e`` in
every block, keeps both invariants (it is Tangent's, with symbolic zeros):

1. take ``g``, the gradient of the value the definition created, and reset
   the gradient of ``v`` to zero: the value ``v`` held before is another
   value, and nothing after the definition read it;
2. add each operand's share of ``g`` (the rule of the primitive) to the
   gradient of that operand; an operand that is ``v`` itself receives it on
   the gradient just reset, which is the old value's;
3. restore the old value of ``v`` if the backward pass reads ``v`` earlier
   (the forward pass saved it on a tape before overwriting it).

Element writes ``h[i] = x`` follow the same rule on the slot ``h[i]``.  A
``for`` loop's adjoint is the same loop reversed, a loop that may stop early
(``while``, ``break``) counts its trips and loops back over exactly those, and
a branch's adjoint is a branch on the same test (read back from the tape).

Gradients are symbolic where the transform knows them: a variable that has
received no contribution holds the *symbolic zero* (no code at all), and in
straight-line code each new gradient value gets a new name (``d_x``,
``d_x@2``: SSA, turned back into plain names by ``rename``).  Where control
flow merges or a loop repeats, a gradient lives in one canonical name per
variable, and a symbolic zero that must become a value there becomes the
*placeholder* ``0.0``.  A gradient is *exact* when it provably has its
variable's shape, and *maybe* when it may still be the placeholder: adding an
exact term makes it exact, every rule whose use of ``d[y]`` is elementwise
takes either, and before a rule that does not (``@``, a reshape...), an
element write, or the returned gradient, a maybe gradient is completed to its
variable's shape.  The names that may hold the placeholder are listed in
``Adjoint.maybe``: the simplifier assumes no shape for them.

Every gradient this stage emits as exact has exactly the shape of its
variable (rules undo broadcasting and reductions explicitly); the simplifier
is what removes the ``unbroadcast``/``unreduce`` calls that shapes prove
needless.  Every primal statement is handled by a named case below; a value
the transform does not know how to differentiate is a located refusal, never
a silent zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from gradgen import ir
from gradgen import shapes as shape_facts
from gradgen.activity import active_names
from gradgen.errors import Location, UnknownPrimitiveError, UnsupportedSyntaxError, UsageError
from gradgen.normalize import BUILTIN_STATIC, Namer, is_static, primitive_args, primitive_of, version_base
from gradgen.rules import GRAD, Registry, Rule, TAssign, TGrad, TIf, TUnsupported, bind, static_truth

GRAD_PREFIX = "d_"
PLACEHOLDER = ir.Const(0.0)
_ZERO_MARK = ir.Name("@zero")  # a symbolic zero inside a rule's expression


@dataclass(frozen=True)
class Adjoint:
    """A gradient function in IR, with what later stages need to know about it."""

    function: ir.Function
    n_forward: int  # body[:n_forward] is the forward pass
    wrt: tuple
    seed: str
    result: str
    primal: ir.Function
    grad_of: dict  # gradient variable -> the variable it is the gradient of
    seeds: tuple = ()  # one (seed, output) pair per returned value
    maybe: frozenset = frozenset()  # gradient names that may hold the placeholder 0.0


def gradient_name(var: str) -> str:
    """The documented convention: the gradient of ``x`` is ``d_x``."""
    return GRAD_PREFIX + var


# ---------------------------------------------------------------- gradient states


@dataclass(frozen=True)
class Grad:
    """The gradient of a variable, held in ``ref`` (a name, or an item of a
    gradient list).  ``exact``: provably of the variable's shape (else it may
    be the placeholder).  ``owned``: ``ref`` names an array no other value
    shares, so it may be written in place."""

    ref: ir.Expr
    exact: bool = True
    owned: bool = False


@dataclass(frozen=True)
class Items:
    """The gradient of a tuple or list literal, item by item (each a state)."""

    items: tuple


@dataclass(frozen=True)
class Term:
    """A contribution to a gradient: an expression not yet bound to a name.
    ``view``: it may be a view of a gradient array about to be written."""

    expr: ir.Expr
    exact: bool = True
    view: bool = False


@dataclass(frozen=True)
class _Restore:
    """Placeholder in the backward pass: restore the value a definition
    overwrote, if that value turns out to be needed (then the forward pass
    saves it).  Resolved once the whole backward pass is known."""

    definition: object  # the forward ir.Assign / ir.SetItem / ir.Append
    origins: tuple = ()


@dataclass(frozen=True)
class _Counted:
    """Where a counted loop (while, or for with break) stands in the forward
    pass: its trip counter, and the tape of counts when it runs repeatedly."""

    counter: str
    tape: str | None


def _overwriting_definitions(fn: ir.Function) -> set:
    """ids of the definitions that may overwrite an earlier value of their
    variable: those inside a loop (they run again), those of a parameter, and
    those that follow another definition of the same variable on some path
    (definitions in different branches of one ``if`` exclude each other)."""
    params = {p.name for p in fn.params}
    definitions: list = []  # (name, stmt, path, in_loop)

    def visit(body, path, in_loop):
        for stmt in body:
            for name in ir.defined_names(stmt):
                if not isinstance(stmt, ir.For):
                    definitions.append((name, stmt, path, in_loop))
            if isinstance(stmt, ir.If):
                visit(stmt.body, path + ((id(stmt), 0),), in_loop)
                visit(stmt.orelse, path + ((id(stmt), 1),), in_loop)
            elif isinstance(stmt, (ir.For, ir.While)):
                for block in ir.blocks(stmt):
                    visit(block, path + ((id(stmt), 0),), True)

    def exclusive(a, b) -> bool:
        return any(x[0] == y[0] and x[1] != y[1] for x, y in zip(a, b))

    visit(fn.body, (), False)
    overwriting = set()
    for i, (name, stmt, path, in_loop) in enumerate(definitions):
        earlier = any(other == name and not exclusive(path, other_path)
                      for other, _, other_path, _ in definitions[:i])
        if in_loop or earlier or name in params or isinstance(stmt, (ir.SetItem, ir.Append)):
            overwriting.add(id(stmt))
    return overwriting


def _definedness(body, params) -> dict:
    """id(If or loop) -> (names maybe defined, names surely defined) just
    before it runs.  Inside a loop, a later trip may see every name the loop
    defines."""
    found: dict = {}

    def visit(body, maybe: set, sure: set) -> tuple:
        maybe, sure = set(maybe), set(sure)
        for stmt in body:
            if isinstance(stmt, ir.If):
                found[id(stmt)] = (frozenset(maybe), frozenset(sure))
                m1, s1 = visit(stmt.body, maybe, sure)
                m2, s2 = visit(stmt.orelse, maybe, sure)
                maybe, sure = m1 | m2, s1 & s2
            elif isinstance(stmt, (ir.For, ir.While)):
                found[id(stmt)] = (frozenset(maybe), frozenset(sure))
                defs = {n for s in ir.flatten_stmts([stmt]) for n in ir.defined_names(s)}
                inner_sure = sure | ({stmt.target} if isinstance(stmt, ir.For) else set())
                for block in ir.blocks(stmt):
                    visit(block, maybe | defs, inner_sure)
                maybe |= defs
            else:
                maybe |= ir.defined_names(stmt)
                sure |= ir.defined_names(stmt)
        return maybe, sure

    names = {p.name for p in params}
    visit(body, names, names)
    return found


class _Reverse:
    def __init__(self, fn: ir.Function, wrt: tuple, registry: Registry, filename: str,
                 scalars: frozenset = frozenset()):
        self.fn = fn
        self.registry = registry
        self.static_calls = registry.static_calls | BUILTIN_STATIC
        self.filename = filename
        self.active = active_names(fn, wrt, registry)
        self.scalars = scalars  # variables provably of shape ()
        taken = {n for s in ir.flatten_stmts(fn.body) for n in ir.defined_names(s)}
        taken |= {p.name for p in fn.params} | {"np"}
        for stmt in ir.flatten_stmts(fn.body):
            taken |= ir.names_in(ir.Tuple(ir.stmt_exprs(stmt)))
        self.namer = Namer(taken)
        self.state: dict = {}  # variable -> Grad | Items (absent: the symbolic zero)
        self.canonical: dict = {}  # variable -> its gradient name in blocks
        self.versions: dict = {}  # variable -> number of top-level gradient names
        self.grad_of: dict = {}
        self.maybe: set = set()
        self.block_names: set = set()  # gradient names rebound inside blocks
        self.blocks: list = [[]]
        self.depth = 0
        self.mutable = fn.mutable
        self.definitions = _definitions(fn)
        self.lists = {s.target for s in ir.flatten_stmts(fn.body) if isinstance(s, ir.Append)}
        self.written = {s.target for s in ir.flatten_stmts(fn.body) if isinstance(s, ir.SetItem)}
        self.sequences = {v for v, d in self.definitions.items()
                          if any(isinstance(s, ir.Assign) and _is_literal(s.value) for s in d)}
        # variables whose gradient, at run time, is a list of gradients
        self.seq_vars = self.lists | self.sequences
        self.defined_before: dict = {}  # set by run(), on the body it transforms
        self.in_place: set = set()  # variables whose gradient is written in place
        self.integers = self._integer_names()
        self.counted: dict = {}

    # -- analysis
    def _integer_names(self) -> set:
        """Names whose every definition is static (loop indices, sizes)."""
        ints = {s.target for s in ir.flatten_stmts(self.fn.body) if isinstance(s, ir.For)}
        changed = True
        while changed:
            changed = False
            for name, defs in self.definitions.items():
                if name not in ints and all(isinstance(d, ir.Assign)
                                            and is_static(d.value, ints, self.static_calls) for d in defs):
                    ints.add(name)
                    changed = True
        return ints

    @property
    def backward(self) -> list:
        return self.blocks[-1]

    def emit(self, stmt) -> None:
        self.backward.append(stmt)

    def fail(self, stmt, message: str, hint: str = "", cls=UnsupportedSyntaxError):
        origin = stmt.origins[0] if getattr(stmt, "origins", ()) else None
        location = None
        if origin is not None:
            location = Location(self.filename, origin.line, origin.col, origin.text)
        raise cls(message, location, hint)

    # -- names
    def canonical_name(self, var: str) -> str:
        if var not in self.canonical:
            self.canonical[var] = self.namer.fresh(gradient_name(version_base(var)))
        return self.canonical[var]

    def new_name(self, var: str) -> str:
        """A name for a new gradient value of ``var``: a new version at top
        level, the canonical name inside a block."""
        base = self.canonical_name(var)
        if self.depth:
            return base
        count = self.versions.get(var, 0) + 1
        if count == 1 and base in self.block_names:
            count = 2  # the canonical name already holds a value from a block
        self.versions[var] = count
        return base if count == 1 else f"{base}@{count}"

    def bind(self, var: str, value, exact: bool, owned: bool, origins) -> Grad:
        name = self.new_name(var)
        if self.depth:
            self.block_names.add(name)
        self.emit(ir.Assign(name, value, origins))
        self.grad_of[name] = var
        if not exact:
            self.maybe.add(name)
        return Grad(ir.Name(name), exact, owned and _fresh(value))

    # -- zeros and completion
    def placeholder(self, var: str) -> bool:
        """Whether the placeholder is exact for ``var`` (it is a scalar)."""
        return var in self.scalars

    def zero_value(self, var: str):
        """A run-time zero for ``var``'s gradient, and whether it is exact
        (``var`` holds its value here when it is a list)."""
        if var in self.seq_vars:
            return ir.BinOp("*", ir.Call(ir.LIST_LITERAL, (PLACEHOLDER,)),
                            ir.Call("len", (ir.Name(var),))), True
        return PLACEHOLDER, self.placeholder(var)

    def complete(self, var: str, state, origins) -> Grad:
        """``state`` (a maybe gradient, or zero) as an exact gradient of
        ``var``'s shape, owned; ``var`` holds its value here."""
        if var in self.seq_vars:
            return self.as_list(var, state, origins)
        if state is None:
            return self.bind(var, ir.Call("np.zeros_like", (ir.Name(var),)), True, True,
                             origins)
        if state.exact and state.owned:
            return state
        return self.bind(var, self.owned_copy(var, state), True, True, origins)

    # -- accumulation
    def accumulate(self, var: str, term, origins) -> None:
        """Add ``term`` (a Term, Items or None) to the gradient of ``var``."""
        if var not in self.active or term is None:
            return
        current = self.state.get(var)
        if isinstance(term, Items) or isinstance(current, Items):
            self.state[var] = self.add_items(var, current, term, origins)
            return
        if isinstance(term, Grad):
            term = Term(term.ref, term.exact)
        if self.unindex_parts(term) is not None:
            self.in_place.add(var)  # reads of elements: worth an array of its own
            if current is None and (self.depth or var in self.written):
                self.state[var] = self.fresh_unindex(var, term, origins)
                return
        if current is None:
            if isinstance(term.expr, ir.Name) and not self.depth and not term.view:
                self.state[var] = Grad(term.expr, term.exact, False)  # share the name
                return
            value = term.expr
            if term.view:
                value = ir.Call("np.copy", (value,))
            self.state[var] = self.bind(var, value, term.exact, _fresh(value), origins)
            return
        if self.add_in_place(current, term, origins):
            return
        if var in self.seq_vars:
            value = ir.Call("add_lists", (current.ref, term.expr))
        else:
            value = ir.BinOp("+", current.ref, term.expr)
        self.state[var] = self.bind(var, value, current.exact or term.exact, True, origins)

    def unindex_parts(self, term: Term):
        """(g, x, index) of a term ``unindex(g, x, index)`` with a basic index."""
        expr = term.expr
        if (isinstance(expr, ir.Call) and expr.func == "unindex" and len(expr.args) == 3
                and self.basic_index(expr.args[2])):
            return expr.args
        return None

    def fresh_unindex(self, var: str, term: Term, origins) -> Grad:
        """The first gradient of ``x`` from a read ``x[i]``: zeros, and ``g`` in the slot."""
        g, x, index = self.unindex_parts(term)
        state = self.bind(var, ir.Call("np.zeros_like", (x,)), True, True, origins)
        self.emit(ir.SetItem(state.ref.id, index, g, origins))
        return state

    def add_in_place(self, current, term: Term, origins) -> bool:
        """``d_x[i] += g`` for the gradient of a read ``x[i]`` with a basic
        index, into an array the gradient owns: no array of zeros per read."""
        parts = self.unindex_parts(term)
        if not (parts is not None and isinstance(current, Grad) and current.exact
                and current.owned and isinstance(current.ref, ir.Name)):
            return False
        g, _, index = parts
        element = ir.Subscript(current.ref, index)
        self.emit(ir.SetItem(current.ref.id, index, ir.BinOp("+", element, g), origins))
        self.in_place.add(self.grad_of.get(current.ref.id))
        return True

    def basic_index(self, index) -> bool:
        """Integers and slices only: each element is selected at most once."""
        parts = index.elts if isinstance(index, ir.Tuple) else (index,)
        return all(isinstance(p, ir.Slice) or p in (ir.Const(None), ir.Const(Ellipsis))
                   or is_static(p, self.integers, self.static_calls) for p in parts)

    def add_items(self, var, current, term, origins) -> Items:
        """Item by item, for tuple and list literals; a term that is one
        run-time sequence is read item by item."""
        size = len(current.items) if isinstance(current, Items) else len(term.items) \
            if isinstance(term, Items) else None
        if current is None:
            current = Items((None,) * size)
        elif isinstance(current, Grad):
            current = self.split(current, size)
        if isinstance(term, (Term, Grad)):
            ref = term.ref if isinstance(term, Grad) else term.expr
            if not isinstance(ref, ir.Name):
                ref = self.bind(var, ref, True, True, origins).ref
            term = Items(tuple(Term(ir.Subscript(ref, ir.Const(k)), False)
                               for k in range(size)))
        items = []
        for k, (old, new) in enumerate(zip(current.items, term.items)):
            items.append(self.add_state(f"{version_base(var)}_{k}", old, new, origins))
        return Items(tuple(items))

    def add_state(self, label: str, old, new, origins):
        """``old + new`` for the states of one item (no variable of its own)."""
        if new is None:
            return old
        if isinstance(new, Grad):
            new = Term(new.ref, new.exact)
        if old is None:
            if isinstance(new.expr, ir.Name):
                return Grad(new.expr, new.exact)
            old_term = None
        else:
            old_term = old
        name = self.namer.fresh(gradient_name(label))
        value = new.expr if old_term is None else ir.BinOp("+", old_term.ref, new.expr)
        exact = new.exact or (old_term is not None and old_term.exact)
        self.emit(ir.Assign(name, value, origins))
        if not exact:
            self.maybe.add(name)
        return Grad(ir.Name(name), exact, True)

    def split(self, state: Grad, size: int) -> Items:
        return Items(tuple(Grad(ir.Subscript(state.ref, ir.Const(k)), False)
                           for k in range(size)))

    def as_list(self, var: str, state, origins) -> Grad:
        """The gradient of a sequence as one run-time list (for an item read
        at an index known only at run time, or a rule that takes the sequence)."""
        if isinstance(state, Grad) and state.owned:
            return state
        size_expr = ir.Call("len", (ir.Name(var),))
        if state is None:
            value = ir.BinOp("*", ir.Call(ir.LIST_LITERAL, (PLACEHOLDER,)), size_expr)
        elif isinstance(state, Items):
            value = _items_expr(state)
        else:
            value = ir.Call("list", (state.ref,))
        return self.bind(var, value, True, True, origins)

    def take(self, var: str):
        """The gradient of the value a definition of ``var`` created; the
        value before it starts with a zero gradient."""
        return self.state.pop(var, None)

    # -- statements
    def reverse_block(self, body) -> tuple:
        self.blocks.append([])
        for stmt in reversed(body):
            self.reverse_statement(stmt)
        return tuple(self.blocks.pop())

    def reverse_statement(self, stmt) -> None:
        if isinstance(stmt, ir.Assign):
            self.reverse_assign(stmt)
        elif isinstance(stmt, ir.SetItem):
            self.reverse_set_item(stmt)
        elif isinstance(stmt, ir.Append):
            self.reverse_append(stmt)
        elif isinstance(stmt, ir.If):
            self.reverse_if(stmt)
        elif isinstance(stmt, (ir.For, ir.While)):
            self.reverse_loop(stmt)
        elif isinstance(stmt, (ir.Break, ir.Push)):
            pass  # the trip count covers breaks; pushes are the counters' tapes
        else:
            self.fail(stmt, f"internal: no adjoint for {type(stmt).__name__} statements")

    def reverse_assign(self, stmt: ir.Assign) -> None:
        g = self.take(stmt.target)
        if g is not None and stmt.target in self.active:
            for var, term in self.contributions(stmt, g):
                self.accumulate(var, term, stmt.origins)
        self.emit(_Restore(stmt, stmt.origins))

    def operand(self, expr) -> str | None:
        """The active variable an operand names, if any."""
        if isinstance(expr, ir.Name) and expr.id in self.active:
            return expr.id
        return None

    def contributions(self, stmt: ir.Assign, g) -> list:
        """(variable, term) for each operand's share of ``g``."""
        value = stmt.value
        if isinstance(value, ir.Name):
            return [(value.id, g)] if self.operand(value) else []
        if isinstance(value, ir.Const) or is_static(value, self.integers, self.static_calls):
            return []
        if _is_literal(value):
            items = value.elts if isinstance(value, ir.Tuple) else value.args
            if isinstance(g, Grad):
                g = self.split(g, len(items))
            return [(item.id, state) for item, state in zip(items, g.items)
                    if self.operand(item)]
        if (isinstance(value, ir.Subscript) and isinstance(value.value, ir.Name)
                and value.value.id in self.sequences):
            return self.item_contribution(stmt, value, g)
        primitive = primitive_of(value)
        if primitive is None:
            self.fail(stmt, f"gradgen cannot differentiate `{ir.to_source(value)}`",
                      "rewrite it with NumPy functions and operators")
        rule = self.registry.rule(primitive)
        if rule is None:
            if primitive in self.registry.nondifferentiable:
                return []  # reviewed: piecewise constant, or integer-valued
            self.fail(stmt, f"no gradient rule for {primitive}",
                      "add a rule with @adjoint in a rule file (see templates/README.md)",
                      UnknownPrimitiveError)
        if isinstance(g, Items):
            g = self.as_list(stmt.target, g, stmt.origins)
        return self.instantiate(rule, stmt, g)

    def item_contribution(self, stmt, value: ir.Subscript, g) -> list:
        """``v = seq[k]`` on a tuple or list: ``g`` goes to item ``k``."""
        seq = value.value.id
        if not self.operand(value.value):
            return []
        index = value.index
        if isinstance(index, ir.Const) and type(index.value) is int:
            size = _literal_size(self.definitions.get(seq, ()))
            if size is not None and -size <= index.value < size:
                items = [None] * size
                items[index.value] = g
                return [(seq, Items(tuple(items)))]
        # An index known at run time: the gradient becomes one run-time list.
        self.in_place.add(seq)
        current = self.as_list(seq, self.state.get(seq), stmt.origins)
        element = ir.Subscript(current.ref, index)
        term = g if isinstance(g, Grad) else Term(g.expr, g.exact)
        ref = term.ref if isinstance(term, Grad) else term.expr
        self.emit(ir.SetItem(current.ref.id, index, ir.BinOp("+", element, ref), stmt.origins))
        self.state[seq] = Grad(current.ref, True, True)
        return []

    def instantiate(self, rule: Rule, stmt: ir.Assign, g: Grad) -> list:
        if not g.exact and not self.registry.placeholder_safe(rule):
            g = self.complete(stmt.target, g, stmt.origins)
        args, kwargs = primitive_args(stmt.value)
        env = bind(rule, args, kwargs, ir.Name(stmt.target), lambda m: self.fail(stmt, m))
        contributions: dict = {}

        def expand(expr):
            if isinstance(expr, ir.Call) and expr.func == GRAD:
                (param,) = expr.args
                if param.id != rule.result:
                    raise AssertionError(f"rule {rule.name} reads d[{param.id}]")
                return g.ref
            if isinstance(expr, ir.Name) and expr.id in env:
                return env[expr.id]
            return ir.map_children(expr, expand)

        def run(body):
            for t in body:
                if isinstance(t, TAssign):
                    local = self.namer.fresh(f"{t.target}_{version_base(stmt.target)}")
                    self.emit(ir.Assign(local, expand(t.value), stmt.origins))
                    if not g.exact and _reads_grad(t.value):
                        self.maybe.add(local)
                    env[t.target] = ir.Name(local)
                elif isinstance(t, TGrad) and t.value in (ir.Const(0), ir.Const(0.0)):
                    var = self.operand(env[t.param])  # `d[p] = 0`: a zero, stated
                    if var is not None:
                        contributions.setdefault(var, None)
                elif isinstance(t, TGrad):
                    var = self.operand(env[t.param])
                    if var is not None:
                        term = expand(t.value)
                        previous = contributions.get(var)  # None: none, or a stated zero
                        contributions[var] = term if previous is None else ir.BinOp(
                            "+", previous, term)
                elif isinstance(t, TIf):
                    test = static_truth(expand(t.test), lambda m: self.fail(stmt, m))
                    run(t.body if test else t.orelse)
                elif isinstance(t, TUnsupported):
                    self.fail(stmt, t.message)

        run(rule.body)
        self.check_covered(rule, stmt, env, contributions)
        return [(var, Term(expr, g.exact)) for var, expr in contributions.items()
                if expr is not None]

    def check_covered(self, rule: Rule, stmt, env: dict, contributions: dict) -> None:
        """Fail closed: an active argument that the rule gave no gradient
        (an index, a shape, a parameter the rule does not differentiate) is
        refused, never silently treated as having none."""
        for param in rule.params:
            bound = env.get(param)
            covered = param in rule.differentiable  # a gradient, or a stated zero
            if bound is None or (covered and isinstance(bound, ir.Name)
                                 and bound.id in contributions):
                continue
            names = _dynamic_names(bound, self.integers, self.static_calls) & self.active
            # An argument the rule does not differentiate is refused even when
            # the same variable gets a gradient through another (f(x, x)).
            if names - set(contributions) or (names and not covered):
                self.fail(stmt, f"{primitive_of(stmt.value)} has no gradient with respect to "
                                f"its argument {param!r}, which depends on the differentiated "
                                f"inputs (rule {rule.name}, {rule.where})",
                          "make that argument a constant, or add a rule that differentiates it")

    def reverse_set_item(self, stmt: ir.SetItem) -> None:
        """``h[i] = v``: the slot's gradient goes to ``v``, then the slot,
        overwritten, gets a zero gradient (in place, on an owned array)."""
        target = stmt.target
        current = self.state.get(target)
        if target in self.active and current is not None:
            self.in_place.add(target)
            d_h = self.complete(target, current, stmt.origins)
            self.state[target] = d_h
            slot = ir.Subscript(d_h.ref, stmt.index)
            var = self.operand(stmt.value)
            if var is not None:
                self.accumulate(var, Term(ir.Call("unbroadcast", (slot, stmt.value)),
                                          True, view=True), stmt.origins)
            self.emit(ir.SetItem(d_h.ref.id, stmt.index, ir.Const(0.0), stmt.origins))
        self.emit(_Restore(stmt, stmt.origins))

    def reverse_append(self, stmt: ir.Append) -> None:
        """The last gradient of the list belongs to the value appended last."""
        target = stmt.target
        current = self.state.get(target)
        if target in self.active and current is not None:
            self.in_place.add(target)
            d_list = self.as_list(target, current, stmt.origins)
            self.state[target] = d_list
            var = self.operand(stmt.value)
            if var is not None:
                self.accumulate(var, Term(ir.Call(f"{d_list.ref.id}.pop"), False),
                                stmt.origins)
            else:
                self.emit(ir.ListPop(d_list.ref.id, stmt.origins))
        self.emit(_Restore(stmt, stmt.origins))

    # -- control flow
    def snapshot(self) -> tuple:
        return (dict(self.state), set(self.namer.taken), dict(self.canonical),
                dict(self.versions), dict(self.grad_of), set(self.maybe),
                set(self.block_names))

    def restore(self, snap) -> None:
        state, taken, canonical, versions, grad_of, maybe, block_names = snap
        self.state, self.namer.taken = dict(state), set(taken)
        self.canonical, self.versions = dict(canonical), dict(versions)
        self.grad_of, self.maybe = dict(grad_of), set(maybe)
        self.block_names = set(block_names)

    def run_block(self, body) -> tuple:
        self.depth += 1
        try:
            return self.reverse_block(body)
        finally:
            self.depth -= 1

    def is_exact(self, var: str, state) -> bool:
        if state is None:
            return self.exact_zero(var)
        return isinstance(state, Items) or state.exact

    def exact_zero(self, var: str) -> bool:
        """Whether the run-time zero of ``var``'s gradient has its shape."""
        return var in self.scalars or var in self.seq_vars

    def to_canonical(self, var: str, state, origins, owned: bool = False) -> list:
        """Statements that put ``state`` into ``var``'s canonical name (an
        array of its own when ``owned``; ``var`` then holds its value here)."""
        name = self.canonical_name(var)
        self.grad_of[name] = var
        if isinstance(state, Items):
            state = Grad(_items_expr(state), True)
        if state is None:
            if owned and var not in self.seq_vars:
                value, exact = ir.Call("np.zeros_like", (ir.Name(var),)), True
            else:
                value, exact = self.zero_value(var)
        elif owned and not (state.owned and state.ref == ir.Name(name)):
            value, exact = self.owned_copy(var, state), True
        else:
            value, exact = state.ref, state.exact
        if not exact:
            self.maybe.add(name)
        if value == ir.Name(name):
            return []
        self.block_names.add(name)
        return [ir.Assign(name, value, origins)]

    def owned_copy(self, var: str, state: Grad):
        if var in self.seq_vars:
            return ir.Call("list", (state.ref,))
        if state.exact:
            return ir.Call("np.copy", (state.ref,))
        return ir.BinOp("+", state.ref, ir.Call("np.zeros_like", (ir.Name(var),)))

    def merged(self, var: str, states) -> Grad:
        """The state after a branch whose sides put ``states`` into the
        canonical name."""
        name = ir.Name(self.canonical_name(var))
        exact = all(self.is_exact(var, s) for s in states)
        return Grad(name, exact, False)

    def reverse_if(self, stmt: ir.If) -> None:
        self.privatize(self.changed_in(stmt.body + stmt.orelse), stmt.origins)
        before = self.snapshot()
        body = self.run_block(stmt.body)
        after_body = dict(self.state)
        self.state = dict(before[0])
        orelse = self.run_block(stmt.orelse)
        after_else = dict(self.state)
        maybe, sure = self.defined_before.get(id(stmt), (frozenset(), frozenset()))
        body, orelse = list(body), list(orelse)
        merged: dict = {}
        for var in sorted(set(after_body) | set(after_else)):
            a, b = after_body.get(var), after_else.get(var)
            if a == b:
                if a is not None:
                    merged[var] = a
                continue
            if var not in maybe:
                continue  # not defined before the branch: nothing earlier reads it
            if var in self.seq_vars and var not in sure:
                self.fail(stmt, f"the list {version_base(var)!r} may be undefined before "
                                "this branch", "create the list before the `if`")
            # Joins carry no origin: they belong to no statement of the source.
            body += self.to_canonical(var, a, ())
            orelse += self.to_canonical(var, b, ())
            merged[var] = self.merged(var, (a, b))
        self.state = merged
        if body or orelse:
            self.emit(ir.If(stmt.test, tuple(body), tuple(orelse), stmt.origins))

    def loop_carried(self, stmt) -> set:
        """Variables whose gradient a trip of the loop's adjoint may change."""
        return self.changed_in(ir.blocks(stmt)[-1])

    def privatize(self, variables, origins) -> None:
        """Before a block rebinds the canonical names of ``variables``, any
        other variable whose gradient is held in one of those names (shared
        by a copy's adjoint at top level) gets its own copy first."""
        names = {ir.Name(self.canonical_name(v)): v for v in variables}
        for other, state in sorted(self.state.items()):
            owner = names.get(_base_ref(state))
            if owner is not None and owner != other:
                self.state[other] = self.bind(other, state.ref, state.exact, False, origins)

    def changed_in(self, body) -> set:
        """Variables whose gradient the adjoint of ``body`` may change."""
        found = set()
        for inner in ir.flatten_stmts(body):
            for name in ir.defined_names(inner):
                found.add(name)
            if isinstance(inner, (ir.Assign, ir.SetItem, ir.Append)):
                found |= ir.names_in(ir.Tuple(ir.stmt_exprs(inner)))
        return {v for v in found if v in self.active}

    def reverse_loop(self, stmt) -> None:
        """A trip of the adjoint starts and ends with the same gradient names:
        each carried gradient is zero throughout, or lives in its canonical
        name, with the exactness and ownership every trip preserves (a fixed
        point, found by running the body's adjoint again until it holds)."""
        carried = sorted(self.loop_carried(stmt))
        self.privatize(carried, stmt.origins)
        entry = {v: self.state.get(v) for v in carried}
        _, surely_defined = self.defined_before.get(id(stmt), ((), ()))

        def zero_exact(var) -> bool:  # a zero entering the loop is exact there
            return self.is_exact(var, None) or var in surely_defined

        # per variable: (holds a value, exact, owned) on entry to every trip
        need = {v: (entry[v] is not None,
                    zero_exact(v) if entry[v] is None else self.is_exact(v, entry[v]),
                    isinstance(entry[v], Grad) and entry[v].owned) for v in carried}
        snap = self.snapshot()
        weak, attempts = False, 0
        while True:
            self.restore(snap)
            start = {v: s for v, s in self.state.items() if v not in need}
            for var, (has, exact, owned) in need.items():
                if has:
                    start[var] = Grad(ir.Name(self.canonical_name(var)), exact, owned)
            self.state = dict(start)
            body = list(self.run_block(stmt.body))
            if isinstance(stmt, ir.For):
                self.take(stmt.target)  # each trip defines the index anew: an integer
            exit_state = dict(self.state)
            new = {}
            for var, (had, exact, _) in need.items():
                out = exit_state.get(var)
                if not had and out is None:
                    new[var] = need[var]  # zero on every trip: no code
                    continue
                # Trips start from a value: the entry's, or a zero put there.
                entry_exact = exact if had else zero_exact(var)
                name = ir.Name(self.canonical_name(var))
                owned = (not weak and var in self.in_place and isinstance(out, Grad)
                         and out.owned and out.ref == name)
                new[var] = (True, entry_exact and self.is_exact(var, out), owned)
            if new == need:
                break
            need = new
            attempts += 1
            weak = weak or attempts > len(need) + 2
        prologue = []
        for var in carried:
            has, exact, owned = need[var]
            if has:
                # A zero entering the loop is an array of zeros where it can be
                # one: the trips then start from an exact gradient.
                zeros = entry[var] is None and exact and var in surely_defined
                prologue += self.to_canonical(var, entry[var], stmt.origins, owned or zeros)
                body += self.to_canonical(var, exit_state.get(var), (), owned)
        self.state = {v: s for v, s in exit_state.items() if v not in carried}
        self.state.update({v: start[v] for v in carried if v in start})
        for line in prologue:
            self.emit(line)
        if not body:
            return
        counted = self.counted.get(id(stmt))
        if counted is not None and counted.tape is not None:
            self.emit(ir.Assign(counted.counter, ir.Call(f"{counted.tape}.pop"), stmt.origins))
        if isinstance(stmt, ir.While):
            self.emit(ir.For(self.namer.fresh("trip"), ir.Const(0), ir.Name(counted.counter),
                             ir.Const(1), tuple(body), stmt.origins))
        else:
            limit = None if counted is None else ir.Name(counted.counter)
            self.emit(ir.For(stmt.target, stmt.start, stmt.stop, stmt.step, tuple(body),
                             stmt.origins, reverse=True, limit=limit))

    # -- the forward pass: counters and the tape
    def add_trip_counters(self, body, in_loop: bool = False) -> tuple:
        """Count the trips of each while loop, and of each for loop that may
        break, so that the adjoint loops over exactly the trips that ran; a
        count that a repeated loop overwrites is saved on its own tape."""
        out = []
        for stmt in body:
            if isinstance(stmt, (ir.While, ir.For)) and (
                    isinstance(stmt, ir.While) or _breaks(stmt.body)):
                counter = self.namer.fresh("trips")
                tape = self.namer.fresh(f"{counter}_tape") if in_loop else None
                increment = ir.Assign(counter, ir.BinOp("+", ir.Name(counter), ir.Const(1)),
                                      stmt.origins)
                inner = (increment,) + self.add_trip_counters(stmt.body, True)
                if isinstance(stmt, ir.While):
                    new = ir.While(self.add_trip_counters(stmt.test_body, True), stmt.test,
                                   inner, stmt.origins)
                else:
                    new = ir.For(stmt.target, stmt.start, stmt.stop, stmt.step, inner,
                                 stmt.origins)
                self.counted[id(new)] = _Counted(counter, tape)
                out += [ir.Assign(counter, ir.Const(0), stmt.origins), new]
                if tape is not None:
                    out.append(ir.Push(tape, ir.Name(counter), stmt.origins))
            elif isinstance(stmt, ir.If):
                out.append(ir.If(stmt.test, self.add_trip_counters(stmt.body, in_loop),
                                 self.add_trip_counters(stmt.orelse, in_loop), stmt.origins))
            elif isinstance(stmt, (ir.For, ir.While)):
                out.append(_map_blocks(stmt, lambda b: self.add_trip_counters(b, True)))
            else:
                out.append(stmt)
        return tuple(out)

    def resolve_tape(self, forward: tuple, backward: tuple):
        """Save exactly the overwritten values the backward pass reads."""
        read = set()
        for stmt in ir.flatten_stmts(backward):
            if not isinstance(stmt, _Restore):
                read |= ir.names_in(ir.Tuple(ir.stmt_exprs(stmt)))
        read |= {a for v in list(read) for a in self.views.get(v, ())}
        loop_targets = {s.target for s in ir.flatten_stmts(forward) if isinstance(s, ir.For)}
        counters = {c.counter for c in self.counted.values()}
        overwriting = _overwriting_definitions(self.fn)
        params = {p.name for p in self.fn.params}
        defined_first = set(params)  # defined before any overwriting definition runs
        for stmt in ir.flatten_stmts(self.fn.body):
            if isinstance(stmt, ir.Assign) and id(stmt) not in overwriting:
                defined_first.add(stmt.target)
        taped = {v for v in self.mutable | self.lists
                 if v in read and v not in loop_targets and v not in counters}
        stacks = {v: self.namer.fresh(f"{v}_tape") for v in sorted(taped)}
        pushed: set = set()
        needs_init: set = set()

        def save(body) -> tuple:
            out = []
            for stmt in body:
                var = getattr(stmt, "target", None)
                if (isinstance(stmt, (ir.Assign, ir.SetItem)) and var in taped
                        and id(stmt) in overwriting):
                    value = ir.Name(var)
                    if isinstance(stmt, ir.SetItem):
                        value = ir.Call("np.copy", (ir.Subscript(value, stmt.index),))
                    elif var not in defined_first:
                        needs_init.add(var)
                    out.append(ir.Push(stacks[var], value, stmt.origins))
                    pushed.add(id(stmt))
                out.append(_map_blocks(stmt, save))
            return tuple(out)

        def restore(body) -> tuple:
            out = []
            for stmt in body:
                if isinstance(stmt, _Restore):
                    definition = stmt.definition
                    if isinstance(definition, ir.Append):
                        if definition.target in read:  # the list as it was before
                            out.append(ir.ListPop(definition.target, stmt.origins))
                        continue
                    if id(definition) in pushed:
                        pop = ir.Call(f"{stacks[definition.target]}.pop")
                        if isinstance(definition, ir.SetItem):
                            out.append(ir.SetItem(definition.target, definition.index, pop,
                                                  stmt.origins))
                        else:
                            out.append(ir.Assign(definition.target, pop, stmt.origins))
                    continue
                out.append(_map_blocks(stmt, restore))
            return tuple(out)

        new_forward = save(forward)
        taped = {v for v in taped if any(id(d) in pushed for d in ir.flatten_stmts(forward)
                                         if getattr(d, "target", None) == v)}
        count_tapes = sorted(c.tape for c in self.counted.values() if c.tape is not None)
        prologue = [ir.Assign(stacks[v], ir.Call("list"), ()) for v in sorted(taped)]
        prologue += [ir.Assign(t, ir.Call("list"), ()) for t in count_tapes]
        prologue += [ir.Assign(v, ir.Const(None), ()) for v in sorted(needs_init)]
        return tuple(prologue) + new_forward, restore(backward)

    # -- the whole function
    def check_seed(self, result: str, seed: str, origins) -> None:
        """The default seed 1.0 is only right for a scalar output: unless the
        output is proved scalar, the gradient checks, at run time, that the
        seed has the output's shape (a vector output needs a seed of its
        shape, which gives the vector-Jacobian product)."""
        self.canonical[result] = seed
        self.versions[result] = 1
        call = ir.Call("checked_seed", (ir.Name(seed), ir.Name(result), ir.Const(self.fn.name)))
        self.state[result] = self.bind(result, call, True, False, origins)

    def check_numeric(self, result: str, ret) -> None:
        """The differentiated output must be a number or an array: a literal
        None or string there has no gradient to give."""
        for stmt in self.definitions.get(result, ()):
            value = getattr(stmt, "value", None)
            if isinstance(value, ir.Const) and not isinstance(value.value,
                                                               (bool, int, float, complex)):
                self.fail(ret, f"the differentiated output is {value.value!r}, not a number "
                               "or an array", "return the value to differentiate (first, "
                               "when there are several)")

    def keep_outputs(self, results, value, origins) -> tuple:
        """The outputs as the forward pass leaves them: the backward pass
        restores overwritten variables, so an output it may change is kept
        in a name of its own (a copy, for an array written in place)."""
        kept, mapping = [], {}
        for out in dict.fromkeys(results):
            viewed = out in self.written or bool(self.views.get(out))
            if out not in self.mutable and not viewed and out not in self.lists:
                continue
            name = self.namer.fresh(f"{version_base(out)}_value")
            copy = ir.Name(out)
            if viewed:  # written in place, or a view of an array that is
                copy = ir.Call("np.copy", (copy,))
            elif out in self.lists:
                copy = ir.Call("list", (copy,))
            kept.append(ir.Assign(name, copy, origins))
            mapping[out] = ir.Name(name)
        return tuple(kept), ir.substitute(value, mapping)

    def run(self, preserve_result: bool, wrt: tuple) -> Adjoint:
        fn = self.fn
        self.views = _views(fn, self.registry)
        body = self.add_trip_counters(fn.body[:-1])
        self.defined_before = _definedness(body, fn.params)
        ret = fn.body[-1]
        outputs = ret.value.elts if isinstance(ret.value, ir.Tuple) else (ret.value,)
        results = [o.id for o in outputs]
        self.check_numeric(results[0], ret)
        seeds = [self.namer.fresh(gradient_name(version_base(r))) for r in results]
        result, seed = results[0], seeds[0]
        for index, (out, out_seed) in enumerate(zip(results, seeds)):
            self.grad_of[out_seed] = out
            if out not in self.active:
                continue
            if index == 0 and out not in self.scalars:
                self.check_seed(out, out_seed, ret.origins)
                continue
            exact = index == 0 or self.placeholder(out)
            if not exact:
                self.maybe.add(out_seed)
            self.accumulate(out, Term(ir.Name(out_seed), exact), ret.origins)
        for stmt in reversed(body):
            self.reverse_statement(stmt)
        gradients = []
        widens = _fixed_dtypes(fn, self.registry)
        rebound = {s.target for s in ir.flatten_stmts(body) if isinstance(s, ir.Assign)}
        entry_values = []  # a parameter the function rebinds: its dtype as passed
        for w in wrt:
            state = self.state.get(w)
            if isinstance(state, Grad) and state.exact:
                ref = state.ref
            else:
                if isinstance(state, Items):
                    state = self.as_list(w, state, ret.origins)
                ref = self.complete(w, state, ret.origins).ref
            if widens and w not in self.seq_vars:
                like = w
                if w in rebound:
                    like = self.namer.fresh(f"{w}_in")
                    entry_values.append(ir.Assign(like, ir.Name(w), ret.origins))
                ref = ir.Call("in_dtype_of", (ref, ir.Name(like)))
            gradients.append(ref)
        forward, backward = self.resolve_tape(body, tuple(self.backward))
        forward = (*entry_values, *forward)
        gradient = gradients[0] if len(gradients) == 1 else ir.Tuple(tuple(gradients))
        if preserve_result:
            kept, output = self.keep_outputs(results, ret.value, ret.origins)
            forward += kept
            value = ir.Tuple((output, gradient))
        else:
            value = gradient
        # The first output is differentiated by default (a loss returned with
        # auxiliary values); other seeds weight the other outputs.
        params = fn.params + tuple(ir.Param(s, ir.Const(1.0 if i == 0 else 0.0))
                                   for i, s in enumerate(seeds))
        mutable = frozenset(fn.mutable) | frozenset(self.block_names)
        function = ir.Function(fn.name, params, forward + backward + (ir.Return(value),),
                               fn.docstring, mutable)
        return Adjoint(function, len(forward), wrt, seed, result, fn, self.grad_of,
                       tuple(zip(seeds, results)), frozenset(self.maybe))


_FRESH_CALLS = frozenset({"np.zeros_like", "np.copy", "np.zeros", ir.LIST_LITERAL, "list"})


def _fresh(value) -> bool:
    """Whether ``value`` is an array no other name holds: arithmetic makes a
    new one; a helper may hand back its argument (``unbroadcast(g, x)`` is
    ``g`` when nothing was broadcast), a reshape may be a view."""
    if isinstance(value, (ir.BinOp, ir.UnaryOp)):
        return True
    return isinstance(value, ir.Call) and value.func in _FRESH_CALLS


def _base_ref(state):
    """The name a Grad state is held in (None for items)."""
    if isinstance(state, Grad):
        ref = state.ref
        while isinstance(ref, ir.Subscript):
            ref = ref.value
        return ref if isinstance(ref, ir.Name) else None
    return None


def _fixed_dtypes(fn: ir.Function, registry: Registry) -> bool:
    """Whether ``fn`` makes values of a dtype of their own (``np.ones((2, 3))``,
    ``np.log(0.25)``): NumPy then promotes float32 inputs through float64, and
    the gradients are brought back to their variables' dtypes."""
    constants = _constant_names(fn)
    for stmt in ir.flatten_stmts(fn.body):
        value = getattr(stmt, "value", None)
        if not isinstance(value, ir.Call) or value.kwarg("dtype") is not None:
            continue
        if registry.shape_family(value.func) == "constructor":
            return True
        if value.func.startswith("np.") and ir.names_in(value) <= constants:
            return True
    return False


def _constant_names(fn: ir.Function) -> set:
    """Names every assignment of which computes from literals alone
    (``items = [3.0, 0.25]``): NumPy gives such values its default dtype."""
    assigned: dict = {}
    for stmt in ir.flatten_stmts(fn.body):
        target = getattr(stmt, "target", None)
        if isinstance(target, str):
            assigned.setdefault(target, []).append(
                stmt.value if isinstance(stmt, ir.Assign) else None)
    params = {p.name for p in fn.params}
    constants = {n for n, values in assigned.items() if n not in params and None not in values}
    changed = True
    while changed:  # drop names computed from names that are not constants
        changed = False
        for name in list(constants):
            if any(not ir.names_in(v) <= constants for v in assigned[name]):
                constants.discard(name)
                changed = True
    return constants


def _items_expr(state: Items):
    """A list literal holding the items of ``state`` (zeros as the placeholder)."""
    return ir.Call(ir.LIST_LITERAL, tuple(
        PLACEHOLDER if s is None else _items_expr(s) if isinstance(s, Items) else s.ref
        for s in state.items))


def _is_literal(value) -> bool:
    return isinstance(value, ir.Tuple) or (
        isinstance(value, ir.Call) and value.func == ir.LIST_LITERAL)


def _literal_size(definitions) -> int | None:
    """The length every definition of a sequence variable gives it, if one."""
    sizes = set()
    for stmt in definitions:
        if not (isinstance(stmt, ir.Assign) and _is_literal(stmt.value)):
            return None
        value = stmt.value
        sizes.add(len(value.elts if isinstance(value, ir.Tuple) else value.args))
    return sizes.pop() if len(sizes) == 1 else None


def _definitions(fn: ir.Function) -> dict:
    found: dict = {}
    for stmt in ir.flatten_stmts(fn.body):
        if isinstance(stmt, (ir.Assign, ir.SetItem, ir.Append)):
            found.setdefault(stmt.target, []).append(stmt)
    return found


def _views(fn: ir.Function, registry: Registry) -> dict:
    """name -> the arrays written in place that its value may be a view of
    (so that the backward pass, reading it, needs those arrays restored)."""
    written = {s.target for s in ir.flatten_stmts(fn.body) if isinstance(s, (ir.SetItem,
                                                                                ir.Append))}
    views: dict = {w: {w} for w in written}
    changed = True
    while changed:
        changed = False
        for stmt in ir.flatten_stmts(fn.body):
            if not isinstance(stmt, ir.Assign):
                continue
            sources = _view_sources(stmt.value, registry)
            found = set().union(*(views.get(s, set()) for s in sources)) if sources else set()
            if found - views.get(stmt.target, set()):
                views.setdefault(stmt.target, set()).update(found)
                changed = True
    return {k: frozenset(v - {k}) for k, v in views.items() if v - {k}}


def _view_sources(value, registry: Registry) -> set:
    """Names whose memory ``value`` may share."""
    if isinstance(value, ir.Name):
        return {value.id}
    if _is_literal(value):
        return ir.names_in(value)
    primitive = primitive_of(value)
    if primitive is not None and registry.returns_view(primitive):
        args, _ = primitive_args(value)
        return {a.id for a in args[:1] if isinstance(a, ir.Name)}
    return set()


def _dynamic_names(expr, statics, static_calls) -> set:
    """Names whose values (not only shapes or sizes) ``expr`` reads."""
    if isinstance(expr, ir.Name):
        return {expr.id}
    if is_static(expr, statics, static_calls):
        return set()
    return set().union(*(_dynamic_names(c, statics, static_calls) for c in ir.children(expr)))


def _reads_grad(expr) -> bool:
    return any(isinstance(e, ir.Call) and e.func == GRAD for e in ir.walk(expr))


def _breaks(body) -> bool:
    """Whether a loop body may leave its loop (not counting nested loops)."""
    return any(isinstance(s, ir.Break) or (isinstance(s, ir.If) and _breaks(s.body + s.orelse))
               for s in body)


def _map_blocks(stmt, fn):
    """``stmt`` with ``fn`` applied to each of its nested blocks."""
    if isinstance(stmt, ir.If):
        return ir.If(stmt.test, fn(stmt.body), fn(stmt.orelse), stmt.origins)
    if isinstance(stmt, ir.For):
        return ir.For(stmt.target, stmt.start, stmt.stop, stmt.step, fn(stmt.body),
                      stmt.origins, stmt.reverse, stmt.limit)
    if isinstance(stmt, ir.While):
        return ir.While(fn(stmt.test_body), stmt.test, fn(stmt.body), stmt.origins)
    return stmt


def resolve_wrt(fn: ir.Function, wrt: tuple) -> tuple:
    """Parameter names for ``wrt`` entries given as indices or names."""
    names = [p.name for p in fn.params]
    resolved = []
    for item in wrt:
        if isinstance(item, int) and not isinstance(item, bool):
            if not -len(names) <= item < len(names):
                raise UsageError(f"wrt={item} is out of range: {fn.name}() has "
                                 f"{len(names)} parameters ({', '.join(names)})")
            name = names[item]
        elif isinstance(item, str) and item in names:
            name = item
        else:
            raise UsageError(f"wrt={item!r} is not a parameter of {fn.name}()",
                             hint=f"parameters: {', '.join(names)}")
        if name in resolved:
            raise UsageError(f"wrt names {name!r} twice")
        resolved.append(name)
    if not resolved:
        raise UsageError("wrt is empty: name at least one parameter")
    return tuple(resolved)


def reverse(fn: ir.Function, wrt, registry: Registry, preserve_result: bool = False,
            filename: str = "<string>", shapes: dict | None = None) -> Adjoint:
    """The adjoint of ``fn`` with respect to the parameters ``wrt``.

    ``shapes``: shape annotations of parameters, beside those of the
    signature.  Variables that shape inference proves scalar get the exact
    ``0.0`` as their zero gradient, and an output among them needs no check
    of its seed."""
    names = resolve_wrt(fn, tuple(wrt))
    scalars = shape_facts.scalars(fn, dict(shapes or {}), registry)
    return _Reverse(fn, names, registry, filename, scalars).run(preserve_result, names)


