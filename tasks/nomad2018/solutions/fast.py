"""Fast baseline: linear regression on the tabular columns, one model per target on log1p."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

input_dir = Path(os.environ.get("MLE_INPUT_DIR", "input"))
submission_path = Path(os.environ.get("MLE_SUBMISSION_PATH", "submission/submission.csv"))

train = pd.read_csv(input_dir / "train.csv")
test = pd.read_csv(input_dir / "test.csv")
targets = ["formation_energy_ev_natom", "bandgap_energy_ev"]
features = [c for c in test.columns if c != "id"]

print("MODEL APPROACH: linear regression on the raw tabular columns, log1p targets")

X, X_test = train[features], test[features]
X_tr, X_val, Y_tr, Y_val = train_test_split(X, train[targets], test_size=0.2, random_state=0)
sub = pd.DataFrame({"id": test["id"]})
val_scores = []
for target in targets:
    # The metric is RMSLE, so fit on log1p(target) and clip predictions at zero.
    model = LinearRegression()
    model.fit(X_tr, np.log1p(Y_tr[target]))
    val_pred = np.clip(np.expm1(model.predict(X_val)), 0, None)
    val_scores.append(np.sqrt(mean_squared_error(np.log1p(Y_val[target]), np.log1p(val_pred))))
    print(f"{target}: validation RMSLE {val_scores[-1]:.4f}")

    model.fit(X, np.log1p(train[target]))
    sub[target] = np.clip(np.expm1(model.predict(X_test)), 0, None)
print(f"Validation mean column RMSLE: {np.mean(val_scores):.4f}")

submission_path.parent.mkdir(parents=True, exist_ok=True)
sub.to_csv(submission_path, index=False)
print(f"Wrote {submission_path} ({len(sub)} rows)")
