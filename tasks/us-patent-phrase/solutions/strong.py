"""Stronger model: many phrase-similarity features + LightGBM.

Features per (anchor, target, context):
* TF-IDF cosine similarities of several kinds (character 2-4-grams within words, character
  3-5-grams, words), overlap counts, lengths, shared head (last) word;
* learned word relations: the mean training score of every (anchor word, target word) pair,
  with and without the context, summarised per row (mean, max, min, head-to-head), so that
  synonyms with no letters in common are learned from the training pairs;
* context features: the context code, how familiar the target's words are in that context,
  and the mean score of the anchor and of the context.
Every statistic computed from training scores is out-of-fold on the training rows.
"""

import os
from collections import defaultdict
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import KFold

input_dir = Path(os.environ.get("MLE_INPUT_DIR", "input"))
submission_path = Path(os.environ.get("MLE_SUBMISSION_PATH", "submission/submission.csv"))

train = pd.read_csv(input_dir / "train.csv")
test = pd.read_csv(input_dir / "test.csv")
y = train["score"].to_numpy()

print("MODEL APPROACH: TF-IDF char/word similarities + out-of-fold word-pair and context "
      "score statistics + LightGBM regression")

SMOOTH = 2.0  # pseudo-count pulling rare pair statistics towards the global mean


def words(text: str) -> list[str]:
    return text.lower().split()


def cosine_features(df: pd.DataFrame, vectorizers: list[TfidfVectorizer]) -> np.ndarray:
    cols = []
    for vec in vectorizers:
        a = vec.transform(df["anchor"])
        t = vec.transform(df["target"])
        cols.append(np.asarray(a.multiply(t).sum(axis=1)).ravel())
    return np.column_stack(cols)


def overlap_features(df: pd.DataFrame) -> np.ndarray:
    rows = []
    for anchor, target in zip(df["anchor"], df["target"], strict=True):
        aw, tw = words(anchor), words(target)
        sa, st = set(aw), set(tw)
        rows.append([
            len(sa & st), len(sa & st) / max(len(sa | st), 1), len(aw), len(tw),
            len(tw) - len(aw), len(anchor), len(target), float(aw[-1] == tw[-1]),
            float(tw[-1].rstrip("s") == aw[-1].rstrip("s")), float(anchor in target),
            float(target in anchor),
        ])
    return np.array(rows)


class PairStats:
    """Mean score of word pairs, (pair, context), anchors and contexts from scored rows."""

    def fit(self, df: pd.DataFrame, scores: np.ndarray) -> "PairStats":
        self.mean = float(scores.mean())
        self.tables = [defaultdict(lambda: [0.0, 0]) for _ in range(5)]
        self.context_words = defaultdict(set)
        for (anchor, target, ctx), s in zip(df[["anchor", "target", "context"]].itertuples(
                index=False), scores, strict=True):
            aw, tw = words(anchor), words(target)
            keys = [
                [(a, t) for a in aw for t in tw],
                [(a, t, ctx) for a in aw for t in tw],
                [(aw[-1], tw[-1])],
                [anchor],
                [(anchor, ctx)],
            ]
            for table, ks in zip(self.tables, keys, strict=True):
                for k in ks:
                    table[k][0] += s
                    table[k][1] += 1
            self.context_words[ctx].update(aw)
        return self

    def value(self, table: dict, key: object) -> float:
        total, count = table.get(key, (0.0, 0))
        return (total + SMOOTH * self.mean) / (count + SMOOTH)

    def count(self, table: dict, key: object) -> int:
        return table.get(key, (0.0, 0))[1]

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        pairs, pairs_ctx, heads, anchors, anchors_ctx = self.tables
        rows = []
        for anchor, target, ctx in df[["anchor", "target", "context"]].itertuples(index=False):
            aw, tw = words(anchor), words(target)
            pv = [self.value(pairs, (a, t)) for a in aw for t in tw]
            pc = [self.value(pairs_ctx, (a, t, ctx)) for a in aw for t in tw]
            # For each target word, how well it matches its best anchor word.
            best = [max(self.value(pairs, (a, t)) for a in aw) for t in tw]
            known = self.context_words.get(ctx, set())
            rows.append([
                np.mean(pv), np.max(pv), np.min(pv), np.mean(pc), np.max(pc), np.min(pc),
                np.mean(best), np.min(best), self.value(heads, (aw[-1], tw[-1])),
                self.count(heads, (aw[-1], tw[-1])),
                self.value(anchors, anchor), self.value(anchors_ctx, (anchor, ctx)),
                np.mean([t in known for t in tw]), np.mean([a in known for a in aw]),
            ])
        return np.array(rows)


phrases = pd.concat([train["anchor"], train["target"], test["anchor"], test["target"]])
vectorizers = [
    TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True).fit(phrases),
    TfidfVectorizer(analyzer="char", ngram_range=(3, 5), sublinear_tf=True).fit(phrases),
    TfidfVectorizer(analyzer="word", ngram_range=(1, 2), token_pattern=r"\S+").fit(phrases),
]
contexts = sorted(set(train["context"]) | set(test["context"]))
context_code = {c: i for i, c in enumerate(contexts)}


def base_features(df: pd.DataFrame) -> np.ndarray:
    ctx = df["context"].map(context_code).to_numpy()[:, None]
    section = df["context"].str[0].map(ord).to_numpy()[:, None]
    return np.hstack([cosine_features(df, vectorizers), overlap_features(df), ctx, section])


# Out-of-fold pair statistics on train; statistics from all of train for test.
kf = KFold(n_splits=5, shuffle=True, random_state=0)
oof_stats = np.zeros((len(train), 14))
for fit_idx, apply_idx in kf.split(train):
    stats = PairStats().fit(train.iloc[fit_idx], y[fit_idx])
    oof_stats[apply_idx] = stats.transform(train.iloc[apply_idx])
X = np.hstack([base_features(train), oof_stats])
X_test = np.hstack([base_features(test), PairStats().fit(train, y).transform(test)])
n_base = X.shape[1] - oof_stats.shape[1]
categorical = [n_base - 2]  # the context code

params = dict(n_estimators=300, learning_rate=0.05, num_leaves=15, min_child_samples=20,
              subsample=0.8, subsample_freq=1, colsample_bytree=0.8, reg_lambda=1.0,
              n_jobs=1, verbose=-1)

# Validation on a held-out fifth of train (its pair statistics are out-of-fold already).
val_folds = KFold(n_splits=5, shuffle=True, random_state=1)
fit_idx, val_idx = next(val_folds.split(X))
model = lgb.LGBMRegressor(**params)
model.fit(X[fit_idx], y[fit_idx], categorical_feature=categorical)
val_pred = model.predict(X[val_idx])
print(f"Validation Pearson: {np.corrcoef(val_pred, y[val_idx])[0, 1]:.4f}")

model = lgb.LGBMRegressor(**params)
model.fit(X, y, categorical_feature=categorical)
pred = model.predict(X_test)
sub = pd.DataFrame({"id": test["id"], "score": np.clip(pred, 0, 1)})
submission_path.parent.mkdir(parents=True, exist_ok=True)
sub.to_csv(submission_path, index=False)
print(f"Wrote {submission_path} ({len(sub)} rows)")
