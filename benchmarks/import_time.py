"""Import time of the library against NumPy's, in fresh processes.

Each round starts ``python -c "import <module>"`` for every module in turn (the
order rotating), and reports the median wall-clock time of each, with NumPy
against NumPy as the A/A control.

    python benchmarks/import_time.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

MODULES = ["numpy", "numpy (A/A)", "discopy", "paralens", "paralens.categories", "paralens.lenses",
           "paralens.interpreters"]


def once(module: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module.split()[0]}"], check=True)
    return time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    times = {m: [] for m in MODULES}
    for r in range(args.rounds):
        k = r % len(MODULES)
        for m in MODULES[k:] + MODULES[:k]:
            times[m].append(once(m))
    base = statistics.median(times["numpy"])
    print("| import | median s | / numpy |")
    print("|---|---|---|")
    for m in MODULES:
        t = statistics.median(times[m])
        print(f"| `{m}` | {t:.3f} | {t / base:.2f}× |")
    total = statistics.median(times["paralens.interpreters"])
    print(f"\n* `import paralens.interpreters`: {total:.2f} s (target ≤ 1.0 s: {'met' if total <= 1.0 else 'NOT met'})")


if __name__ == "__main__":
    main()
