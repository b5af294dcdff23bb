"""Offline "lite" data for tabular-may-2022: a small synthetic manufacturing-control table.

The columns copy the real competition's (f_00 ... f_30 with the same kinds of values: standard
normal floats, wider floats, small counts, a binary and a three-level flag, and f_27, a
10-letter code over A-T). The binary target follows a logistic model whose log-odds mix

* a weak linear part over many columns (what a linear model on the raw numbers can learn);
* three "ridges": a jump in the log-odds where the sum of two or three continuous columns
  leaves a central band (f_02 + f_21, f_05 + f_22, f_00 + f_01 + f_26), as in the real data;
* products a linear model cannot express (f_03 * f_04, and f_30 whose effect flips with f_29);
* the letter code: the number of distinct letters in f_27 and the letter at two positions
  (invisible to a model that drops the string or treats it as one category).

The labels are drawn from the log-odds, so the Bayes AUC is well below 1.
"""

from __future__ import annotations

import pathlib

import numpy as np
import pandas as pd

N_TRAIN = 6000
N_TEST = 2000

CONT_A = [f"f_{i:02d}" for i in range(7)]  # standard normal
COUNTS = [f"f_{i:02d}" for i in range(7, 19)]  # small non-negative integers
CONT_B = [f"f_{i:02d}" for i in range(19, 27)]  # normal with a wider spread
COLUMNS = [*CONT_A, *COUNTS, *CONT_B, "f_27", "f_28", "f_29", "f_30"]

# Mean of each count column (close to the real ones, which lie between 1.5 and 2.9).
COUNT_MEANS = [2.03, 2.06, 2.36, 2.18, 1.80, 2.84, 2.24, 1.51, 2.10, 2.10, 1.86, 2.07]
# Probability of a "high" letter step at each position of f_27; positions 0, 2 and 5 use
# only A and B, as in the real codes.
LETTER_P = [0.0, 0.12, 0.0, 0.16, 0.10, 0.0, 0.14, 0.08, 0.11, 0.18]
AB_ONLY = {0, 2, 5}
TARGET_RATE = 0.486  # share of positive labels in the real training set


def _letters(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The f_27 codes as strings and as an (n, 10) array of letter indices 0-19."""
    idx = np.empty((n, 10), dtype=np.int64)
    for pos in range(10):
        if pos in AB_ONLY:
            idx[:, pos] = (rng.random(n) < 0.45).astype(np.int64)
        else:
            idx[:, pos] = np.minimum(rng.binomial(19, LETTER_P[pos], size=n), 19)
    chars = np.array(list("ABCDEFGHIJKLMNOPQRST"))[idx]
    codes = np.array(["".join(row) for row in chars])
    return codes, idx


def _ridge(s: np.ndarray, hi: float, lo: float) -> np.ndarray:
    """+1 above the band, -1 below it, 0 inside."""
    return (s > hi).astype(float) - (s < lo).astype(float)


def _features(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, np.ndarray]:
    data: dict[str, np.ndarray] = {}
    for c in CONT_A:
        data[c] = rng.normal(0.0, 1.0, n)
    for c, m in zip(COUNTS, COUNT_MEANS, strict=True):
        # Binomial counts: Poisson-like, slightly under-dispersed, capped at 16.
        data[c] = rng.binomial(16, m / 16, n)
    for c in CONT_B:
        data[c] = rng.normal(rng.uniform(-0.3, 0.3), rng.uniform(2.3, 2.5), n)
    codes, idx = _letters(rng, n)
    data["f_27"] = codes
    data["f_28"] = rng.normal(-2.0, 238.0, n)
    data["f_29"] = (rng.random(n) < 0.345).astype(np.int64)
    data["f_30"] = rng.choice(3, size=n, p=[0.33, 0.34, 0.33])
    return pd.DataFrame(data)[COLUMNS], idx


def _log_odds(df: pd.DataFrame, idx: np.ndarray) -> np.ndarray:
    f = {c: df[c].to_numpy(dtype=float) for c in COLUMNS if c != "f_27"}
    linear = (
        0.30 * f["f_00"] + 0.25 * f["f_01"] + 0.20 * f["f_02"] - 0.25 * f["f_05"]
        + 0.08 * f["f_19"] - 0.07 * f["f_20"] + 0.08 * f["f_22"] + 0.07 * f["f_24"]
        - 0.08 * f["f_25"] + 0.06 * f["f_26"]
        + 0.15 * (f["f_08"] - 2) - 0.15 * (f["f_10"] - 2) + 0.12 * (f["f_13"] - 2)
        - 0.10 * (f["f_16"] - 2) + 0.12 * (f["f_18"] - 2) + 0.0012 * f["f_28"]
    )
    ridges = 2.2 * (
        _ridge(f["f_02"] + f["f_21"], 3.2, -3.3)
        + _ridge(f["f_05"] + f["f_22"], 3.1, -3.4)
        + _ridge(f["f_00"] + f["f_01"] + f["f_26"], 3.4, -3.3)
    )
    products = 0.6 * f["f_03"] * f["f_04"] + 0.9 * (2 * f["f_29"] - 1) * (f["f_30"] - 1)
    unique = np.array([len(set(row)) for row in idx.tolist()], dtype=float)
    letters = 0.9 * (unique - 5.0) + 0.35 * (idx[:, 3] - 3.0) - 0.30 * (idx[:, 7] - 1.5)
    return linear + ridges + products + letters


def generate(out_dir: pathlib.Path, seed: int = 0) -> None:
    """Write out_dir/public/{train,test,sample_submission}.csv and out_dir/private/answers.csv."""
    out_dir = pathlib.Path(out_dir)
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_TEST
    df, idx = _features(rng, n)
    z = _log_odds(df, idx)
    # Shift the log-odds so the positive rate is close to the real one.
    z = z - np.quantile(z, 1 - TARGET_RATE)
    target = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)

    for c in [*CONT_A, *CONT_B, "f_28"]:
        df[c] = df[c].round(6)
    # As in MLE-bench's split: train ids 0..N_TRAIN-1, test ids continue from there.
    df.insert(0, "id", np.arange(n))
    df["target"] = target
    train = df.iloc[:N_TRAIN]
    test = df.iloc[N_TRAIN:].drop(columns=["target"])
    answers = df.iloc[N_TRAIN:][["id", "target"]]
    sample = pd.DataFrame({"id": test["id"], "target": 0.5})

    (out_dir / "public").mkdir(parents=True, exist_ok=True)
    (out_dir / "private").mkdir(parents=True, exist_ok=True)
    train.to_csv(out_dir / "public" / "train.csv", index=False)
    test.to_csv(out_dir / "public" / "test.csv", index=False)
    sample.to_csv(out_dir / "public" / "sample_submission.csv", index=False)
    answers.to_csv(out_dir / "private" / "answers.csv", index=False)
