"""An on-disk cache of generated gradient modules, for the decorator.

``@differentiable`` generates code when the user's module is imported; this
cache makes the next import cheap: a hit reads a file and loads bytecode, with
no parsing, transforming or formatting (this module and the decorator's warm
path import neither libcst nor black, nor even pathlib, hashlib or hmac).

Location, first match wins:

1. ``$GRADGEN_CACHE_DIR``
2. ``$XDG_CACHE_HOME/gradgen`` (when ``XDG_CACHE_HOME`` is an absolute path)
3. ``~/.cache/gradgen``

Key: :func:`make_key` hashes (sha256) the function's source text, the
``repr`` of its :class:`~gradgen.options.Options`, ``gradgen.__version__``,
:data:`FORMAT_VERSION`, anything else the caller names (``extra``), and a
fingerprint (names, sizes, mtimes) of gradgen's own modules and gradient
rules, so that editing a rule in a development checkout never serves a stale,
and so wrong, gradient.  The key is a public content hash: it names an entry,
it does not vouch for it.

**Trust.**  A cache entry is code that the decorator executes, so the cache
executes only what it wrote itself, as ssh and pip treat their files:

* the folder is created with mode ``0700``; a folder that is not owned by the
  current user, or is writable by its group or by others, is refused (one
  :class:`CacheWarning` per process and folder; gradients are then generated
  in memory at every import, and nothing is written there);
* every entry and bytecode file is authenticated with an HMAC-SHA256 under a
  random 32-byte key, :data:`KEY_FILE` in the folder, created ``0600`` on the
  first write; an entry copied from another cache, edited, or forged by
  someone who knows the format (but not the key) is a miss, and is
  regenerated and overwritten;
* the key file must be owned by the current user and neither readable nor
  writable by group or others, an entry or bytecode file owned by the current
  user and not writable by group or others; otherwise they are refused with
  one warning (the gradient is regenerated; an entry is then overwritten,
  since the folder itself is trusted);
* files are opened without following symbolic links, and checked with
  ``fstat`` on the open descriptor.

On platforms without POSIX ownership (Windows) the HMAC alone applies.  The
HMAC is computed with CPython's small built-in sha256 (RFC 2104, checked
against :mod:`hmac` by the tests): importing :mod:`hmac` loads OpenSSL, which
costs more than a warm decoration.

Entry: one UTF-8 text file ``<key>.gradgen`` per key::

    # gradgen-cache v2 <key> <entry name or -> <hmac>
    <generated module text>

The entry name is the name of the gradient function in the module, so that a
hit needs no part of the generator to find it.  Beside it,
``<key>.gradgen-code`` may hold the module's bytecode (``marshal``), tagged
with the interpreter and authenticated together with the entry's own HMAC;
it only saves the ``compile()`` of the text, and a stale or damaged one is
ignored and rewritten.  ``marshal.loads`` only ever sees authenticated bytes.

Reading trusts nothing else either: a missing entry, undecodable bytes, a
foreign or malformed header, a header whose key is not the one asked for, an
invalid entry name, or text that fails to ``compile()`` is a miss.  Writes go
to a temporary file (``0600``) in the cache directory and are moved into
place with ``os.replace``, so readers never see a half-written file.  A cache
directory that cannot be created or written turns caching off for that
directory (one :class:`CacheWarning` per process and directory); it is never
an error.  ``gradgen cache clear`` calls :func:`clear`.
"""

from __future__ import annotations

import marshal
import os
import stat
import sys
import types
import warnings

#: Version of the entry format and of the key recipe; bump it when either changes.
FORMAT_VERSION = 2

#: The secret of one cache folder: random bytes, mode 0600.
KEY_FILE = "hmac-key"
KEY_BYTES = 32

_MAGIC = "# gradgen-cache"
_CODE_MAGIC = "# gradgen-code"
_SUFFIX = ".gradgen"
_CODE_SUFFIX = ".gradgen-code"
_TMP_PREFIX = ".tmp-"
_HEX = frozenset("0123456789abcdef")
_NO_NAME = "-"
# Bytecode is only reused by the very interpreter build that wrote it.
_CODE_TAG = f"{sys.implementation.cache_tag}-{sys.hexversion:x}"
_POSIX = hasattr(os, "geteuid")
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)

