"""Fast baseline: TF-IDF of the title and request text + logistic regression."""

import json
import os
from pathlib import Path

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

input_dir = Path(os.environ.get("MLE_INPUT_DIR", "input"))
submission_path = Path(os.environ.get("MLE_SUBMISSION_PATH", "submission/submission.csv"))

train = pd.DataFrame(json.loads((input_dir / "train.json").read_text()))
test = pd.DataFrame(json.loads((input_dir / "test.json").read_text()))

print("MODEL APPROACH: word TF-IDF of title + edit-aware text, logistic regression")


def text(frame: pd.DataFrame) -> pd.Series:
    # The test file has only the edit-aware text (no "EDIT: thanks for the pizza" lines).
    return frame["request_title"] + " " + frame["request_text_edit_aware"]


y = train["requester_received_pizza"].astype(int)
X_tr, X_val, y_tr, y_val = train_test_split(text(train), y, test_size=0.2, random_state=0, stratify=y)
model = make_pipeline(TfidfVectorizer(sublinear_tf=True, min_df=2), LogisticRegression(C=1.0, max_iter=1000))
model.fit(X_tr, y_tr)
val_pred = model.predict_proba(X_val)[:, 1]
print(f"Validation ROC AUC: {roc_auc_score(y_val, val_pred):.4f}")

model.fit(text(train), y)
pred = model.predict_proba(text(test))[:, 1]
sub = pd.DataFrame({"request_id": test["request_id"], "requester_received_pizza": pred})
submission_path.parent.mkdir(parents=True, exist_ok=True)
sub.to_csv(submission_path, index=False)
print(f"Wrote {submission_path} ({len(sub)} rows)")
