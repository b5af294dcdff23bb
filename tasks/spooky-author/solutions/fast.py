"""Fast baseline: word unigram TF-IDF + logistic regression."""

import os
from pathlib import Path

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

input_dir = Path(os.environ.get("MLE_INPUT_DIR", "input"))
submission_path = Path(os.environ.get("MLE_SUBMISSION_PATH", "submission/submission.csv"))

train = pd.read_csv(input_dir / "train.csv")
test = pd.read_csv(input_dir / "test.csv")
classes = ["EAP", "HPL", "MWS"]

print("MODEL APPROACH: word unigram TF-IDF + logistic regression")

X_tr, X_val, y_tr, y_val = train_test_split(
    train["text"], train["author"], test_size=0.2, random_state=0, stratify=train["author"]
)
model = make_pipeline(TfidfVectorizer(sublinear_tf=True), LogisticRegression(C=3.0, max_iter=1000))
model.fit(X_tr, y_tr)
val_pred = model.predict_proba(X_val)
print(f"Validation log loss: {log_loss(y_val, val_pred, labels=model.classes_):.4f}")

model.fit(train["text"], train["author"])
pred = model.predict_proba(test["text"])
sub = pd.DataFrame(pred, columns=model.classes_)[classes]
sub.insert(0, "id", test["id"])
submission_path.parent.mkdir(parents=True, exist_ok=True)
sub.to_csv(submission_path, index=False)
print(f"Wrote {submission_path} ({len(sub)} rows)")
