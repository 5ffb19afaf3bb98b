"""Time and peak memory of building, differentiating and compiling, against size.

Two families, each row in a fresh subprocess (so that the rows' memory does not
contaminate each other, and a row can be stopped at a timeout):

(a) width-20 sigmoid MLP learners (float32, GD) of depth 2, 10, 33, 100, 300,
    1000, by stage: ``build`` the Para chain (``dense`` layers and
    ``Para.id(Real(20)).then(*layers)``), ``Learner(...)`` (which applies R
    and closes the step), ``flatten(learner.diagram)``, ``codegen.compile(
    learner.diagram)`` (which flattens again), and the total;
(b) chains of n Tanh boxes on Real(20) (float32), n = 1,000 … 10,000: ``build``
    (``Diagram.id(x).then(*[Tanh(x)] * n)``), ``R(d)``, ``lens.forward``,
    ``lens.backward``, ``flatten(lens.backward)``, ``codegen.compile(
    lens.backward)``, the total.

Each stage's time is the median over repeats of the whole pipeline (up to
``--repeats``, fewer for slow rows); memory is the child's peak resident set
(``ru_maxrss``) after each stage, less the RSS after imports, so a column is
the peak up to and including that stage. ``--tracemalloc`` reruns each row
once more under tracemalloc for the peak of Python allocations within each
stage (slower; not used for the times). The per-layer / per-box cost of each
stage is printed beside it: flat means linear.

Targets (``../shared/DESIGN.md``): a 33-layer learner build + R + compile
< 0.1 s; time(1000 layers) / time(100 layers) ≤ 12; a 10,000-box Tanh chain,
R + both halves + compile of the backward half, < 5 s and < 1 GB peak.

    python benchmarks/construction.py [--max-depth 1000] [--max-boxes 10000]
                                      [--timeout 300] [--mem-limit-gb 4] [--tracemalloc]

A row that times out or runs out of its memory limit is reported as such, and
the larger rows of its family are skipped.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time

DEPTHS = [2, 10, 33, 100, 300, 1000]
BOXES = [1000, 2000, 5000, 10000]
WIDTH = 20
DTYPE = "float32"

LEARNER_STAGES = ["build", "Learner (R)", "flatten", "compile"]
CHAIN_STAGES = ["build", "R", "forward", "backward", "flatten(backward)", "compile(backward)"]


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024      # Linux: kB


def learner_pipeline(depth):
    """Yields (stage, thunk) in order; each thunk runs one stage on the previous ones' results."""
    from paralens.categories import Para, Real, Sigmoid, dense
    from paralens.interpreters import codegen
    from paralens.interpreters.plan import flatten
    from paralens.lenses.learner import Learner
    from paralens.lenses.losses import mse
    from paralens.lenses.optimisers import GD
    box = {}

    def build():
        layers = [dense(WIDTH, WIDTH, Sigmoid, DTYPE) for _ in range(depth)]
        box["model"] = Para.id(Real(WIDTH, dtype=DTYPE)).then(*layers)

    def learner():
        box["learner"] = Learner(box["model"], mse(Real(WIDTH, dtype=DTYPE)), GD(lr=0.01))

    def flat():
        box["plan"] = flatten(box["learner"].diagram)

    def comp():
        box["compiled"] = codegen.compile(box["learner"].diagram)
    return [("build", build), ("Learner (R)", learner), ("flatten", flat), ("compile", comp)], box


def chain_pipeline(n):
    from paralens.categories import Diagram, Real, Tanh
    from paralens.interpreters import codegen
    from paralens.interpreters.plan import flatten
    from paralens.lenses import R
    box = {}
    x = Real(WIDTH, dtype=DTYPE)

    def build():
        box["d"] = Diagram.id(x).then(*[Tanh(x)] * n)

    def r():
        box["lens"] = R(box["d"])

    def forward():
        box["forward"] = box["lens"].forward

    def backward():
        box["backward"] = box["lens"].backward

    def flat():
        box["plan"] = flatten(box["lens"].backward)

    def comp():
        box["compiled"] = codegen.compile(box["lens"].backward)
    return [("build", build), ("R", r), ("forward", forward), ("backward", backward),
            ("flatten(backward)", flat), ("compile(backward)", comp)], box


