"""Stage 2, fence: refuse anything outside the supported subset, with a location.

After this stage the function is made of: parameters without
``*args``/``**kwargs``; assignments to a name, a tuple of names or an element
(``x[i] = ...``); augmented assignments; ``if``/``elif``/``else``; ``for``
over ``range(...)``, an array or ``enumerate(array)``; ``while``; conditional
expressions as the value of an assignment; one ``return`` at the end.  Every
call resolves to a primitive that has a gradient rule, a non-differentiable
primitive, or another (non-recursive) function of the same module, checked
the same way; an unknown call's error names the closest supported functions
when one is near (:func:`gradgen.catalog.suggest`).  Every name is a
parameter, a local, or NumPy.  Each refusal says where, what, and what to do
instead.
"""

from __future__ import annotations

import libcst as cst

from gradgen.catalog import did_you_mean
from gradgen.errors import UnknownPrimitiveError, UnsupportedSyntaxError
from gradgen.lowering import LoweringError, call_name, lower_expr
from gradgen.normalize import BUILTIN_TYPES
from gradgen.parse import ParsedFunction, dotted_name, resolve_numpy
from gradgen.rules import Registry

_NOT_YET = {
    cst.With: "`with` blocks",
    cst.Try: "`try` blocks",
    cst.ClassDef: "classes",
}
_NOT_EXPRESSIONS = {
    cst.Lambda: "lambdas",
    cst.ListComp: "list comprehensions",
    cst.GeneratorExp: "generator expressions",
    cst.DictComp: "dict comprehensions",
    cst.SetComp: "set comprehensions",
    cst.Yield: "`yield`",
    cst.Await: "`await`",
    cst.NamedExpr: "`:=` assignments",
    cst.FormattedString: "f-strings",
    cst.Imaginary: "complex numbers",
    cst.Dict: "dict literals",  # but one bound to a name is read as names (desugar.py)
    cst.Set: "set literals",
}
# Supported where desugar.py rewrites them; refused elsewhere, with the way there.
_WHERE_HINTS = {
    cst.Lambda: "bind the lambda to a name first (`f = lambda t: ...`), then call it",
    cst.ListComp: "build the list in a statement of its own (`items = [... for ...]`), "
                  "outside conditional expressions and `while` tests",
    cst.GeneratorExp: "use a generator only inside sum(...) or list(...), in a statement "
                      "of its own",
    cst.Dict: "bind the dict to a name once, at the top level of the function "
              "(`params = {\"w\": w}`), and read it by constant keys",
}
_AUG_OPERATORS = (cst.AddAssign, cst.SubtractAssign, cst.MultiplyAssign,
                  cst.DivideAssign, cst.PowerAssign, cst.MatrixMultiplyAssign)
_STRAIGHT_LINE_HINT = "rewrite it with assignments, if/for/while and NumPy calls"


def check(parsed: ParsedFunction, registry: Registry) -> None:
    """Raise a located GradgenError for the first construct outside the subset."""
    _check_function(parsed.node, parsed, registry, ())


def _check_function(fn: cst.FunctionDef, parsed, registry, calling: tuple,
                    outer: "_Context | None" = None) -> None:
    def fail(node, message, hint="", cls=UnsupportedSyntaxError):
        raise cls(message, parsed.location(node), hint)

    params = fn.params
    if params.star_arg is not None and isinstance(params.star_arg, cst.Param):
        fail(params.star_arg, "*args parameters are not supported", "name each parameter")
    if params.star_kwarg is not None:
        fail(params.star_kwarg, "**kwargs parameters are not supported", "name each parameter")
    if fn.asynchronous is not None:
        fail(fn, "async functions are not supported")
    _check_reserved_names(fn, registry, fail)
    context = _Context(parsed, registry, fail, calling + (fn.name.value,))
    context.defined = {p.name.value for p in (*params.posonly_params, *params.params,
                                              *params.kwonly_params)}
    if outer is not None:  # a nested def reads the enclosing function's names
        context.defined |= outer.defined
        context.local_functions = dict(outer.local_functions)
    statements = list(fn.body.body)
    for index, stmt in enumerate(statements):
        context.statement(stmt, index, statements, depth=0)
    last = statements[-1] if statements else fn
    if not (isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[-1], cst.Return)):
        fail(last, "the function must end with a `return` of its output",
             "gradgen differentiates the returned value")