# Directories found unwritable in this process: no more writes, one warning each.
_unwritable: set[str] = set()
# Paths refused as untrusted in this process: one warning each.
_warned: set[str] = set()
_fingerprint: str | None = None
_sha256_type = None
_compare = None


class CacheWarning(UserWarning):
    """The cache cannot be written, or is refused as untrusted; gradgen goes on
    without it."""


class Entry:
    """A validated cache entry: its text, entry name and compiled code."""

    __slots__ = ("text", "name", "code")

    def __init__(self, text: str, name: str, code):
        self.text = text
        self.name = name
        self.code = code


def _dir() -> str:
    explicit = os.environ.get("GRADGEN_CACHE_DIR")
    if explicit:
        return os.path.expanduser(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, "gradgen")
    return os.path.join(os.path.expanduser("~"), ".cache", "gradgen")


def cache_dir():
    """The cache directory, a ``pathlib.Path`` (it may not exist yet)."""
    from pathlib import Path

    return Path(_dir())


# --------------------------------------------------------------------------
# Hashing and authentication, without hashlib.


def _sha256(data: bytes = b""):
    """A sha256 object, without importing hashlib (and OpenSSL) where CPython has
    its own small implementation: hashlib costs more to import than a warm
    decoration does."""
    global _sha256_type
    if _sha256_type is None:
        try:
            if sys.version_info >= (3, 12):
                from _sha2 import sha256
            else:
                from _sha256 import sha256
        except ImportError:
            from hashlib import sha256
        _sha256_type = sha256
    return _sha256_type(data)


_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


def _hmac(secret: bytes, *parts: bytes) -> str:
    """HMAC-SHA256 (RFC 2104) of the length-prefixed ``parts``, in hex.

    Equal to ``hmac.new(secret, b"".join(len8(p) + p for p in parts),
    "sha256").hexdigest()``; length prefixes make the split between parts
    unambiguous.
    """
    if len(secret) > 64:
        secret = _sha256(secret).digest()
    secret = secret.ljust(64, b"\0")
    inner = _sha256(secret.translate(_IPAD))
    for part in parts:
        inner.update(len(part).to_bytes(8, "little"))
        inner.update(part)
    outer = _sha256(secret.translate(_OPAD))
    outer.update(inner.digest())
    return outer.hexdigest()


def _same(a: str, b: str) -> bool:
    """Constant-time comparison (``hmac.compare_digest``, without importing hmac)."""
    global _compare
    if _compare is None:
        try:
            from _operator import _compare_digest as compare
        except ImportError:  # pragma: no cover - not CPython
            from hmac import compare_digest as compare  # type: ignore[no-redef]
        _compare = compare
    return bool(_compare(a.encode("ascii"), b.encode("ascii")))


# --------------------------------------------------------------------------
# Trust: ownership and permissions.


def untrusted_reason(st: os.stat_result, *, secret: bool = False) -> str | None:
    """Why a file or folder with this ``stat`` result must not be trusted, or None.

    Refused: not owned by the current (effective) user; writable by its group
    or by others; with ``secret`` (the key file), also readable by them.
    Always None where the platform has no POSIX ownership.
    """
    if not _POSIX:
        return None
    uid = os.geteuid()
    if st.st_uid != uid:
        return f"it is owned by uid {st.st_uid}, not by you (uid {uid})"
    mode = stat.S_IMODE(st.st_mode)
    if mode & stat.S_IWOTH:
        return f"it is writable by others (mode {mode:04o})"
    if mode & stat.S_IWGRP:
        return f"it is writable by its group (mode {mode:04o})"
    if secret and mode & stat.S_IRGRP:
        return f"it is readable by its group (mode {mode:04o})"
    if secret and mode & stat.S_IROTH:
        return f"it is readable by others (mode {mode:04o})"
    return None


