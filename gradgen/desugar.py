"""Stage 1b, desugar: the Python people write -> the subset later stages read.

Each rewrite is a source-to-source change with the same meaning, made before
the fence checks the subset, so that one transformer serves both spellings:

* a ``lambda`` bound to a local name is a nested ``def`` of that name;
* a list comprehension is a list built by a loop (``hs = []``, then ``for W
  in Ws: hs.append(...)``), conditions and nested ``for`` clauses included;
  ``sum(...)`` of a generator or a comprehension is a running total built by
  a loop, ``list(...)`` of a generator a list.  A comprehension's variables
  are renamed apart where the function uses the same name outside it (in
  Python 3 they are local to the comprehension);
* ``for a, b in pairs`` unpacks in the body (``for pair in pairs: a, b =
  pair``, and the same inside ``enumerate``); ``for x, y in zip(X, Y)`` and
  ``for x in reversed(X)`` are index loops over the sequences, read once
  before the loop as Python does;
* ``return`` anywhere becomes one ``return`` at the end.  The statements
  after an ``if`` whose branch returns move into the branches that do not
  return; a ``return`` inside a loop stores its value, sets a flag and breaks
  out of every enclosing loop, and what follows the loop runs only when the
  flag is unset; then every path assigns the output (``result``, or
  ``result_1, result_2`` for several) and the function returns it once.  A
  path that reaches the end without a ``return`` is refused, as are returns
  of different numbers of values.

Every node made here maps to the user's node it comes from
(:attr:`Desugared.origin_of`), so errors and the ``# Grad of:`` comments of
the generated code quote the user's line.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

import libcst as cst

from gradgen.errors import UnsupportedSyntaxError

_STATEMENT_LISTS = (cst.IndentedBlock, cst.SimpleStatementSuite)
_MAX_GROWTH = 8  # how many times its size early-return lifting may make a body


class Desugarer:
    """Rewrites the functions of one module; ``origin_of`` maps each new node
    to the user's node it stands for."""

    def __init__(self, positions, locate, origin_of: dict, module_functions: frozenset):
        self.module_functions = module_functions
        self.dict_names: dict = {}  # of the function being desugared: name -> (keys, names)
        self.positions = positions
        self.locate = locate  # node -> Location, for refusals
        self.origin_of = dict(origin_of)

    # -- bookkeeping
    def made(self, new, old):
        """Record ``old`` as the origin of every node of ``new`` that has no
        position of its own; returns ``new``."""
        origin = self.origin_of.get(old, old)
        known, mapped = self.positions, self.origin_of

        class Record(cst.CSTVisitor):
            def on_visit(self, node):
                if node in known or node in mapped:
                    return False  # the user's own code, or already traced to it
                mapped.setdefault(node, origin)
                return True

        new.visit(Record())
        return new

    def refuse(self, node, message: str, hint: str = ""):
        raise UnsupportedSyntaxError(message, self.locate(self.origin_of.get(node, node)), hint)

    # -- functions
    def function(self, fn: cst.FunctionDef) -> cst.FunctionDef:
        names = _NameSource(fn, self.module_functions)
        self.dict_names = {}
        body = self.dicts(list(fn.body.body), names)
        body = self.block(body, names)
        body = _without_unread(body, names.transposed)
        body = self.single_return(body, fn, names)
        return self.made(fn.with_changes(body=fn.body.with_changes(body=body)), fn)

    # -- dicts built in the function
    def dicts(self, body: list, names) -> list:
        """``body`` with each dict literal bound once at its top level
        (``d = {"a": e1, "b": e2}``, constant keys) as one name per key
        (``d_a = e1``...), and its reads by key, ``.items()``,
        ``.values()``, ``.keys()``, iteration and ``len()`` as those names."""
        out = []
        for stmt in body:
            found = _dict_binding(stmt)
            if found is None or names.bindings[found[0]] != 1:
                out.append(stmt)
                continue
            name, literal = found
            keys, lines, held = [], [], {}
            for k, element in enumerate(literal.elements):
                if not isinstance(element, cst.DictElement) or not isinstance(
                        element.key, (cst.SimpleString, cst.Integer)):
                    self.refuse(element, "a dict built here needs constant keys, without **",
                                "write each key as a string or integer literal")
                key = element.key.evaluated_value
                base = f"{name}_{key}" if str(key).isidentifier() else f"{name}_{k}"
                held[key] = names.fresh(base)
                keys.append(key)
                lines.append(self.made(_assign(held[key], element.value), stmt))
            out += lines
            self.dict_names[name] = (keys, held)
        if not self.dict_names:
            return out
        reads = _DictReads(self.dict_names, self)
        return [stmt.visit(reads) for stmt in out]

    def block(self, statements: list, names: _NameSource) -> list:
        out: list = []
        for stmt in statements:
            out += self.statement(stmt, names)
        return out

    def statement(self, stmt, names) -> list:
        if isinstance(stmt, cst.FunctionDef):
            return [self.function(stmt)]
        if isinstance(stmt, cst.If):
            before, test = self.hoist(stmt.test, stmt, names)
            orelse = stmt.orelse
            if isinstance(orelse, cst.If):
                lines = self.statement(orelse, names)
                orelse = lines[0] if len(lines) == 1 else self.made(
                    cst.Else(body=cst.IndentedBlock(body=lines)), orelse)
            elif orelse is not None:
                orelse = orelse.with_changes(body=_indented(
                    orelse.body, self.block(list(orelse.body.body), names)))
            new = stmt.with_changes(test=test, body=_indented(
                stmt.body, self.block(list(stmt.body.body), names)), orelse=orelse)
            return before + [self.made(new, stmt)]
        if isinstance(stmt, cst.For):
            before, iterable = self.hoist(stmt.iter, stmt, names)
            if before:
                stmt = self.made(stmt.with_changes(iter=iterable), stmt)
            rewritten = self.loop(stmt, names)
            if rewritten is not None:
                return before + self.block(rewritten, names)
            new = stmt.with_changes(body=_indented(stmt.body, self.block(
                list(stmt.body.body), names)))
            return before + [self.made(new, stmt)]
        if isinstance(stmt, cst.While):
            loop = stmt.with_changes(body=_indented(stmt.body, self.block(
                list(stmt.body.body), names)))
            return [self.made(loop, stmt)]
        if isinstance(stmt, cst.SimpleStatementLine):
            out: list = []
            for small in stmt.body:
                out += self.small(small, stmt, names)
            return out
        return [stmt]

    def small(self, small, line, names) -> list:
        """One small statement of a line, as lines."""
        if (isinstance(small, cst.Assign) and len(small.targets) == 1
                and isinstance(small.targets[0].target, cst.Name)
                and isinstance(small.value, cst.Lambda)):
            return [self.lambda_def(small.targets[0].target, small.value, line)]
        if isinstance(small, cst.Return) and isinstance(small.value, cst.IfExp):
            return self.statement(self.made(_return_if(small.value), line), names)
        target = None
        if (isinstance(small, cst.Assign) and len(small.targets) == 1
                and isinstance(small.targets[0].target, cst.Name)):
            target = small.targets[0].target.value
        value = getattr(small, "value", None)
        if value is not None and target is not None and _builds_in_place(value, target, names):
            # `hs = [... for ...]`, `loss = sum(...)`: build into the name itself
            return self.comprehension(value, target, line, names)
        if value is None or not _comprehensions(value, names):
            return [self.made(cst.SimpleStatementLine(body=[small]), line)
                    if len(line.body) > 1 else line]
        before, value = self.hoist(value, line, names)
        new = self.made(cst.SimpleStatementLine(body=[small.with_changes(value=value)]), line)
        return before + [new]

    def lambda_def(self, name: cst.Name, lam: cst.Lambda, line) -> cst.FunctionDef:
        body = cst.IndentedBlock(body=[cst.SimpleStatementLine(body=[cst.Return(lam.body)])])
        params = lam.params.with_changes(star_arg=lam.params.star_arg)
        return self.made(cst.FunctionDef(name=name, params=params, body=body), line)

    # -- comprehensions
    def hoist(self, expr, stmt, names) -> tuple:
        """(statements that compute the comprehensions of ``expr``, ``expr``
        with each replaced by the name holding its value)."""
        found = _comprehensions(expr, names)
        if not found:
            return [], expr
        before: list = []
        replacements: dict = {}
        for node in found:
            name = names.fresh("total" if _is_sum(node) else "values")
            before += self.comprehension(node, name, stmt, names)
            replacements[node] = cst.Name(name)
        return before, expr.visit(_Replace(replacements))

    def comprehension(self, node, name: str, stmt, names) -> list:
        """Lines that leave the value of ``node`` (a list comprehension, or
        ``sum``/``list`` of one or of a generator) in ``name``."""
        inner = node.args[0].value if isinstance(node, cst.Call) else node
        if not isinstance(inner, (cst.ListComp, cst.GeneratorExp)):  # sum(xs)
            item = names.fresh("item")
            inner = cst.GeneratorExp(elt=cst.Name(item), for_in=cst.CompFor(
                target=cst.Name(item), iter=inner))
        if inner.for_in.asynchronous is not None:
            self.refuse(inner, "async comprehensions are not supported")
        rename = _Rename(self.renames_apart(inner, names))
        element: Any = inner.elt.visit(rename)
        if _is_sum(node):
            start = node.args[1].value if len(node.args) > 1 else cst.Integer("0")
            first = _assign(name, start)
            step = _assign(name, cst.BinaryOperation(cst.Name(name), cst.Add(), element))
        else:
            first, step = _assign(name, cst.List([])), _append(name, element)
        body: list[Any] = [step]
        for position, clause in reversed(list(enumerate(_clauses(inner)))):
            for condition in reversed(clause.ifs):
                body = [cst.If(test=condition.test.visit(rename),
                               body=cst.IndentedBlock(body=body))]
            # the first clause's iterable is evaluated outside the comprehension
            iterable = clause.iter if position == 0 else clause.iter.visit(rename)
            body = [cst.For(target=clause.target.visit(rename), iter=iterable,
                            body=cst.IndentedBlock(body=body))]
        return self.block([self.made(s, stmt) for s in [first, *body]], names)

    def renames_apart(self, comp, names) -> dict:
        """New names for the comprehension's variables that the function
        also uses outside it."""
        inside = Counter(n.value for n in _names(comp))
        renames: dict = {}
        for clause in _clauses(comp):
            for bound in _names(clause.target):
                if names.count[bound.value] > inside[bound.value] and bound.value not in renames:
                    renames[bound.value] = names.fresh(bound.value)
        return renames

    # -- loops
    def loop(self, stmt: cst.For, names) -> list | None:
        """``stmt`` as lines ending in a loop over ``range``, over one
        sequence or ``enumerate`` of one into two names; None when it is one."""
        iterable: Any = stmt.iter
        target: Any = stmt.target
        callee = _builtin_call(iterable, names)
        if callee == "enumerate" and len(iterable.args) == 1 and isinstance(target, cst.Tuple) \
                and len(target.elements) == 2:
            index, item = (e.value for e in target.elements)
            columns = self.columns(iterable.args[0].value, item, names)
            if columns is not None and isinstance(index, cst.Name):
                return self.index_loop(stmt, columns, names, index=index.value, rows=True)
            if isinstance(item, cst.Name):
                return None
            held = names.fresh("item")
            new_target = target.with_changes(elements=[
                target.elements[0], target.elements[1].with_changes(value=cst.Name(held))])
            return [self.made(stmt.with_changes(target=new_target, body=_indented(
                stmt.body, [_assign_target(item, cst.Name(held)), *stmt.body.body])), stmt)]
        if callee in ("zip", "reversed"):
            if any(a.keyword or a.star for a in iterable.args) or not iterable.args:
                self.refuse(iterable, f"{callee}() takes sequences as positional arguments here")
            sequences = [a.value for a in iterable.args]
            if callee == "reversed":
                if len(sequences) != 1:
                    self.refuse(iterable, "reversed() takes one sequence")
                return self.index_loop(stmt, [(target, sequences[0])], names, backwards=True)
            if not (isinstance(target, cst.Tuple) and len(target.elements) == len(sequences)):
                self.refuse(target, f"unpack zip() of {len(sequences)} sequences into "
                            f"{len(sequences)} names", "write `for x, y in zip(X, Y)`")
            return self.index_loop(stmt, list(zip((e.value for e in target.elements),
                                                  sequences)), names)
        if isinstance(target, cst.Tuple) and callee != "range":
            columns = self.columns(iterable, target, names)
            if columns is not None:
                return self.index_loop(stmt, columns, names, rows=True)
            item = names.fresh("_".join(n.value for n in _names(target))[:20] or "item")
            unpack = _assign_target(target, cst.Name(item))
            return [self.made(stmt.with_changes(target=cst.Name(item), body=_indented(
                stmt.body, [unpack, *stmt.body.body])), stmt)]
        return None

    def columns(self, sequence, target, names) -> list | None:
        """For ``for a, b in [(A1, B1), (A2, B2)]`` (the literal written
        there, or bound once to a name nothing changes), the pairs
        ``(a, [A1, A2])``, ``(b, [B1, B2])``: the loop reads lists of arrays
        instead of tuples."""
        if not isinstance(target, cst.Tuple) or not all(
                isinstance(e.value, cst.Name) for e in target.elements):
            return None
        bound = sequence.value if isinstance(sequence, cst.Name) else None
        if bound is not None:
            sequence = names.literal_of(bound)
        if not isinstance(sequence, (cst.List, cst.Tuple)) or not sequence.elements:
            return None
        width = len(target.elements)
        rows: list[Any] = [e.value for e in sequence.elements]
        if not all(isinstance(r, cst.Tuple) and len(r.elements) == width and not any(
                isinstance(x, cst.StarredElement) for x in r.elements) for r in rows):
            return None
        if bound is not None:
            names.transposed.add(bound)
        elements: list[Any] = list(target.elements)
        return [(t.value, cst.List([cst.Element(r.elements[j].value) for r in rows]))
                for j, t in enumerate(elements) if not names.unused(t.value.value)]

    def index_loop(self, stmt, reads: list, names, index: str | None = None,
                   backwards: bool = False, rows: bool = False) -> list:
        """``stmt`` as ``for k in range(...)`` whose body first binds each
        target of ``reads`` ((target, sequence) pairs) to the sequence's
        item ``k``; the sequences are read once, before the loop.  ``rows``:
        the sequences are columns of one literal, of the same length."""
        before, held = [], []
        for target, sequence in reads:
            if isinstance(sequence, cst.Name) and not names.assigned_in(stmt, sequence.value):
                held.append(sequence.value)
                continue
            base = f"{target.value}s" if isinstance(target, cst.Name) else "items"
            copy = names.fresh(base)
            before.append(self.made(_assign(copy, sequence), stmt))
            held.append(copy)
        index = index or names.fresh("k")
        if backwards:
            bounds = f"len({held[0]}) - 1, -1, -1"
        elif len(held) == 1 or rows:
            bounds = f"len({held[0]})"
        else:
            bounds = f"min({', '.join(f'len({h})' for h in held)})"
        body = [_assign_target(t, cst.parse_expression(f"{h}[{index}]"))
                for (t, _), h in zip(reads, held)]
        loop = stmt.with_changes(target=cst.Name(index),
                                 iter=cst.parse_expression(f"range({bounds})"),
                                 body=_indented(stmt.body, body + list(stmt.body.body)))
        return before + [self.made(loop, stmt)]

    # -- one return at the end
    def single_return(self, body: list, fn, names) -> list:
        returns = _returns(body)
        if not returns or (len(returns) == 1 and _is_return_line(body[-1])):
            return body
        size = sum(len(_names(s)) for s in body) + 1
        lifted = self.lift(body, names, flag=None)
        if sum(len(_names(s)) for s in lifted) > _MAX_GROWTH * size + 200:
            self.refuse(returns[0], "too many early returns to move into one return at the end",
                        "assign the output to a name in each branch and return it once at the end")
        arity = self.arity(_returns(lifted))
        targets = (["result"] if arity is None
                   else [f"result_{k}" for k in range(1, arity + 1)])
        targets = [names.fresh(t) for t in targets]
        assigned = self.assign_tails(lifted, targets, fn)
        value = ", ".join(targets)
        return assigned + [self.made(cst.parse_statement(f"return {value}\n"), returns[-1])]

    def arity(self, returns: list):
        """None for one value, else the number of values every return gives."""
        counts = {None if not isinstance(r.value, cst.Tuple) else len(r.value.elements)
                  for r in returns}
        if len(counts) > 1:
            self.refuse(returns[-1], "this function returns different numbers of values on "
                        "different paths", "return the same number of values on every path")
        return counts.pop()

    def lift(self, statements: list, names, flag) -> list:
        """``statements`` with every return a tail: the last statement of
        the block, or of every branch of a last ``if``.  ``flag``: inside a
        loop, the (flag, value-holder) pair a return there sets instead."""
        out: list = []
        for index, stmt in enumerate(statements):
            if not _returns([stmt]):
                out.append(stmt)
                continue
            rest = statements[index + 1:]
            if isinstance(stmt, cst.SimpleStatementLine):
                out.append(stmt)  # a return: what follows never runs
                return out
            if isinstance(stmt, cst.If):
                branches = []
                for branch in _branches(stmt):
                    tail = [] if _always_returns(branch) else rest
                    branches.append(self.lift(branch + tail, names, flag))
                out.append(self.made(_rebuild_if(stmt, branches), stmt))
                return out
            # a loop with a return inside: flag it, break out, test the flag after
            returned = names.fresh("returned")
            holder = names.fresh("returned_value")
            loop = self.loop_returns(stmt, returned, holder)
            out.append(self.made(_assign(returned, cst.Name("False")), stmt))
            out.append(loop)
            check = cst.If(test=cst.Name(returned), body=cst.IndentedBlock(body=[
                cst.SimpleStatementLine(body=[cst.Return(cst.Name(holder))])]))
            return out + self.lift([self.made(check, stmt)] + rest, names, flag)
        return out

    def loop_returns(self, loop, returned: str, holder: str):
        """``loop`` with each return inside storing its value in ``holder``,
        setting ``returned`` and leaving every loop up to this one."""

        def block(statements: list, depth: int) -> list:
            out: list = []
            for stmt in statements:
                if not _returns([stmt]):
                    out.append(stmt)
                    continue
                if isinstance(stmt, cst.SimpleStatementLine):
                    ret = next(s for s in stmt.body if isinstance(s, cst.Return))
                    before = list(stmt.body[:stmt.body.index(ret)])
                    lines = ([cst.SimpleStatementLine(body=before)] if before else [])
                    lines += [_assign(holder, ret.value), _assign(returned, cst.Name("True")),
                              cst.SimpleStatementLine(body=[cst.Break()])]
                    return out + [self.made(line, stmt) for line in lines]
                if isinstance(stmt, cst.If):
                    out.append(self.made(_rebuild_if(stmt, [block(b, depth) for b in
                                                            _branches(stmt)]), stmt))
                    continue
                inner = stmt.with_changes(body=_indented(stmt.body, block(
                    list(stmt.body.body), depth + 1)))
                out.append(self.made(inner, stmt))
                leave = cst.If(test=cst.Name(returned), body=cst.IndentedBlock(body=[
                    cst.SimpleStatementLine(body=[cst.Break()])]))
                out.append(self.made(leave, stmt))
            return out

        return self.made(loop.with_changes(body=_indented(loop.body, block(
            list(loop.body.body), 0))), loop)

    def assign_tails(self, statements: list, targets: list, fn) -> list:
        """Every tail return ``return v`` as ``targets = v``."""
        if not statements:
            self.refuse(fn, "a path of this function reaches its end without a `return`",
                        "return the output on every path")
        *head, last = statements
        if isinstance(last, cst.If):
            branches = _branches(last)
            if last.orelse is None:
                loop = isinstance(self.origin_of.get(last), (cst.For, cst.While))
                what = "this loop ends without returning" if loop else "this `if` is false"
                self.refuse(last, f"when {what} the function reaches its end without a "
                            "`return`", "return the output on every path")
            return head + [self.made(_rebuild_if(last, [
                self.assign_tails(b, targets, last) for b in branches]), last)]
        if not _is_return_line(last):
            self.refuse(last, "after this statement the function reaches its end without "
                        "a `return`", "return the output on every path")
        ret = last.body[-1]
        value = ret.value
        if len(targets) > 1:
            value = value.with_changes(lpar=[], rpar=[])
        before = list(last.body[:-1])
        lines = [cst.SimpleStatementLine(body=before)] if before else []
        lines.append(_assign(", ".join(targets), value))
        return head + [self.made(line, last) for line in lines]