class _Context:
    def __init__(self, parsed, registry, fail, calling):
        self.parsed, self.registry, self.fail, self.calling = parsed, registry, fail, calling
        self.defined: set = set()
        self.loops = 0  # how many loops enclose the statement being checked
        self.local_functions: dict = {}  # nested defs seen so far, by name

    def statement(self, stmt, index, statements, depth):
        fail = self.fail
        for node_type, what in _NOT_YET.items():
            if isinstance(stmt, node_type):
                fail(stmt, f"{what} are not supported", _STRAIGHT_LINE_HINT)
        if isinstance(stmt, cst.FunctionDef):
            if depth or self.loops:
                fail(stmt, "define helper functions at the top of the function body",
                     "move the `def` out of the if/for/while")
            if stmt.decorators:
                fail(stmt.decorators[0], "decorators on nested functions are not supported")
            _check_nested_assignments(stmt, self)
            self.local_functions[stmt.name.value] = stmt
            return
        if isinstance(stmt, cst.If):
            self.expression(stmt.test)
            self.block(stmt.body.body, depth)
            if isinstance(stmt.orelse, cst.If):
                self.statement(stmt.orelse, 0, [stmt.orelse], depth)
            elif stmt.orelse is not None:
                self.block(stmt.orelse.body.body, depth)
            return
        if isinstance(stmt, cst.For):
            self.for_loop(stmt, depth)
            return
        if isinstance(stmt, cst.While):
            if stmt.orelse is not None:
                fail(stmt.orelse, "`while ... else` is not supported")
            self.expression(stmt.test)
            self.loops += 1
            self.block(stmt.body.body, depth)
            self.loops -= 1
            return
        if not isinstance(stmt, cst.SimpleStatementLine):
            fail(stmt, f"{type(stmt).__name__} statements are not supported")
        for small in stmt.body:
            _check_small(small, index, statements, self, depth)

    def block(self, statements, depth):
        statements = list(statements)
        for index, stmt in enumerate(statements):
            self.statement(stmt, index, statements, depth + 1)

    def for_loop(self, stmt: cst.For, depth):
        fail = self.fail
        if stmt.orelse is not None:
            fail(stmt.orelse, "`for ... else` is not supported")
        if stmt.asynchronous is not None:
            fail(stmt, "`async for` is not supported")
        iterable = stmt.iter
        target = stmt.target
        callee = dotted_name(iterable.func) if isinstance(iterable, cst.Call) else None
        if callee == "enumerate":
            if not (isinstance(target, cst.Tuple) and len(target.elements) == 2
                    and all(isinstance(e.value, cst.Name) for e in target.elements)):
                fail(target, "enumerate() loops unpack into two names: `for i, v in ...`")
            if len(iterable.args) != 1:
                fail(iterable, "enumerate() takes one array here")
            self.expression(iterable.args[0].value)
        elif callee == "range":
            if not isinstance(target, cst.Name):
                fail(target, "a range() loop binds one name")
            if not 1 <= len(iterable.args) <= 3 or any(a.keyword for a in iterable.args):
                fail(iterable, "range() takes 1 to 3 positional arguments")
            for arg in iterable.args:
                self.expression(arg.value)
        else:
            if not isinstance(target, cst.Name):
                fail(target, "a loop over an array binds one name")
            self.expression(iterable, allow_tuple=True)
        self.defined.update(n.value for n in _find_all(target, cst.Name))
        self.loops += 1
        self.block(stmt.body.body, depth)
        self.loops -= 1

    def expression(self, node, allow_tuple=False):
        _check_expression(node, self.defined, self.parsed, self.registry, self.fail,
                          allow_tuple, self)


