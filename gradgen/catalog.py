"""The catalogue of supported functions, computed from the registry.

``gradgen rules`` prints it, and the README's "What is supported" table is
this module's markdown, so neither can drift from templates/: every row,
alias, mode and note is read from :func:`gradgen.rules.load_registry` at run
time, never from a list of names kept here.

What it guarantees:

* one :class:`Row` per declaration of a rule file (a primitive and the
  aliases that share its rule), grouped by the rule file that declares it,
  in the order of the files and of the declarations in them; the run-time
  helpers of generated code (``registry.helpers``: ``unbroadcast``,
  ``unreduce``...) are left out, as users never call them;
* each row's modes, as the stages decide them: **reverse** when it has a
  rule; **forward** when it has a linearity declaration or a reverse rule
  that forward mode transposes, or an explicit ``@tangent`` rule (asked
  of forward mode's own transposer, on every static branch of the rule:
  ``"some"`` when only some branches transpose, which forward mode decides
  per call); **hvp** (forward over reverse) when forward mode covers the
  primitive and every primitive its reverse rule calls;
* the entries reviewed to carry no gradient, listed apart;
* :func:`suggest`: the supported names closest to an unknown one, for the
  "did you mean" of the fence's error, only ever names the registry holds.

``python -m gradgen.catalog --update-readme`` rewrites the README's table
(between ``<!-- begin: gradgen rules -->`` and ``<!-- end: gradgen rules -->``);
``--check-readme`` exits 1 when it is stale.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gradgen import ir
from gradgen.lowering import OPERATOR_PRIMITIVES
from gradgen.rules import (
    GRAD,
    Entry,
    Registry,
    Rule,
    TAssign,
    TGrad,
    TIf,
    TUnsupported,
    load_registry,
)

YES, NO, SOME = "yes", "no", "some"
BEGIN = "<!-- begin: gradgen rules -->"
END = "<!-- end: gradgen rules -->"
UPDATE_COMMAND = "`make readme` (or `python -m gradgen.catalog --update-readme`)"
README = Path(__file__).resolve().parent.parent / "README.md"

# How Python spells the operators' primitives in user code.
_UNARY = {"operator.neg": "-x", "operator.pos": "+x", "operator.not_": "not x",
          "operator.getitem": "x[i]"}
_SYNTAX = {**{p: f"x {op} y" for op, p in OPERATOR_PRIMITIVES.items()}, **_UNARY}

# Names people reach for in the wrong module: suggested only when the
# registry holds the target at run time.
CROSS_MODULE = {
    "np.logsumexp": ("scipy.special.logsumexp",),
    "np.sigmoid": ("scipy.special.expit",),
    "np.expit": ("scipy.special.expit",),
    "np.logistic": ("scipy.special.expit",),
    "np.softmax": ("scipy.special.softmax",),
    "np.log_softmax": ("scipy.special.log_softmax",),
    "np.erf": ("scipy.special.erf", "math.erf"),
    "np.gamma": ("scipy.special.gamma", "math.gamma"),
    "np.lgamma": ("scipy.special.gammaln", "math.lgamma"),
    "np.gammaln": ("scipy.special.gammaln",),
    "np.relu": ("np.maximum",),
    "np.norm": ("np.linalg.norm",),
}


@dataclass(frozen=True)
class Row:
    """One declaration: a primitive, its aliases, its modes and its note."""

    primitives: tuple[str, ...]  # registry keys sharing the rule, as declared
    spellings: tuple[str, ...]  # as users write them: "x + y", "np.add", "x.sum()", "x.T"
    group: str  # the rule file's stem: elementwise, reductions, ...
    where: str  # file.py:LINE of the declaration
    reverse: str
    forward: str
    hvp: str
    note: str
    why_not: str = ""  # why forward or hvp is not (fully) supported

    @property
    def name(self) -> str:
        return self.spellings[0]

    @property
    def modes(self) -> str:
        """``reverse, forward, hvp``; a mode supported for some static
        arguments only is marked ``(some)``."""
        shown = []
        for mode, value in (("reverse", self.reverse), ("forward", self.forward),
                            ("hvp", self.hvp)):
            if value == YES:
                shown.append(mode)
            elif value == SOME:
                shown.append(f"{mode} (some)")
        return ", ".join(shown) or "refused"

    def as_json(self) -> dict:
        return {"name": self.name, "primitives": list(self.primitives),
                "spellings": list(self.spellings), "file": self.group, "where": self.where,
                "modes": {"reverse": self.reverse, "forward": self.forward, "hvp": self.hvp},
                "note": self.note, "why_not": self.why_not}


@dataclass(frozen=True)
class NoGradient:
    """An entry reviewed to carry no gradient."""

    primitive: str
    spelling: str
    group: str
    where: str
    note: str = ""

    def as_json(self) -> dict:
        return {"name": self.spelling, "primitive": self.primitive, "file": self.group,
                "where": self.where, "note": self.note}


@dataclass(frozen=True)
class Catalog:
    rows: tuple[Row, ...]
    nondifferentiable: tuple[NoGradient, ...]

    def groups(self) -> list[tuple[str, list[Row]]]:
        found: dict[str, list[Row]] = {}
        for row in self.rows:
            found.setdefault(row.group, []).append(row)
        return list(found.items())

    def matching(self, text: str) -> Catalog:
        """The rows and entries one of whose names contains ``text`` (any case)."""
        needle = text.lower()

        def hit(names: Iterable[str]) -> bool:
            return any(needle in n.lower() for n in names)

        return Catalog(tuple(r for r in self.rows if hit(r.spellings + r.primitives)),
                       tuple(n for n in self.nondifferentiable
                             if hit((n.spelling, n.primitive))))

    def __bool__(self) -> bool:
        return bool(self.rows or self.nondifferentiable)


# ------------------------------------------------------------------ building


def user_facing(registry: Registry) -> dict[str, Entry]:
    """The entries users call: every entry but the helpers of generated code."""
    return {p: e for p, e in registry.entries.items() if p not in registry.helpers}


def build(registry: Registry | None = None) -> Catalog:
    """The catalogue of ``registry`` (default: the bundled rules)."""
    registry = load_registry() if registry is None else registry
    entries = user_facing(registry)
    order = {Path(f).name: k for k, f in enumerate(registry.files)}
    declarations: dict[str, list[Entry]] = {}
    for entry in entries.values():
        declarations.setdefault(entry.where, []).append(entry)

    def position(where: str) -> tuple:
        file, _, line = where.rpartition(":")
        return (order.get(file, len(order)), file, int(line) if line.isdigit() else 0)

    rows, nograd = [], []
    for where in sorted(declarations, key=position):
        group = where.rpartition(":")[0].removesuffix(".py")
        found = declarations[where]
        if found[0].rule is None:
            nograd += [NoGradient(e.primitive, _spell(e.primitive), group, where, e.note)
                       for e in sorted(found, key=lambda e: e.primitive)]
            continue
        rows.append(_row(registry, found, group, where))
    return Catalog(tuple(rows), tuple(nograd))


def _spell(primitive: str) -> str:
    return _SYNTAX.get(primitive, primitive)


def _row(registry: Registry, found: list[Entry], group: str, where: str) -> Row:
    rule = found[0].rule
    assert rule is not None
    declared = [p for p in rule.primitives if p in {e.primitive for e in found}]
    declared += sorted({e.primitive for e in found} - set(declared))
    spellings: list[str] = []
    for primitive in sorted(declared, key=lambda p: p not in _SYNTAX):  # syntax first
        spellings.append(_spell(primitive))
    methods, attribute, notes = [], None, []
    for entry in found:
        methods += [m for m in entry.methods if m not in methods]
        attribute = attribute or entry.attribute
        if entry.note and entry.note not in notes:
            notes.append(entry.note)
    spellings += [f"x.{m}(...)" for m in methods]
    if attribute:
        spellings.append(f"x.{attribute}")
    entry = registry.entries[declared[0]]
    refused = [next((s.message for s in path if isinstance(s, TUnsupported)), None)
               for path in _branches(rule.body)]
    if all(refused):  # every static case refuses: not supported, whatever its modes
        return Row(tuple(declared), tuple(dict.fromkeys(spellings)), group, where, NO, NO, NO,
                   "; ".join(notes), f"refused: {refused[0]}")
    forward, why = forward_support(entry)
    hvp, why_hvp = hvp_support(registry, entry)
    return Row(tuple(declared), tuple(dict.fromkeys(spellings)), group, where, YES, forward,
               hvp, "; ".join(notes), why or why_hvp)


def forward_support(entry: Entry) -> tuple[str, str]:
    """Whether forward mode has a tangent for ``entry``: (yes / some / no, why not).

    A linearity declaration is a yes; else the reverse rule must transpose,
    which forward mode's own transposer
    (:meth:`gradgen.forward._Forward.transpose`) decides, on each static
    branch of the rule in turn.  An explicit ``@tangent`` rule is a yes:
    forward mode applies it instead of transposing."""
    if entry.rule is None:
        return NO, "no gradient"
    outcomes = [_forward_on(entry, path) for path in _branches(entry.rule.body)]
    return _combine([(YES if not why else NO, why) for why in outcomes])


def hvp_support(registry: Registry, entry: Entry) -> tuple[str, str]:
    """Hessian-vector products run forward mode over the gradient: on each
    static branch of the reverse rule, the primitive's own tangent and one
    for every primitive that branch calls."""
    if entry.rule is None:
        return NO, "no gradient"
    outcomes = []
    for path in _branches(entry.rule.body):
        why = _forward_on(entry, path)
        outcome = (NO, why) if why else (YES, "")
        for called in sorted(_calls(path)) if not why else ():
            other = registry.entry(called)
            if other is None:
                outcome = (NO, f"its reverse rule calls {called}, which has no rule")
                break
            if other.rule is None or other.primitive == entry.primitive:
                continue
            mode, reason = forward_support(other)
            if mode == NO:
                outcome = (NO, f"its reverse rule calls {called}, which has no forward mode "
                               f"({reason})")
                break
            if mode == SOME:
                outcome = (SOME, f"its reverse rule calls {called}, which has forward mode "
                                 "for some static arguments only")
        outcomes.append(outcome)
    return _combine(outcomes)


def _combine(outcomes: list[tuple[str, str]]) -> tuple[str, str]:
    """Yes on every branch: yes; on none (and partly on none): no; else some."""
    if all(mode == YES for mode, _ in outcomes):
        return YES, ""
    why = next(reason for mode, reason in outcomes if mode != YES)
    if all(mode == NO for mode, _ in outcomes):
        return NO, why
    return SOME, f"only for some static arguments: {why}"


def _forward_on(entry: Entry, path: tuple) -> str:
    """'' when forward mode has the tangent on this branch, else why not."""
    if entry.linearity is not None or entry.tangent is not None:
        return ""
    assert entry.rule is not None
    return _transposes(entry.rule, path)


def _branches(body: tuple) -> list[tuple]:
    """Every straight-line path through a rule's static ``if``s."""
    paths: list[tuple] = [()]
    for stmt in body:
        if isinstance(stmt, TIf):
            options = _branches(stmt.body) + _branches(stmt.orelse)
            paths = [p + o for p in paths for o in options]
        else:
            paths = [p + (stmt,) for p in paths]
    return paths


