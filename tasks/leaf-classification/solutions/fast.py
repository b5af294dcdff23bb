"""Fast baseline: logistic regression on the 192 standardised features."""

import os
from pathlib import Path

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

input_dir = Path(os.environ.get("MLE_INPUT_DIR", "input"))
submission_path = Path(os.environ.get("MLE_SUBMISSION_PATH", "submission/submission.csv"))

train = pd.read_csv(input_dir / "train.csv")
test = pd.read_csv(input_dir / "test.csv")
classes = list(pd.read_csv(input_dir / "sample_submission.csv", nrows=1).columns[1:])
features = [c for c in train.columns if c.startswith(("margin", "shape", "texture"))]
X, y = train[features].to_numpy(), train["species"]

print("MODEL APPROACH: standardised margin/shape/texture features + logistic regression")

X_tr, X_val, y_tr, y_val = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
model.fit(X_tr, y_tr)
val_pred = model.predict_proba(X_val)
print(f"Validation log loss: {log_loss(y_val, val_pred, labels=model.classes_):.4f}")

model.fit(X, y)
pred = model.predict_proba(test[features].to_numpy())
sub = pd.DataFrame(pred, columns=model.classes_).reindex(columns=classes, fill_value=0.0)
sub.insert(0, "id", test["id"])
submission_path.parent.mkdir(parents=True, exist_ok=True)
sub.to_csv(submission_path, index=False)
print(f"Wrote {submission_path} ({len(sub)} rows)")
