"""Run the generator on deep code without a ``RecursionError``.

The pipeline (libcst's visitors, the normalizer, the simplifier) recurses
over expressions; a sum of 1,000 terms or 150 nested calls, code that Python
itself compiles, is deeper than CPython's default recursion limit (1,000)
allows.  :func:`run_generation` runs one generation in a worker thread with a
large stack (:data:`STACK_BYTES`; the address space is reserved, and only the
pages a deep recursion touches become memory) and a raised recursion limit
(:data:`RECURSION_LIMIT`), while the calling thread waits.  A
``RecursionError`` that still happens (deeper code, or a C-level limit of the
interpreter) becomes a located
:class:`~gradgen.errors.UnsupportedSyntaxError` "expression too deeply
nested", pointing at the deepest statement of the function; never a
traceback of gradgen's internals.

Ordinary code costs next to nothing: a generation runs in the calling
thread, as before, unless its text nests deeper than :data:`DEEP` (an
``ast`` walk, ~0.1 ms), and one that raises RecursionError there anyway is
run again (it is a pure function) in the worker.  A fresh thread per generation would cost
~2 ms each (starting it is ~0.1 ms; the rest is faulting in the pages of a
new stack), a quarter of a small generation.  Generations started from
inside the worker run there directly.  The recursion limit is process-wide:
it is raised while any generation runs and restored when the last one ends.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TypeVar

from gradgen.errors import GradgenError, Location, UnsupportedSyntaxError

T = TypeVar("T")

#: Stack of the worker thread.  Pure-Python frames take ~0.5 KB of C stack in
#: CPython 3.11+ and frames through C code a few KB; 1 GiB leaves > 5 KB for
#: each of RECURSION_LIMIT frames, so the interpreter raises RecursionError
#: long before the stack could overflow.
STACK_BYTES = 1 << 30
#: Recursion limit while a generation runs (CPython's default is 1,000).
RECURSION_LIMIT = 200_000

_lock = threading.Lock()
_active = 0
_saved_limit = 0
_local = threading.local()


def _enter() -> None:
    global _active, _saved_limit
    with _lock:
        if _active == 0:
            _saved_limit = sys.getrecursionlimit()
            if _saved_limit < RECURSION_LIMIT:
                sys.setrecursionlimit(RECURSION_LIMIT)
        _active += 1


def _leave() -> None:
    global _active
    with _lock:
        _active -= 1
        if _active == 0 and sys.getrecursionlimit() == RECURSION_LIMIT:
            sys.setrecursionlimit(_saved_limit)


def in_worker(thunk: Callable[[], T]) -> T:
    """``thunk()`` in a thread with a large stack and a raised recursion limit;
    its result, or its exception re-raised here."""
    if getattr(_local, "worker", False):
        return thunk()
    outcome: list = []

    def work() -> None:
        _local.worker = True
        try:
            outcome.append((True, thunk()))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            outcome.append((False, exc))

    _enter()
    try:
        with _lock:
            old = threading.stack_size()
            try:
                threading.stack_size(STACK_BYTES)
            except (ValueError, RuntimeError):  # a platform that refuses: as is
                pass
            try:
                thread = threading.Thread(target=work, name="gradgen-generate", daemon=True)
                thread.start()
            finally:
                threading.stack_size(old)
        thread.join()
    finally:
        _leave()
    ok, value = outcome[0]
    if ok:
        return value
    raise value


def run_generation(
    thunk: Callable[[], T],
    filename: str = "<string>",
    text: str | None = None,
    function: str | None = None,
    line_offset: int = 0,
    reset: Callable[[], None] | None = None,
    check_output: bool = True,
) -> T:
    """Run one generation (``thunk``, a pure function) so that depth is no error.

    First in the calling thread, as it is (nothing to pay for ordinary code);
    on a RecursionError, ``reset()`` (undo what the attempt appended to
    caller-owned logs) and again in the worker.  A RecursionError there
    becomes a located UnsupportedSyntaxError in ``filename`` (``text``,
    ``function`` and ``line_offset`` locate the deepest statement).

    Deep code (:func:`_looks_deep`) is refused at once when Python itself
    cannot compile ``text`` in this thread (at this recursion limit: a
    5,000-term chain on CPython 3.11's default limit of 1,000, say), since
    neither it nor its gradient could be imported; and, with
    ``check_output``, a generated module that Python cannot compile here is
    refused too.
    """
    if getattr(_local, "worker", False):
        return thunk()
    if not _looks_deep(text):
        try:
            return thunk()
        except RecursionError:
            pass  # (outside the handler: no "during handling" chain to the user)
        if reset is not None:
            reset()
    elif text is not None and not _compiles(text, filename):
        raise too_deep(filename, text, function, line_offset, by_python=True)
    try:
        result = in_worker(thunk)
    except RecursionError:
        result = None
    if result is None:
        raise too_deep(filename, text, function, line_offset)
    if check_output and isinstance(result, str) and not _compiles(result, filename):
        raise too_deep(filename, text, function, line_offset, output=True)
    return result


def _compiles(text: str, filename: str) -> bool:
    """Whether Python compiles ``text`` in this thread, at its recursion limit:
    what importing the file (or the generated module) will do."""
    try:
        compile(text, filename, "exec", dont_inherit=True)
    except RecursionError:
        return False
    except (SyntaxError, ValueError, MemoryError):
        return True  # not a matter of depth: the generator reports it
    return True


#: Expressions nested deeper than this (in ``ast`` nodes) go straight to the
#: worker, without a first attempt that would fail.
DEEP = 100


def _looks_deep(text: str | None) -> bool:
    """Whether ``text`` nests expressions deeper than :data:`DEEP` (a walk of
    its ``ast`` without recursion: ~0.1 ms for an ordinary function)."""
    if text is None:
        return False
    try:
        found = deepest_statement(text, None)
    except (SyntaxError, ValueError):
        return False  # the generator reports it
    except (RecursionError, MemoryError):
        return True
    return found is not None and found[2] > DEEP


def too_deep(filename: str, text: str | None, function: str | None,
             line_offset: int = 0, by_python: bool = False,
             output: bool = False) -> GradgenError:
    """The error for code too deeply nested, at its deepest statement if found."""
    location, depth = None, None
    if text is not None:
        try:
            found = in_worker(lambda: deepest_statement(text, function))
        except (RecursionError, MemoryError):
            found = None
        if found is not None:
            line, col, depth = found
            lines = text.splitlines()
            source_line = lines[line - 1] if 0 < line <= len(lines) else ""
            location = Location(filename, line + line_offset, col, source_line)
    levels = f" ({depth} levels)" if depth else ""
    why = (": Python itself cannot compile it at this recursion limit" if by_python
           else ": Python could not compile its gradient at this recursion limit" if output
           else "")
    return UnsupportedSyntaxError(
        f"expression too deeply nested for gradgen{levels}{why}",
        location,
        hint="split it into several statements (s = a + b; s = s + c; ...) or a loop",
    )


def deepest_statement(text: str, function: str | None) -> tuple[int, int, int] | None:
    """(line, col, depth) of the statement holding the most deeply nested
    expression of ``function`` (or of the whole text), found without recursion."""
    import ast

    tree = ast.parse(text)
    root: ast.AST = tree
    for top in tree.body:
        if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef)) and top.name == function:
            root = top
            break
    best: tuple[int, int, int] | None = None
    statement: ast.stmt | None = None
    stack: list[tuple[ast.AST, int, ast.stmt | None]] = [(root, 0, None)]
    while stack:
        node, depth, statement = stack.pop()
        if isinstance(node, ast.stmt):
            statement = node
            depth = 0
        elif statement is not None and (best is None or depth > best[2]):
            best = (statement.lineno, statement.col_offset, depth)
        for child in ast.iter_child_nodes(node):
            stack.append((child, depth + 1, statement))
    return best