def _transposes(rule: Rule, path: tuple) -> str:
    """'' when forward mode transposes every ``d[p] = ...`` of this path,
    else why not (the transposer's own words)."""
    from gradgen import forward

    d = getattr(forward, "_D", ir.Name("@d"))
    local: dict = {}

    def expand(expr):
        if isinstance(expr, ir.Call) and expr.func == GRAD:
            return d
        if isinstance(expr, ir.Name) and expr.id in local:
            return local[expr.id]
        return ir.map_children(expr, expand)

    class _Cannot(Exception):
        pass

    def cannot(why: str):
        raise _Cannot(why)

    transposer = forward._Forward.__new__(forward._Forward)  # transpose reads no state
    for stmt in path:
        if isinstance(stmt, TAssign):
            value = expand(stmt.value)
            if forward._has_d(value):
                return f"its local {stmt.target!r} reads d[...]"
            local[stmt.target] = value
        elif isinstance(stmt, TGrad) and stmt.value not in (ir.Const(0), ir.Const(0.0)):
            try:
                transposer.transpose(expand(stmt.value), ir.Name("t"), False,
                                     ir.Name(rule.result if isinstance(rule.result, str)
                                             else rule.result[0]), cannot)
            except _Cannot as exc:
                return str(exc).replace(ir.to_source(d), "d[...]")
    return ""


