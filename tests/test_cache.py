"""The on-disk cache of generated modules (gradgen.cache), on its own.

Every test points GRADGEN_CACHE_DIR at a fresh tmp_path: the real cache in the
user's home is never touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import gradgen
from gradgen import cache
from gradgen.options import Options

MODULE = "import numpy as np\n\n\ndef dfoo(x, seed=1.0):\n    return seed * np.cos(x)\n"


@pytest.fixture(autouse=True)
def cache_env(tmp_path, monkeypatch):
    """A private cache directory and a clean 'unwritable' memory for every test."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(directory))
    monkeypatch.setattr(cache, "_unwritable", set())
    return directory


def key_of(text="def foo(x):\n    return np.sin(x)\n", **options):
    return cache.make_key(text, Options.make(**options))


def entries(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.gradgen")) if directory.exists() else []


def files(directory: Path) -> list[str]:
    """The folder's file names but its HMAC key (see test_cache_security.py)."""
    return sorted(name for name in os.listdir(directory) if name != cache.KEY_FILE)


# -- location -----------------------------------------------------------------


def test_cache_dir_honours_gradgen_cache_dir(cache_env, tmp_path, monkeypatch):
    assert cache.cache_dir() == cache_env
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == cache_env  # GRADGEN_CACHE_DIR wins
    key = key_of()
    assert cache.put(key, MODULE)
    assert [p.name for p in entries(cache_env)] == [f"{key}.gradgen"]
    assert not (tmp_path / "xdg").exists()


def test_cache_dir_falls_back_to_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.delenv("GRADGEN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "gradgen"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "gradgen"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "gradgen"


# -- put / get ----------------------------------------------------------------


def test_put_then_get_round_trips(cache_env):
    key = key_of()
    assert cache.get(key) is None
    assert cache.put(key, MODULE, "dfoo")
    assert cache.get(key) == MODULE
    entry = cache.load(key, "<test>")
    assert entry.text == MODULE and entry.name == "dfoo"
    namespace = {}
    exec(entry.code, namespace)
    assert namespace["dfoo"](0.0) == 1.0


def test_entry_file_is_header_then_text(cache_env):
    key = key_of()
    cache.put(key, MODULE)
    raw = (cache_env / f"{key}.gradgen").read_text(encoding="utf-8")
    head, _, rest = raw.partition("\n")
    magic, version, entry_key, name, mac = head.rsplit(" ", 4)
    assert (magic, version, entry_key, name) == (
        "# gradgen-cache", f"v{cache.FORMAT_VERSION}", key, "-"
    )
    assert len(mac) == 64 and set(mac) <= set("0123456789abcdef")  # HMAC-SHA256
    assert rest == MODULE


def test_put_leaves_no_temporary_files_and_overwrites(cache_env):
    key = key_of()
    cache.put(key, MODULE)
    cache.put(key, MODULE.replace("cos", "sin"))
    assert files(cache_env) == [f"{key}.gradgen"]
    assert "np.sin" in cache.get(key)


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda key: b"\xff\xfe\x00garbage\x80\x81", id="garbage-bytes"),
        pytest.param(lambda key: b"", id="empty"),
        pytest.param(lambda key: MODULE.encode(), id="no-header"),
        pytest.param(
            lambda key: f"# something-else v1 {key}\n{MODULE}".encode(),
            id="foreign-header",
        ),
        pytest.param(
            lambda key: f"# gradgen-cache v999 {key}\n{MODULE}".encode(),
            id="other-format",
        ),
        pytest.param(
            lambda key: f"# gradgen-cache v1 {'0' * 64}\n{MODULE}".encode(),
            id="other-key",
        ),
        pytest.param(
            lambda key: f"# gradgen-cache v1 {key}".encode(), id="header-only"
        ),
        pytest.param(
            lambda key: f"# gradgen-cache v1 {key} not-a-name\n{MODULE}".encode(),
            id="bad-name",
        ),
        pytest.param(
            lambda key: f"# gradgen-cache v1 {key}\ndef broken(:\n".encode(),
            id="syntax-error",
        ),
        pytest.param(
            lambda key: f"# gradgen-cache v1 {key}\nx = '\0'\0\n".encode(),
            id="null-byte",
        ),
    ],
)
def test_invalid_entries_are_misses(cache_env, corrupt):
    key = key_of()
    cache_env.mkdir()
    (cache_env / f"{key}.gradgen").write_bytes(corrupt(key))
    assert cache.get(key) is None
    assert cache.load(key) is None
    # ... and put() overwrites them.
    cache.put(key, MODULE)
    assert cache.get(key) == MODULE


