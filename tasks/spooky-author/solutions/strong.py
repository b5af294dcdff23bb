"""Stronger model: a stack of two logistic regressions.

Base models: word 1-2-gram TF-IDF + logistic regression, and character 1-5-gram TF-IDF + logistic
regression (the character model sees punctuation, which the word tokenizer drops). Their
out-of-fold class probabilities feed a small logistic-regression meta model.
"""

import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split

input_dir = Path(os.environ.get("MLE_INPUT_DIR", "input"))
submission_path = Path(os.environ.get("MLE_SUBMISSION_PATH", "submission/submission.csv"))

train = pd.read_csv(input_dir / "train.csv")
test = pd.read_csv(input_dir / "test.csv")
classes = ["EAP", "HPL", "MWS"]
y = train["author"]

print("MODEL APPROACH: stack of word 1-2-gram and char 1-5-gram TF-IDF logistic regressions, "
      "logistic-regression meta model on out-of-fold probabilities")

word_vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
char_vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 5), sublinear_tf=True, min_df=2)
X_word = word_vec.fit_transform(train["text"])
X_word_test = word_vec.transform(test["text"])
X_char = char_vec.fit_transform(train["text"])
X_char_test = char_vec.transform(test["text"])

cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
oof_parts, test_parts = [], []
for name, X, X_test in [("word", X_word, X_word_test), ("char", X_char, X_char_test)]:
    model = LogisticRegression(C=3.0, max_iter=2000)
    oof = cross_val_predict(model, X, y, cv=cv, method="predict_proba")
    print(f"{name} model out-of-fold log loss: {log_loss(y, oof, labels=classes):.4f}")
    model.fit(X, y)
    oof_parts.append(oof)
    test_parts.append(model.predict_proba(X_test))

meta_X = np.log(np.clip(np.hstack(oof_parts), 1e-9, 1))
meta_X_test = np.log(np.clip(np.hstack(test_parts), 1e-9, 1))

# Validate the meta model on a held-out 20% of train (its inputs there are out-of-fold).
M_tr, M_val, y_tr, y_val = train_test_split(meta_X, y, test_size=0.2, random_state=0, stratify=y)
meta = LogisticRegression(C=1.0, max_iter=1000)
meta.fit(M_tr, y_tr)
val_pred = meta.predict_proba(M_val)
print(f"Validation log loss: {log_loss(y_val, val_pred, labels=meta.classes_):.4f}")

meta = LogisticRegression(C=1.0, max_iter=1000)
meta.fit(meta_X, y)
pred = meta.predict_proba(meta_X_test)
sub = pd.DataFrame(pred, columns=meta.classes_)[classes]
sub.insert(0, "id", test["id"])
submission_path.parent.mkdir(parents=True, exist_ok=True)
sub.to_csv(submission_path, index=False)
print(f"Wrote {submission_path} ({len(sub)} rows)")
