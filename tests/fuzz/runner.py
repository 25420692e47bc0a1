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
MODE_STATUSES = ("pass", "refused", "wrong", "crash", "timeout", "undecided", "skipped")


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
                        code = slot["proc"].exitcode
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
    from tests.fuzz.case import Case, program_case, write_case

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
        findings = []
        if shrink and failures:
            findings = _shrink_all(pool, failures, shrink_budget, shrink_per_kind, timeout,
                                   quiet, shrink_time)
        else:
            for kind, items in failures.items():
                for size, key, case, result in sorted(items, key=lambda t: t[0])[:shrink_per_kind]:
                    findings.append({"kind": kind, "signature": kind, "case": case,
                                     "result": result, "index": key, "size": size,
                                     "shrunk": False})
    finally:
        pool.close()
    wall = time.monotonic() - start
    summary = {
        "programs": sum(statuses.values()), "requested": total, "seed": seed, "jobs": jobs, "timeout": timeout,
        "wall_seconds": round(wall, 1),
        "program_seconds": round(programs_done - start, 1),
        "statuses": {s: statuses[s] for s in STATUSES},
        "modes": {m: {s: modes[m][s] for s in MODE_STATUSES} for m in _mode_order(modes)},
        "refusals": [{"mode": m, "construct": c, "count": k}
                     for (m, c), k in refusals.most_common()],
        "failure_kinds": {k: {"count": len(v), "programs": sorted(t[1] for t in v)[:50]}
                          for k, v in sorted(failures.items(), key=lambda kv: -len(kv[1]))},
        "constructs": dict(sorted(constructs.items())),
        "errors": errors[:20],
    }
    kept = _keep(findings, keep)
    summary["signatures"] = {sig: len(items) for sig, items in kept.items()}
    if out:
        out_dir = Path(out)
        out_dir.mkdir(parents=True, exist_ok=True)
        for sig, items in kept.items():
            for f in items:
                case = Case.from_dict(f["case"])
                status = f["result"]["status"]
                note = ""
                if f.get("shrunk"):
                    note = f", shrunk from {f.get('original_size')} to {case.size()} lines"
                path = out_dir / f"{status}_{case.digest()}.py"
                f["file"] = path.name
                full = f.get("full") or f["result"]
                message = f["result"]["message"]
                others = [f"{m}: {r['status']} {r['check']}".rstrip()
                          for m, r in full.get("modes", {}).items()]
                if others:
                    message += "\n\nall modes on this program:\n" + "\n".join(others)
                write_case(path, case, status, f["result"]["check"], sig, message, note)
        summary["signatures"] = {sig: [f["file"] for f in items] for sig, items in kept.items()}
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    if not quiet:
        print(format_summary(summary))
    summary["findings"] = findings
    return summary


def _mode_order(modes):
    from tests.fuzz.oracles import MODES

    return [m for m in MODES if m in modes]


def _shrink_all(pool, failures, budget, per_kind, timeout, quiet, shrink_time):
    """Shrink the smallest ``per_kind`` failures of each kind, in parallel."""
    jobs = []
    for kind, items in sorted(failures.items()):
        chosen = sorted(items, key=lambda t: (t[0], t[1]))[:per_kind]
        for size, key, case, result in chosen:
            if result["status"] == "timeout":  # every candidate would take the timeout
                continue
            jobs.append(("shrink", (kind, key, size), (case, result, budget), timeout))
    if shrink_time is not None:  # an overall cap: fewer jobs, not shorter ones
        slots = max(1, int(shrink_time // max(budget, 1)) * len(pool.slots))
        jobs.sort(key=lambda j: sum(1 for k in jobs if k[1][0] == j[1][0] and k[1][1] < j[1][1]))
        jobs = jobs[:slots]
    findings = []
    shrunk_keys = {j[1] for j in jobs}
    for kind, items in failures.items():  # what is not shrunk is kept as it is
        for size, key, case, result in items:
            if (kind, key, size) not in shrunk_keys and result["status"] == "timeout":
                findings.append({"kind": kind, "signature": kind, "case": case,
                                 "result": result, "index": key, "size": size,
                                 "shrunk": False})
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

    pool.run(jobs, on_shrunk, lambda job: job[2][2] + 2 * timeout + 30.0)
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
        lines += ["", f"findings: {sum(len(v) if isinstance(v, list) else v for v in s['signatures'].values())} "
                  f"files for {len(s['signatures'])} signatures"]
        for sig, files in s["signatures"].items():
            shown = ", ".join(files) if isinstance(files, list) else str(files)
            lines.append(f"  {sig}\n      {shown}")
    if s["errors"]:
        lines += ["", f"runner errors: {len(s['errors'])} (see summary.json)"]
    return "\n".join(lines)


# ------------------------------------------------------------------ CLI


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
    if args.command == "constructs":
        from tests.fuzz.grammar import CONSTRUCTS

        for c in sorted(CONSTRUCTS, key=lambda c: (c.feature, c.kind, c.name)):
            print(f"{c.feature:<15} {c.kind:<7} {c.name:<20} weight {c.weight:g}")
        return 0
    return 2