def child(family, size, repeats, budget, use_tracemalloc):
    """Run one row; print one JSON line: per-stage median seconds, peak RSS MB, checks."""
    import paralens.categories, paralens.interpreters.codegen, paralens.lenses.learner  # noqa: F401  (imports outside the timing)
    pipeline = learner_pipeline if family == "learner" else chain_pipeline
    base = _rss_mb()
    times, rss, checks, errors = {}, {}, {}, {}
    start = time.perf_counter()
    for rep in range(repeats):
        stages, box = pipeline(size)
        for name, thunk in stages:
            t0 = time.perf_counter()
            try:
                thunk()
            except Exception as error:              # a stage that fails is reported, not fatal
                errors[name] = f"{type(error).__name__}: {str(error)[:70]}"
            times.setdefault(name, []).append(time.perf_counter() - t0)
            rss[name] = max(rss.get(name, 0.0), _rss_mb() - base)
        if rep == 0 and "plan" in box:             # what was flattened: its size
            checks["equations"] = len(box["plan"].equations)
        del stages, box
        gc.collect()
        if time.perf_counter() - start > budget:
            break
    peaks = {}
    if use_tracemalloc:
        import tracemalloc
        stages, box = pipeline(size)
        tracemalloc.start()
        for name, thunk in stages:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            try:
                thunk()
            except Exception:
                pass
            peaks[name] = (tracemalloc.get_traced_memory()[1] - before) / 2**20
        tracemalloc.stop()
    print(json.dumps({"times": {k: statistics.median(v) for k, v in times.items()},
                      "repeats": len(next(iter(times.values()))),
                      "rss": rss, "peak_rss": _rss_mb() - base, "tracemalloc": peaks,
                      "checks": checks, "errors": errors}))