def _check_small(small, index, statements, context, depth):
    fail = context.fail
    is_last = index == len(statements) - 1
    if isinstance(small, cst.Expr):
        if index == 0 and depth == 0 and isinstance(small.value, (cst.SimpleString,
                                                                   cst.ConcatenatedString)):
            return  # the docstring
        call = small.value
        if (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
                and call.func.attr.value == "append" and isinstance(call.func.value, cst.Name)):
            if call.func.value.value not in context.defined:
                fail(call.func.value, f"name {call.func.value.value!r} is used before it is "
                     "assigned", "create the list first: `items = []`")
            if len(call.args) != 1 or call.args[0].keyword or call.args[0].star:
                fail(call, "append() takes one value")
            context.expression(call.args[0].value)
            return
        fail(small, "an expression statement has no effect on the output",
             "assign its value to a name, or remove it")
    if isinstance(small, cst.Pass):
        return
    if isinstance(small, (cst.Break, cst.Continue)):
        if not context.loops:
            fail(small, f"`{type(small).__name__.lower()}` outside a loop")
        return
    if isinstance(small, cst.Return):
        if small.value is None:
            fail(small, "`return` needs a value: the output to differentiate")
        if not is_last or depth:
            fail(small, "`return` must be the last statement of the function",
                 "assign the output to a name in each branch and return it once at the end")
        if isinstance(small.value, cst.Tuple):
            for element in small.value.elements:
                if isinstance(element, cst.StarredElement) or isinstance(element.value, cst.Tuple):
                    fail(element.value, "return a flat tuple of values")
                context.expression(element.value)
            return
        context.expression(small.value)
        return
    if isinstance(small, cst.Assign):
        if len(small.targets) != 1:
            fail(small, "chained assignment (`a = b = ...`) is not supported", "assign once per line")
        target = small.targets[0].target
        value = small.value
        if isinstance(value, cst.IfExp):
            if not isinstance(target, cst.Name):
                fail(value, "a conditional expression can only be assigned to a name")
            for part in (value.test, value.body, value.orelse):
                context.expression(part)
        else:
            context.expression(value, allow_tuple=True)
        if isinstance(target, cst.Subscript):
            _check_element_target(target, context)
            return
        names = _target_names(target, small, fail)
        if isinstance(target, cst.Tuple) and isinstance(value, cst.Tuple):
            if len(value.elements) != len(names):
                fail(small.value, f"{len(names)} names unpack a tuple of "
                     f"{len(value.elements)} values", "unpack into one name per value")
        context.defined.update(names)
        return
    if isinstance(small, cst.AugAssign):
        if not isinstance(small.operator, _AUG_OPERATORS):
            fail(small.operator, "this augmented assignment operator is not supported")
        if isinstance(small.target, cst.Subscript):
            _check_element_target(small.target, context)
        elif not isinstance(small.target, cst.Name):
            fail(small.target, "augmented assignment to this target is not supported",
                 "assign to a name or an element")
        elif small.target.value not in context.defined:
            fail(small.target, f"name {small.target.value!r} is used before it is assigned")
        context.expression(small.value)
        return
    if isinstance(small, (cst.Import, cst.ImportFrom)):
        fail(small, "imports inside the function are not supported",
             "import NumPy at the top of the module")
    fail(small, f"{type(small).__name__} statements are not supported", _STRAIGHT_LINE_HINT)


def _check_reserved_names(fn: cst.FunctionDef, registry, fail) -> None:
    """Generated code refers to NumPy as ``np`` and to its helpers by name: a
    parameter or local of the same name would shadow them there."""
    reserved = {"np"} | set(registry.helpers)
    params = fn.params
    for param in (*params.posonly_params, *params.params, *params.kwonly_params):
        if param.name.value in reserved:
            fail(param.name, f"the parameter name {param.name.value!r} is used by generated "
                 "code", f"rename it: generated code calls NumPy as `np` and its helpers "
                 f"({', '.join(sorted(registry.helpers))}) by name")
    for target in _find_all(fn.body, (cst.AssignTarget, cst.AugAssign, cst.For)):
        node = target.target
        for name in _find_all(node, cst.Name):
            if name.value in reserved and not isinstance(node, cst.Subscript):
                fail(name, f"the name {name.value!r} is used by generated code",
                     "rename this variable: generated code calls NumPy as `np` and its "
                     "helpers by name")


def _check_element_target(target: cst.Subscript, context) -> None:
    if not isinstance(target.value, cst.Name):
        context.fail(target, "only elements of a named array can be assigned")
    if target.value.value not in context.defined:
        context.fail(target.value, f"name {target.value.value!r} is used before it is assigned",
                     "create the array first, e.g. `h = np.zeros((n, m))`")
    context.expression(target)


def _check_nested_assignments(fn: cst.FunctionDef, context) -> None:
    """A nested def may read the enclosing function's names, not rebind them."""
    for node in _find_all(fn.body, (cst.Nonlocal, cst.Global)):
        context.fail(node, "`nonlocal` and `global` are not supported",
                     "return the value from the helper instead")


def _target_names(target, stmt, fail) -> list:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, cst.Tuple):
        names = []
        for element in target.elements:
            if not isinstance(element.value, cst.Name):
                fail(element.value, "only names can be unpacked into")
            names.append(element.value.value)
        return names
    fail(target, "only assignment to names and elements is supported")


