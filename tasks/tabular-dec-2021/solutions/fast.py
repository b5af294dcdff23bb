"""Fast baseline: standardised raw features + multinomial logistic regression."""

import os
from pathlib import Path

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

input_dir = Path(os.environ.get("MLE_INPUT_DIR", "input"))
submission_path = Path(os.environ.get("MLE_SUBMISSION_PATH", "submission/submission.csv"))

train = pd.read_csv(input_dir / "train.csv")
test = pd.read_csv(input_dir / "test.csv")
features = [c for c in train.columns if c not in ("Id", "Cover_Type")]
X, y = train[features], train["Cover_Type"]

print("MODEL APPROACH: standardised raw features + multinomial logistic regression")

X_tr, X_val, y_tr, y_val = train_test_split(X, y, test_size=0.2, random_state=0)
model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500))
model.fit(X_tr, y_tr)
print(f"Validation accuracy: {accuracy_score(y_val, model.predict(X_val)):.4f}")

model.fit(X, y)
pred = model.predict(test[features])
sub = pd.DataFrame({"Id": test["Id"], "Cover_Type": pred.astype(int)})
submission_path.parent.mkdir(parents=True, exist_ok=True)
sub.to_csv(submission_path, index=False)
print(f"Wrote {submission_path} ({len(sub)} rows)")
