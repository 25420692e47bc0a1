"""An on-disk cache of generated gradient modules, for the decorator.

``@differentiable`` generates code when the user's module is imported; this
cache makes the next import cheap: a hit reads a file and loads bytecode, with
no parsing, transforming or formatting (this module and the decorator's warm
path import neither libcst nor black, nor even pathlib or hashlib).

Location, first match wins:

1. ``$GRADGEN_CACHE_DIR``
2. ``$XDG_CACHE_HOME/gradgen`` (when ``XDG_CACHE_HOME`` is an absolute path)
3. ``~/.cache/gradgen``

Key: :func:`make_key` hashes (sha256) the function's source text, the
``repr`` of its :class:`~gradgen.options.Options`, ``gradgen.__version__``,
:data:`FORMAT_VERSION`, anything else the caller names (``extra``), and a
fingerprint (names, sizes, mtimes) of gradgen's own modules and gradient
rules, so that editing a rule in a development checkout never serves a stale,
and so wrong, gradient.

Entry: one UTF-8 text file ``<key>.gradgen`` per key::

    # gradgen-cache v1 <key> [<entry name>]
    <generated module text>

The optional entry name is the name of the gradient function in the module,
so that a hit needs no part of the generator to find it. Beside it,
``<key>.gradgen-code`` may hold the module's bytecode (``marshal``), tagged
with the interpreter and the sha256 of both the entry's text and the
bytecode itself; it only saves the ``compile()`` of the text, and a stale or
damaged one is ignored and rewritten.

Reading trusts nothing: a missing entry, undecodable bytes, a foreign or
malformed header, a header whose key is not the one asked for, an invalid
entry name, or text that fails to ``compile()`` is a miss, and the caller
regenerates and overwrites it. Writes go to a temporary file in the cache
directory and are moved into place with ``os.replace``, so readers never see a
half-written file. A cache directory that cannot be created or written turns
caching off for that directory (one :class:`CacheWarning` per process and
directory); it is never an error. ``gradgen cache clear`` calls :func:`clear`.
"""

from __future__ import annotations

import marshal
import os
import sys
import types
import warnings

#: Version of the entry format and of the key recipe; bump it when either changes.
FORMAT_VERSION = 1

_MAGIC = "# gradgen-cache"
_CODE_MAGIC = "# gradgen-code"
_SUFFIX = ".gradgen"
_CODE_SUFFIX = ".gradgen-code"
_TMP_PREFIX = ".tmp-"
_HEX = frozenset("0123456789abcdef")
# Bytecode is only reused by the very interpreter build that wrote it.
_CODE_TAG = f"{sys.implementation.cache_tag}-{sys.hexversion:x}"

# Directories found unwritable in this process: no more writes, one warning each.
_unwritable: set[str] = set()
_fingerprint: str | None = None
_sha256_type = None


class CacheWarning(UserWarning):
    """The cache cannot be written; gradgen goes on without it."""


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


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def _parse_entry(data: bytes, key: str) -> tuple[str, str] | None:
    """(text, name) of a valid entry file's bytes, else None."""
    try:
        raw = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    head, newline, text = raw.partition("\n")
    fields = head.split(" ")
    if not newline or len(fields) not in (4, 5):
        return None
    if (
        " ".join(fields[:2]) != _MAGIC
        or fields[2] != f"v{FORMAT_VERSION}"
        or fields[3] != key
    ):
        return None
    name = fields[4] if len(fields) == 5 else ""
    if name and not name.isidentifier():
        return None
    return text, name


def _code_header(key: str, text_digest: str, code_digest: str) -> bytes:
    return (
        f"{_CODE_MAGIC} v{FORMAT_VERSION} {key} {_CODE_TAG} {text_digest} {code_digest}\n"
    ).encode("ascii")


def _load_code(directory: str, key: str, text: str, filename: str):
    """The code object stored for this exact text and filename, or None."""
    data = _read(os.path.join(directory, key + _CODE_SUFFIX))
    if data is None:
        return None
    head, newline, payload = data.partition(b"\n")
    text_digest = _sha256(text.encode("utf-8")).hexdigest()
    if not newline or head + b"\n" != _code_header(
        key, text_digest, _sha256(payload).hexdigest()
    ):
        return None
    try:
        code = marshal.loads(payload)
    except Exception:  # noqa: BLE001 - any damage is a miss
        return None
    if type(code) is not types.CodeType or code.co_filename != filename:
        return None
    return code


def load(key: str, filename: str = "<gradgen cache>") -> Entry | None:
    """The validated entry for ``key``, its text compiled with ``filename``; or None.

    Uses the stored bytecode when it matches the text, the interpreter and
    ``filename``; otherwise compiles the text and stores its bytecode.
    """
    _check_key(key)
    directory = _dir()
    data = _read(os.path.join(directory, key + _SUFFIX))
    if data is None:
        return None
    parsed = _parse_entry(data, key)
    if parsed is None:
        return None
    text, name = parsed
    code = _load_code(directory, key, text, filename)
    if code is None:
        try:
            code = compile(text, filename, "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            return None
        _put_code(directory, key, text, code, warn=False)
    return Entry(text, name, code)


def get(key: str) -> str | None:
    """The cached module text for ``key``, or None (missing or invalid entry)."""
    _check_key(key)
    data = _read(os.path.join(_dir(), key + _SUFFIX))
    parsed = None if data is None else _parse_entry(data, key)
    if parsed is None:
        return None
    try:
        compile(parsed[0], "<gradgen cache>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    return parsed[0]


def _write(directory: str, filename: str, data: bytes, warn: bool = True) -> bool:
    """Atomically write ``data`` to ``directory/filename``; False (and one warning) on failure."""
    if directory in _unwritable:
        return False
    tmp = None
    try:
        import tempfile

        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=_SUFFIX, dir=directory)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, os.path.join(directory, filename))
        tmp = None
        return True
    except OSError as exc:
        if warn:  # (an unwarned failure does not count: put() must still warn)
            _unwritable.add(directory)
            warnings.warn(
                f"gradgen: cannot write to the cache directory {directory} ({exc}); "
                "going on without a cache (gradients are regenerated at every import). "
                "Set GRADGEN_CACHE_DIR to a writable directory to fix this.",
                CacheWarning,
                stacklevel=3,
            )
        return False
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _put_code(directory: str, key: str, text: str, code, warn: bool = True) -> bool:
    payload = marshal.dumps(code)
    header = _code_header(
        key, _sha256(text.encode("utf-8")).hexdigest(), _sha256(payload).hexdigest()
    )
    return _write(directory, key + _CODE_SUFFIX, header + payload, warn)


def put(key: str, text: str, name: str = "", code=None) -> bool:
    """Store ``text`` under ``key``, atomically; True if it was written.

    ``name`` (an identifier, optional) is recorded in the header and given
    back by :func:`load`; ``code``, the text compiled with the file name that
    :func:`load` will be given, is stored beside it. Failure to write warns
    once per directory and returns False.
    """
    _check_key(key)
    if name and not name.isidentifier():
        raise ValueError(f"not an identifier: {name!r}")
    directory = _dir()
    header = f"{_MAGIC} v{FORMAT_VERSION} {key}" + (f" {name}" if name else "") + "\n"
    if not _write(directory, key + _SUFFIX, (header + text).encode("utf-8")):
        return False
    if code is not None:
        _put_code(directory, key, text, code)
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
    return how many entries."""
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
