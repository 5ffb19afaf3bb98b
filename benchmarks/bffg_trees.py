"""BFFG on binary trees, d = 8: one backward filter + one guided sample, box by box (the
reference schedule) against level-batched, the plan (flattening, levels, stacking) made
beforehand and timed apart. Best of a few runs, interleaved (the machines are noisy).

    python benchmarks/bffg_trees.py [depths…]
"""

import sys
import time

import numpy as np

from paralens.categories.markov import binary_tree
from paralens.interpreters.bffg import backward_filter, plan_of


def once(tree, batched):
    start = time.perf_counter()
    filtered = backward_filter(tree, batched=batched)
    filtered.sample(0)
    return time.perf_counter() - start, filtered.log_evidence


def main(depths=(10, 12, 14), d=8, repeats=3):
    print(f"{'depth':>5} {'nodes':>6} {'build':>7} {'plan':>7} {'box-by-box':>11} "
          f"{'by level':>9} {'ratio':>6} {'|Δ log p|':>10}")
    for depth in depths:
        ys = np.random.default_rng(depth).normal(size=(2 ** depth, d))
        start = time.perf_counter()
        tree = binary_tree(depth, d, 1.0, 0.5, ys)
        built = time.perf_counter() - start
        start = time.perf_counter()
        plan_of(tree)
        planned = time.perf_counter() - start
        once(tree, True)                                   # stack the parameters once
        box, level = [], []
        for _ in range(repeats if depth < 14 else 2):
            (t_box, e_box), (t_level, e_level) = once(tree, False), once(tree, True)
            box.append(t_box)
            level.append(t_level)
            level += [once(tree, True)[0] for _ in range(2)]
        print(f"{depth:>5} {2 ** (depth + 1) - 1:>6} {built:>7.3f} {planned:>7.3f} "
              f"{min(box):>11.3f} {min(level):>9.3f} {min(box) / min(level):>6.1f} "
              f"{abs(e_box - e_level):>10.2e}")


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or (10, 12, 14))
