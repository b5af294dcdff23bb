"""Stronger model: word 1-3-gram and character 1-5-gram TF-IDF, one logistic regression.

Word pairs and triples see whom an insult is aimed at ("you are an idiot" versus "the mayor is
an idiot"); character n-grams inside word boundaries recognise disguised spellings such as
"m0r0n" or "id*ot". The escapes written out in the text (\\u2019, \\xa0, \\n) are turned back
into plain characters first.
"""

import os
import re
from pathlib import Path

import pandas as pd
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

input_dir = Path(os.environ.get("MLE_INPUT_DIR", "input"))
submission_path = Path(os.environ.get("MLE_SUBMISSION_PATH", "submission/submission.csv"))

train = pd.read_csv(input_dir / "train.csv")
test = pd.read_csv(input_dir / "test.csv")

print("MODEL APPROACH: word 1-3-gram + char_wb 1-5-gram TF-IDF, logistic regression, "
      "after undoing the written-out escapes")


def clean(text: str) -> str:
    text = text.strip('"')
    text = re.sub(r"\\+xc2\\+xa0|\\+xa0", " ", text)
    text = re.sub(r"\\+u2019|\\+'", "'", text)
    text = re.sub(r"\\+n", " ", text)
    return text.lower()


def features(fit_texts, other_texts):
    word = TfidfVectorizer(ngram_range=(1, 3), sublinear_tf=True, min_df=2,
                           token_pattern=r"(?u)\b\w+\b|[*@$]+")
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 5), sublinear_tf=True, min_df=2)
    X_fit = hstack([word.fit_transform(fit_texts), char.fit_transform(fit_texts)]).tocsr()
    X_other = hstack([word.transform(other_texts), char.transform(other_texts)]).tocsr()
    return X_fit, X_other


texts = train["Comment"].map(clean)
test_texts = test["Comment"].map(clean)
y = train["Insult"]

t_tr, t_val, y_tr, y_val = train_test_split(texts, y, test_size=0.2, random_state=0, stratify=y)
X_tr, X_val = features(t_tr, t_val)
model = LogisticRegression(C=8.0, max_iter=3000)
model.fit(X_tr, y_tr)
val_pred = model.predict_proba(X_val)[:, 1]
print(f"Validation ROC AUC: {roc_auc_score(y_val, val_pred):.4f}")

X, X_test = features(texts, test_texts)
model = LogisticRegression(C=8.0, max_iter=3000)
model.fit(X, y)
pred = model.predict_proba(X_test)[:, 1]
sub = pd.DataFrame({"Insult": pred, "Date": test["Date"], "Comment": test["Comment"]})
submission_path.parent.mkdir(parents=True, exist_ok=True)
sub.to_csv(submission_path, index=False)
print(f"Wrote {submission_path} ({len(sub)} rows)")
