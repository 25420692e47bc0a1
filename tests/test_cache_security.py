"""The decorator's cache executes only what it wrote itself (issue #15).

Attacks, each of which used to run the attacker's code on import:

* valid Python placed in the cache under the right header line (the header
  held the key and no secret);
* a bytecode file whose sha256 header was recomputed;
* an entry copied from another cache, or edited in place;
* a cache folder or entry owned by another user, or writable by group or
  others (a world-writable /tmp, a shared folder).

Every entry now carries an HMAC-SHA256 under a random per-cache key kept in a
0600 file; the folder is created 0700, and a folder, entry or key that is not
owned by the current user or is writable by group or others is refused with
one warning.  The permission checks are exercised three ways: the check
function on made-up ``stat`` results, ``chmod``/``chown`` as whoever runs the
tests, and (when the tests run as root and ``setpriv`` exists) end to end as
two unprivileged users.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import itertools
import marshal
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import gradgen
from gradgen import cache
from gradgen.options import Options

ROOT = Path(gradgen.__file__).resolve().parent.parent
_names = itertools.count()
X = np.array([0.3, -1.2, 2.5, 0.0, 4.0])
POSIX = hasattr(os, "geteuid")
IS_ROOT = POSIX and os.geteuid() == 0

SIN_X = """
import numpy as np
from gradgen.decorator import differentiable


@differentiable
def f(x):
    return np.sum(np.sin(x) * x)