class _NameSource:
    """Fresh names for one function: never one the function uses."""

    def __init__(self, fn: cst.FunctionDef, module_functions: frozenset):
        self.count = Counter(n.value for n in _names(fn))
        self.taken = set(self.count)
        self.fn = fn
        self.module_functions = module_functions
        self._bindings: Counter | None = None
        self.transposed: set = set()  # names of literals loops now read by columns

    def fresh(self, base: str) -> str:
        name, k = base, 1
        while name in self.taken:
            name, k = f"{base}_{k}", k + 1
        self.taken.add(name)
        return name

    def literal_of(self, name: str):
        """The list or tuple literal ``name`` is bound to, when the function
        binds it once, at its top level, never changes it, and rebinds none
        of the names the literal reads; else None."""
        found = [stmt.body[0].value for stmt in self.fn.body.body
                 if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
                 and isinstance(stmt.body[0], cst.Assign) and len(stmt.body[0].targets) == 1
                 and isinstance(stmt.body[0].targets[0].target, cst.Name)
                 and stmt.body[0].targets[0].target.value == name]
        if len(found) != 1 or not isinstance(found[0], (cst.List, cst.Tuple)):
            return None
        if self.bindings[name] != 1 or name in self.changed:
            return None
        if any(self.bindings[n.value] for n in _names(found[0])):
            return None
        return found[0]

    @property
    def bindings(self) -> Counter:
        """How many times the function binds each name."""
        if self._bindings is None:
            self._bindings = Counter(n.value for n in _bound_names(self.fn.body))
        return self._bindings

    @property
    def changed(self) -> set:
        """Names the function changes in place: ``x[i] = ...``, ``x.append(...)``."""
        found: set = set()

        class Changes(cst.CSTVisitor):
            def visit_Subscript(self, n) -> None:
                if isinstance(n.value, cst.Name):
                    found.add(n.value.value)  # conservative: reads count too

            def visit_Attribute(self, n) -> None:
                if isinstance(n.value, cst.Name):
                    found.add(n.value.value)

        self.fn.body.visit(Changes())
        return found

    def unused(self, name: str) -> bool:
        """``_`` that nothing reads: a loop need not bind it."""
        return name == "_" and self.count[name] == self.bindings[name]

    def assigned_in(self, node, name: str) -> bool:
        """Whether ``node``'s body may rebind ``name``."""
        return any(n.value == name for n in _bound_names(node.body))

    def shadows(self, builtin: str) -> bool:
        """Whether ``builtin`` names one of the user's functions or locals here."""
        return builtin in self.module_functions or self.bindings[builtin] > 0


