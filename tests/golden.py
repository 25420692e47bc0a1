"""Golden files: tests/cases/NAME.py -> tests/cases/NAME.expected.py.

A case file is a module whose first line says what to generate::

    # case: function=cosine_loss wrt=X,Y shapes=X:n_d,Y:n_d simplify=false

(shape dims separated by ``_``).  ``mode=forward|callback|hvp`` generates
``jvp_``/``vjp_``/``hvp_`` functions instead of ``grad_``; those cases are
checked by tests/test_forward.py, test_callback.py and test_hvp.py
(:func:`mode_case_files`), the reverse-mode ones by tests/test_golden.py
(:func:`case_files`).  ``python -m tests.golden --update`` (or ``make
golden``) rewrites every expected file; review the diff like code.
"""

from __future__ import annotations

import sys
from pathlib import Path

CASES = Path(__file__).resolve().parent / "cases"


def all_case_files() -> list:
    return sorted(p for p in CASES.glob("*.py") if not p.name.endswith(".expected.py"))


def case_files() -> list:
    """The reverse-mode cases (a ``grad_<function>`` each)."""
    return [p for p in all_case_files() if options_of(p).get("mode", "reverse") == "reverse"]


def mode_case_files(mode: str) -> list:
    """The cases of another mode: forward, callback or hvp."""
    return [p for p in all_case_files() if options_of(p).get("mode") == mode]


def options_of(path: Path) -> dict:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    if not first.startswith("# case:"):
        raise ValueError(f"{path}: the first line must be '# case: function=...'")
    fields = dict(item.split("=", 1) for item in first[len("# case:"):].split())
    options = {"function": fields["function"]}
    if "wrt" in fields:
        options["wrt"] = tuple(fields["wrt"].split(","))
    if "shapes" in fields:
        options["shapes"] = {k: v.replace("_", " ")
                             for k, v in (s.split(":") for s in fields["shapes"].split(","))}
    if "simplify" in fields:
        options["simplify"] = fields["simplify"] == "true"
    if "mode" in fields:
        options["mode"] = fields["mode"]
    if "preserve_result" in fields:
        options["preserve_result"] = fields["preserve_result"] == "true"
    return options


def render(path: Path) -> str:
    import gradgen

    options = options_of(path)
    function = options.pop("function")
    return gradgen.source_from_text(path.read_text(encoding="utf-8"), function,
                                    filename=f"tests/cases/{path.name}", **options)


def expected_path(path: Path) -> Path:
    return path.with_name(path.stem + ".expected.py")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["--update"]:
        print("usage: python -m tests.golden --update", file=sys.stderr)
        return 2
    for path in all_case_files():
        out = expected_path(path)
        text = render(path)
        if not out.exists() or out.read_text(encoding="utf-8") != text:
            out.write_text(text, encoding="utf-8")
            print(f"updated {out.relative_to(CASES.parent.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
