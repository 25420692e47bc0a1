"""The parallel fuzz runner behind ``make fuzz``.

Each program runs in a worker process (forked, one per job) under a
per-program timeout: an alarm inside the worker first, and a hard deadline in
the parent, which kills a worker that does not answer and starts another.
Nothing a generated program does (a hang, a crash of the interpreter, an
``os._exit``) can stop the run: the program is counted as ``timeout`` or
``crash`` and the run goes on.

After the programs, failures are grouped by *kind* (status and failing
check, and for a crash the exception class and message); the smallest few of
each kind are shrunk (:mod:`tests.fuzz.shrink`), in parallel, and grouped
again by *signature* (kind plus the constructs the shrunk program uses).
The smallest ``--keep`` shrunk programs per signature are written to
``--out`` as case files (:mod:`tests.fuzz.case`), with ``summary.json``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
import traceback
from collections import Counter, defaultdict
from multiprocessing.connection import wait
from pathlib import Path

STATUSES = ("pass", "refused", "wrong", "crash", "timeout", "undecided", "invalid")
MODE_STATUSES = ("pass", "refused", "wrong", "crash", "timeout", "undecided", "skipped",
                 "error")


# ------------------------------------------------------------------ the worker


def _worker(conn, features, disabled):
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from tests.fuzz.case import Case, program_case
    from tests.fuzz.oracles import evaluate
    from tests.fuzz.shrink import fingerprint, shrink

    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        kind, key, payload, timeout = job
        try:
            if kind == "program":
                seed, index = payload
                case = program_case(seed, index, features, disabled)
                result = evaluate(case, timeout=timeout)
                reply = {"result": result.to_dict(), "size": case.size(),
                         "constructs": case.constructs,
                         "case": case.to_dict() if result.status in ("wrong", "crash",
                                                                     "timeout") else None}
            elif kind == "case":
                case = Case.from_dict(payload)
                result = evaluate(case, timeout=timeout)
                reply = {"result": result.to_dict(), "size": case.size(),
                         "case": case.to_dict()}
            elif kind == "shrink":
                case_dict, result_dict, budget = payload
                case = Case.from_dict(case_dict)
                original = evaluate(case, timeout=timeout)
                if original.kind != result_dict["kind"]:
                    reply = {"case": case.to_dict(), "result": original.to_dict(),
                             "fingerprint": fingerprint(case.source), "evals": 0,
                             "note": "did not reproduce in the worker"}
                else:
                    per_candidate = min(timeout, max(2.0, 3.0 * original.seconds))
                    small, small_result, evals = shrink(case, original, budget_s=budget,
                                                        timeout=per_candidate)
                    full = evaluate(small, timeout=timeout)
                    reply = {"case": small.to_dict(), "result": small_result.to_dict(),
                             "full": full.to_dict(), "fingerprint": fingerprint(small.source),
                             "evals": evals, "original_size": case.size()}
            else:
                reply = {"error": f"unknown job {kind}"}
        except BaseException:  # noqa: BLE001 - report, never die
            reply = {"error": traceback.format_exc(limit=8)}
        try:
            conn.send((key, reply))
        except Exception:  # noqa: BLE001
            return


class Pool:
    """Worker processes with a hard deadline per job."""

    def __init__(self, jobs: int, features=None, disabled=()):
        self.ctx = mp.get_context("fork" if sys.platform != "win32" else "spawn")
        self.features, self.disabled = features, tuple(disabled)
        self.slots = [self._start() for _ in range(max(1, jobs))]

    def _start(self):
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker, args=(child, self.features, self.disabled),
                                daemon=True)
        proc.start()
        child.close()
        return {"proc": proc, "conn": parent, "job": None, "deadline": None}

    def _restart(self, slot):
        try:
            slot["proc"].kill()
            slot["proc"].join(timeout=5)
        except Exception:  # noqa: BLE001
            pass
        slot.update(self._start())

    def run(self, jobs, on_result, hard_timeout, stop_at=None):
        """Run ``jobs`` [(kind, key, payload, timeout)]; ``on_result(job, reply)``
        where reply is the worker's dict, or {"lost": reason} for a killed or
        dead worker.  ``hard_timeout(job)`` gives the parent's deadline."""
        queue = list(reversed(jobs))
        busy = 0
        while queue or busy:
            if stop_at is not None and time.monotonic() > stop_at:
                queue = []  # out of time: finish what runs, start nothing new
            for slot in self.slots:
                if slot["job"] is None and queue:
                    job = queue.pop()
                    try:
                        slot["conn"].send(job)
                    except Exception:  # noqa: BLE001 - a dead worker: replace it, retry
                        self._restart(slot)
                        slot["conn"].send(job)
                    slot["job"], slot["deadline"] = job, time.monotonic() + hard_timeout(job)
                    busy += 1
            conns = [s["conn"] for s in self.slots if s["job"] is not None]
            if not conns:
                continue
            now = time.monotonic()
            next_deadline = min(s["deadline"] for s in self.slots if s["job"] is not None)
            ready = wait(conns, timeout=max(0.0, min(1.0, next_deadline - now)))
            for slot in self.slots:
                if slot["job"] is None:
                    continue
                job = slot["job"]
                if slot["conn"] in ready:
                    try:
                        key, reply = slot["conn"].recv()
                    except (EOFError, OSError):
                        slot["proc"].join(timeout=1)
                        reply = {"lost": f"the worker died (exit code {slot['proc'].exitcode})"}
                        self._restart(slot)
                    slot["job"] = None
                    busy -= 1
                    on_result(job, reply)
                elif time.monotonic() > slot["deadline"]:
                    self._restart(slot)
                    slot["job"] = None
                    busy -= 1
                    on_result(job, {"lost": "killed at the hard timeout"})

    def close(self):
        for slot in self.slots:
            try:
                slot["conn"].send(None)
            except Exception:  # noqa: BLE001
                pass
        for slot in self.slots:
            slot["proc"].join(timeout=2)
            if slot["proc"].is_alive():
                slot["proc"].kill()