# -- small builders and queries


def _names(node) -> list:
    found: list = []

    class Names(cst.CSTVisitor):
        def visit_Name(self, n: cst.Name) -> None:
            found.append(n)

        def visit_Attribute(self, n: cst.Attribute) -> bool:
            n.value.visit(self)
            return False

        def visit_Arg(self, n: cst.Arg) -> bool:
            n.value.visit(self)
            return False

    node.visit(Names())
    return found


def _bound_names(node) -> list:
    """The names ``node`` binds: assignment, loop and comprehension targets,
    augmented assignments, nested defs."""
    found: list = []

    class Targets(cst.CSTVisitor):
        def visit_AssignTarget(self, n) -> None:
            if not isinstance(n.target, cst.Subscript):
                found.extend(_names(n.target))

        def visit_AugAssign(self, n) -> None:
            if not isinstance(n.target, cst.Subscript):
                found.extend(_names(n.target))

        def visit_For(self, n) -> None:
            found.extend(_names(n.target))

        def visit_CompFor(self, n) -> None:
            found.extend(_names(n.target))

        def visit_FunctionDef(self, n) -> None:
            found.append(n.name)

    node.visit(Targets())
    return found


def _without_unread(body: list, bound: set) -> list:
    """``body`` without the top-level assignments of the names in ``bound``
    that nothing reads any more (a list of pairs its loops now read by
    columns)."""
    if not bound:
        return body
    read = Counter(n.value for n in _names(cst.IndentedBlock(body=body)))
    written = Counter(n.value for n in _bound_names(cst.IndentedBlock(body=body)))
    unread = {name for name in bound if read[name] == written[name]}
    return [stmt for stmt in body if not (
        isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Assign)
        and isinstance(stmt.body[0].targets[0].target, cst.Name)
        and stmt.body[0].targets[0].target.value in unread)]


