"""Fast baseline: letter and word overlap between anchor and target + linear regression."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import train_test_split

input_dir = Path(os.environ.get("MLE_INPUT_DIR", "input"))
submission_path = Path(os.environ.get("MLE_SUBMISSION_PATH", "submission/submission.csv"))

train = pd.read_csv(input_dir / "train.csv")
test = pd.read_csv(input_dir / "test.csv")

print("MODEL APPROACH: character 3-gram and word Jaccard overlap + linear regression")


def grams(text: str, n: int = 3) -> set[str]:
    padded = f" {text.lower()} "
    return {padded[i : i + n] for i in range(len(padded) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(len(a | b), 1)


def features(df: pd.DataFrame) -> np.ndarray:
    rows = []
    for anchor, target in zip(df["anchor"], df["target"], strict=True):
        rows.append([
            jaccard(grams(anchor), grams(target)),
            jaccard(set(anchor.lower().split()), set(target.lower().split())),
        ])
    return np.array(rows)


X = features(train)
y = train["score"].to_numpy()
X_test = features(test)

X_tr, X_val, y_tr, y_val = train_test_split(X, y, test_size=0.2, random_state=0)
model = LinearRegression()
model.fit(X_tr, y_tr)
val_pred = model.predict(X_val)
print(f"Validation Pearson: {np.corrcoef(val_pred, y_val)[0, 1]:.4f}")

model.fit(X, y)
pred = model.predict(X_test)
sub = pd.DataFrame({"id": test["id"], "score": np.clip(pred, 0, 1)})
submission_path.parent.mkdir(parents=True, exist_ok=True)
sub.to_csv(submission_path, index=False)
print(f"Wrote {submission_path} ({len(sub)} rows)")
