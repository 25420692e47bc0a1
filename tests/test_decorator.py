"""@differentiable: gradients generated at import time, through the on-disk cache.

The decorated functions live in real module files written to tmp_path, as a
user's would; every test points GRADGEN_CACHE_DIR at its own tmp_path.
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import json
import linecache
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import gradgen
from gradgen import api, cache, decorator
from gradgen.decorator import differentiable
from gradgen.errors import GradgenError, SourceNotFoundError, UsageError

ROOT = Path(gradgen.__file__).resolve().parent.parent
_names = itertools.count()

SIN_X = """
import numpy as np
from gradgen.decorator import differentiable


@differentiable
def f(x):
    return np.sum(np.sin(x) * x)
"""


@pytest.fixture(autouse=True)
def cache_env(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(directory))
    monkeypatch.setattr(cache, "_unwritable", set())
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    # These tests are about the generic module and its cache entry: f.grad
    # is that module's function (call-time versions: tests/test_specialize.py).
    monkeypatch.setattr(decorator, "_specialised", lambda func, options, generic: generic)
    return directory


@pytest.fixture
def generations(monkeypatch):
    """Counts calls of the generator (gradgen.api.source) made by the decorator."""
    calls = []
    real = api.source

    def counting(func, *args, **kwargs):
        calls.append(func.__name__)
        return real(func, *args, **kwargs)

    monkeypatch.setattr(api, "source", counting)
    return calls


def write_module(tmp_path: Path, body: str, stem: str = "usermod") -> Path:
    path = tmp_path / f"{stem}.py"
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


def import_file(path: Path, monkeypatch):
    """Import ``path`` under a fresh module name (a fresh 'process' for the decorator)."""
    name = f"_gradgen_test_{path.stem}_{next(_names)}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def entries(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.gradgen")) if directory.exists() else []


X = np.array([0.3, -1.2, 2.5, 0.0, 4.0])


# -- behaviour ----------------------------------------------------------------


def test_returns_the_function_itself_unchanged():
    def g(x):
        return np.sum(np.sin(x) * x)

    before = g(X)
    assert differentiable(g) is g
    assert differentiable(wrt=(0,))(g) is g
    assert g(X) == before
    assert g.__name__ == "g" and not hasattr(g, "__wrapped__")
    assert callable(g.grad) and isinstance(g.grad_source, str)


def test_decorated_module_function_keeps_values_and_gets_gradient(
    tmp_path, monkeypatch
):
    module = import_file(write_module(tmp_path, SIN_X), monkeypatch)
    assert module.f(X) == pytest.approx(np.sum(np.sin(X) * X), rel=1e-15)
    np.testing.assert_allclose(module.f.grad(X), np.cos(X) * X + np.sin(X), rtol=1e-12)
    # The trailing seed scales the gradient.
    np.testing.assert_allclose(
        module.f.grad(X, 3.0), 3.0 * (np.cos(X) * X + np.sin(X)), rtol=1e-12
    )


def test_grad_source_is_standalone_numpy(tmp_path, monkeypatch):
    module = import_file(write_module(tmp_path, SIN_X), monkeypatch)
    text = module.f.grad_source
    assert isinstance(text, str) and "import numpy as np" in text
    assert "import gradgen" not in text and "from gradgen" not in text
    namespace: dict = {}
    exec(compile(text, "<pasted>", "exec"), namespace)
    pasted = namespace[module.f.grad.__name__]
    np.testing.assert_allclose(pasted(X), module.f.grad(X))


def test_options_wrt_by_name_and_preserve_result(tmp_path, monkeypatch):
    body = """
    import numpy as np
    from gradgen import decorator


    @decorator.differentiable(wrt=("x", "y"))
    def prod(x, y):
        return np.sum(x * y)


    @decorator.differentiable(wrt="y", preserve_result=True)
    def expy(x, y):
        return np.sum(np.exp(y) * x)
    """
    module = import_file(write_module(tmp_path, body), monkeypatch)
    y = X[::-1] * 0.5
    dx, dy = module.prod.grad(X, y)
    np.testing.assert_allclose(dx, y)
    np.testing.assert_allclose(dy, X)
    value, g = module.expy.grad(X, y)
    assert value == pytest.approx(np.sum(np.exp(y) * X))
    np.testing.assert_allclose(g, np.exp(y) * X)


def test_gradgen_errors_surface_at_decoration_with_a_location(tmp_path, monkeypatch):
    body = """
    import numpy as np
    from gradgen.decorator import differentiable


    @differentiable
    def bad(x):
        with open("f") as fh:
            return x
    """
    path = write_module(tmp_path, body)
    with pytest.raises(GradgenError) as info:
        import_file(path, monkeypatch)
    assert str(path) in str(info.value) or path.name in str(info.value)
    assert entries(tmp_path / "cache") == []


def test_positional_options_are_a_usage_error():
    with pytest.raises(UsageError, match="keyword"):
        differentiable(0)


# -- functions without source ---------------------------------------------------


def test_lambda_says_use_def():
    with pytest.raises(SourceNotFoundError) as info:
        differentiable(lambda x: np.sum(x * x))
    assert "def" in str(info.value)


def test_exec_string_says_where_source_can_come_from():
    src = "import numpy as np\n\ndef h(x):\n    return np.sum(x)\n"
    namespace: dict = {}
    exec(compile(src, "<string>", "exec"), namespace)
    with pytest.raises(SourceNotFoundError) as info:
        differentiable(namespace["h"])
    message = str(info.value)
    assert "h()" in message or "'h'" in message or " h" in message
    assert "source_from_text" in message and ".py file" in message


def test_exec_string_with_decorator_fails_at_decoration():
    src = (
        "import numpy as np\nfrom gradgen.decorator import differentiable\n\n"
        "@differentiable\ndef h(x):\n    return np.sum(x)\n"
    )
    with pytest.raises(SourceNotFoundError, match="source_from_text"):
        exec(compile(src, "<string>", "exec"), {"__name__": "__main__"})


@pytest.mark.parametrize(
    "cell", ["<ipython-input-7-0a1b2c3d4e5f>", "/tmp/ipykernel_4242/3141592653.py"]
)
def test_jupyter_cell_source_comes_from_linecache(cell, monkeypatch, generations):
    src = (
        "import numpy as np\n"
        "from gradgen import decorator\n"
        "\n"
        "@decorator.differentiable\n"
        "def cellf(x):\n"
        "    return np.sum(np.sin(x) * x)\n"
    )
    assert not os.path.exists(cell)
    # What IPython does for each cell it runs.
    monkeypatch.setitem(
        linecache.cache, cell, (len(src), None, src.splitlines(True), cell)
    )
    namespace = {"__name__": "__main__"}
    exec(compile(src, cell, "exec"), namespace)
    cellf = namespace["cellf"]
    np.testing.assert_allclose(cellf.grad(X), np.cos(X) * X + np.sin(X), rtol=1e-12)
    assert generations == ["cellf"]
    # Re-running the cell hits the cache.
    exec(compile(src, cell, "exec"), namespace)
    assert generations == ["cellf"]
    assert namespace["cellf"].grad_source == cellf.grad_source


# -- the cache ----------------------------------------------------------------


def test_second_import_is_a_cache_hit(tmp_path, monkeypatch, generations, cache_env):
    path = write_module(tmp_path, SIN_X)
    first = import_file(path, monkeypatch)
    assert generations == ["f"]
    assert len(entries(cache_env)) == 1
    second = import_file(path, monkeypatch)
    assert generations == [
        "f"
    ], "the second import regenerated instead of using the cache"
    assert second.f.grad_source == first.f.grad_source
    np.testing.assert_allclose(second.f.grad(X), first.f.grad(X))


def test_a_hit_never_calls_the_generator(tmp_path, monkeypatch, cache_env):
    path = write_module(tmp_path, SIN_X)
    import_file(path, monkeypatch)

    def boom(*args, **kwargs):
        raise AssertionError("the generator ran on a cache hit")

    monkeypatch.setattr(api, "source", boom)
    from gradgen import driver

    monkeypatch.setattr(driver, "generate_module", boom)
    module = import_file(path, monkeypatch)
    np.testing.assert_allclose(module.f.grad(X), np.cos(X) * X + np.sin(X), rtol=1e-12)


def test_editing_the_function_regenerates(tmp_path, monkeypatch, generations):
    path = write_module(tmp_path, SIN_X)
    import_file(path, monkeypatch)
    write_module(tmp_path, SIN_X.replace("np.sin(x) * x", "np.cos(x) * x"))
    module = import_file(path, monkeypatch)
    assert generations == ["f", "f"]
    np.testing.assert_allclose(module.f.grad(X), -np.sin(X) * X + np.cos(X), rtol=1e-12)


def test_options_are_part_of_the_key(tmp_path, monkeypatch, generations, cache_env):
    plain = SIN_X.replace("@differentiable\n", "")
    module = import_file(write_module(tmp_path, plain), monkeypatch)
    differentiable(module.f)
    differentiable(module.f, preserve_result=True)  # same source text, other options
    assert generations == ["f", "f"]
    assert len(entries(cache_env)) == 2
    value, g = module.f.grad(X)
    assert value == pytest.approx(np.sum(np.sin(X) * X))
    np.testing.assert_allclose(g, np.cos(X) * X + np.sin(X), rtol=1e-12)
    differentiable(module.f)
    assert generations == ["f", "f"]
    np.testing.assert_allclose(module.f.grad(X), np.cos(X) * X + np.sin(X), rtol=1e-12)


def test_a_new_version_regenerates(tmp_path, monkeypatch, generations):
    path = write_module(tmp_path, SIN_X)
    import_file(path, monkeypatch)
    monkeypatch.setattr(gradgen, "__version__", gradgen.__version__ + ".dev99")
    import_file(path, monkeypatch)
    assert generations == ["f", "f"]


CORRUPTIONS = {
    "garbage-bytes": lambda key, text: b"\x00\xff\xfe garbage \x80",
    "wrong-header": lambda key, text: (
        "# not-gradgen v1 " + key + "\n" + text
    ).encode(),
    "other-key": lambda key, text: (
        f"# gradgen-cache v1 {'ab' * 32} dummy\n" + text
    ).encode(),
    "no-compile": lambda key, text: f"# gradgen-cache v1 {key} dummy\ndef dummy(:\n".encode(),
    "missing-function": lambda key, text: f"# gradgen-cache v1 {key} dummy\nx = 1\n".encode(),
    "raises-when-run": lambda key, text: f"# gradgen-cache v1 {key} dummy\n1 / 0\n".encode(),
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corrupt_entry_is_regenerated_and_overwritten(
    kind, tmp_path, monkeypatch, generations, cache_env
):
    path = write_module(tmp_path, SIN_X)
    good = import_file(path, monkeypatch).f.grad_source
    [entry] = entries(cache_env)
    key = entry.stem
    entry.write_bytes(CORRUPTIONS[kind](key, good))

    module = import_file(path, monkeypatch)
    assert generations == ["f", "f"]
    assert module.f.grad_source == good
    np.testing.assert_allclose(module.f.grad(X), np.cos(X) * X + np.sin(X), rtol=1e-12)
    # The entry was overwritten with a valid one: the next import is a hit.
    assert cache.get(key) == good
    import_file(path, monkeypatch)
    assert generations == ["f", "f"]


def test_gradgen_cache_dir_is_honoured(tmp_path, monkeypatch, generations):
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(elsewhere))
    import_file(write_module(tmp_path, SIN_X), monkeypatch)
    assert len(entries(elsewhere)) == 1
    assert not (tmp_path / "cache").exists()


def test_unwritable_cache_dir_still_works(tmp_path, monkeypatch, generations):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(blocker / "cache"))
    path = write_module(tmp_path, SIN_X)
    with pytest.warns(cache.CacheWarning):
        module = import_file(path, monkeypatch)
    np.testing.assert_allclose(module.f.grad(X), np.cos(X) * X + np.sin(X), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once only
        import_file(path, monkeypatch)
    assert generations == ["f", "f"]


def test_clear_then_import_regenerates(tmp_path, monkeypatch, generations):
    path = write_module(tmp_path, SIN_X)
    import_file(path, monkeypatch)
    assert cache.clear() == 1
    import_file(path, monkeypatch)
    assert generations == ["f", "f"]


def test_tracebacks_show_generated_lines(tmp_path, monkeypatch):
    module = import_file(write_module(tmp_path, SIN_X), monkeypatch)
    code = module.f.grad.__code__
    lines = linecache.getlines(code.co_filename)
    assert lines and "".join(lines) == module.f.grad_source
    assert "gradient of f" in code.co_filename


# -- a warm import, in a fresh process ------------------------------------------

PROBE = """
import json, sys, time
t = time.perf_counter()
import usermod
elapsed = time.perf_counter() - t
import numpy as np
x = np.linspace(-1.0, 2.0, 7)
print(json.dumps({
    "heavy": sorted(m for m in ("libcst", "black", "gradgen.driver") if m in sys.modules),
    "grad": usermod.f.grad(x).tolist(),
    "elapsed": elapsed,
}))
"""


def test_warm_import_in_a_fresh_process_loads_no_generator(tmp_path, cache_env):
    write_module(tmp_path, SIN_X)
    env = dict(
        os.environ,
        GRADGEN_CACHE_DIR=str(cache_env),
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]),
    )
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", PROBE],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                cwd=tmp_path,
            ).stdout
        )
        for _ in range(2)
    ]
    x = np.linspace(-1.0, 2.0, 7)
    for run in runs:
        np.testing.assert_allclose(run["grad"], np.cos(x) * x + np.sin(x), rtol=1e-12)
    assert "gradgen.driver" in runs[0]["heavy"]  # cold: generated
    assert runs[1]["heavy"] == [], f"a warm import loaded {runs[1]['heavy']}"


def test_a_hit_loads_stored_bytecode_without_compiling(tmp_path, monkeypatch):
    path = write_module(tmp_path, SIN_X)
    import_file(path, monkeypatch)

    def refuse(*args, **kwargs):
        raise AssertionError("compile() on a warm hit")

    monkeypatch.setattr(cache, "compile", refuse, raising=False)
    module = import_file(path, monkeypatch)
    np.testing.assert_allclose(module.f.grad(X), np.cos(X) * X + np.sin(X), rtol=1e-12)


# -- the key: what the function's definition spans ----------------------------

MOVED = """
import numpy as np
from gradgen.decorator import differentiable

