"""Grading time for large submissions, per metric family, against a reference grader.

    python bench/grading_speed.py [--rows 1000000] [--repeats 5]

Builds a synthetic task of ``--rows`` test ids for each metric family (answers, split, and a
shuffled submission CSV with noise), then times, from the CSV on disk to a score:

- ``cold``: a fresh ``Grader`` (answers and split read) and one ``grade`` of the file;
- ``warm``: ``grade`` on a Grader that already holds the answers (what a step costs);
- ``reference``: the same formula as a user (or MLE-bench's grade.py) writes it: both CSVs
  read with ``pandas.read_csv``, sorted by id, the scikit-learn metric on the whole set.

The three run alternately in one process; the table gives medians and the ratios
reference / ours (above 1: ours is faster), though ours also scores both halves and checks
far more. Keep ``--rows`` small on a shared machine (``--rows 200000``).
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
    probs = probs / probs.sum(axis=1, keepdims=True)
    cols = ["a", "b", "c"]
    out["log_loss (3 classes)"] = ("log_loss", cols, {}, pd.DataFrame({"id": ids, **dict(zip(cols, onehot.T.astype(int), strict=True))}),
                                   pd.DataFrame({"id": ids, **dict(zip(cols, probs.T, strict=True))}))
    t = rng.integers(0, 2, n)
    out["roc_auc"] = ("roc_auc", ["y"], {}, pd.DataFrame({"id": ids, "y": t}),
                      pd.DataFrame({"id": ids, "y": (t * 0.3 + rng.random(n)) / 1.3}))
    labels = list(range(1, 8))
    lab = rng.integers(1, 8, n)
    out["accuracy (7 labels)"] = ("accuracy", ["y"], {"labels": labels}, pd.DataFrame({"id": ids, "y": lab}),
                                  pd.DataFrame({"id": ids, "y": np.where(rng.random(n) < 0.8, lab, 1)}))
    r = rng.random((n, 2))
    out["mean_column_rmsle"] = ("mean_column_rmsle", ["e", "g"], {}, pd.DataFrame({"id": ids, "e": r[:, 0], "g": r[:, 1]}),
                                pd.DataFrame({"id": ids, "e": r[:, 0] + 0.1, "g": r[:, 1] * 0.9}))
    words = np.array(["good", "bad", "day", "so", "very", "not"])
    spans = [" ".join(words[rng.integers(0, 6, 3)]) for _ in range(n)]
    out["jaccard (text)"] = ("jaccard", ["s"], {}, pd.DataFrame({"id": ids, "s": spans}),
                      pd.DataFrame({"id": ids, "s": [s.split(" ", 1)[1] for s in spans]}))
    return {name: v for name, v in out.items()}


def reference(metric: str, targets: list[str], answers_path: Path, submission_path: Path) -> float:
    """The formula as MLE-bench's graders write it: read_csv, sort by id, scikit-learn."""
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    sub = pd.read_csv(submission_path).sort_values("id").reset_index(drop=True)
    ans = pd.read_csv(answers_path).sort_values("id").reset_index(drop=True)
    if (sub["id"].to_numpy() != ans["id"].to_numpy()).any():
        raise ValueError("ids differ")
    if metric == "log_loss":
        return log_loss(ans[targets].to_numpy(), sub[targets].to_numpy())
    if metric == "roc_auc":
        return roc_auc_score(ans[targets[0]], sub[targets[0]])
    if metric == "accuracy":
        return accuracy_score(ans[targets[0]], sub[targets[0]])
    if metric == "mean_column_rmsle":
        return float(np.mean([np.sqrt(np.mean((np.log1p(sub[c]) - np.log1p(ans[c])) ** 2)) for c in targets]))
    if metric == "jaccard":
        def one(a: str, b: str) -> float:
            x, y = set(a.lower().split()), set(b.lower().split())
            return len(x & y) / len(x | y) if x | y else 1.0
        guesses = sub[targets[0]].fillna("").astype(str).tolist()
        truth = ans[targets[0]].fillna("").astype(str).tolist()
        return float(np.mean([one(a, b) for a, b in zip(guesses, truth, strict=True)]))
    raise ValueError(metric)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"\n{'metric':<22} {'rows':>9} {'MiB':>6} {'reference':>10} {'cold':>8} {'warm':>8} "
          f"{'ref/cold':>9} {'ref/warm':>9} {'|diff|':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (metric, targets, options, answers, submission) in family_frames(args.rows, rng).items():
            root = Path(tmp) / metric
            (root / "private").mkdir(parents=True)
            answers.to_csv(root / "private" / "answers.csv", index=False)
            write_split(answers, "id", 0, root / "private" / "split.csv")
            spec = TaskSpec(slug="bench", kaggle_id="bench", title="bench", metric=metric,
                            direction="higher", id_column="id", target_columns=targets,
                            metric_options=options, public_files=[])
            data = TaskData(spec, "custom", root)
            path = root / "submission.csv"
            submission.sample(frac=1.0, random_state=0).to_csv(path, index=False)
            times: dict[str, list[float]] = {"reference": [], "cold": [], "warm": []}
            grader = Grader(data)
            for _ in range(args.repeats):
                started = time.perf_counter()
                expected = reference(metric, targets, data.answers_path, path)
                times["reference"].append(time.perf_counter() - started)
                started = time.perf_counter()
                Grader(data).grade(path)
                times["cold"].append(time.perf_counter() - started)
                started = time.perf_counter()
                ours = grader.grade(path).score
                times["warm"].append(time.perf_counter() - started)
            ref, cold, warm = (statistics.median(times[k]) for k in ("reference", "cold", "warm"))
            size = path.stat().st_size / 2**20
            print(f"{name:<22} {args.rows:>9,} {size:>6.1f} {ref:>9.3f}s {cold:>7.3f}s {warm:>7.3f}s "
                  f"{ref / cold:>8.2f}x {ref / warm:>8.2f}x {abs(ours - expected):>9.1e}")


if __name__ == "__main__":
    main()
