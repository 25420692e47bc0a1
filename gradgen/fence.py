"""Stage 2, fence: refuse anything outside the supported subset, with a location.

After this stage the function is straight-line code over names: parameters
without ``*args``/``**kwargs``; assignments to a name or to a tuple of names;
augmented assignments; one ``return`` at the end; every call resolves to a
primitive that has a gradient rule or is declared non-differentiable; every
name is a parameter, a local, or NumPy.  Each refusal says where, what, and
what to do instead.
"""

from __future__ import annotations

import libcst as cst

from gradgen.errors import UnknownPrimitiveError, UnsupportedSyntaxError
from gradgen.lowering import METHODS, LoweringError, call_name, lower_expr
from gradgen.parse import ParsedFunction, dotted_name
from gradgen.rules import Registry

_NOT_YET = {
    cst.If: "`if` statements",
    cst.For: "`for` loops",
    cst.While: "`while` loops",
    cst.With: "`with` blocks",
    cst.Try: "`try` blocks",
    cst.FunctionDef: "nested functions",
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
    cst.IfExp: "conditional expressions (`a if c else b`)",
    cst.Imaginary: "complex numbers",
    cst.List: "list literals",
    cst.Dict: "dict literals",
    cst.Set: "set literals",
}
_AUG_OPERATORS = (cst.AddAssign, cst.SubtractAssign, cst.MultiplyAssign,
                  cst.DivideAssign, cst.PowerAssign, cst.MatrixMultiplyAssign)
_STRAIGHT_LINE_HINT = "gradgen supports straight-line code for now; rewrite it without this construct"


def check(parsed: ParsedFunction, registry: Registry) -> None:
    """Raise a located GradgenError for the first construct outside the subset."""
    fn = parsed.node

    def fail(node, message, hint="", cls=UnsupportedSyntaxError):
        raise cls(message, parsed.location(node), hint)

    params = fn.params
    if params.star_arg is not None and isinstance(params.star_arg, cst.Param):
        fail(params.star_arg, "*args parameters are not supported", "name each parameter")
    if params.star_kwarg is not None:
        fail(params.star_kwarg, "**kwargs parameters are not supported", "name each parameter")
    if fn.asynchronous is not None:
        fail(fn, "async functions are not supported")

    defined = {p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)}
    statements = list(fn.body.body)
    for index, stmt in enumerate(statements):
        for node_type, what in _NOT_YET.items():
            if isinstance(stmt, node_type):
                fail(stmt, f"{what} are not supported yet", _STRAIGHT_LINE_HINT)
        if not isinstance(stmt, cst.SimpleStatementLine):
            fail(stmt, f"{type(stmt).__name__} statements are not supported")
        for small in stmt.body:
            _check_small(small, index, statements, defined, parsed, registry, fail)
    last = statements[-1] if statements else fn
    if not (isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[-1], cst.Return)):
        fail(last, "the function must end with a `return` of its output",
             "gradgen differentiates the returned value")


