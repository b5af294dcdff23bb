"""Grading time for large submissions, per metric family.

    python bench/grading_speed.py [--rows 1000000] [--repeats 3]

Builds a synthetic task of ``--rows`` test ids for each metric family (answers, split, and a
shuffled submission CSV with noise), then times ``Grader.grade`` on the file: reading the
CSV, checking columns and ids, aligning by id, validating values and scoring both halves.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mle_gym.data import TaskData, write_split
from mle_gym.grading import Grader
from mle_gym.spec import TaskSpec


def family_frames(n: int, rng: np.random.Generator) -> dict[str, tuple[list[str], dict, pd.DataFrame, pd.DataFrame]]:
    ids = np.char.add("id", np.arange(n).astype(str))
    out = {}
    y = rng.integers(0, 3, n)
    onehot = np.eye(3)[y]
    probs = np.clip(onehot * 0.6 + rng.random((n, 3)) * 0.4, 1e-3, None)
    cols = ["a", "b", "c"]
    out["log_loss (3 classes)"] = ("log_loss", cols, {}, pd.DataFrame({"id": ids, **dict(zip(cols, onehot.T.astype(int), strict=True))}),
                                   pd.DataFrame({"id": ids, **dict(zip(cols, probs.T, strict=True))}))
    t = rng.integers(0, 2, n)
    out["roc_auc"] = ("roc_auc", ["y"], {}, pd.DataFrame({"id": ids, "y": t}),
                      pd.DataFrame({"id": ids, "y": t * 0.3 + rng.random(n)}))
    labels = list(range(1, 8))
    lab = rng.integers(1, 8, n)
    out["accuracy (7 labels)"] = ("accuracy", ["y"], {"labels": labels}, pd.DataFrame({"id": ids, "y": lab}),
                                  pd.DataFrame({"id": ids, "y": np.where(rng.random(n) < 0.8, lab, 1)}))
    r = rng.random((n, 2))
    out["mean_column_rmsle"] = ("mean_column_rmsle", ["e", "g"], {}, pd.DataFrame({"id": ids, "e": r[:, 0], "g": r[:, 1]}),
                                pd.DataFrame({"id": ids, "e": r[:, 0] + 0.1, "g": r[:, 1] * 0.9}))
    words = np.array(["good", "bad", "day", "so", "very", "not"])
    spans = [" ".join(words[rng.integers(0, 6, 3)]) for _ in range(n)]
    out["jaccard"] = ("jaccard", ["s"], {}, pd.DataFrame({"id": ids, "s": spans}),
                      pd.DataFrame({"id": ids, "s": [s.split(" ", 1)[1] for s in spans]}))
    return {name: v for name, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"\n{'metric':<24} {'rows':>9} {'file MiB':>9} {'grade (median)':>15} {'min':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (metric, targets, options, answers, submission) in family_frames(args.rows, rng).items():
            root = Path(tmp) / metric
            (root / "private").mkdir(parents=True)
            answers.to_csv(root / "private" / "answers.csv", index=False)
            write_split(answers, "id", 0, root / "private" / "split.csv")
            spec = TaskSpec(slug="bench", kaggle_id="bench", title="bench", metric=metric,
                            direction="higher", id_column="id", target_columns=targets,
                            metric_options=options, public_files=[])
            grader = Grader(TaskData(spec, "custom", root))
            path = root / "submission.csv"
            submission.sample(frac=1.0, random_state=0).to_csv(path, index=False)
            times = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                grader.grade(path)
                times.append(time.perf_counter() - started)
            size = path.stat().st_size / 2**20
            print(f"{name:<24} {args.rows:>9,} {size:>9.1f} {statistics.median(times):>14.2f}s {min(times):>7.2f}s")


if __name__ == "__main__":
    main()