def _check_expression(node, defined, parsed, registry, fail, allow_tuple=False, context=None):
    for bad_type, what in _NOT_EXPRESSIONS.items():
        found = _find(node, bad_type)
        if found is not None:
            where = " here" if bad_type in _WHERE_HINTS else ""
            fail(found, f"{what} are not supported{where}",
                 _WHERE_HINTS.get(bad_type, _STRAIGHT_LINE_HINT))
    for starred in _find_all(node, cst.StarredElement):
        fail(starred, "unpacking with * is not supported")
    for subscript in _find_all(node, cst.Subscript):
        builder = resolve_numpy(dotted_name(subscript.value), parsed.aliases)
        if builder in ("np.r_", "np.c_", "np.s_", "np.index_exp", "np.mgrid", "np.ogrid"):
            fail(subscript, f"{builder}[...] is not supported",
                 "build the array with np.concatenate([...]) (for np.r_) or "
                 "np.column_stack([...]) (for np.c_)")
        for element in subscript.slice:
            index = element.slice
            if isinstance(index, cst.Index) and isinstance(
                    index.value, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
                # A dict (or a structured array's field): gradgen's values are
                # arrays and numbers, and indexing one with a string is not.
                fail(index.value, "indexing with a string (a dict or a record field) is "
                     "not supported", "pass the arrays as separate parameters, or as a "
                     "list or tuple indexed by position")
    for ifexp in _find_all(node, cst.IfExp):
        fail(ifexp, "a conditional expression must be the whole value of an assignment",
             "write `v = a if c else b` on its own line")
    for call in _find_all(node, cst.Call):
        _check_call(call, parsed, registry, fail, context)
    for name in _find_all(node, cst.Name):
        _check_name(name, node, defined, parsed, fail)
    try:
        lower_expr(node, parsed.aliases, registry)
    except LoweringError as exc:
        fail(exc.node, exc.message, exc.hint)
    if isinstance(node, cst.Tuple) and not allow_tuple:
        fail(node, "tuples are only supported as shapes, indices and in unpacking")


def _check_call(call: cst.Call, parsed, registry, fail, context=None):
    name = call_name(call.func, parsed.aliases)
    if name is None:
        if isinstance(call.func, cst.Attribute) and call.func.attr.value in registry.methods:
            return
        return  # lowering reports unsupported methods with their location
    if registry.knows(name):
        return
    shown = dotted_name(call.func) or name
    if context is not None and name in context.local_functions:
        if name in context.calling:
            fail(call.func, f"{shown}() calls itself: recursion is not supported",
                 "write the recursion as a loop")
        _check_function(context.local_functions[name], parsed, registry, context.calling,
                        context)
        return
    if name in parsed.module_functions:
        if context is None or name in context.calling:
            fail(call.func, f"{shown}() calls itself: recursion is not supported",
                 "write the recursion as a loop")
        if any(arg.star for arg in call.args):
            fail(call, f"call {shown}() without * or ** unpacking",
                 "pass each argument by position or by name")
        _check_function(parsed.functions[name], parsed, registry, context.calling)
        return
    if name in ("range", "enumerate"):
        fail(call.func, f"{name}() is only supported as the iterable of a `for` loop")
    close = did_you_mean(name, registry)  # "; did you mean np.sin?", or ''
    if name.startswith("np."):
        fail(call.func, f"no gradient rule for {shown} ({name}){close}",
             "add a rule with @adjoint in a rule file (see templates/README.md)",
             UnknownPrimitiveError)
    fail(call.func, f"no gradient rule for {shown}(){close}",
         "gradgen differentiates NumPy calls; call NumPy as np.<function>",
         UnknownPrimitiveError)


def _check_name(name: cst.Name, root, defined, parsed, fail):
    value = name.value
    if (value in defined or value in parsed.aliases or value in ("None", "True", "False")
            or value in BUILTIN_TYPES):
        return
    parent = _parent_of(root, name)
    if isinstance(parent, cst.Attribute) and parent.attr is name:
        return  # x.shape, np.sum
    if isinstance(parent, cst.Arg) and parent.keyword is name:
        return  # axis=...
    if isinstance(parent, cst.Call) and parent.func is name:
        return  # builtins like len(), checked as calls
    fail(name, f"name {value!r} is not defined in the function",
         "pass it as a parameter, or assign it inside the function before use "
         "(module-level numbers and small arrays assigned once are read as constants)")


def _find(node, node_type):
    found = _find_all(node, node_type)
    return found[0] if found else None


def _find_all(node, node_type) -> list:
    found = []

    class Finder(cst.CSTVisitor):
        def on_visit(self, n):
            if isinstance(n, node_type):
                found.append(n)
            return True

    node.visit(Finder())
    return found


def _parent_of(root, target):
    result = []

    class Finder(cst.CSTVisitor):
        def __init__(self):
            self.stack = []

        def on_visit(self, n):
            if n is target and self.stack:
                result.append(self.stack[-1])
            self.stack.append(n)
            return True

        def on_leave(self, n):
            self.stack.pop()

    root.visit(Finder())
    return result[0] if result else None