# A comment and some code above the function, which moves it down.
SCALE = 2.0


def helper(y):
    return y


@differentiable
def f(x):
    return np.sum(np.sin(x) * x)
"""


def test_moving_the_function_in_its_file_is_a_hit(tmp_path, monkeypatch, generations):
    path = write_module(tmp_path, SIN_X)
    first = import_file(path, monkeypatch)
    write_module(tmp_path, MOVED)
    second = import_file(path, monkeypatch)
    assert generations == ["f"]
    assert second.f.grad_source == first.f.grad_source


def test_the_python_310_way_of_keying_works_too(tmp_path, monkeypatch, generations):
    from gradgen import decorator

    monkeypatch.setattr(decorator, "_definition_lines", lambda func: None)
    path = write_module(tmp_path, SIN_X)
    import_file(path, monkeypatch)
    module = import_file(path, monkeypatch)
    assert generations == ["f"]
    np.testing.assert_allclose(module.f.grad(X), np.cos(X) * X + np.sin(X), rtol=1e-12)


SHAPES = '''
import numpy as np
import numpy
from numpy import sin


def deco(f):
    return f


def one_line(x): return np.sum(x)


@deco
@deco
def decorated(x):
    """A docstring
spanning lines at column 0."""
    return np.sum(x)


def signature_over_lines(
    x,
    y=2.0,
):
    return np.sum(x * y)


def closing_paren_at_col_0(x):
    return np.sum(
        np.sin(x)
        * x
)


def trailing_comment(x):
    y = np.sin(x)
    return np.sum(y)
    # a trailing comment


# a comment at column 0
def nested_last(x):
    def inner(z):
        return z
    return np.sum(inner(x))


def unreachable_after_return(x):
    return np.sum(x)
    y = x * 2.0
    return y


class Holder:
    def method(self, x):
        return np.sum(numpy.cos(x) + sin(x))
'''


def _shape_functions(module):
    return [
        module.one_line,
        module.decorated,
        module.signature_over_lines,
        module.closing_paren_at_col_0,
        module.trailing_comment,
        module.nested_last,
        module.unreachable_after_return,
        module.Holder.method,
    ]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="3.10 keys on inspect's text")
def test_key_lines_cover_exactly_what_function_source_reads(tmp_path, monkeypatch):
    """The key holds what api._function_source builds its text from: if this
    fails, _function_source reads something the key does not hold, and the
    cache could serve a stale gradient; update decorator._key."""
    from gradgen import decorator

    module = import_file(write_module(tmp_path, SHAPES), monkeypatch)
    for func in _shape_functions(module):
        lines = decorator._definition_lines(func)
        exact = "".join(inspect.getsourcelines(func)[0])
        assert lines is not None, func.__name__
        assert lines.startswith(exact), func.__name__
        text, filename, name, _ = api._function_source(func)
        assert text == "\n".join(api._numpy_imports(func)) + "\n" + textwrap.dedent(
            exact
        )
        assert filename == api._display_path(func.__code__.co_filename)
        assert name == func.__name__


@pytest.mark.skipif(sys.version_info < (3, 11), reason="3.10 keys on inspect's text")
def test_editing_any_line_of_a_definition_changes_its_key(tmp_path, monkeypatch):
    from gradgen import decorator
    from gradgen.options import Options

    path = write_module(tmp_path, SHAPES)
    module = import_file(path, monkeypatch)
    options = Options.make()
    original = path.read_text().splitlines(True)
    for index in range(len(_shape_functions(module))):
        func = _shape_functions(module)[index]
        key = decorator._key(func, options)[0]
        source_lines, start = inspect.getsourcelines(func)
        for offset, line in enumerate(source_lines):
            if not line.strip():
                continue
            edited = list(original)
            # A trailing space: the same program, another text.
            edited[start - 1 + offset] = line.rstrip("\n") + " \n"
            path.write_text("".join(edited))
            other = _shape_functions(import_file(path, monkeypatch))[index]
            assert decorator._key(other, options)[0] != key, (
                func.__name__,
                offset,
                line,
            )
        path.write_text("".join(original))
    # ... and numpy's import names are part of it too.
    func = module.Holder.method
    key = decorator._key(func, options)[0]
    path.write_text(
        "".join(original).replace(
            "from numpy import sin\n", "from numpy import sin, cos\n"
        )
    )
    other = import_file(path, monkeypatch).Holder.method
    assert "from numpy import cos" in api._function_source(other)[0]
    assert decorator._key(other, options)[0] != key