"""


def payload(marker: Path) -> str:
    """Module text an attacker would like the victim to run."""
    return textwrap.dedent(
        f"""
        import numpy as np
        open({str(marker)!r}, "w").write("pwned")


        def grad_f(x, d_out=1.0):
            return np.zeros_like(x)
        """
    ).lstrip()


@pytest.fixture(autouse=True)
def cache_env(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(directory))
    monkeypatch.setattr(cache, "_unwritable", set())
    monkeypatch.setattr(cache, "_warned", set(), raising=False)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    return directory


def import_file(path: Path, monkeypatch):
    name = f"_gradgen_sec_{path.stem}_{next(_names)}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def user_module(tmp_path: Path) -> Path:
    path = tmp_path / "usermod.py"
    path.write_text(SIN_X.lstrip(), encoding="utf-8")
    return path


def entry_of(directory: Path) -> Path:
    [entry] = sorted(directory.glob("*.gradgen"))
    return entry


def assert_correct(module):
    np.testing.assert_allclose(module.f.grad(X), np.cos(X) * X + np.sin(X), rtol=1e-12)


# -- forged, copied and edited entries ------------------------------------------


def test_valid_python_under_the_right_header_is_not_executed(
    tmp_path, monkeypatch, cache_env
):
    path = user_module(tmp_path)
    import_file(path, monkeypatch)
    entry = entry_of(cache_env)
    header = entry.read_text(encoding="utf-8").partition("\n")[0]
    marker = tmp_path / "pwned"
    # Everything an attacker can know: the header line as gradgen writes it.
    entry.write_text(header + "\n" + payload(marker), encoding="utf-8")
    (cache_env / (entry.stem + ".gradgen-code")).unlink(missing_ok=True)

    module = import_file(path, monkeypatch)
    assert not marker.exists()
    assert_correct(module)


def test_forged_bytecode_with_recomputed_digests_is_not_executed(
    tmp_path, monkeypatch, cache_env
):
    path = user_module(tmp_path)
    import_file(path, monkeypatch)
    entry = entry_of(cache_env)
    code_path = cache_env / (entry.stem + ".gradgen-code")
    head, _, old_payload = code_path.read_bytes().partition(b"\n")
    filename = marshal.loads(old_payload).co_filename
    marker = tmp_path / "pwned"
    evil = marshal.dumps(compile(payload(marker), filename, "exec"))
    # Recompute every digest the header holds, as anyone can.
    old_digest = hashlib.sha256(old_payload).hexdigest().encode()
    new_digest = hashlib.sha256(evil).hexdigest().encode()
    fields = [new_digest if f == old_digest else f for f in head.split(b" ")]
    code_path.write_bytes(b" ".join(fields) + b"\n" + evil)

    module = import_file(path, monkeypatch)
    assert not marker.exists()
    assert_correct(module)


def test_an_entry_copied_from_another_cache_is_rejected(
    tmp_path, monkeypatch, cache_env
):
    path = user_module(tmp_path)
    import_file(path, monkeypatch)
    key = entry_of(cache_env).stem
    # The attacker's own cache: a perfectly valid entry there, for the same key.
    theirs = tmp_path / "attacker-cache"
    marker = tmp_path / "pwned"
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(theirs))
    text = payload(marker)
    assert cache.put(key, text, "grad_f", compile(text, "<x>", "exec"))
    assert cache.get(key) == text  # valid where it was written
    for suffix in (".gradgen", ".gradgen-code"):
        shutil.copyfile(theirs / (key + suffix), cache_env / (key + suffix))
    monkeypatch.setenv("GRADGEN_CACHE_DIR", str(cache_env))
    assert cache.get(key) is None
    module = import_file(path, monkeypatch)
    assert not marker.exists()
    assert_correct(module)


def test_an_edited_entry_is_rejected(tmp_path, monkeypatch, cache_env):
    path = user_module(tmp_path)
    import_file(path, monkeypatch)
    entry = entry_of(cache_env)
    marker = tmp_path / "pwned"
    text = entry.read_text(encoding="utf-8")
    entry.write_text(text + f"open({str(marker)!r}, 'w')\n", encoding="utf-8")
    (cache_env / (entry.stem + ".gradgen-code")).unlink(missing_ok=True)
    assert cache.get(entry.stem) is None
    module = import_file(path, monkeypatch)
    assert not marker.exists()
    assert_correct(module)


# -- the key file ---------------------------------------------------------------


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_the_folder_is_created_0700_and_the_key_0600(tmp_path, monkeypatch, cache_env):
    old = os.umask(0o022)
    try:
        import_file(user_module(tmp_path), monkeypatch)
    finally:
        os.umask(old)
    assert stat.S_IMODE(cache_env.stat().st_mode) == 0o700
    key_file = cache_env / cache.KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_bytes()) == cache.KEY_BYTES
    for entry in cache_env.iterdir():
        assert stat.S_IMODE(entry.stat().st_mode) & 0o077 == 0, entry.name


def test_the_key_is_random_per_cache(tmp_path, monkeypatch):
    keys = []
    for name in ("a", "b"):
        monkeypatch.setenv("GRADGEN_CACHE_DIR", str(tmp_path / name))
        cache.put("0" * 64, "x = 1\n")
        keys.append((tmp_path / name / cache.KEY_FILE).read_bytes())
    assert keys[0] != keys[1]


def test_a_lost_key_invalidates_entries_but_is_not_an_error(cache_env):
    key = "1" * 64
    assert cache.put(key, "x = 1\n", "x")
    (cache_env / cache.KEY_FILE).unlink()
    assert cache.get(key) is None and cache.load(key) is None
    assert cache.put(key, "x = 2\n", "x")
    assert cache.get(key) == "x = 2\n"


def test_hmac_matches_the_standard_library():
    """The warm path computes HMAC-SHA256 without importing hmac/hashlib
    (OpenSSL costs ~3 ms to import); it must be the real thing."""
    for secret in (b"", b"k" * 32, b"\xff" * 64, os.urandom(100)):
        parts = (b"gradgen", b"", os.urandom(1000))
        message = b"".join(len(p).to_bytes(8, "little") + p for p in parts)
        assert cache._hmac(secret, *parts) == hmac.new(
            secret, message, "sha256"
        ).hexdigest()


# -- the permission check, on made-up stat results --------------------------------


def fake_stat(mode: int, uid: int):
    return os.stat_result((mode, 0, 0, 1, uid, 0, 0, 0, 0, 0))


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
@pytest.mark.parametrize(
    "mode, uid_offset, secret, refused",
    [
        (stat.S_IFDIR | 0o700, 0, False, None),
        (stat.S_IFDIR | 0o755, 0, False, None),
        (stat.S_IFDIR | 0o775, 0, False, "writable by its group"),
        (stat.S_IFDIR | 0o757, 0, False, "writable by others"),
        (stat.S_IFDIR | 0o1777, 0, False, "writable by others"),
        (stat.S_IFDIR | 0o700, 1, False, "owned by uid"),
        (stat.S_IFREG | 0o600, 0, False, None),
        (stat.S_IFREG | 0o644, 0, False, None),
        (stat.S_IFREG | 0o664, 0, False, "writable by its group"),
        (stat.S_IFREG | 0o600, 1, False, "owned by uid"),
        (stat.S_IFREG | 0o600, 0, True, None),
        (stat.S_IFREG | 0o640, 0, True, "readable by its group"),
        (stat.S_IFREG | 0o604, 0, True, "readable by others"),
        (stat.S_IFREG | 0o600, 1, True, "owned by uid"),
    ],
)
def test_untrusted_reason(mode, uid_offset, secret, refused):
    uid = os.geteuid() + uid_offset
    reason = cache.untrusted_reason(fake_stat(mode, uid), secret=secret)
    if refused is None:
        assert reason is None
    else:
        assert reason is not None and refused in reason


# -- refused folders and entries, end to end in this process ---------------------


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
@pytest.mark.parametrize("mode", [0o770, 0o777, 0o1777])
def test_a_folder_writable_by_others_is_refused_with_one_warning(
    mode, tmp_path, monkeypatch, cache_env
):
    path = user_module(tmp_path)
    import_file(path, monkeypatch)
    entry = entry_of(cache_env)
    marker = tmp_path / "pwned"
    before = entry.read_bytes()
    cache_env.chmod(mode)
    with pytest.warns(cache.CacheWarning, match="writable by"):
        module = import_file(path, monkeypatch)
    assert_correct(module)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning per folder and process
        import_file(path, monkeypatch)
        assert cache.put("2" * 64, payload(marker)) is False
    assert entry.read_bytes() == before  # nothing written there
    assert not (cache_env / ("2" * 64 + ".gradgen")).exists()


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_an_entry_writable_by_others_is_refused(tmp_path, monkeypatch, cache_env):
    path = user_module(tmp_path)
    import_file(path, monkeypatch)
    entry = entry_of(cache_env)
    entry.chmod(0o666)
    with pytest.warns(cache.CacheWarning, match="writable by"):
        module = import_file(path, monkeypatch)
    assert_correct(module)


@pytest.mark.skipif(not IS_ROOT, reason="chown to another user needs root")
@pytest.mark.parametrize("what", ["folder", "entry", "key"])
def test_a_folder_entry_or_key_owned_by_another_user_is_refused(
    what, tmp_path, monkeypatch, cache_env
):
    path = user_module(tmp_path)
    import_file(path, monkeypatch)
    target = {
        "folder": cache_env,
        "entry": entry_of(cache_env),
        "key": cache_env / cache.KEY_FILE,
    }[what]
    os.chown(target, 65534, 65534)
    with pytest.warns(cache.CacheWarning, match="owned by uid 65534"):
        module = import_file(path, monkeypatch)
    assert_correct(module)


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_a_key_readable_by_others_is_refused(tmp_path, monkeypatch, cache_env):
    path = user_module(tmp_path)
    import_file(path, monkeypatch)
    (cache_env / cache.KEY_FILE).chmod(0o644)
    with pytest.warns(cache.CacheWarning, match="readable by"):
        module = import_file(path, monkeypatch)
    assert_correct(module)


@pytest.mark.skipif(not POSIX, reason="symlinks")
def test_a_symlinked_entry_is_not_followed(tmp_path, monkeypatch, cache_env):
    path = user_module(tmp_path)
    import_file(path, monkeypatch)
    entry = entry_of(cache_env)
    elsewhere = tmp_path / "elsewhere.gradgen"
    entry.rename(elsewhere)
    entry.symlink_to(elsewhere)
    assert cache.get(entry.stem) is None


# -- end to end, as two unprivileged users -----------------------------------------

ATTACKER_UID, VICTIM_UID = 65534, 65533

VICTIM = """
import json, os, sys, warnings
warnings.simplefilter("always")
caught = []
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import usermod
import numpy as np
x = np.array([0.3, -1.2, 2.5])
print(json.dumps({
    "uid": os.geteuid(),
    "grad": usermod.f.grad(x).tolist(),
    "warnings": [str(w.message) for w in caught],
}))
"""


def _as_user(uid: int, argv: list[str], env: dict, cwd: Path):
    return subprocess.run(
        ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
@pytest.mark.skipif(
    not IS_ROOT or shutil.which("setpriv") is None,
    reason="needs root and setpriv to run as two unprivileged users",
)
def test_end_to_end_a_cache_planted_in_a_shared_folder_is_not_executed():
    """An attacker (uid 65534) plants a complete, self-consistent cache (its
    own key, entries authenticated under it) in a world-writable folder where
    the victim (uid 65533) points GRADGEN_CACHE_DIR; the victim's import warns,
    regenerates in memory and runs nothing of it."""
    import json

    shared = Path(tempfile.mkdtemp(prefix="gradgen-shared-", dir="/tmp"))
    try:
        shared.chmod(0o1777)  # like /tmp
        work = shared / "work"
        work.mkdir()
        (work / "usermod.py").write_text(SIN_X.lstrip(), encoding="utf-8")
        work.chmod(0o755)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": os.pathsep.join([str(work), str(ROOT)]),
            "PYTHONDONTWRITEBYTECODE": "1",
            "HOME": str(shared),
            "GRADGEN_CACHE_DIR": str(shared / "cache"),
        }
        probe = _as_user(ATTACKER_UID, [sys.executable, "-c", "import numpy, gradgen"],
                         env, work)
        if probe.returncode != 0:
            pytest.skip(f"an unprivileged user cannot import numpy/gradgen: {probe.stderr}")

        marker = shared / "pwned"
        # The attacker's cache: made by gradgen itself, then every entry replaced
        # by the payload, authenticated under the attacker's own key.
        plant = (
            "import os, sys, warnings\n"
            f"sys.path.insert(0, {str(work)!r})\n"
            "import usermod\n"
            "from gradgen import cache\n"
            f"text = {payload(marker)!r}\n"
            "d = cache.cache_dir()\n"
            "for p in d.glob('*.gradgen'):\n"
            "    cache.put(p.stem, text, 'grad_f', compile(text, '<x>', 'exec'))\n"
            "os.chmod(d, 0o777)\n"
            "for p in d.iterdir():\n"
            "    os.chmod(p, 0o666)\n"
        )
        planted = _as_user(ATTACKER_UID, [sys.executable, "-c", plant], env, work)
        assert planted.returncode == 0, planted.stderr
        assert any((shared / "cache").glob("*.gradgen"))

        victim = _as_user(VICTIM_UID, [sys.executable, "-c", VICTIM], env, work)
        assert victim.returncode == 0, victim.stderr
        result = json.loads(victim.stdout)
        assert result["uid"] == VICTIM_UID
        x = np.array([0.3, -1.2, 2.5])
        np.testing.assert_allclose(result["grad"], np.cos(x) * x + np.sin(x), rtol=1e-12)
        assert not marker.exists()
        assert any(
            "owned by uid 65534" in w and "refus" in w for w in result["warnings"]
        ), result["warnings"]
    finally:
        shutil.rmtree(shared, ignore_errors=True)


# -- the warm path stays cheap ------------------------------------------------------


def test_a_warm_hit_imports_neither_hmac_nor_hashlib(tmp_path, cache_env):
    (tmp_path / "usermod.py").write_text(SIN_X.lstrip(), encoding="utf-8")
    env = dict(
        os.environ,
        GRADGEN_CACHE_DIR=str(cache_env),
        PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]),
    )
    probe = (
        "import sys, usermod; "
        "print(','.join(m for m in ('hmac', 'hashlib', '_hashlib', 'libcst', 'black') "
        "if m in sys.modules))"
    )
    for expected_heavy in (True, False):
        out = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True,
            check=True, cwd=tmp_path,
        ).stdout.strip()
        if not expected_heavy:
            assert out == "", f"a warm import loaded {out}"


def test_make_key_is_unchanged_by_the_secret(cache_env):
    """The key is a public content hash; only entries are authenticated."""
    a = cache.make_key("def f(x):\n    return x\n", Options.make())
    cache.put("3" * 64, "x = 1\n")
    assert cache.make_key("def f(x):\n    return x\n", Options.make()) == a