def run_row(family, size, args):
    """The row measured in a subprocess, or a reason it was not."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", family, str(size),
           "--repeats", str(args.repeats), "--budget", str(args.budget)]
    if args.tracemalloc:
        cmd.append("--tracemalloc")
    limit = int(args.mem_limit_gb * 2**30)

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout,
                             preexec_fn=cap if args.mem_limit_gb > 0 else None)
    except subprocess.TimeoutExpired:
        return f"timed out after {args.timeout:g} s"
    if out.returncode != 0:
        tail = out.stderr.strip().splitlines()[-1:] or [f"exit {out.returncode}"]
        if "MemoryError" in out.stderr or out.returncode in (-9, 137):
            return f"out of memory (limit {args.mem_limit_gb:g} GB of address space): {tail[0]}"
        return f"failed: {tail[0]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(family, sizes, stages, unit, args):
    rows = {}
    print(f"\n| {unit + ('es' if unit.endswith('x') else 's')} | " + " | ".join(f"{s} ms (per {unit} µs)" for s in stages)
          + f" | total ms (per {unit} µs) | peak RSS MB |"
          + (" tracemalloc peak MB by stage |" if args.tracemalloc else "") + " equations |")
    print("|---|" + "---|" * (len(stages) + 3 + bool(args.tracemalloc)))
    skipped = None
    for n in sizes:
        if skipped:
            print(f"| {n} | skipped: {skipped} |")
            continue
        result = run_row(family, n, args)
        if isinstance(result, str):
            print(f"| {n} | {result} |", flush=True)
            skipped = f"a smaller row {result.split(':')[0]}"
            continue
        t, errors = result["times"], result["errors"]
        total = sum(t[s] for s in stages)
        rows[n] = result
        cells = [f"{t[s] * 1e3:.1f} ({t[s] / n * 1e6:.0f})" + (f" **failed: {errors[s]}**" if s in errors else "")
                 for s in stages]
        extra = (" | " + ", ".join(f"{v:.0f}" for v in result["tracemalloc"].values())) \
            if args.tracemalloc else ""
        print(f"| {n} | " + " | ".join(cells) + f" | {total * 1e3:.1f} ({total / n * 1e6:.0f}) | "
              f"{result['peak_rss']:.0f}{extra} | {result['checks'].get('equations')} |", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-depth", type=int, default=1000)
    parser.add_argument("--max-boxes", type=int, default=10000)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per row")
    parser.add_argument("--mem-limit-gb", type=float, default=4.0,
                        help="address-space limit of each row's process (0: none)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="repeats of a row's pipeline (fewer once --budget seconds are spent)")
    parser.add_argument("--budget", type=float, default=3.0)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--only", choices=["learner", "chain"], default=None)
    parser.add_argument("--child", nargs=2, metavar=("FAMILY", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.repeats, args.budget, args.tracemalloc)
        return

    print(f"(a) width-{WIDTH} sigmoid MLP learners, {DTYPE}, GD; each row a fresh process; "
          f"times: median of up to {args.repeats} repeats; RSS: peak over the row, less after imports")
    learners = {}
    if args.only in (None, "learner"):
        learners = table("learner", [d for d in DEPTHS if d <= args.max_depth], LEARNER_STAGES,
                         "layer", args)
    print(f"\n(b) chains of n Tanh boxes on Real({WIDTH}), {DTYPE}")
    chains = {}
    if args.only in (None, "chain"):
        chains = table("chain", [n for n in BOXES if n <= args.max_boxes], CHAIN_STAGES, "box", args)

    print("\nTargets")
    if 33 in learners:
        t = learners[33]["times"]
        v = t["build"] + t["Learner (R)"] + t["compile"]
        print(f"* 33-layer learner, build + R + compile: {v:.3f} s (target < 0.1 s: "
              f"{'met' if v < 0.1 else 'NOT met'})")
    else:
        print("* 33-layer learner: not run")

    def total(r):
        return sum(r["times"][s] for s in LEARNER_STAGES if s != "flatten")
    if 100 in learners and 1000 in learners:
        q = total(learners[1000]) / total(learners[100])
        print(f"* time(1000 layers) / time(100 layers), build + R + compile: {q:.1f} "
              f"(target ≤ 12: {'met' if q <= 12 else 'NOT met'})")
    else:
        sizes = sorted(learners)
        steps = ", ".join(f"{b}/{a} layers: {total(learners[b]) / total(learners[a]):.1f} "
                          f"(linear {b / a:.1f})" for a, b in zip(sizes, sizes[1:]))
        print(f"* time(1000) / time(100): not measured (capped at --max-depth {args.max_depth}); "
              f"consecutive rows, build + R + compile: {steps}")
    if 10000 in chains:
        r = chains[10000]
        v = sum(r["times"][s] for s in ("R", "forward", "backward", "compile(backward)"))
        gb = r["peak_rss"] / 1024
        print(f"* 10,000-box Tanh chain, R + forward + backward + compile(backward): {v:.2f} s, "
              f"peak {gb:.2f} GB (targets < 5 s and < 1 GB: "
              f"{'met' if v < 5 and gb < 1 else 'NOT met'})")
    else:
        sizes = sorted(chains)
        def ctotal(r):
            return sum(r["times"][s] for s in ("R", "forward", "backward", "compile(backward)"))
        steps = ", ".join(f"{b}/{a} boxes: {ctotal(chains[b]) / ctotal(chains[a]):.1f} "
                          f"(linear {b / a:.1f})" for a, b in zip(sizes, sizes[1:]))
        print(f"* 10,000-box chain: not measured (capped at --max-boxes {args.max_boxes}); "
              f"consecutive rows, R + halves + compile: {steps}")
    for n, r in sorted(chains.items()):
        for stage, error in r["errors"].items():
            print(f"* {n}-box chain: {stage} failed ({error}); its time above is to the failure")
    for n, r in sorted(learners.items()):
        for stage, error in r["errors"].items():
            print(f"* {n}-layer learner: {stage} failed ({error})")


if __name__ == "__main__":
    main()
