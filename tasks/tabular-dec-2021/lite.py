"""Offline "lite" data for tabular-dec-2021: a small synthetic forest-cover table.

The 54 feature columns carry the real names and value ranges (integer elevation, aspect,
slope, distances, hillshade indices, four wilderness-area and forty soil-type indicators; like
the real synthetic data some values fall slightly outside their physical range, some rows have
no or two indicators set, and Soil_Type7 and Soil_Type15 are always 0).

Each class has a preferred band of an "effective elevation": the elevation shifted by terms a
linear model cannot build from the raw columns (the cosine of the aspect times the slope, the
straight-line distance to water, and a soil-group shift whose sign depends on the wilderness
area). On top of that, spruce/fir (1) against lodgepole pine (2) also depends on the fire-point
and road distances in a way that differs between wilderness areas, cottonwood (4) grows only in
area 4, Douglas-fir (6) prefers morning shade, and aspen (5) exists in one soil group of area 1
and is almost absent. Class shares follow the real ones (2 and 1 dominate). Labels are drawn
from a softmax over the class scores, so some rows are ambiguous.
"""

from __future__ import annotations

import pathlib

import numpy as np
import pandas as pd

N_TRAIN = 8000
N_TEST = 2000

NUMERIC = [
    "Elevation", "Aspect", "Slope", "Horizontal_Distance_To_Hydrology",
    "Vertical_Distance_To_Hydrology", "Horizontal_Distance_To_Roadways", "Hillshade_9am",
    "Hillshade_Noon", "Hillshade_3pm", "Horizontal_Distance_To_Fire_Points",
]
WILDERNESS = [f"Wilderness_Area{i}" for i in range(1, 5)]
SOILS = [f"Soil_Type{i}" for i in range(1, 41)]
FEATURES = [*NUMERIC, *WILDERNESS, *SOILS]
CLASSES = np.arange(1, 8)

# Class shares close to the real training set; the rare classes are kept present but rare.
PRIORS = np.array([0.366, 0.565, 0.049, 0.0012, 0.0003, 0.0033, 0.0152])
WILD_P = np.array([0.26, 0.04, 0.65, 0.05])
# Where each class grows, in standardised effective elevation, and how wide its band is.
CENTER = np.array([0.55, -0.20, -1.80, -2.50, -0.70, -1.60, 1.60])
WIDTH = np.array([0.45, 0.60, 0.45, 0.35, 0.30, 0.40, 0.35])
TEMPERATURE = 0.35  # softens the class scores: higher means noisier labels
ASPEN_SOILS = (28, 29, 30)  # 0-based soil indices where class 5 can occur