def _refuse(path: str, what: str, reason: str, fix: str) -> None:
    """One CacheWarning per process and path."""
    if path in _warned:
        return
    _warned.add(path)
    warnings.warn(
        f"gradgen: refusing the cache {what} {path}: {reason}; anyone who can write "
        f"it could run code in your process. Gradients are generated in memory "
        f"instead. To fix: {fix}",
        CacheWarning,
        stacklevel=4,
    )


def _trusted_dir(directory: str) -> bool | None:
    """True: the folder exists and is trusted; None: it does not exist;
    False: it is refused (with a warning)."""
    try:
        st = os.stat(directory)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode):
        return None  # creating it will fail, and say so
    reason = untrusted_reason(st)
    if reason is not None:
        _refuse(
            directory, "folder", reason,
            f"chmod 700 {directory} (if it is yours), or set GRADGEN_CACHE_DIR to a "
            "folder of your own",
        )
        return False
    return True


def _read_private(path: str, secret: bool = False) -> bytes | None:
    """The bytes of a regular file we own that others cannot write (nor, with
    ``secret``, read); None if missing or refused (refusal warns once)."""
    try:
        fd = os.open(path, os.O_RDONLY | _O_NOFOLLOW | _O_BINARY)
    except OSError:
        return None  # missing, or a symbolic link (ELOOP)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        reason = untrusted_reason(st, secret=secret)
        if reason is not None:
            what = "key" if secret else "entry"
            mode = "600" if secret else "644"
            _refuse(path, what, reason, f"remove it, or chown it to you and chmod {mode}")
            return None
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _secret(directory: str, create: bool) -> bytes | None:
    """The HMAC key of a trusted ``directory``; with ``create``, made if missing.

    None: no trusted folder or key (a miss; refusals warn once).
    """
    trusted = _trusted_dir(directory)
    if trusted is False or (trusted is None and not create):
        return None
    path = os.path.join(directory, KEY_FILE)
    data = _read_private(path, secret=True)
    if data is not None and len(data) == KEY_BYTES:
        return data
    if not create or path in _warned:
        return None
    if os.path.islink(path):
        _refuse(path, "key", "it is a symbolic link", "remove it")
        return None
    if trusted is None:
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
            os.chmod(directory, 0o700)  # whatever the umask
        except OSError as exc:
            _cannot_write(directory, exc)
            return None
        if _trusted_dir(directory) is not True:
            return None
    # A new key (none yet, or a damaged one): written whole to a temporary
    # file, then linked into place so that concurrent writers agree on one.
    secret = os.urandom(KEY_BYTES)
    try:
        tmp = _write_tmp(directory, secret)
    except OSError as exc:
        _cannot_write(directory, exc)
        return None
    try:
        if data is None:
            try:
                os.link(tmp, path)
            except FileExistsError:  # another process was first: use its key
                theirs = _read_private(path, secret=True)
                return theirs if theirs is not None and len(theirs) == KEY_BYTES else None
            except OSError:  # no hard links here
                os.replace(tmp, path)
        else:
            os.replace(tmp, path)  # a damaged key: its entries are lost anyway
    except OSError as exc:
        _cannot_write(directory, exc)
        return None
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    return secret


# --------------------------------------------------------------------------
# The key of an entry.


def _code_fingerprint() -> str:
    """Names, sizes and mtimes of gradgen's modules and rule files, once a process.

    Cheap (a few dozen ``stat`` calls); a false change (a fresh checkout) only
    costs a regeneration, a missed change could serve a stale gradient.
    """
    global _fingerprint
    if _fingerprint is None:
        package = os.path.dirname(os.path.abspath(__file__))
        folders = (
            package,
            os.path.join(package, "templates"),  # installed: gradgen.templates
            os.path.join(os.path.dirname(package), "templates"),  # a checkout
        )
        parts = []
        for folder in folders:
            try:
                names = sorted(os.listdir(folder))
            except OSError:
                continue
            for name in names:
                if name.endswith((".py", ".md")):
                    try:
                        st = os.stat(os.path.join(folder, name))
                    except OSError:
                        continue
                    label = os.path.basename(folder)
                    parts.append(f"{label}/{name}:{st.st_size}:{st.st_mtime_ns}")
        _fingerprint = "\n".join(parts)
    return _fingerprint


