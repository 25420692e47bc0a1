"""Stage 5, transform: the reverse-mode adjoint, instantiated from the rules.

Input: a function in ANF (see normalize).  Output: one IR function whose body
is the forward pass (the primal statements, plus what the backward pass needs
recorded), then the backward pass: for each active statement, in reverse
order, the rule of its primitive with parameters bound to the statement's
operands and ``d[result]`` bound to the gradient of its result.

* Straight-line values get SSA gradients: one rule's contributions to one
  variable are summed in one expression; a later contribution defines a new
  version ``d_x@acc2 = d_x + ...``.
* Values assigned more than once, or used inside a block, get a running sum
  (initialised to zero, reset after the adjoint of each definition).
* A branch's adjoint is a branch on the same test; a ``for`` loop's adjoint is
  the same loop over ``reversed(range(...))``; a ``while`` loop, or a loop
  that may ``break``, counts its trips and its adjoint loops over them.
* The tape: values that a definition may overwrite (it runs in a loop, or
  after another definition on some path) and that the backward pass reads
  are pushed on plain lists before being overwritten and popped back after
  the definition's adjoint.  Nothing else is saved.

Every gradient this stage emits has exactly the shape of its variable
(rules undo broadcasting and reductions explicitly); the simplifier is what
removes the ``unbroadcast``/``unreduce`` calls that shapes prove needless.
"""

from __future__ import annotations

from dataclasses import dataclass

from gradgen import ir
from gradgen.activity import active_names
from gradgen.errors import Location, UnsupportedSyntaxError, UsageError
from gradgen.normalize import Namer, is_static, primitive_args, primitive_of, version_base
from gradgen.rules import GRAD, Registry, Rule, TAssign, TGrad, TIf, TUnsupported, bind, static_truth

GRAD_PREFIX = "d_"


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


def gradient_name(var: str) -> str:
    """The documented convention: the gradient of ``x`` is ``d_x``."""
    return GRAD_PREFIX + var


@dataclass(frozen=True)
class _Restore:
    """Placeholder in the backward pass: restore the value a definition
    overwrote, if that value turns out to be needed (then the forward pass
    saves it).  Resolved once the whole backward pass is known."""

    definition: object  # the forward ir.Assign / ir.SetItem
    origins: tuple = ()


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
        if in_loop or earlier or name in params or isinstance(stmt, ir.SetItem):
            overwriting.add(id(stmt))
    return overwriting


