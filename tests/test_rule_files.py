"""Rule files users add: one entry, and the primitive works in every mode."""

from __future__ import annotations

import numpy as np
import pytest

import gradgen
from gradgen.rules import load_registry

CBRT_RULES = '''\
import numpy as np

elementwise(np.cbrt, lambda y, x: 1 / (3 * y * y), test=dict(domain="positive"))
'''
SOURCE = '''\
import numpy as np


def f(x: "n"):
    return np.sum(np.cbrt(x) * x)
'''
X = np.array([0.5, 1.3, 2.2])
HELPERS = ("def unbroadcast", "def unreduce", "def unindex", "def matmul_grad",
           "def checked_seed")


@pytest.fixture
def rules(tmp_path):
    path = tmp_path / "my_rules.py"
    path.write_text(CBRT_RULES)
    return path


def _central(f, x, h=1e-6):
    out = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        out[i] = (f(x + e) - f(x - e)) / (2 * h)
    return out


def _f(x):
    return np.sum(np.cbrt(x) * x)


@pytest.mark.parametrize("mode", ["reverse", "forward", "hvp"])
def test_a_user_elementwise_entry_works_in_every_mode_without_helpers(rules, mode):
    text = gradgen.source_from_text(SOURCE, "f", mode=mode, rules=[rules])
    assert not any(helper in text for helper in HELPERS), text
    if mode == "reverse":
        grad = gradgen.grad_from_source(SOURCE, "f", rules=[rules])
        np.testing.assert_allclose(grad(X), _central(_f, X), rtol=1e-6)
    elif mode == "forward":
        jvp = gradgen.jvp_from_source(SOURCE, "f", rules=[rules])
        t = np.array([1.0, -2.0, 0.5])
        np.testing.assert_allclose(jvp(X, t)[1], _central(_f, X) @ t, rtol=1e-6)
    else:
        hvp = gradgen.hvp_from_source(SOURCE, "f", rules=[rules])
        grad = gradgen.grad_from_source(SOURCE, "f", rules=[rules])
        v = np.array([1.0, -2.0, 0.5])
        h = 1e-6
        expected = (grad(X + h * v) - grad(X - h * v)) / (2 * h)
        np.testing.assert_allclose(hvp(X, v), expected, rtol=1e-5)


def test_the_entry_is_in_the_registry_with_its_family_and_test(rules):
    entry = load_registry((str(rules),)).entry("np.cbrt")
    assert entry.family == "elementwise" and entry.shape == "elementwise"
    assert entry.test["domain"] == "positive"
    assert "np.cbrt" not in load_registry().entries or load_registry().entry(
        "np.cbrt").where != entry.where  # the user file's entry wins


def test_a_rule_file_with_a_mistake_is_a_located_error(tmp_path):
    path = tmp_path / "bad_rules.py"
    path.write_text("import numpy as np\n\nelementwise(np.cbrt, 3)\n")
    with pytest.raises(gradgen.TemplateError) as info:
        load_registry((str(path),))
    assert info.value.location.line == 3
    assert "bad_rules.py" in info.value.location.filename
    path.write_text("import numpy as np\n\n@adjoint(np.cbrt)\ndef cbrt(y, x):\n"
                    "    d[z] = d[y]\n")
    with pytest.raises(gradgen.TemplateError, match=r"d\[\.\.\.\] must name"):
        load_registry((str(path),))


def test_a_missing_rule_file_is_a_clear_error(tmp_path):
    with pytest.raises(gradgen.TemplateError, match="no rule file"):
        gradgen.source_from_text(SOURCE, "f", rules=[tmp_path / "nope.py"])


def test_bundled_files_may_not_declare_a_primitive_twice(tmp_path, monkeypatch):
    from gradgen import rules as rules_module

    folder = tmp_path / "templates"
    folder.mkdir()
    for name in ("contract.py", "helpers.py"):
        (folder / name).write_text((rules_module.templates_dir() / name).read_text())
    (folder / "a.py").write_text("import numpy as np\n\nelementwise(np.exp, lambda y, x: y)\n")
    (folder / "b.py").write_text("import numpy as np\n\nelementwise(np.exp, lambda y, x: y)\n")
    monkeypatch.setattr(rules_module, "templates_dir", lambda: folder)
    rules_module.load_registry.cache_clear()
    try:
        with pytest.raises(gradgen.TemplateError, match="declared twice"):
            rules_module.load_registry()
    finally:
        rules_module.load_registry.cache_clear()


LDEXP_RULES = '''\
import numpy as np


@adjoint(np.ldexp)
def ldexp(y, x1, x2):
    d[x1] = d[y] * 2.0 ** x2
'''
LDEXP_SOURCE = '''\
import numpy as np


def f(x, e):
    return np.sum(np.ldexp(x, e))
'''


@pytest.mark.parametrize("mode", ["reverse", "forward", "hvp"])
def test_an_argument_a_rule_does_not_differentiate_is_refused_in_every_mode(tmp_path, mode):
    path = tmp_path / "ldexp_rules.py"
    path.write_text(LDEXP_RULES)
    # x1 alone is fine; x2 has no rule, and a zero would be a silent lie.
    gradgen.source_from_text(LDEXP_SOURCE, "f", mode=mode, wrt=("x",), rules=[path])
    with pytest.raises(gradgen.GradgenError, match="argument 'x2'"):
        gradgen.source_from_text(LDEXP_SOURCE, "f", mode=mode, wrt=("e",), rules=[path])