def make_key(source_text: str, options, extra: tuple = ()) -> str:
    """The cache key (64 hex digits) of one function's gradient module.

    ``options`` is a :class:`~gradgen.options.Options` (its ``repr`` is
    stable); ``extra`` holds anything else the generated text depends on.
    """
    import gradgen

    h = _sha256()
    for part in (
        f"gradgen-cache format {FORMAT_VERSION}",
        gradgen.__version__,
        _code_fingerprint(),
        repr(options),
        repr(tuple(extra)),
        source_text,
    ):
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def _check_key(key: str) -> None:
    if not (isinstance(key, str) and len(key) == 64 and _HEX.issuperset(key)):
        raise ValueError(f"not a gradgen cache key: {key!r}")


# --------------------------------------------------------------------------
# Entries.


def _entry_mac(secret: bytes, key: str, name: str, text_bytes: bytes) -> str:
    return _hmac(secret, b"gradgen-cache entry v%d" % FORMAT_VERSION,
                 key.encode("ascii"), name.encode("ascii"), text_bytes)


def _code_mac(secret: bytes, key: str, entry_mac: str, payload: bytes) -> str:
    return _hmac(secret, b"gradgen-cache code v%d" % FORMAT_VERSION, key.encode("ascii"),
                 _CODE_TAG.encode("ascii"), entry_mac.encode("ascii"), payload)


def _parse_entry(data: bytes, key: str, secret: bytes) -> tuple[str, str, str] | None:
    """(text, name, mac) of a valid, authentic entry file's bytes, else None."""
    head, newline, body = data.partition(b"\n")
    try:
        fields = head.decode("ascii").split(" ")
    except UnicodeDecodeError:
        return None
    if not newline or len(fields) != 6:
        return None
    if (
        " ".join(fields[:2]) != _MAGIC
        or fields[2] != f"v{FORMAT_VERSION}"
        or fields[3] != key
    ):
        return None
    name, mac = fields[4], fields[5]
    if name != _NO_NAME and not name.isidentifier():
        return None
    if not _same(mac, _entry_mac(secret, key, name, body)):
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text, ("" if name == _NO_NAME else name), mac


def _code_header(key: str, mac: str) -> bytes:
    return f"{_CODE_MAGIC} v{FORMAT_VERSION} {key} {_CODE_TAG} {mac}\n".encode("ascii")


def _load_code(directory: str, key: str, secret: bytes, entry_mac: str, filename: str):
    """The authentic code object stored for this exact entry and filename, or None."""
    data = _read_private(os.path.join(directory, key + _CODE_SUFFIX))
    if data is None:
        return None
    head, newline, payload = data.partition(b"\n")
    if not newline:
        return None
    expected = _code_header(key, _code_mac(secret, key, entry_mac, payload))
    try:
        if not _same((head + b"\n").decode("ascii"), expected.decode("ascii")):
            return None
    except UnicodeDecodeError:
        return None
    try:
        code = marshal.loads(payload)  # authenticated: written by this cache
    except Exception:  # noqa: BLE001 - any damage is a miss
        return None
    if type(code) is not types.CodeType or code.co_filename != filename:
        return None
    return code


def _read_entry(key: str):
    """(directory, secret, (text, name, mac)) of a valid entry, or None."""
    _check_key(key)
    directory = _dir()
    secret = _secret(directory, create=False)
    if secret is None:
        return None
    data = _read_private(os.path.join(directory, key + _SUFFIX))
    if data is None:
        return None
    parsed = _parse_entry(data, key, secret)
    if parsed is None:
        return None
    return directory, secret, parsed


