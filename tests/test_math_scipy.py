"""The ``math`` module and scipy.special in user code: how their functions are
imported and named, what the generated module imports, the values at the
edges the systematic tests never sample (NaN, infinities, ties), and the
refusals.  The rules themselves are checked by tests/test_systematic.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gradgen
from gradgen.errors import GradgenError


def _central(f, x, h=1e-6):
    x = np.asarray(x, dtype=float)
    out = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        out[index] = (f(plus if x.ndim else float(plus))
                      - f(minus if x.ndim else float(minus))) / (2 * h)
    return out


def _imports(text: str) -> list:
    return [line for line in text.splitlines() if line.startswith(("import ", "from "))]


# ------------------------------------------------------------------ math

MATH_FROM = '''\
from math import cos, log, sin


def f(x: "", b: ""):
    return sin(x) * cos(x) + log(x, b)
'''


def test_functions_imported_from_math_are_primitives():
    grad = gradgen.grad_from_source(MATH_FROM, "f", wrt=(0, 1))
    gx, gb = grad(0.7, 3.0)
    # d/dx sin x cos x = cos 2x; d/dx log_b x = 1 / (x ln b); d/db = -ln x / (b ln^2 b)
    assert gx == pytest.approx(math.cos(1.4) + 1 / (0.7 * math.log(3.0)), rel=1e-12)
    assert gb == pytest.approx(-math.log(0.7) / (3.0 * math.log(3.0) ** 2), rel=1e-12)
    text = gradgen.source_from_text(MATH_FROM, "f", wrt=(0, 1))
    assert _imports(text) == ["import math", "import numpy as np"], text
    assert "math.sin(x)" in text and "math.log(b)" in text


def test_math_under_another_name_and_in_forward_mode_and_hvp():
    source = '''\
import math as m


def f(x: ""):
    return m.atan2(m.sinh(x), 2.0) + m.erf(x) * m.pow(x, 3.0) + m.hypot(x, 1.5)
'''

    def f(x):
        return (math.atan2(math.sinh(x), 2.0) + math.erf(x) * math.pow(x, 3.0)
                + math.hypot(x, 1.5))

    x = 0.6
    expected = float(_central(f, x))
    assert gradgen.grad_from_source(source, "f")(x) == pytest.approx(expected, rel=1e-7)
    assert gradgen.jvp_from_source(source, "f")(x, 2.0)[1] == pytest.approx(2 * expected,
                                                                              rel=1e-7)
    grad = gradgen.grad_from_source(source, "f")
    h = 1e-5
    second = (grad(x + h) - grad(x - h)) / (2 * h)
    assert gradgen.hvp_from_source(source, "f")(x, 1.0) == pytest.approx(second, rel=1e-5)


def test_math_rounding_carries_no_gradient():
    source = '''\
import math


def f(x: ""):
    return math.floor(x) * x + math.ceil(x) + math.trunc(x) * math.sin(x)
'''
    x = 1.7
    assert gradgen.grad_from_source(source, "f")(x) == pytest.approx(1 + math.cos(x), rel=1e-12)


def test_math_pow_at_a_zero_base_has_the_gradient_zero_in_the_exponent():
    source = '''\
import math


def f(x: "", y: ""):
    return math.pow(x, y)
'''
    gx, gy = gradgen.grad_from_source(source, "f", wrt=(0, 1))(0.0, 2.5)
    assert gx == 0.0 and gy == 0.0


# ------------------------------------------------------------------ NumPy edges


def test_a_numpy_only_module_imports_neither_math_nor_scipy():
    source = '''\
import numpy as np


def f(x: "3"):
    return np.sum(np.log2(x) + np.hypot(x, 2.0) + np.logaddexp(x, 1.0))
'''
    text = gradgen.source_from_text(source, "f")
    assert _imports(text) == ["import numpy as np"], text
    assert "unbroadcast" not in text  # shapes prove it an identity


def test_nan_to_num_has_no_gradient_where_it_replaced_a_value():
    source = '''\
import numpy as np


def f(x: "4", u: "4"):
    return np.sum(np.nan_to_num(x, nan=1.0, posinf=5.0) * u)
'''
    x = np.array([0.5, np.nan, np.inf, -2.0])
    u = np.array([1.0, 2.0, 3.0, 4.0])
    got = gradgen.grad_from_source(source, "f")(x, u)
    np.testing.assert_array_equal(got, [1.0, 0.0, 0.0, 4.0])


def test_fmax_and_fmin_give_the_gradient_to_the_operand_returned():
    source = '''\
import numpy as np


def f(a: "4", b: "4", u: "4"):
    return np.sum(np.fmax(a, b) * u) + np.sum(np.fmin(a, b) * u * u)
'''
    a = np.array([np.nan, 1.0, 2.0, 3.0])
    b = np.array([1.0, np.nan, 2.0, 0.0])
    u = np.array([1.0, 2.0, 3.0, 4.0])
    ga, gb = gradgen.grad_from_source(source, "f", wrt=(0, 1))(a, b, u)
    # fmax returns b, a, the tie, a; fmin returns b, a, the tie, b.
    np.testing.assert_array_equal(ga, [0.0, 2.0 + 4.0, 0.5 * (3.0 + 9.0), 4.0])
    np.testing.assert_array_equal(gb, [1.0 + 1.0, 0.0, 0.5 * (3.0 + 9.0), 16.0])


def test_floor_division_carries_no_gradient():
    source = '''\
import numpy as np


def f(x: "3"):
    return np.sum(x // 2 * x + np.floor_divide(x, 3))
'''
    x = np.array([1.3, 2.5, -3.1])
    np.testing.assert_array_equal(gradgen.grad_from_source(source, "f")(x), [0.0, 1.0, -2.0])


def test_real_imag_and_conj_of_real_arrays_as_functions_methods_and_attributes():
    source = '''\
import numpy as np


def f(x: "3"):
    return np.sum(x.real * x + np.imag(x) * x + x.conj() + np.conjugate(x) * 2.0)
'''
    x = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(gradgen.grad_from_source(source, "f")(x), 2 * x + 3.0)


def test_complex_literals_are_refused_with_their_location():
    source = '''\
import numpy as np


def f(x):
    return np.sum(np.real(x * 1j))
'''
    with pytest.raises(GradgenError) as info:
        gradgen.source_from_text(source, "f")
    assert "complex" in str(info.value) and ":5:" in str(info.value)


# ------------------------------------------------------------------ scipy.special

SCIPY_FORMS = {
    "from scipy import special": "special.expit",
    "import scipy.special": "scipy.special.expit",
    "import scipy.special as sp": "sp.expit",
    "from scipy.special import expit": "expit",
}


@pytest.mark.parametrize("form", list(SCIPY_FORMS))
def test_scipy_special_in_each_import_form(form):
    special = pytest.importorskip("scipy.special")
    source = f'''\
import numpy as np
{form}


def f(x: "3"):
    return np.sum({SCIPY_FORMS[form]}(x) * x)
'''
    x = np.array([-1.0, 0.3, 2.0])
    s = special.expit(x)
    expected = s + x * s * (1 - s)
    np.testing.assert_allclose(gradgen.grad_from_source(source, "f")(x), expected, rtol=1e-12)
    text = gradgen.source_from_text(source, "f")
    assert _imports(text) == ["import numpy as np", "import scipy.special"], text
    assert "scipy.special.expit(x)" in text


def test_scipy_functions_against_central_differences_in_every_mode():
    pytest.importorskip("scipy.special")
    from scipy import special

    source = '''\
import numpy as np
from scipy import special


def f(x: "2 3", u: "2 3"):
    a = special.softmax(x, axis=1) * u + special.log_softmax(x, axis=0) * u * u
    return np.sum(a) + np.sum(special.logsumexp(x, axis=-1, keepdims=True) * u)
'''

    def f(x, u):
        a = special.softmax(x, axis=1) * u + special.log_softmax(x, axis=0) * u * u
        return np.sum(a) + np.sum(special.logsumexp(x, axis=-1, keepdims=True) * u)

    rng = np.random.default_rng(0)
    x, u, v = rng.standard_normal((3, 2, 3))
    expected = _central(lambda z: f(z, u), x)
    np.testing.assert_allclose(gradgen.grad_from_source(source, "f")(x, u), expected,
                               rtol=1e-6, atol=1e-8)
    _, tangent = gradgen.jvp_from_source(source, "f")(x, u, v)
    assert tangent == pytest.approx(np.sum(expected * v), rel=1e-6)


@pytest.mark.parametrize("call, why", [
    ("special.logsumexp(x, b=w)", "b="),
    ("special.logsumexp(x, return_sign=True)[0]", "return_sign"),
    ("special.zeta(x)", "missing argument 'q'"),  # the Riemann zeta
    ("special.gamma(x)", "no gradient rule"),
    ("special.zeta(x, 2.0)", "argument 'x'"),  # only q is differentiated
    # An uncovered argument bound to the same variable as a covered one.
    ("special.polygamma(x, x)", "argument 'n'"),
])
def test_what_scipy_rules_cannot_differentiate_is_refused(call, why):
    pytest.importorskip("scipy.special")
    source = f'''\
import numpy as np
from scipy import special


def f(x, w, n):
    return np.sum({call})
'''
    for mode in ("reverse", "forward"):
        with pytest.raises(GradgenError) as info:
            gradgen.source_from_text(source, "f", mode=mode)
        message = str(info.value)
        assert any(w in message for w in why.split("|")) and ":6:" in message, message


def test_other_scipy_modules_are_unknown_primitives():
    source = '''\
import numpy as np
import scipy


def f(x):
    return np.sum(scipy.linalg.expm(x))
'''
    with pytest.raises(GradgenError) as info:
        gradgen.source_from_text(source, "f")
    assert "no gradient rule for scipy.linalg.expm" in str(info.value)