def _calls(path: tuple) -> set[str]:
    """The primitives one branch of a reverse rule applies."""
    from gradgen.normalize import primitive_of

    found: set[str] = set()

    def visit(body):
        for stmt in body:
            if isinstance(stmt, TIf):
                visit(stmt.body)
                visit(stmt.orelse)
            elif isinstance(stmt, (TAssign, TGrad)):
                for expr in ir.walk(stmt.value):
                    if isinstance(expr, ir.Compare):
                        continue  # masks: no tangent
                    if isinstance(expr, (ir.Call, ir.BinOp, ir.UnaryOp, ir.Subscript)):
                        name = primitive_of(expr)
                        if name and name != GRAD:
                            found.add(name)

    visit(path)
    return found


# ------------------------------------------------------------------ suggestions


def suggest(name: str, registry: Registry | None = None, n: int = 3) -> list[str]:
    """Supported names close to ``name`` (``np.sine`` -> ``np.sin``,
    ``np.logsumexp`` -> ``scipy.special.logsumexp`` when the registry holds
    it), best first; [] when nothing is close or ``name`` is supported."""
    registry = load_registry() if registry is None else registry
    known = sorted(p for p in user_facing(registry) if not p.startswith("operator."))
    if name in known:
        return []
    if name in CROSS_MODULE:  # a known confusion: only its own answers
        return [c for c in CROSS_MODULE[name] if c in known][:n]
    module, _, leaf = name.rpartition(".")
    found = [p for p in known if p.rpartition(".")[2] == leaf]  # math.exp -> np.exp
    leaves: dict[str, str] = {}
    for p in known:  # a bare name is compared with every function's own name
        if not module or p.rpartition(".")[0] == module:
            leaves.setdefault(p.rpartition(".")[2], p)
    found += [leaves[m] for m in difflib.get_close_matches(leaf, list(leaves), n, 0.8)]
    if not found:  # a misspelt module: np.lingalg.norm
        found = difflib.get_close_matches(name, known, n, 0.85)
    return list(dict.fromkeys(found))[:n]