def _builtin_call(node, names) -> str | None:
    """``"zip"`` for ``zip(...)``, when the name is Python's builtin here."""
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and not names.shadows(
            node.func.value):
        return node.func.value
    return None


def _assign(target: str, value) -> cst.SimpleStatementLine:
    return cst.SimpleStatementLine(body=[cst.Assign(
        targets=[cst.AssignTarget(cast(Any, cst.parse_expression(target)))], value=value)])


def _assign_target(target, value) -> cst.SimpleStatementLine:
    return cst.SimpleStatementLine(body=[cst.Assign(targets=[cst.AssignTarget(target)],
                                                    value=value)])


def _append(name: str, value) -> cst.SimpleStatementLine:
    call = cst.Call(func=cst.Attribute(cst.Name(name), cst.Name("append")),
                    args=[cst.Arg(value)])
    return cst.SimpleStatementLine(body=[cst.Expr(call)])


def _indented(block, statements: list):
    if isinstance(block, cst.SimpleStatementSuite):
        return cst.IndentedBlock(body=statements)
    return block.with_changes(body=statements)


def _return_if(ifexp: cst.IfExp) -> cst.If:
    """``return a if c else b`` as ``if c: return a`` / ``else: return b``."""

    def returning(value):
        if isinstance(value, cst.IfExp):
            return cst.IndentedBlock(body=[_return_if(value)])
        return cst.IndentedBlock(body=[cst.SimpleStatementLine(body=[cst.Return(value)])])

    return cst.If(test=ifexp.test, body=returning(ifexp.body),
                  orelse=cst.Else(body=returning(ifexp.orelse)))