def test_malformed_keys_are_refused(cache_env):
    for bad in ["", "../../etc/passwd", "A" * 64, "0" * 63, "g" * 64, None]:
        with pytest.raises(ValueError):
            cache.get(bad)
        with pytest.raises(ValueError):
            cache.put(bad, MODULE)


def test_put_refuses_a_name_that_is_not_an_identifier(cache_env):
    with pytest.raises(ValueError):
        cache.put(key_of(), MODULE, "two words")


# -- an unwritable cache ------------------------------------------------------


def test_unwritable_dir_degrades_to_no_cache_with_one_warning(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(blocker / "cache"))
    with pytest.warns(cache.CacheWarning, match="GRADGEN_CACHE_DIR"):
        assert cache.put(key_of(), MODULE) is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second warning would raise
        assert cache.put(key_of("other"), MODULE) is False
        assert cache.get(key_of()) is None
        assert cache.clear() == 0


def test_write_refused_in_an_existing_dir_keeps_hits(cache_env, monkeypatch):
    """What a read-only directory looks like to put(), even when running as root."""
    import tempfile

    key = key_of()
    cache.put(key, MODULE)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.warns(cache.CacheWarning, match="cannot write"):
        assert cache.put(key_of("other"), MODULE) is False
    assert cache.get(key) == MODULE
    assert files(cache_env) == [f"{key}.gradgen"]


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write anywhere"
)
def test_read_only_dir_still_serves_hits_and_warns_on_put(cache_env):
    key = key_of()
    cache.put(key, MODULE)
    cache_env.chmod(0o500)
    try:
        assert cache.get(key) == MODULE
        with pytest.warns(cache.CacheWarning):
            assert cache.put(key_of("other"), MODULE) is False
    finally:
        cache_env.chmod(0o700)


# -- clear --------------------------------------------------------------------


def test_clear_removes_entries_and_returns_the_count(cache_env):
    keys = [key_of(f"def f{i}(x):\n    return x\n") for i in range(3)]
    for key in keys:
        cache.put(key, MODULE)
    (cache_env / ".tmp-abc.gradgen").write_text("half-written")
    (cache_env / "README.txt").write_text("not ours")
    (cache_env / "notes.gradgen").write_text("not an entry name")
    assert cache.clear() == 3
    assert files(cache_env) == ["README.txt", "notes.gradgen"]
    assert all(cache.get(key) is None for key in keys)
    assert cache.clear() == 0


def test_clear_on_a_missing_dir_is_zero(cache_env):
    assert not cache_env.exists()
    assert cache.clear() == 0


# -- the key ------------------------------------------------------------------


def test_key_is_hex_sha256_and_deterministic():
    key = key_of()
    assert len(key) == 64 and set(key) <= set("0123456789abcdef")
    assert key == key_of()


def test_key_changes_with_source():
    assert key_of("def f(x):\n    return np.sin(x)\n") != key_of(
        "def f(x):\n    return np.cos(x)\n"
    )
    assert key_of("def f(x):\n    return x\n") != key_of("def f(x):\n    return x \n")


@pytest.mark.parametrize(
    "options",
    [
        {"wrt": (1,)},
        {"wrt": ("x",)},
        {"wrt": (0, 1)},
        {"preserve_result": True},
        {"simplify": False},
        {"shapes": {"x": "n"}},
    ],
)
def test_key_changes_with_options(options):
    assert key_of(**options) != key_of()


def test_key_changes_with_version_and_format(monkeypatch):
    before = key_of()
    monkeypatch.setattr(gradgen, "__version__", gradgen.__version__ + ".post1")
    assert key_of() != before
    monkeypatch.undo()
    assert key_of() == before
    monkeypatch.setattr(cache, "FORMAT_VERSION", cache.FORMAT_VERSION + 1)
    assert key_of() != before


def test_key_changes_when_gradgen_code_changes(monkeypatch):
    before = key_of()
    monkeypatch.setattr(
        cache, "_fingerprint", cache._code_fingerprint() + "\ntemplates/new.py:1:1"
    )
    assert key_of() != before


def test_key_changes_with_extra():
    options = Options.make()
    text = "def f(x):\n    return x\n"
    assert cache.make_key(text, options, ("a.py", 1)) != cache.make_key(
        text, options, ("a.py", 2)
    )
    assert cache.make_key(text, options, ("a.py", 1)) != cache.make_key(text, options)