def did_you_mean(name: str, registry: Registry | None = None) -> str:
    """``"; did you mean np.sin?"``, or '' when nothing is close."""
    names = suggest(name, registry)
    if not names:
        return ""
    if len(names) == 1:
        return f"; did you mean {names[0]}?"
    return f"; did you mean {', '.join(names[:-1])} or {names[-1]}?"


# ------------------------------------------------------------------ formats


def text(catalog: Catalog) -> str:
    """Aligned plain text for a terminal."""
    lines: list[str] = []
    rows = catalog.rows
    if rows:
        width = max(len(r.name) for r in rows)
        also_width = max([len("also written")] + [len(", ".join(r.spellings[1:])) for r in rows])
        modes_width = max(len(r.modes) for r in rows)
        header = ["function".ljust(width), "also written".ljust(also_width),
                  "modes".ljust(modes_width), "notes"]
        lines += ["  " + "  ".join(header), ""]
        for group, members in catalog.groups():
            lines.append(f"{group.replace('_', ' ')}:")
            for r in members:
                cells = [r.name.ljust(width), ", ".join(r.spellings[1:]).ljust(also_width),
                         r.modes.ljust(modes_width), r.note]
                lines.append(("  " + "  ".join(cells)).rstrip())
            lines.append("")
    if catalog.nondifferentiable:
        lines.append("no gradient (piecewise constant, or integer-, boolean- or "
                     "shape-valued):")
        lines += _wrap([n.spelling for n in catalog.nondifferentiable], "  ", 79)
        lines.append("")
    if rows:
        lines.append("modes: reverse (gradients), forward (JVPs), hvp (Hessian-vector "
                     "products);")
        lines.append("(some): for some static arguments only.")
    return "\n".join(lines).rstrip("\n") + "\n"


