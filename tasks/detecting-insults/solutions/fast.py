"""Fast baseline: word unigram TF-IDF + logistic regression."""

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

train = pd.read_csv(input_dir / "train.csv")
test = pd.read_csv(input_dir / "test.csv")

print("MODEL APPROACH: word unigram TF-IDF + logistic regression")

X_tr, X_val, y_tr, y_val = train_test_split(
    train["Comment"], train["Insult"], test_size=0.2, random_state=0, stratify=train["Insult"]
)
model = make_pipeline(TfidfVectorizer(sublinear_tf=True), LogisticRegression(C=3.0, max_iter=1000))
model.fit(X_tr, y_tr)
val_pred = model.predict_proba(X_val)[:, 1]
print(f"Validation ROC AUC: {roc_auc_score(y_val, val_pred):.4f}")

model.fit(train["Comment"], train["Insult"])
pred = model.predict_proba(test["Comment"])[:, 1]
# Rows are matched by position: keep the test file's order and its Date and Comment as read.
sub = pd.DataFrame({"Insult": pred, "Date": test["Date"], "Comment": test["Comment"]})
submission_path.parent.mkdir(parents=True, exist_ok=True)
sub.to_csv(submission_path, index=False)
print(f"Wrote {submission_path} ({len(sub)} rows)")
