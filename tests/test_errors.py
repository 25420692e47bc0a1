"""Bad input gives a located, catchable error with a hint, never a traceback."""

from __future__ import annotations

import numpy as np
import pytest

import gradgen
from gradgen import (
    GradgenError,
    SourceNotFoundError,
    UnknownPrimitiveError,
    UnsupportedSyntaxError,
    UsageError,
)

HEADER = "import numpy as np\n\n\ndef f(x, y):\n"


def _error(body, cls=GradgenError, **kwargs):
    with pytest.raises(cls) as info:
        gradgen.source_from_text(HEADER + body, "f", filename="model.py", **kwargs)
    return info.value


@pytest.mark.parametrize("body, line, col, words", [
    ("    return np.fft.fft(x)\n", 5, 12, "no gradient rule for np.fft.fft"),
    ("    z = scipy_thing(x)\n    return z\n", 5, 9, "no gradient rule for scipy_thing"),
    ("    if x > 0:\n        return x\n    z = x\n", 7, 5, "reaches its end without a `return`"),
    ("    if x > 0:\n        return x, y\n    return x\n", 7, 5, "different numbers of values"),
    ("    for i in range(3):\n        if x > 0:\n            return x\n", 5, 5,
     "when this loop ends without returning"),
    ("    for i in range(3):\n        x = x * 2\n    else:\n        x = x\n    return x\n", 7, 5,
     "`for ... else` is not supported"),
    ("    for a in zip(x, y):\n        x = x * 2\n    return x\n", 5, 9, "unpack zip() of 2"),
    ("    z = [*x]\n    return z\n", 5, 10, "unpacking with *"),
    ("    return np.sum((lambda t: t)(x))\n", 5, 20, "lambdas are not supported here"),
    ("    z[0] = 1.0\n    return x\n", 5, 5, "'z' is used before it is assigned"),
    ("    return x + undefined_name\n", 5, 16, "'undefined_name' is not defined"),
    ("    z = x.partition(1)\n    return z\n", 5, 11, "method .partition()"),
    ("    return x, (y, x)\n", 5, 16, "return a flat tuple"),
    ("    z = x * 2\n", 5, 5, "must end with a `return`"),
    ("    try:\n        pass\n    except Exception:\n        pass\n    return x\n", 5, 5, "`try`"),
    ("    return np.linalg.norm(x, ord='nuc')\n", 5, 5, "needs an SVD"),
])
def test_located_error_with_caret_and_hint(body, line, col, words):
    err = _error(body)
    report = str(err)
    first = report.splitlines()[0]
    assert first.startswith(f"model.py:{line}:{col}: "), report
    assert words in first, report
    lines = report.splitlines()
    assert lines[2].index("^") - 4 == col - 1, report  # caret under the column
    assert err.location.line == line


def test_unknown_primitive_is_its_own_type_with_a_hint():
    err = _error("    return np.fft.fft(x)\n", UnknownPrimitiveError)
    assert "hint:" in str(err) and "@adjoint" in str(err)


def test_unsupported_syntax_type():
    _error("    with x:\n        pass\n    return x\n", UnsupportedSyntaxError)


def test_syntax_error_is_located():
    with pytest.raises(GradgenError) as info:
        gradgen.source_from_text("import numpy as np\ndef f(x):\n    return x +\n", "f",
                                 filename="bad.py")
    assert str(info.value).startswith("bad.py:3:")


def test_missing_function_lists_the_ones_there():
    with pytest.raises(UsageError) as info:
        gradgen.source_from_text(HEADER + "    return x\n", "g")
    assert "f" in str(info.value) and "no top-level function named 'g'" in str(info.value)


@pytest.mark.parametrize("wrt", [5, "z", (), (0, 0)])
def test_bad_wrt(wrt):
    with pytest.raises(UsageError):
        gradgen.source_from_text(HEADER + "    return x * y\n", "f", wrt=wrt)


def test_lambda_and_exec_functions_say_what_to_do():
    with pytest.raises(SourceNotFoundError) as info:
        gradgen.grad(lambda x: x)
    assert "def" in str(info.value)
    namespace: dict = {"np": np}
    exec("def g(x):\n    return x * x\n", namespace)
    with pytest.raises(SourceNotFoundError) as info:
        gradgen.grad(namespace["g"])
    assert "cannot be found" in str(info.value) and "hint:" in str(info.value)


def test_errors_in_a_real_file_point_into_that_file(tmp_path):
    import importlib.util

    path = tmp_path / "user_model.py"
    path.write_text("import numpy as np\n\n\ndef model(x):\n    z = np.fft.fft(x)\n    return z\n")
    spec = importlib.util.spec_from_file_location("user_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(UnknownPrimitiveError) as info:
        gradgen.grad(module.model)
    assert ":5:9: no gradient rule for np.fft.fft" in str(info.value)
    assert "z = np.fft.fft(x)" in str(info.value)
