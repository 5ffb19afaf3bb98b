"""Instructions per call of the compiled step and of the hand step (valgrind), a count
that the load of a shared machine does not move, unlike time.

Each function runs in a fresh process under ``valgrind --tool=cachegrind`` twice,
after the same set-up, with 0 and with ``--calls`` calls; the difference over
``--calls`` is its instructions per call. It counts work, not memory stalls: the
cost of touching fresh pages or cold cache lines is not in it (time that in
``compiled_step.py``).

    python benchmarks/compiled_step_instructions.py [--sizes "4-20-3,33 × 20"] [--calls 200]

(≈ 40 s per process: minutes in all; OPENBLAS_NUM_THREADS=1 is set for it.)
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

FUNCTIONS = {"hand": "the hand step (W -= lr*dW in place)",
             "compiled": "the compiled step, as users call it (inputs checked)",
             "without in-place": "the compiled step without in-place updates (inputs checked)",
             "raw": "the emitted function alone (inputs not checked)"}


def run(size: str, which: str, calls: int):
    """The step's functions, called ``calls`` times in this process (under valgrind)."""
    from compiled_step import LR, SIZES, hand_step, setup, without_inplace
    widths, batch = {s[0]: (s[1], s[2]) for s in SIZES}[size]
    step, params, Ws, bs, x, t = setup(widths, batch, "float32")
    plain = without_inplace(step)
    W1, b1 = [W.copy() for W in Ws], [b.copy() for b in bs]
    fns = {"hand": lambda: hand_step(W1, b1, x, t, LR), "compiled": lambda: step(*params, x, t),
           "without in-place": lambda: plain(*params, x, t),
           "raw": lambda: step.function(*params, x, t)}
    for f in fns.values():
        f()
        f()
    f = fns[which]
    for _ in range(calls):
        f()


def instructions(size: str, which: str, calls: int) -> int:
    out = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         sys.executable, __file__, "--run", size, which, str(calls)],
        env=dict(os.environ, OPENBLAS_NUM_THREADS="1"), capture_output=True, text=True)
    counts = [int(n.replace(",", "")) for n in re.findall(r"I\s+refs:\s+([0-9,]+)", out.stderr)]
    return max(counts)                  # the Python process (not a helper it spawns)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="4-20-3,33 × 20")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--run", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run(args.run[0], args.run[1], int(args.run[2]))
        return
    print("| model | function | instructions per call | / hand |")
    print("|---|---|---|---|")
    for size in args.sizes.split(","):
        per = {}
        for which in FUNCTIONS:
            per[which] = (instructions(size, which, args.calls)
                          - instructions(size, which, 0)) / args.calls
            print(f"| {size} | {FUNCTIONS[which]} | {per[which] / 1e3:,.0f} K | "
                  f"{per[which] / per['hand']:.3f}× |", flush=True)


if __name__ == "__main__":
    main()