def test_key_is_the_same_in_other_processes():
    script = (
        "from gradgen import cache; from gradgen.options import Options; "
        "print(cache.make_key('def f(x):\\n    return x\\n', "
        "Options.make(wrt=('x', 1), shapes={'x': 'n', 'y': 'n m'})))"
    )
    root = str(Path(gradgen.__file__).resolve().parent.parent)
    keys = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=root)
        out = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        keys.add(out.stdout.strip())
    assert keys == {
        cache.make_key(
            "def f(x):\n    return x\n",
            Options.make(wrt=("x", 1), shapes={"x": "n", "y": "n m"}),
        )
    }


# -- stored bytecode ----------------------------------------------------------


def _no_compile(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("compile() called although valid bytecode was stored")

    monkeypatch.setattr(cache, "compile", refuse, raising=False)


def test_load_reuses_stored_bytecode(cache_env, monkeypatch):
    key = key_of()
    code = compile(MODULE, "<grad of foo>", "exec")
    cache.put(key, MODULE, "dfoo", code)
    assert files(cache_env) == [
        f"{key}.gradgen",
        f"{key}.gradgen-code",
    ]
    _no_compile(monkeypatch)
    entry = cache.load(key, "<grad of foo>")
    namespace = {}
    exec(entry.code, namespace)
    assert namespace["dfoo"](0.0) == 1.0
    assert entry.code.co_filename == "<grad of foo>"


def test_load_writes_bytecode_for_the_next_load(cache_env, monkeypatch):
    key = key_of()
    cache.put(key, MODULE, "dfoo")
    assert not (cache_env / f"{key}.gradgen-code").exists()
    assert cache.load(key, "<f>") is not None
    assert (cache_env / f"{key}.gradgen-code").exists()
    _no_compile(monkeypatch)
    assert cache.load(key, "<f>").text == MODULE


@pytest.mark.parametrize(
    "damage",
    [
        "payload",
        "header-text-digest",
        "truncated",
        "garbage",
        "other-filename",
        "other-interpreter",
    ],
)
def test_damaged_or_foreign_bytecode_is_ignored_and_rewritten(
    damage, cache_env, monkeypatch
):
    key = key_of()
    cache.put(key, MODULE, "dfoo", compile(MODULE, "<f>", "exec"))
    path = cache_env / f"{key}.gradgen-code"
    head, _, payload = path.read_bytes().partition(b"\n")
    filename = "<f>"
    if damage == "payload":
        payload = payload[:-1] + bytes([payload[-1] ^ 1])
    elif damage == "header-text-digest":
        fields = head.split(b" ")
        fields[5] = b"0" * 64
        head = b" ".join(fields)
    elif damage == "truncated":
        payload = payload[: len(payload) // 2]
    elif damage == "garbage":
        head, payload = b"\x00\xff", b"\x01" * 40
    elif damage == "other-filename":
        filename = "<g>"
    elif damage == "other-interpreter":
        monkeypatch.setattr(cache, "_CODE_TAG", "cpython-299-deadbeef")
    path.write_bytes(head + b"\n" + payload)
    compiled = []
    real_compile = compile

    def counting(*args, **kwargs):
        compiled.append(args[1])
        return real_compile(*args, **kwargs)

    monkeypatch.setattr(cache, "compile", counting, raising=False)
    entry = cache.load(key, filename)
    assert compiled == [filename]
    assert entry.text == MODULE and entry.code.co_filename == filename
    namespace = {}
    exec(entry.code, namespace)
    assert namespace["dfoo"](0.0) == 1.0
    cache.load(key, filename)  # ... rewritten: no second compile
    assert compiled == [filename]


def test_bytecode_of_an_older_text_is_never_used(cache_env, monkeypatch):
    key = key_of()
    cache.put(key, MODULE, "dfoo", compile(MODULE, "<f>", "exec"))
    stale_code = (cache_env / f"{key}.gradgen-code").read_bytes()
    new_text = MODULE.replace("np.cos(x)", "np.cos(x) * 2.0")
    cache.put(key, new_text, "dfoo")
    (cache_env / f"{key}.gradgen-code").write_bytes(stale_code)  # e.g. a racing writer
    namespace = {}
    exec(cache.load(key, "<f>").code, namespace)
    assert namespace["dfoo"](0.0) == 2.0


def test_put_without_code_removes_stale_bytecode(cache_env):
    key = key_of()
    cache.put(key, MODULE, "dfoo", compile(MODULE, "<f>", "exec"))
    cache.put(key, MODULE, "dfoo")
    assert files(cache_env) == [f"{key}.gradgen"]


def test_clear_removes_bytecode_too_but_counts_entries(cache_env):
    key = key_of()
    cache.put(key, MODULE, "dfoo", compile(MODULE, "<f>", "exec"))
    assert cache.clear() == 1
    assert files(cache_env) == []