def _is_sum(node) -> bool:
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and (
        node.func.value == "sum")


def _consumed(node, names) -> bool:
    """``sum(xs)``/``sum(xs, start)`` of a sequence, a generator or a
    comprehension, or ``list(...)`` of a generator or comprehension: a value
    a loop can build."""
    callee = _builtin_call(node, names)
    if callee not in ("sum", "list") or not node.args or any(
            a.keyword or a.star for a in node.args):
        return False
    if callee == "list":
        return len(node.args) == 1 and isinstance(node.args[0].value,
                                                  (cst.GeneratorExp, cst.ListComp))
    return len(node.args) <= 2


def _comprehensions(expr, names) -> list:
    """The outermost comprehensions of ``expr`` that a loop can build (not
    inside a lambda, a conditional expression's branch, or another one)."""
    found: list = []

    class Finder(cst.CSTVisitor):
        def on_visit(self, node) -> bool:
            if isinstance(node, (cst.Lambda, cst.IfExp)):
                return False
            if _consumed(node, names) or isinstance(node, cst.ListComp):
                found.append(node)
                return False
            return True

    expr.visit(Finder())
    return found


def _builds_in_place(value, target: str, names) -> bool:
    """``target = [...]`` or ``target = sum(...)``, the comprehension not
    reading ``target``: its loop can build the name itself."""
    if not (isinstance(value, cst.ListComp) or _consumed(value, names)):
        return False
    return all(n.value != target for n in _names(value))