class _Reverse:
    def __init__(self, fn: ir.Function, wrt: tuple, registry: Registry, filename: str):
        self.fn = fn
        self.registry = registry
        self.filename = filename
        self.active = active_names(fn, wrt, registry)
        taken = {n for s in ir.flatten_stmts(fn.body) for n in ir.defined_names(s)}
        taken |= {p.name for p in fn.params} | {"np"}
        self.namer = Namer(taken)
        self.grads: dict = {}  # variable -> Name of its current gradient
        self.grad_of: dict = {}
        self.blocks: list = [[]]
        self.mutable = fn.mutable
        self.lists = {s.target for s in ir.flatten_stmts(fn.body) if isinstance(s, ir.Assign)
                      and isinstance(s.value, ir.Call) and s.value.func == ir.LIST_LITERAL}
        self.accumulators = self._accumulators() | (self.lists & self.active)
        self.integers = self._integer_names()

    # -- analysis
    def _accumulators(self) -> set:
        """Variables whose gradient is a running sum: those assigned more than
        once, and those used inside a loop or branch."""
        found = {v for v in self.mutable if v in self.active}

        def visit(body, depth):
            for stmt in body:
                if depth and isinstance(stmt, (ir.Assign, ir.SetItem, ir.Append)) and (
                        stmt.target in self.active):
                    found.update(n for n in ir.names_in(stmt.value) if n in self.active)
                    found.add(stmt.target)
                for block in ir.blocks(stmt):
                    visit(block, depth + 1)

        visit(self.fn.body, 0)
        return found

    def _integer_names(self) -> set:
        ints = {s.target for s in ir.flatten_stmts(self.fn.body) if isinstance(s, ir.For)}
        for stmt in ir.flatten_stmts(self.fn.body):
            if isinstance(stmt, ir.Assign) and is_static(stmt.value, ints):
                ints.add(stmt.target)
        return ints

    @property
    def backward(self) -> list:
        return self.blocks[-1]

    def emit(self, stmt) -> None:
        self.backward.append(stmt)

    def fail(self, stmt, message: str, hint: str = ""):
        origin = stmt.origins[0] if stmt.origins else None
        location = None
        if origin is not None:
            location = Location(self.filename, origin.line, origin.col, origin.text)
        raise UnsupportedSyntaxError(message, location, hint)

    def gradient_var(self, var: str) -> str:
        return self.namer.fresh(gradient_name(var))

    # -- gradients
    def accumulate(self, var: str, expr, origins) -> None:
        if var in self.accumulators:
            name = self.grads[var]
            if (isinstance(expr, ir.Call) and expr.func == "unindex"
                    and self._basic_index(expr.args[2]) and var in self.array_accumulators):
                g, _, index = expr.args
                element = ir.Subscript(name, index)
                self.emit(ir.SetItem(name.id, index, ir.BinOp("+", element, g), origins))
            elif var in self.lists:
                self.emit(ir.Assign(name.id, ir.Call("add_lists", (name, expr)), origins))
            else:
                self.emit(ir.Assign(name.id, ir.BinOp("+", name, expr), origins))
            return
        if var in self.grads:
            current = self.grads[var]
            name = self.namer.fresh(f"{current.id.split('@')[0]}@acc")
            self.emit(ir.Assign(name, ir.BinOp("+", current, expr), origins))
        else:
            name = self.gradient_var(var)
            self.emit(ir.Assign(name, expr, origins))
        self.grads[var] = ir.Name(name)
        self.grad_of[name] = var

    def _basic_index(self, index) -> bool:
        parts = index.elts if isinstance(index, ir.Tuple) else (index,)
        return all(isinstance(p, ir.Slice) or is_static(p, self.integers) for p in parts)

    def bind(self, rule: Rule, stmt: ir.Assign) -> dict:
        args, kwargs = primitive_args(stmt.value)
        return bind(rule, args, kwargs, ir.Name(stmt.target), lambda m: self.fail(stmt, m))

    def instantiate(self, rule: Rule, stmt: ir.Assign) -> list:
        env = self.bind(rule, stmt)
        d_result = self.grads[stmt.target]
        contributions: dict = {}

        def expand(expr):
            if isinstance(expr, ir.Call) and expr.func == GRAD:
                (param,) = expr.args
                if param.id != rule.result:
                    raise AssertionError(f"rule {rule.name} reads d[{param.id}]")
                return d_result
            if isinstance(expr, ir.Name) and expr.id in env:
                return env[expr.id]
            return ir.map_children(expr, expand)

        def run(body):
            for t in body:
                if isinstance(t, TAssign):
                    local = self.namer.fresh(f"{t.target}_{version_base(stmt.target)}")
                    self.emit(ir.Assign(local, expand(t.value), stmt.origins))
                    env[t.target] = ir.Name(local)
                elif isinstance(t, TGrad):
                    bound = env[t.param]
                    if isinstance(bound, ir.Name) and bound.id in self.active:
                        term = expand(t.value)
                        previous = contributions.get(bound.id)
                        contributions[bound.id] = term if previous is None else ir.BinOp(
                            "+", previous, term)
                elif isinstance(t, TIf):
                    test = static_truth(expand(t.test), lambda m: self.fail(stmt, m))
                    run(t.body if test else t.orelse)
                elif isinstance(t, TUnsupported):
                    self.fail(stmt, t.message)

        run(rule.body)
        return list(contributions.items())

    def zero_of(self, var: str):
        """A fresh zero gradient for ``var``: an array where elements are written,
        a list of zeros for a list."""
        if var in self.lists:
            return ir.BinOp("*", ir.Call(ir.LIST_LITERAL, (ir.Const(0.0),)),
                            ir.Call("len", (ir.Name(var),)))
        if var in self.array_accumulators:
            return ir.Call("np.zeros_like", (ir.Name(var),))
        return ir.Const(0.0)

    # -- statements
    def reverse_block(self, body) -> tuple:
        self.blocks.append([])
        for stmt in reversed(body):
            self.reverse_statement(stmt)
        return tuple(self.blocks.pop())

    def reverse_statement(self, stmt) -> None:
        if isinstance(stmt, ir.Assign):
            self.reverse_assign(stmt)
        elif isinstance(stmt, ir.Append):
            self.reverse_append(stmt)
        elif isinstance(stmt, ir.SetItem):
            self.reverse_set_item(stmt)
        elif isinstance(stmt, ir.If):
            body, orelse = self.reverse_block(stmt.body), self.reverse_block(stmt.orelse)
            if body or orelse:
                self.emit(ir.If(stmt.test, body, orelse, stmt.origins))
        elif isinstance(stmt, ir.For):
            body = self.reverse_block(stmt.body)
            counter = self.trip_counters.get(id(stmt))
            if body:
                self.emit(ir.For(stmt.target, stmt.start, stmt.stop, stmt.step, body,
                                 stmt.origins, reverse=True,
                                 limit=None if counter is None else ir.Name(counter)))
        elif isinstance(stmt, ir.While):
            body = self.reverse_block(stmt.body)
            if body:
                counter = self.trip_counters[id(stmt)]  # keyed by the counted loop
                self.emit(ir.For(self.namer.fresh("trip"), ir.Const(0), ir.Name(counter),
                                 ir.Const(1), body, stmt.origins))

    def reverse_assign(self, stmt: ir.Assign) -> None:
        target = stmt.target
        if target in self.active and target in self.grads:
            rule = self.registry.rule(primitive_of(stmt.value) or "")
            if isinstance(stmt.value, ir.Name):
                contributions = [(stmt.value.id, self.grads[target])]
            elif isinstance(stmt.value, ir.Call) and stmt.value.func == ir.LIST_LITERAL:
                contributions = [(a.id, ir.Subscript(self.grads[target], ir.Const(i)))
                                 for i, a in enumerate(stmt.value.args)
                                 if isinstance(a, ir.Name) and a.id in self.active]
            elif rule is None:
                contributions = []  # a constructor like np.zeros: no operand to credit
            else:
                contributions = self.instantiate(rule, stmt)
            for var, expr in contributions:
                self.accumulate(var, expr, stmt.origins)
            if target in self.accumulators and target in self.mutable:
                # The value overwritten here is another value: its gradient starts at zero.
                self.emit(ir.Assign(self.grads[target].id, self.zero_of(target), stmt.origins))
        if target in self.mutable:
            self.emit(_Restore(stmt, stmt.origins))

    def reverse_append(self, stmt: ir.Append) -> None:
        """The last gradient of the list belongs to the value appended last."""
        if stmt.target in self.active:
            d_list = self.grads[stmt.target]
            value = stmt.value
            if isinstance(value, ir.Name) and value.id in self.active:
                self.accumulate(value.id, ir.Call(f"{d_list.id}.pop"), stmt.origins)
            else:
                self.emit(ir.ListPop(d_list.id, stmt.origins))
        self.emit(_Restore(stmt, stmt.origins))

    def reverse_set_item(self, stmt: ir.SetItem) -> None:
        target = stmt.target
        if target in self.active:
            d_target = self.grads[target]
            element = ir.Subscript(d_target, stmt.index)
            value = stmt.value
            if isinstance(value, ir.Name) and value.id in self.active:
                if value.id not in self.accumulators:
                    element = ir.Call("np.copy", (element,))
                self.accumulate(value.id, element, stmt.origins)
            # The overwritten elements did not reach the output.
            self.emit(ir.SetItem(d_target.id, stmt.index, ir.Const(0.0), stmt.origins))
        self.emit(_Restore(stmt, stmt.origins))

    # -- the tape
    def add_trip_counters(self, body) -> tuple:
        """Count the trips of each while loop, and of each for loop that may
        break, so that the adjoint loops over exactly the trips that ran."""
        out = []
        for stmt in body:
            if isinstance(stmt, (ir.While, ir.For)) and (
                    isinstance(stmt, ir.While) or _breaks(stmt.body)):
                counter = self.namer.fresh("trips")
                increment = ir.Assign(counter, ir.BinOp("+", ir.Name(counter), ir.Const(1)),
                                      stmt.origins)
                inner = (increment,) + self.add_trip_counters(stmt.body)
                if isinstance(stmt, ir.While):
                    new = ir.While(stmt.test_body, stmt.test, inner, stmt.origins)
                else:
                    new = ir.For(stmt.target, stmt.start, stmt.stop, stmt.step, inner,
                                 stmt.origins)
                self.trip_counters[id(new)] = counter
                out += [ir.Assign(counter, ir.Const(0), stmt.origins), new]
            elif isinstance(stmt, ir.If):
                out.append(ir.If(stmt.test, self.add_trip_counters(stmt.body),
                                 self.add_trip_counters(stmt.orelse), stmt.origins))
            elif isinstance(stmt, ir.For):
                out.append(ir.For(stmt.target, stmt.start, stmt.stop, stmt.step,
                                  self.add_trip_counters(stmt.body), stmt.origins))
            else:
                out.append(stmt)
        return tuple(out)

    def resolve_tape(self, forward: tuple, backward: tuple):
        """Save exactly the overwritten values the backward pass reads."""
        read = set()
        for stmt in ir.flatten_stmts(backward):
            if not isinstance(stmt, _Restore):
                read |= ir.names_in(ir.Tuple(ir.stmt_exprs(stmt)))
        loop_targets = {s.target for s in ir.flatten_stmts(forward) if isinstance(s, ir.For)}
        overwriting = _overwriting_definitions(self.fn)
        params = {p.name for p in self.fn.params}
        defined_first = set(params)  # defined before any overwriting definition runs
        for stmt in ir.flatten_stmts(self.fn.body):
            if isinstance(stmt, ir.Assign) and id(stmt) not in overwriting:
                defined_first.add(stmt.target)
        taped = {v for v in self.mutable if v in read and v not in loop_targets}
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
        prologue = [ir.Assign(stacks[v], ir.Call("list"), ()) for v in sorted(taped)]
        prologue += [ir.Assign(v, ir.Const(None), ()) for v in sorted(needs_init)]
        return tuple(prologue) + new_forward, restore(backward), sorted(taped)

    def run(self, preserve_result: bool, wrt: tuple) -> Adjoint:
        fn = self.fn
        self.trip_counters = {}
        body = self.add_trip_counters(fn.body[:-1])
        ret = fn.body[-1]
        outputs = ret.value.elts if isinstance(ret.value, ir.Tuple) else (ret.value,)
        results = [o.id for o in outputs]
        seeds = [self.namer.fresh(gradient_name(version_base(r))) for r in results]
        result, seed = results[0], seeds[0]
        writes = {s.target for s in ir.flatten_stmts(body) if isinstance(s, ir.SetItem)}
        overwriting = _overwriting_definitions(fn)
        top_level = {s.target for s in fn.body if isinstance(s, ir.Assign)
                     and id(s) not in overwriting}
        self.array_accumulators = {v for v in self.accumulators
                                   if v in writes or v in {p.name for p in fn.params}
                                   or v in top_level or v in self.lists}
        prologue = []
        for var in sorted(self.accumulators):
            name = gradient_name(var) if var != result else seed
            if var != result:
                name = self.namer.fresh(name)
                prologue.append(ir.Assign(name, self.zero_of(var), ()))
            elif var in self.array_accumulators:
                prologue.append(ir.Assign(name, ir.BinOp("*", ir.Name(name), ir.Call(
                    "np.ones_like", (ir.Name(var),))), ()))
            self.grads[var] = ir.Name(name)
            self.grad_of[name] = var
        self.blocks = [list(prologue)]
        for out, out_seed in zip(results, seeds):
            self.grad_of[out_seed] = out
            if out not in self.active and out not in wrt:
                continue
            if out in self.accumulators and out != result:
                self.accumulate(out, ir.Name(out_seed), ret.origins)
            elif out in self.grads and ir.Name(out_seed) != self.grads[out]:
                self.accumulate(out, ir.Name(out_seed), ret.origins)
            else:
                self.grads[out] = ir.Name(out_seed)
        for stmt in reversed(body):
            self.reverse_statement(stmt)
        forward, backward, _ = self.resolve_tape(body, tuple(self.backward))
        outputs = tuple(
            self.grads.get(w, ir.Call("np.zeros_like", (ir.Name(w),))) for w in wrt
        )
        gradient = outputs[0] if len(outputs) == 1 else ir.Tuple(outputs)
        value = ir.Tuple((ret.value, gradient)) if preserve_result else gradient
        # The first output is differentiated by default (a loss returned with
        # auxiliary values); other seeds weight the other outputs.
        params = fn.params + tuple(ir.Param(s, ir.Const(1.0 if i == 0 else 0.0))
                                   for i, s in enumerate(seeds))
        function = ir.Function(fn.name, params, forward + backward + (ir.Return(value),),
                               fn.docstring, fn.mutable)
        return Adjoint(function, len(forward), wrt, seed, result, fn, self.grad_of,
                       tuple(zip(seeds, results)))


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
            filename: str = "<string>") -> Adjoint:
    """The adjoint of ``fn`` with respect to the parameters ``wrt``."""
    names = resolve_wrt(fn, tuple(wrt))
    return _Reverse(fn, names, registry, filename).run(preserve_result, names)
