"""Reading and atomically writing generated modules.

A generated module is written to a temporary file in its own folder, flushed
to disk, and moved over the target with :func:`os.replace`, so a reader (an
import, an editor, ``gradgen check`` running beside ``gradgen generate``)
sees either the old or the new file, never half of one; an interrupted write
leaves no temporary file behind.  Text is UTF-8 with ``\\n`` line ends on
every platform, so the bytes are the same on every machine.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_TMP_SUFFIX = ".tmp"


def normalize_newlines(text: str) -> str:
    """``\\r\\n`` and ``\\r`` -> ``\\n`` (a checkout with autocrlf is not stale)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode_python(data: bytes) -> str:
    """Python source bytes as text, decoded as Python itself decodes a file: a
    UTF-8 byte-order mark or a PEP 263 ``# -*- coding: NAME -*-`` line in the
    first two lines picks the encoding, else UTF-8 (see
    :func:`tokenize.detect_encoding`).  The BOM is dropped; ``\r\n`` stays.

    Raises ``SyntaxError`` for an unknown or contradictory coding line and
    ``UnicodeDecodeError`` for bytes that are not in the encoding.
    """
    import io
    import tokenize

    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding)


def read_text(path: Path) -> str | None:
    """The UTF-8 text of ``path`` with normalized newlines, or None if missing.

    Bytes that are not UTF-8 are replaced (the file then simply differs from
    what gradgen would write); other OS errors propagate.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    return normalize_newlines(data.decode("utf-8", errors="replace"))


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (UTF-8, ``\\n``) atomically; create parents."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = _default_mode()
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` atomically unless ``path`` already holds it; True if written.

    Only the newline convention is ignored in the comparison.
    """
    if read_text(path) == normalize_newlines(text):
        return False
    write_atomic(path, text)
    return True