def _wrap(words: list[str], indent: str, width: int) -> list[str]:
    lines, line = [], indent
    for k, word in enumerate(words):
        piece = word + ("," if k < len(words) - 1 else "")
        if line.strip() and len(line) + 1 + len(piece) > width:
            lines.append(line)
            line = indent
        line += ("" if not line.strip() else " ") + piece
    if line.strip():
        lines.append(line)
    return lines


def _cell(value: str) -> str:
    return value.replace("|", "\\|")


def _code(names: Iterable[str], in_table: bool = True) -> str:
    return ", ".join(f"`{_cell(n) if in_table else n}`" for n in names)


def markdown(catalog: Catalog) -> str:
    """The README form: one table, grouped by rule file, then the list of
    functions without a gradient."""
    lines = []
    if catalog.rows:
        lines += ["| function | also written | modes | notes |", "| --- | --- | --- | --- |"]
    for group, members in catalog.groups():
        lines.append(f"| **{group.replace('_', ' ')}** | | | |")
        for r in members:
            lines.append(f"| {_code([r.name])} | {_code(r.spellings[1:])} | {r.modes} | "
                         f"{_cell(r.note)} |")
    if catalog.rows:
        lines.append("")
    if catalog.nondifferentiable:
        lines.append("No gradient (piecewise constant, or integer-, boolean- or shape-valued; "
                     "their results carry none): "
                     + _code((n.spelling for n in catalog.nondifferentiable), in_table=False) + ".")
        lines.append("")
    if catalog.rows:
        lines.append("Modes: reverse (gradients), forward (JVPs), hvp (Hessian-vector "
                     "products); (some): for some static arguments only.")
    return "\n".join(lines).rstrip("\n") + "\n"


def as_json(catalog: Catalog) -> str:
    return json.dumps({"functions": [r.as_json() for r in catalog.rows],
                       "nondifferentiable": [n.as_json() for n in catalog.nondifferentiable]},
                      indent=2) + "\n"


# ------------------------------------------------------------------ the README


class ReadmeError(Exception):
    """The README has no (or a malformed) generated section."""


def readme_block(catalog: Catalog | None = None) -> str:
    """The text between the markers (the markers included), as it should be."""
    body = markdown(build() if catalog is None else catalog)
    return (f"{BEGIN}\n<!-- generated from templates/ by `make readme`: do not edit by hand "
            f"-->\n\n{body}\n{END}")


def split_readme(content: str) -> tuple[str, str, str]:
    """(before, the generated block, after) of the README's text."""
    start, end = content.find(BEGIN), content.find(END)
    if start < 0 or end < 0 or end < start or content.count(BEGIN) != 1 \
            or content.count(END) != 1:
        raise ReadmeError(f"the README needs one {BEGIN} line and, after it, one {END} line")
    return content[:start], content[start:end + len(END)], content[end + len(END):]


def updated_readme(content: str, catalog: Catalog | None = None) -> str:
    before, _, after = split_readme(content)
    return before + readme_block(catalog) + after


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gradgen.catalog",
                                     description="Print the catalogue of supported functions, "
                                     "or update the README's table from it.")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--update-readme", action="store_true",
                        help="rewrite the table of README.md between its markers")
    action.add_argument("--check-readme", action="store_true",
                        help="exit 1 when README.md's table differs from the registry")
    parser.add_argument("--readme", type=Path, default=README, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not (args.update_readme or args.check_readme):
        sys.stdout.write(markdown(build()))
        return 0
    try:
        content = args.readme.read_text(encoding="utf-8")
        fresh = updated_readme(content)
    except (OSError, ReadmeError) as exc:
        print(f"gradgen.catalog: {args.readme}: {exc}", file=sys.stderr)
        return 2
    if args.check_readme:
        if fresh != content:
            print(f"{args.readme}: the table of supported functions is stale; run {UPDATE_COMMAND}",
                  file=sys.stderr)
            return 1
        return 0
    if fresh != content:
        args.readme.write_text(fresh, encoding="utf-8", newline="\n")
        print(f"updated {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