def _clauses(comp) -> list:
    clauses, clause = [], comp.for_in
    while clause is not None:
        clauses.append(clause)
        clause = clause.inner_for_in
    return clauses


def _returns(statements: list) -> list:
    """The return statements in ``statements``, not those of nested defs."""
    found: list = []

    class Finder(cst.CSTVisitor):
        def visit_FunctionDef(self, node) -> bool:
            return False

        def visit_Lambda(self, node) -> bool:
            return False

        def visit_Return(self, node) -> None:
            found.append(node)

    for stmt in statements:
        stmt.visit(Finder())
    return found


def _is_return_line(stmt) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[-1], cst.Return)


def _branches(stmt: cst.If) -> list:
    """The statement lists of an if's branches: body, then each elif's, then
    else (empty if there is none)."""
    branches = [list(stmt.body.body)]
    orelse = stmt.orelse
    if isinstance(orelse, cst.If):
        branches.append([orelse])
    else:
        branches.append(list(orelse.body.body) if orelse is not None else [])
    return branches


def _rebuild_if(stmt: cst.If, branches: list) -> cst.If:
    body, orelse_body = branches
    orelse: Any
    if orelse_body:
        if len(orelse_body) == 1 and isinstance(orelse_body[0], cst.If) and isinstance(
                stmt.orelse, cst.If):
            orelse = orelse_body[0]
        else:
            orelse = cst.Else(body=cst.IndentedBlock(body=orelse_body))
    else:
        orelse = None
    if not body:
        body = [cst.SimpleStatementLine(body=[cst.Pass()])]
    return stmt.with_changes(body=_indented(stmt.body, body), orelse=orelse)