def load(key: str, filename: str = "<gradgen cache>") -> Entry | None:
    """The validated entry for ``key``, its text compiled with ``filename``; or None.

    Uses the stored bytecode when it is authentic and matches the entry, the
    interpreter and ``filename``; otherwise compiles the text and stores its
    bytecode.
    """
    found = _read_entry(key)
    if found is None:
        return None
    directory, secret, (text, name, mac) = found
    code = _load_code(directory, key, secret, mac, filename)
    if code is None:
        try:
            code = compile(text, filename, "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            return None
        _put_code(directory, key, secret, mac, code, warn=False)
    return Entry(text, name, code)


def get(key: str) -> str | None:
    """The cached module text for ``key``, or None (missing or invalid entry)."""
    found = _read_entry(key)
    if found is None:
        return None
    text = found[2][0]
    try:
        compile(text, "<gradgen cache>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    return text


def _cannot_write(directory: str, exc: OSError) -> None:
    if directory in _unwritable:
        return
    _unwritable.add(directory)
    warnings.warn(
        f"gradgen: cannot write to the cache directory {directory} ({exc}); "
        "going on without a cache (gradients are regenerated at every import). "
        "Set GRADGEN_CACHE_DIR to a writable directory to fix this.",
        CacheWarning,
        stacklevel=4,
    )


def _write_tmp(directory: str, data: bytes) -> str:
    """A new temporary file (mode 0600) in ``directory`` holding ``data``."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=_SUFFIX, dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return tmp


def _write(directory: str, filename: str, data: bytes, warn: bool = True) -> bool:
    """Atomically write ``data`` to ``directory/filename``; False (and one warning) on failure."""
    if directory in _unwritable:
        return False
    tmp = None
    try:
        tmp = _write_tmp(directory, data)
        os.replace(tmp, os.path.join(directory, filename))
        tmp = None
        return True
    except OSError as exc:
        if warn:  # (an unwarned failure does not count: put() must still warn)
            _cannot_write(directory, exc)
        return False
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _put_code(directory: str, key: str, secret: bytes, entry_mac: str, code,
              warn: bool = True) -> bool:
    payload = marshal.dumps(code)
    header = _code_header(key, _code_mac(secret, key, entry_mac, payload))
    return _write(directory, key + _CODE_SUFFIX, header + payload, warn)


def put(key: str, text: str, name: str = "", code=None) -> bool:
    """Store ``text`` under ``key``, atomically; True if it was written.

    ``name`` (an identifier, optional) is recorded in the header and given
    back by :func:`load`; ``code``, the text compiled with the file name that
    :func:`load` will be given, is stored beside it. Failure to write warns
    once per directory and returns False; so does a refused (untrusted) folder.
    """
    _check_key(key)
    if name and not name.isidentifier():
        raise ValueError(f"not an identifier: {name!r}")
    directory = _dir()
    if directory in _unwritable:
        return False
    secret = _secret(directory, create=True)
    if secret is None:
        return False
    body = text.encode("utf-8")
    label = name or _NO_NAME
    mac = _entry_mac(secret, key, label, body)
    header = f"{_MAGIC} v{FORMAT_VERSION} {key} {label} {mac}\n".encode("ascii")
    if not _write(directory, key + _SUFFIX, header + body):
        return False
    if code is not None:
        _put_code(directory, key, secret, mac, code)
    else:  # never leave bytecode of an older text beside the new one
        try:
            os.unlink(os.path.join(directory, key + _CODE_SUFFIX))
        except OSError:
            pass
    return True


def _is_key(name: str) -> bool:
    return len(name) == 64 and _HEX.issuperset(name)


def clear() -> int:
    """Remove every entry (with its bytecode and any leftover temporary file);
    return how many entries.  The folder's key stays."""
    directory = _dir()
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    removed = 0
    for name in names:
        is_entry = name.endswith(_SUFFIX) and _is_key(name[: -len(_SUFFIX)])
        is_code = name.endswith(_CODE_SUFFIX) and _is_key(name[: -len(_CODE_SUFFIX)])
        is_tmp = name.startswith(_TMP_PREFIX) and name.endswith(_SUFFIX)
        if not (is_entry or is_code or is_tmp):
            continue
        try:
            os.unlink(os.path.join(directory, name))
        except OSError:
            continue
        removed += is_entry
    return removed