# ------------------------------------------------------------------ the run


def run(n=10000, seed=0, jobs=None, timeout=20.0, out="fuzz-findings", shrink=True,
        shrink_budget=45.0, shrink_per_kind=4, keep=3, features=None, disabled=(),
        cases=None, quiet=False, shrink_time=None, grace=10.0, max_time=None) -> dict:
    """Run ``n`` programs of run ``seed`` (or the given ``cases``); return the
    summary (also written to ``out/summary.json`` when ``out`` is set)."""
    from tests.fuzz.case import Case, program_case

    jobs = jobs or os.cpu_count() or 1
    start = time.monotonic()
    pool = Pool(jobs, features, disabled)
    statuses: Counter = Counter()
    modes: dict = defaultdict(Counter)
    refusals: Counter = Counter()
    failures: dict = defaultdict(list)  # kind -> [(size, index, case dict, result dict)]
    constructs: Counter = Counter()
    seconds = []
    errors = []
    done = [0]

    def report_progress():
        done[0] += 1
        if not quiet and (done[0] % 100 == 0 or done[0] == total):
            rate = done[0] / max(time.monotonic() - start, 1e-9)
            print(f"  {done[0]}/{total} programs ({rate:.1f}/s) "
                  + " ".join(f"{s}={statuses[s]}" for s in STATUSES if statuses[s]),
                  flush=True)

    def on_program(job, reply):
        key = job[1]
        if "lost" in reply:
            status = "timeout" if "timeout" in reply["lost"] else "crash"
            statuses[status] += 1
            case = (Case.from_dict(job[2]) if job[0] == "case" else
                    program_case(seed, key, features, disabled))
            result = {"status": status, "check": f"worker/{status}", "message": reply["lost"],
                      "kind": f"{status}:worker/{status}", "modes": {}}
            failures[result["kind"]].append((case.size(), key, case.to_dict(), result))
            report_progress()
            return
        if "error" in reply:
            errors.append((key, reply["error"]))
            statuses["invalid"] += 1
            report_progress()
            return
        result = reply["result"]
        statuses[result["status"]] += 1
        seconds.append(result["seconds"])
        constructs.update(reply.get("constructs") or {})
        for mode, r in result["modes"].items():
            modes[mode][r["status"]] += 1
            if r["status"] == "refused":
                refusals[(mode, r["refusal"])] += 1
        if result["status"] in ("wrong", "crash", "timeout"):
            kind = result["kind"]
            if result["status"] == "crash":
                kind += " " + result["message"].split("\n")[0]
            failures[kind].append((reply["size"], key, reply["case"], result))
        report_progress()

    if cases is not None:
        program_jobs = [("case", i, c.to_dict(), timeout) for i, c in enumerate(cases)]
    else:
        program_jobs = [("program", i, (seed, i), timeout) for i in range(n)]
    total = len(program_jobs)
    if not quiet:
        print(f"gradgen fuzz: {total} programs, seed {seed}, {jobs} jobs, "
              f"timeout {timeout:g} s", flush=True)
    try:
        pool.run(program_jobs, on_program, lambda job: timeout + grace,
                 stop_at=None if max_time is None else start + max_time)
        programs_done = time.monotonic()
        if out:
            Path(out).mkdir(parents=True, exist_ok=True)
            with open(Path(out) / "failures.jsonl", "w", encoding="utf-8") as fh:
                for kind, items in failures.items():
                    for size, key, case, result in items:
                        fh.write(json.dumps({"kind": kind, "index": key, "size": size,
                                             "case": case, "result": result}) + "\n")
        if shrink and failures:
            findings = _shrink_all(pool, failures, shrink_budget, shrink_per_kind, timeout,
                                   quiet, shrink_time)
        else:
            findings = _unshrunk(failures, shrink_per_kind)
    finally:
        pool.close()
    wall = time.monotonic() - start
    summary = {
        "programs": sum(statuses.values()), "requested": total,
        "seed": seed, "jobs": jobs, "timeout": timeout,
        "wall_seconds": round(wall, 1),
        "program_seconds": round(programs_done - start, 1),
        "statuses": {s: statuses[s] for s in STATUSES},
        "modes": {m: {s: modes[m][s] for s in MODE_STATUSES} for m in _mode_order(modes)},
        "refusals": [{"mode": m, "construct": c, "count": k}
                     for (m, c), k in refusals.most_common()],
        "failure_kinds": {k: {"count": len(v), "programs": sorted(t[1] for t in v)}
                          for k, v in sorted(failures.items(), key=lambda kv: -len(kv[1]))},
        "constructs": dict(sorted(constructs.items())),
        "errors": errors[:20],
    }
    summary["signatures"] = write_findings(findings, keep, out)
    if out:
        (Path(out) / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    if not quiet:
        print(format_summary(summary))
    summary["findings"] = findings
    return summary


def _unshrunk(failures, per_kind):
    return [{"kind": kind, "signature": kind, "case": case, "result": result, "index": key,
             "size": size, "shrunk": False}
            for kind, items in failures.items()
            for size, key, case, result in sorted(items, key=lambda t: t[0])[:per_kind]]


def write_findings(findings, keep, out) -> dict:
    """Keep the ``keep`` smallest findings per signature; write them to ``out``
    (if given) as case files.  Returns {signature: [file names] or count}."""
    from tests.fuzz.case import Case, write_case

    kept = _keep(findings, keep)
    if not out:
        return {sig: len(items) for sig, items in kept.items()}
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = {}
    for sig, items in kept.items():
        names[sig] = []
        for f in items:
            case = Case.from_dict(f["case"])
            status = f["result"]["status"]
            note = ""
            if f.get("shrunk"):
                note = f", shrunk from {f.get('original_size')} to {case.size()} lines"
            path = out_dir / f"{status}_{case.digest()}.py"
            full = f.get("full") or f["result"]
            message = f["result"]["message"]
            others = [f"{m}: {r['status']} {r['check']}".rstrip()
                      for m, r in full.get("modes", {}).items()]
            if others:
                message += "\n\nall modes on this program:\n" + "\n".join(others)
            write_case(path, case, status, f["result"]["check"], sig, message, note)
            names[sig].append(path.name)
    return names


def _mode_order(modes):
    from tests.fuzz.oracles import MODES

    return [m for m in MODES if m in modes]


def _shrink_all(pool, failures, budget, per_kind, timeout, quiet, shrink_time):
    """Shrink the smallest ``per_kind`` failures of each kind, in parallel: first
    the smallest of every kind (most frequent kinds first), then the second...;
    with ``shrink_time``, no shrink starts after that many seconds."""
    ranked = []
    findings = []
    for kind, items in failures.items():
        chosen = sorted(items, key=lambda t: (t[0], t[1]))[:per_kind]
        for rank, (size, key, case, result) in enumerate(chosen):
            if result["status"] == "timeout" or result.get("check", "").startswith("worker/"):
                # every candidate would take the timeout or kill the worker: keep as is
                findings.append({"kind": kind, "signature": kind, "case": case,
                                 "result": result, "index": key, "size": size,
                                 "shrunk": False})
                continue
            ranked.append((rank, -len(items), kind, size, key, case, result))
    ranked.sort(key=lambda r: r[:5])
    jobs = [("shrink", (kind, key, size), (case, result, budget), timeout)
            for rank, _, kind, size, key, case, result in ranked]
    if not quiet and jobs:
        print(f"shrinking {len(jobs)} failing programs ({len(failures)} kinds, "
              f"up to {budget:g} s each)", flush=True)

    def on_shrunk(job, reply):
        kind, key, size = job[1]
        case, result = job[2][0], job[2][1]
        if "lost" in reply or "error" in reply:
            findings.append({"kind": kind, "signature": kind, "case": case, "result": result,
                             "index": key, "size": size, "shrunk": False})
            return
        from tests.fuzz.case import Case

        small = Case.from_dict(reply["case"])
        sig = kind.split(" ")[0] + " | " + ", ".join(reply["fingerprint"])
        if result["status"] == "crash":
            sig = kind + " | " + ", ".join(reply["fingerprint"])
        findings.append({"kind": kind, "signature": sig, "case": reply["case"],
                         "result": reply["result"], "full": reply.get("full"), "index": key,
                         "size": small.size(), "original_size": reply.get("original_size", size),
                         "shrunk": True, "evals": reply.get("evals")})

    started = time.monotonic()
    pool.run(jobs, on_shrunk, lambda job: job[2][2] + 2 * timeout + 30.0,
             stop_at=None if shrink_time is None else started + shrink_time)
    done = {(f["kind"], f["index"]) for f in findings}
    if not quiet:
        print(f"shrunk {sum(1 for f in findings if f.get('shrunk'))} programs in "
              f"{time.monotonic() - started:.0f} s", flush=True)
    for job in jobs:  # not reached before the deadline: kept unshrunk
        kind, key, size = job[1]
        if (kind, key) not in done:
            findings.append({"kind": kind, "signature": kind + " (not shrunk)",
                             "case": job[2][0], "result": job[2][1], "index": key,
                             "size": size, "shrunk": False})
    return findings


def _keep(findings, keep):
    by_sig = defaultdict(list)
    for f in findings:
        by_sig[f["signature"]].append(f)
    out = {}
    for sig, items in sorted(by_sig.items()):
        seen, chosen = set(), []
        for f in sorted(items, key=lambda f: (f["size"], f["index"])):
            text = f["case"]["source"]
            if text in seen:
                continue
            seen.add(text)
            chosen.append(f)
            if len(chosen) >= keep:
                break
        out[sig] = chosen
    return out


def format_findings(signatures: dict) -> str:
    count = sum(len(v) if isinstance(v, list) else v for v in signatures.values())
    lines = ["", f"findings: {count} files for {len(signatures)} signatures"]
    for sig, files in signatures.items():
        shown = ", ".join(files) if isinstance(files, list) else str(files)
        lines.append(f"  {sig}\n      {shown}")
    return "\n".join(lines)


def format_summary(s: dict) -> str:
    lines = ["", f"programs: {s['programs']} of {s['requested']}  (seed {s['seed']}, {s['jobs']} jobs, "
             f"timeout {s['timeout']:g} s)",
             f"wall time: {s['wall_seconds']:.1f} s ({s['program_seconds']:.1f} s for the "
             f"programs, the rest shrinking)", "", "status      programs"]
    for status, count in s["statuses"].items():
        lines.append(f"  {status:<10}{count:>7}")
    lines += ["", "per mode    " + "".join(f"{st:>10}" for st in MODE_STATUSES)]
    for mode, counts in s["modes"].items():
        lines.append(f"  {mode:<10}" + "".join(f"{counts[st]:>10}" for st in MODE_STATUSES))
    if s["refusals"]:
        lines += ["", "refused constructs (count, mode, message class)"]
        for r in s["refusals"][:30]:
            lines.append(f"  {r['count']:>6}  {r['mode']:<9} {r['construct']}")
    if s["failure_kinds"]:
        lines += ["", "failures by kind (programs)"]
        for kind, info in s["failure_kinds"].items():
            lines.append(f"  {info['count']:>6}  {kind}")
    if s.get("signatures"):
        lines.append(format_findings(s["signatures"]))
    if s["errors"]:
        lines += ["", f"runner errors: {len(s['errors'])} (see summary.json)"]
    return "\n".join(lines)


# ------------------------------------------------------------------ CLI


def resume_shrink(args) -> int:
    """``python -m tests.fuzz shrink``: shrink (again) the failures of a run."""
    from tests.fuzz.case import program_case

    path = Path(args.file)
    out = Path(args.out) if args.out else path.parent
    failures = defaultdict(list)
    if path.suffix == ".jsonl":
        for line in path.read_text(encoding="utf-8").splitlines():
            f = json.loads(line)
            failures[f["kind"]].append((f["size"], f["index"], f["case"], f["result"]))
    else:  # summary.json: regenerate the failing programs from the seed
        summary = json.loads(path.read_text(encoding="utf-8"))
        for kind, info in summary["failure_kinds"].items():
            status, check = kind.split(" ")[0].split(":", 1)
            for index in info["programs"]:
                case = program_case(summary["seed"], index)
                result = {"status": status, "check": check, "kind": f"{status}:{check}",
                          "message": "", "modes": {}}
                failures[kind].append((case.size(), index, case.to_dict(), result))
    start = time.monotonic()
    pool = Pool(args.jobs or os.cpu_count() or 1)
    try:
        findings = _shrink_all(pool, failures, args.shrink_budget, args.shrink_per_kind,
                               args.timeout, False, args.shrink_time)
    finally:
        pool.close()
    signatures = write_findings(findings, args.keep, out)
    summary_path = out / "summary.json"
    if summary_path.exists():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        summary["signatures"] = signatures
        summary["shrink_seconds"] = round(time.monotonic() - start, 1)
        summary_path.write_text(json.dumps(summary, indent=1, default=str))
    print(format_findings(signatures))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="fuzz N programs in parallel")
    r.add_argument("--n", type=int, default=int(os.environ.get("FUZZ_N") or 10000))
    r.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED") or 0))
    r.add_argument("--jobs", type=int, default=int(os.environ.get("FUZZ_JOBS") or 0) or None)
    r.add_argument("--timeout", type=float, default=float(os.environ.get("FUZZ_TIMEOUT") or 20))
    r.add_argument("--out", default=os.environ.get("FUZZ_OUT") or "fuzz-findings")
    r.add_argument("--no-shrink", action="store_true")
    r.add_argument("--shrink-budget", type=float, default=45.0, help="seconds per program")
    r.add_argument("--shrink-per-kind", type=int, default=4)
    r.add_argument("--shrink-time", type=float, default=None,
                   help="overall cap on shrinking (seconds of wall time)")
    r.add_argument("--keep", type=int, default=3, help="files per signature")
    r.add_argument("--max-time", type=float, default=float(os.environ.get("FUZZ_TIME") or 0) or None,
                   help="stop starting programs after this many seconds (FUZZ_TIME)")
    r.add_argument("--features", default=os.environ.get("FUZZ_FEATURES") or None,
                   help="comma-separated feature flags (default: all)")
    r.add_argument("--disable", default=os.environ.get("FUZZ_DISABLE") or "",
                   help="comma-separated construct names to leave out")
    p = sub.add_parser("replay", help="run case files through all oracles")
    p.add_argument("files", nargs="+")
    s = sub.add_parser("show", help="print program INDEX of run SEED and its result")
    s.add_argument("index", type=int)
    s.add_argument("--seed", type=int, default=0)
    k = sub.add_parser("shrink", help="shrink the failures of an earlier run "
                       "(its failures.jsonl, or summary.json: programs regenerated by seed)")
    k.add_argument("file")
    k.add_argument("--jobs", type=int, default=int(os.environ.get("FUZZ_JOBS") or 0) or None)
    k.add_argument("--timeout", type=float, default=20.0)
    k.add_argument("--shrink-budget", type=float, default=45.0)
    k.add_argument("--shrink-per-kind", type=int, default=4)
    k.add_argument("--shrink-time", type=float, default=None)
    k.add_argument("--keep", type=int, default=3)
    k.add_argument("--out", default=None, help="default: the folder of FILE")
    sub.add_parser("constructs", help="list the construct table")
    args = parser.parse_args(argv)

    if args.command == "run":
        features = args.features.split(",") if args.features else None
        summary = run(args.n, args.seed, args.jobs, args.timeout, args.out,
                      shrink=not args.no_shrink, shrink_budget=args.shrink_budget,
                      shrink_per_kind=args.shrink_per_kind, keep=args.keep,
                      features=features, disabled=[d for d in args.disable.split(",") if d],
                      shrink_time=args.shrink_time, max_time=args.max_time)
        return 1 if summary["statuses"]["wrong"] or summary["statuses"]["crash"] else 0
    if args.command == "replay":
        from tests.fuzz.case import read_case
        from tests.fuzz.oracles import evaluate

        bad = 0
        for name in args.files:
            case, ns = read_case(Path(name))
            result = evaluate(case, timeout=60)
            print(f"{name}: {result.status} {result.check}  (recorded: {ns.get('STATUS')} "
                  f"{ns.get('CHECK')})")
            for mode, m in result.modes.items():
                print(f"    {mode:<9} {m.status:<9} {m.check} {m.message.splitlines()[0] if m.message else ''}")
            bad += result.status in ("wrong", "crash", "timeout")
        return 1 if bad else 0
    if args.command == "show":
        from tests.fuzz.case import program_case
        from tests.fuzz.oracles import evaluate

        case = program_case(args.seed, args.index)
        print(case.source)
        print("args:", case.args, "wrt:", case.wrt)
        result = evaluate(case, timeout=60)
        print(result.status, result.check, result.message)
        for mode, m in result.modes.items():
            print(f"    {mode:<9} {m.status:<9} {m.check}")
        return 0
    if args.command == "shrink":
        return resume_shrink(args)
    if args.command == "constructs":
        from tests.fuzz.grammar import CONSTRUCTS

        for c in sorted(CONSTRUCTS, key=lambda c: (c.feature, c.kind, c.name)):
            print(f"{c.feature:<15} {c.kind:<7} {c.name:<20} weight {c.weight:g}")
        return 0
    return 2
