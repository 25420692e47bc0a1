"""Progress of a CLI run over many modules, on stderr.

On a terminal: one line, rewritten in place (``gradgen: [#####.....] 12/48
src/model.py``) and erased when the run ends, so that only the results stay.
Elsewhere (CI logs, pipes): one line per module as it is done
(``gradgen: [12/48] gen/model_grad.py: up to date``).  Silent with
``--quiet`` and for a run of a single module, whose result line says all.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import TextIO

BAR_WIDTH = 20


class Progress:
    """Reports ``total`` steps; see the module docstring."""

    def __init__(self, total: int, *, quiet: bool = False, stream: TextIO | None = None):
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = not quiet and total > 1
        try:
            tty = self.stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        self.tty = tty and os.environ.get("TERM") != "dumb"
        self.done = 0
        self.shown = False

    def start(self, label: str) -> None:
        """Step ``done + 1`` begins: on a terminal, show the bar."""
        if not (self.enabled and self.tty):
            return
        n = self.done
        filled = BAR_WIDTH * n // self.total
        head = f"gradgen: [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {n + 1}/{self.total} "
        width = shutil.get_terminal_size((80, 24)).columns - 1
        text = head + label
        if len(text) > width:
            text = text[: max(width - 3, len(head))] + "..."
        self._write("\r\x1b[K" + text)
        self.shown = True

    def step(self, label: str, status: str) -> None:
        """A step is done; elsewhere than on a terminal, say so in one line."""
        self.done += 1
        if self.enabled and not self.tty:
            self._write(f"gradgen: [{self.done}/{self.total}] {label}: {status}\n")

    def close(self) -> None:
        """Erase the bar (on a terminal), so that what follows starts a clean line."""
        if self.shown:
            self._write("\r\x1b[K")
            self.shown = False

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.enabled = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