def _numeric(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    def gamma(mean: float, std: float) -> np.ndarray:
        shape = (mean / std) ** 2
        return rng.gamma(shape, mean / shape, n)

    return {
        "Elevation": rng.normal(2980, 290, n),
        "Aspect": rng.uniform(-30, 400, n) * 0.85 + rng.normal(0, 20, n),
        "Slope": np.abs(rng.normal(15, 8.5, n)),
        "Horizontal_Distance_To_Hydrology": gamma(275, 225) - 10,
        "Vertical_Distance_To_Hydrology": rng.normal(50, 68, n),
        "Horizontal_Distance_To_Roadways": gamma(1800, 1300) - 40,
        "Hillshade_9am": rng.normal(212, 31, n),
        "Hillshade_Noon": rng.normal(221, 22, n),
        "Hillshade_3pm": rng.normal(141, 44, n),
        "Horizontal_Distance_To_Fire_Points": gamma(1600, 1120) - 30,
    }


def _indicators(
    rng: np.random.Generator, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One-hot wilderness and soil blocks (with a few odd rows), plus the true indices."""
    wild = rng.choice(4, size=n, p=WILD_P)
    soil_p = rng.dirichlet(np.full(40, 0.8))
    soil_p[[6, 14]] = 0.0  # Soil_Type7 and Soil_Type15 never occur
    soil_p /= soil_p.sum()
    soil = rng.choice(40, size=n, p=soil_p)
    w = np.zeros((n, 4), dtype=np.int64)
    s = np.zeros((n, 40), dtype=np.int64)
    w[np.arange(n), wild] = 1
    s[np.arange(n), soil] = 1
    # Quirks of the real synthetic data: a few rows lose their flag or gain a second one.
    odd = rng.random(n)
    w[odd < 0.01, :] = 0
    extra = (odd > 0.98)
    w[extra, rng.choice(4, size=int(extra.sum()), p=WILD_P)] = 1
    odd = rng.random(n)
    s[odd < 0.01, :] = 0
    extra = (odd > 0.97)
    s[extra, rng.choice(40, size=int(extra.sum()), p=soil_p)] = 1
    return w, s, wild, soil


def _scores(x: dict[str, np.ndarray], wild: np.ndarray, soil: np.ndarray,
            soil_shift: np.ndarray) -> np.ndarray:
    """Unnormalised class log-scores, shape (n, 7)."""
    elev = (x["Elevation"] - 2980) / 290
    aspect = np.radians(x["Aspect"])
    slope = np.clip(x["Slope"], 0, 40) / 20
    water = np.hypot(x["Horizontal_Distance_To_Hydrology"], x["Vertical_Distance_To_Hydrology"])
    # The soil shift pushes one way in areas 1 and 3 and the other way in areas 2 and 4.
    sign = np.where(np.isin(wild, (0, 2)), 1.0, -1.0)
    eff = (elev + 0.45 * np.cos(aspect) * slope + 0.35 * (water < 120)
           - 0.25 * (water > 700) + sign * soil_shift[soil])
    g = -((eff[:, None] - CENTER) ** 2) / (2 * WIDTH**2) - np.log(WIDTH)

    fire = x["Horizontal_Distance_To_Fire_Points"] / 1100
    road = x["Horizontal_Distance_To_Roadways"] / 1300
    lean = np.tanh(1.5 * (fire - road))
    g[:, 0] += np.where(wild == 0, 1.2 * lean, np.where(wild == 2, -0.9 * lean, 0.0))
    g[:, 3] += np.where(wild == 3, 2.5, -6.0)
    g[:, 4] += np.where((wild == 0) & np.isin(soil, ASPEN_SOILS), 1.0, -8.0)
    g[:, 5] += 1.5 * (x["Hillshade_9am"] < 195) - 0.5
    g[:, 6] += 0.6 * (x["Horizontal_Distance_To_Roadways"] > 2500)
    return g


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def generate(out_dir: pathlib.Path, seed: int = 0) -> None:
    """Write out_dir/public/{train,test,sample_submission}.csv and out_dir/private/answers.csv."""
    out_dir = pathlib.Path(out_dir)
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_TEST
    x = _numeric(rng, n)
    w, s, wild, soil = _indicators(rng, n)
    soil_shift = rng.normal(0, 0.35, 40)

    g = _scores(x, wild, soil, soil_shift) / TEMPERATURE
    # Per-class offsets chosen so the average class probabilities match PRIORS.
    bias = np.log(PRIORS)
    for _ in range(60):
        bias += np.log(PRIORS / _softmax(g + bias).mean(axis=0))
    p = _softmax(g + bias)
    label = CLASSES[(rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1).clip(0, 6)]

    frame = pd.DataFrame({c: np.rint(v).astype(np.int64) for c, v in x.items()})
    frame[WILDERNESS] = w
    frame[SOILS] = s
    frame.insert(0, "Id", np.arange(n))
    frame["Cover_Type"] = label

    # Like MLE-bench's shuffled split of Kaggle's train: both parts in random order.
    order = rng.permutation(n)
    train = frame.iloc[order[:N_TRAIN]]
    test_full = frame.iloc[order[N_TRAIN:]]
    test = test_full.drop(columns=["Cover_Type"])
    answers = test_full[["Id", "Cover_Type"]]
    sample = pd.DataFrame({"Id": test["Id"], "Cover_Type": 2})

    (out_dir / "public").mkdir(parents=True, exist_ok=True)
    (out_dir / "private").mkdir(parents=True, exist_ok=True)
    train.to_csv(out_dir / "public" / "train.csv", index=False)
    test.to_csv(out_dir / "public" / "test.csv", index=False)
    sample.to_csv(out_dir / "public" / "sample_submission.csv", index=False)
    answers.to_csv(out_dir / "private" / "answers.csv", index=False)
