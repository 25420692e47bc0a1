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
    rules_module._load_registry.cache_clear()
    try:
        with pytest.raises(gradgen.TemplateError, match="declared twice"):
            rules_module.load_registry()
    finally:
        rules_module._load_registry.cache_clear()


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


# -- the doors that load rule files: [tool.gradgen] rules, --rules, the decorator

BAD_RULES = "import numpy as np\n\nelementwise(np.cbrt, 3)\n"
LOSS = "import numpy as np\n\n\ndef f(x):\n    return np.sum(np.cbrt(x) * x)\n"


def _project(tmp_path, table: str):
    (tmp_path / ".git").mkdir()
    (tmp_path / "tools").mkdir()
    (tmp_path / "loss.py").write_text(LOSS)
    (tmp_path / "pyproject.toml").write_text("[tool.gradgen]\n" + table)
    return tmp_path


def _generated(tmp_path):
    namespace: dict = {}
    exec((tmp_path / "generated" / "loss_grad.py").read_text(), namespace)  # what it wrote
    return namespace["grad_f"]


def test_the_tables_rules_are_loaded_for_every_target(tmp_path, monkeypatch, capsys):
    from gradgen.cli import main

    project = _project(tmp_path, 'rules = ["tools/grad_rules.py"]\ntargets = ["loss.py::f"]\n')
    monkeypatch.chdir(project)
    (project / "tools" / "grad_rules.py").write_text(BAD_RULES)
    assert main(["generate", "-q"]) == 2
    assert "tools/grad_rules.py:3:" in capsys.readouterr().err  # the user's file, located
    (project / "tools" / "grad_rules.py").write_text(CBRT_RULES)
    assert main(["generate", "-q"]) == 0
    np.testing.assert_allclose(_generated(project)(X), _central(_f, X), rtol=1e-6)
    assert main(["check", "-q"]) == 0
    # A rule file edited after generation makes the module stale.
    (project / "tools" / "grad_rules.py").write_text(
        CBRT_RULES.replace("1 / (3 * y * y)", "np.cbrt(x) / (3 * x)"))
    assert main(["check", "-q"]) == 1


def test_the_rules_flag_replaces_the_table_and_is_in_the_fix_command(tmp_path, monkeypatch,
                                                                    capsys):
    from gradgen.cli import main

    project = _project(tmp_path, 'rules = ["tools/bad.py"]\ntargets = ["loss.py::f"]\n')
    monkeypatch.chdir(project)
    (project / "tools" / "bad.py").write_text(BAD_RULES)
    (project / "tools" / "good.py").write_text(CBRT_RULES)
    assert main(["generate", "-q", "--rules", "tools/good.py"]) == 0
    np.testing.assert_allclose(_generated(project)(X), _central(_f, X), rtol=1e-6)
    capsys.readouterr()
    assert main(["check", "--rules", "tools/good.py"]) == 0
    (project / "loss.py").write_text(LOSS.replace("* x)", "* x * 2.0)"))
    assert main(["check", "--rules", "tools/good.py"]) == 1
    assert "--rules tools/good.py" in capsys.readouterr().err


@pytest.mark.parametrize("value, message", [("3", "rules must be a list"),
                                            ('[""]', "not a path"),
                                            ('["/abs/rules.py"]', "relative")])
def test_a_bad_rules_entry_in_the_table_is_located(tmp_path, monkeypatch, capsys, value,
                                                   message):
    from gradgen.cli import main

    project = _project(tmp_path, f'rules = {value}\ntargets = ["loss.py::f"]\n')
    monkeypatch.chdir(project)
    assert main(["generate", "-q"]) == 2
    err = capsys.readouterr().err
    assert message in err and "pyproject.toml:2:" in err


def test_the_decorator_reads_rules_beside_its_module_and_keys_on_them(tmp_path, monkeypatch):
    import importlib.util
    import sys

    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path.parent)  # relative paths must not depend on the cwd
    (tmp_path / "my_rules.py").write_text(CBRT_RULES)
    (tmp_path / "model_rules.py").write_text(
        "import numpy as np\nimport gradgen\n\n\n"
        "@gradgen.differentiable(rules=['my_rules.py'])\n"
        "def f(x):\n    return np.sum(np.cbrt(x) * x)\n")

    def load(tag):
        spec = importlib.util.spec_from_file_location(f"model_rules_{tag}",
                                                      tmp_path / "model_rules.py")
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, spec.name, module)
        spec.loader.exec_module(module)
        return module.f

    first = load("a")
    np.testing.assert_allclose(first.grad(X), _central(_f, X), rtol=1e-6)
    # Another formula for the same partial: the key changes, the module is regenerated.
    (tmp_path / "my_rules.py").write_text(CBRT_RULES.replace("1 / (3 * y * y)",
                                                             "y / (3 * x)"))
    second = load("b")
    assert second.grad_source != first.grad_source
    np.testing.assert_allclose(second.grad(X), _central(_f, X), rtol=1e-6)
