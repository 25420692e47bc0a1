"""Line counts of generated gradients (issue 2/4 notes): python bench/line_counts.py"""
# Lines of the generated gradient function (def line to its end) and of code
# only (no blank, comment or docstring lines), beside Tangent's verbose output.
import ast

import examples.cosine as c
import gradgen


def measure(src, name):
    fn = next(n for n in ast.parse(src).body if isinstance(n, ast.FunctionDef) and n.name == name)
    lines = src.splitlines()[fn.lineno - 1: fn.end_lineno]
    doc = ast.get_docstring(fn, clean=False)
    skip = range(fn.body[0].lineno, fn.body[0].end_lineno + 1) if doc else range(0)
    code = [line for i, line in enumerate(lines, fn.lineno)
            if i not in skip and line.strip() and not line.strip().startswith("#")]
    return len(lines), len(code)

for label, f, kw in [("L2_norm", c.L2_norm, {}), ("cosine_loss", c.cosine_loss, {}),
                     ("cosine_loss, X,Y: 'n'", c.cosine_loss, {"shapes": {"X": "n", "Y": "n"}})]:
    src = gradgen.source(f, **kw)
    total, code = measure(src, "grad_" + f.__name__)
    helpers = sum(1 for n in ast.parse(src).body if isinstance(n, ast.FunctionDef)) - 1
    print(f"{label}: {total} lines, {code} of code, {helpers} helper(s) in the module, module {len(src.splitlines())} lines")