def _check_small(small, index, statements, defined, parsed, registry, fail):
    is_last = index == len(statements) - 1
    if isinstance(small, cst.Expr):
        if index == 0 and isinstance(small.value, (cst.SimpleString, cst.ConcatenatedString)):
            return  # the docstring
        fail(small, "an expression statement has no effect on the output",
             "assign its value to a name, or remove it")
    if isinstance(small, cst.Pass):
        return
    if isinstance(small, cst.Return):
        if small.value is None:
            fail(small, "`return` needs a value: the output to differentiate")
        if not is_last:
            fail(small, "`return` must be the last statement", _STRAIGHT_LINE_HINT)
        if isinstance(small.value, cst.Tuple):
            fail(small.value, "returning several values is not supported yet",
                 "return one array or scalar (e.g. the loss)")
        _check_expression(small.value, defined, parsed, registry, fail)
        return
    if isinstance(small, cst.Assign):
        if len(small.targets) != 1:
            fail(small, "chained assignment (`a = b = ...`) is not supported", "assign once per line")
        target = small.targets[0].target
        _check_expression(small.value, defined, parsed, registry, fail, allow_tuple=True)
        names = _target_names(target, small, fail)
        if isinstance(target, cst.Tuple):
            value = small.value
            if not isinstance(value, cst.Tuple) or len(value.elements) != len(names):
                fail(small.value, "tuple unpacking needs a tuple of the same length on the right",
                     "unpack values one by one: `a = ...` then `b = ...`")
        defined.update(names)
        return
    if isinstance(small, cst.AugAssign):
        if not isinstance(small.target, cst.Name):
            fail(small.target, "augmented assignment to this target is not supported yet",
                 "assign to a plain name")
        if not isinstance(small.operator, _AUG_OPERATORS):
            fail(small.operator, "this augmented assignment operator is not supported")
        if small.target.value not in defined:
            fail(small.target, f"name {small.target.value!r} is used before it is assigned")
        _check_expression(small.value, defined, parsed, registry, fail)
        return
    if isinstance(small, (cst.Import, cst.ImportFrom)):
        fail(small, "imports inside the function are not supported",
             "import NumPy at the top of the module")
    fail(small, f"{type(small).__name__} statements are not supported", _STRAIGHT_LINE_HINT)


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
    if isinstance(target, cst.Subscript):
        fail(target, "assignment to an element or slice is not supported yet",
             "build the array with np.where or arithmetic instead of writing into it")
    fail(target, "only assignment to names is supported")


def _check_expression(node, defined, parsed, registry, fail, allow_tuple=False):
    for bad_type, what in _NOT_EXPRESSIONS.items():
        found = _find(node, bad_type)
        if found is not None:
            fail(found, f"{what} are not supported", _STRAIGHT_LINE_HINT)
    for call in _find_all(node, cst.Call):
        _check_call(call, parsed, registry, fail)
    for name in _find_all(node, cst.Name):
        _check_name(name, node, defined, parsed, fail)
    try:
        lower_expr(node, parsed.aliases)
    except LoweringError as exc:
        fail(exc.node, exc.message, exc.hint)
    if isinstance(node, cst.Tuple) and not allow_tuple:
        fail(node, "tuples are only supported as shapes, indices and in unpacking")


def _check_call(call: cst.Call, parsed, registry, fail):
    name = call_name(call.func, parsed.aliases)
    if name is None:
        if isinstance(call.func, cst.Attribute) and call.func.attr.value in METHODS:
            return
        return  # lowering reports unsupported methods with their location
    if registry.knows(name):
        return
    shown = dotted_name(call.func) or name
    if name in parsed.module_functions:
        fail(call.func, f"calls to other functions ({shown}) are not supported yet",
             "inline the helper's body into this function", UnknownPrimitiveError)
    if name.startswith("np."):
        fail(call.func, f"no gradient rule for {shown} ({name})",
             "add a rule with @adjoint in a rule file (see templates/README.md)",
             UnknownPrimitiveError)
    fail(call.func, f"no gradient rule for {shown}()",
         "gradgen differentiates NumPy calls; call NumPy as np.<function>",
         UnknownPrimitiveError)


def _check_name(name: cst.Name, root, defined, parsed, fail):
    value = name.value
    if value in defined or value in parsed.aliases or value in ("None", "True", "False"):
        return
    parent = _parent_of(root, name)
    if isinstance(parent, cst.Attribute) and parent.attr is name:
        return  # x.shape, np.sum
    if isinstance(parent, cst.Arg) and parent.keyword is name:
        return  # axis=...
    if isinstance(parent, cst.Call) and parent.func is name:
        return  # builtins like len(), checked as calls
    fail(name, f"name {value!r} is not defined in the function",
         "pass it as a parameter, or assign it inside the function before use")


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
