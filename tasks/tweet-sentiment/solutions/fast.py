"""Fast baseline: a fixed sentiment lexicon and a tiny "whole tweet or not" classifier.

A logistic regression on the tweet's length, sentiment and lexicon hits predicts whether the
annotators selected (nearly) the whole tweet; if so the tweet is copied, otherwise the words
found in a small hand-made lexicon of the tweet's sentiment are returned.
"""

import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

input_dir = Path(os.environ.get("MLE_INPUT_DIR", "input"))
submission_path = Path(os.environ.get("MLE_SUBMISSION_PATH", "submission/submission.csv"))

# keep_default_na=False: a tweet such as "null" must stay a string.
train = pd.read_csv(input_dir / "train.csv", keep_default_na=False)
test = pd.read_csv(input_dir / "test.csv", keep_default_na=False)
print("MODEL APPROACH: fixed positive/negative word lexicon plus a logistic regression that "
      "decides when to return the whole tweet (length, sentiment, lexicon hits)")

LEXICON = {
    "positive": {"love", "happy", "great", "good", "awesome", "thanks", "thank", "fun", "excited",
                 "nice", "amazing", "best", "glad", "cool", "beautiful", "lovely", "yay", "cute",
                 "enjoy", "congrats", "wonderful", "perfect", ":)", ":d", "<3"},
    "negative": {"sad", "hate", "miss", "sucks", "tired", "bored", "sick", "hurts", "worst",
                 "sorry", "bad", "annoying", "boring", "lonely", "stupid", "awful", "terrible",
                 "depressed", "upset", "ugh", "crying", "scared", "failed", ":(", ":'("},
    "neutral": set(),
}


def hits(text: str, sentiment: str) -> list[str]:
    return [w for w in text.split() if w.lower().strip(".,!?;") in LEXICON[sentiment]]


def jaccard(a: str, b: str) -> float:
    sa, sb = set(a.lower().split()), set(b.lower().split())
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def features(frame: pd.DataFrame) -> np.ndarray:
    n_words = frame["text"].str.split().str.len()
    n_hits = [len(hits(t, s)) for t, s in zip(frame["text"], frame["sentiment"], strict=True)]
    return np.column_stack([
        np.log1p(n_words), n_words <= 3, np.minimum(n_hits, 3),
        frame["sentiment"] == "positive", frame["sentiment"] == "negative",
    ]).astype(float)


def select(frame: pd.DataFrame, whole: np.ndarray) -> list[str]:
    out = []
    for text, sentiment, w in zip(frame["text"], frame["sentiment"], whole, strict=True):
        found = hits(text, sentiment)
        out.append(" ".join(text.split()) if w or not found else " ".join(found))
    return out


# Target: did the annotators take (nearly) the whole tweet?
y = np.array([jaccard(t, s) > 0.8 for t, s in zip(train["text"], train["selected_text"],
                                                   strict=True)])
X = features(train)
X_tr, X_val, y_tr, y_val, _, val = train_test_split(X, y, train, test_size=0.2, random_state=0)
model = LogisticRegression()
model.fit(X_tr, y_tr)
pred = select(val, model.predict(X_val))
score = np.mean([jaccard(p, a) for p, a in zip(pred, val["selected_text"], strict=True)])
print(f"Validation Jaccard: {score:.4f}")

model = LogisticRegression()
model.fit(X, y)
sub = pd.DataFrame({"textID": test["textID"],
                    "selected_text": select(test, model.predict(features(test)))})
submission_path.parent.mkdir(parents=True, exist_ok=True)
sub.to_csv(submission_path, index=False)
print(f"Wrote {submission_path} ({len(sub)} rows)")