def _always_returns(statements: list) -> bool:
    if not statements:
        return False
    last = statements[-1]
    if isinstance(last, cst.SimpleStatementLine):
        return any(isinstance(s, cst.Return) for s in last.body)
    if isinstance(last, cst.If):
        return all(_always_returns(b) for b in _branches(last)) and last.orelse is not None
    return False


def _dict_binding(stmt):
    """(name, literal) for ``name = {...}`` on a line of its own, else None."""
    if not (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Assign) and len(stmt.body[0].targets) == 1):
        return None
    target, value = stmt.body[0].targets[0].target, stmt.body[0].value
    if isinstance(target, cst.Name) and isinstance(value, cst.Dict):
        return target.value, value
    return None


class _DictReads(cst.CSTTransformer):
    """The reads of dicts built in the function, as the names holding their
    values; any other use of such a dict is refused."""

    METHODS = ("items", "values", "keys")

    def __init__(self, dicts: dict, desugarer: Desugarer):
        self.dicts, self.desugarer = dicts, desugarer
        self.allowed: set = set()  # the dict names a loop or len() reads

    def literal(self, name: str, what: str):
        keys, held = self.dicts[name]
        forms: dict[str, list[Any]] = {"keys": [cst.parse_expression(repr(k)) for k in keys],
                  "values": [cst.Name(held[k]) for k in keys],
                  "items": [cst.Tuple([cst.Element(cst.parse_expression(repr(k))),
                                       cst.Element(cst.Name(held[k]))]) for k in keys]}
        return cst.List([cst.Element(v) for v in forms[what]])

    def on_leave(self, original, updated):
        new = self.rewrite(original, updated)
        # libcst rebuilds each node on the way up: trace it to the user's
        if new is not original:
            self.desugarer.made(new, original)
        return new

    def rewrite(self, original, updated):
        if isinstance(original, cst.Subscript) and isinstance(original.value, cst.Name) \
                and original.value.value in self.dicts:
            keys, held = self.dicts[original.value.value]
            index = original.slice[0].slice if len(original.slice) == 1 else None
            key = getattr(getattr(index, "value", None), "evaluated_value", None)
            if not isinstance(index, cst.Index) or key not in held:
                self.desugarer.refuse(original, f"{original.value.value} is read here by a key "
                                      "that is not one of its constant keys "
                                      f"({', '.join(map(repr, keys))})",
                                      "read it by a key written out, or loop over "
                                      f"`{original.value.value}.items()`")
            return cst.Name(held[key])
        if isinstance(original, cst.Call) and isinstance(original.func, cst.Attribute) \
                and isinstance(original.func.value, cst.Name) \
                and original.func.value.value in self.dicts and not original.args \
                and original.func.attr.value in self.METHODS:
            return self.literal(original.func.value.value, original.func.attr.value)
        if isinstance(original, cst.Call) and isinstance(original.func, cst.Name) \
                and original.func.value == "len" and len(original.args) == 1 \
                and isinstance(original.args[0].value, cst.Name) \
                and original.args[0].value.value in self.dicts:
            return cst.Integer(str(len(self.dicts[original.args[0].value.value][0])))
        if isinstance(original, cst.For) and isinstance(original.iter, cst.Name) \
                and original.iter.value in self.dicts:
            return updated.with_changes(iter=self.literal(original.iter.value, "keys"))
        if isinstance(original, cst.Name) and original.value in self.dicts \
                and original not in self.allowed:
            self.desugarer.refuse(original, f"the dict {original.value} is used here as a "
                                  "value: a dict built in the function is only read by key, "
                                  ".items(), .values(), .keys(), in a loop or by len()",
                                  "pass the arrays it holds instead")
        return updated

    def on_visit(self, node) -> bool:
        if isinstance(node, cst.Subscript) and self.is_dict(node.value):
            return False  # d["a"]: rewritten whole on leaving
        if isinstance(node, cst.Attribute) and self.is_dict(node.value):
            return False  # d.items(): rewritten whole by its call
        if isinstance(node, cst.For) and self.is_dict(node.iter):
            self.allowed.add(node.iter)
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) \
                and node.func.value == "len" and len(node.args) == 1 \
                and self.is_dict(node.args[0].value):
            self.allowed.add(node.args[0].value)
        return True

    def is_dict(self, node) -> bool:
        return isinstance(node, cst.Name) and node.value in self.dicts


class _Replace(cst.CSTTransformer):
    def __init__(self, replacements: dict):
        self.replacements = replacements

    def on_leave(self, original, updated):
        return self.replacements.get(original, updated)


class _Rename(cst.CSTTransformer):
    """Renames variables, not attribute names or keyword names."""

    def __init__(self, renames: dict):
        self.renames = renames

    def leave_Name(self, original, updated):
        if original.value in self.renames:
            return updated.with_changes(value=self.renames[original.value])
        return updated

    def leave_Attribute(self, original, updated):
        return updated.with_changes(attr=original.attr)

    def leave_Arg(self, original, updated):
        return updated.with_changes(keyword=original.keyword)


def desugar(functions: dict, positions, locate, origin_of: dict) -> tuple:
    """``functions`` (name -> FunctionDef) desugared, and the map from each
    new node to the user's node it stands for (extending ``origin_of``)."""
    desugarer = Desugarer(positions, locate, origin_of, frozenset(functions))
    out = {name: desugarer.function(fn) for name, fn in functions.items()}
    return out, desugarer.origin_of

