"""What counts as each milestone: the static instrumenter's heuristics on the names of calls.

A completed call reaches the milestone below (function name = the called name or its last
attribute); :func:`classify` says which.

* data_loaded: ``read_csv``, ``read_json``, ``read_parquet``, ``read_table``, ``read_excel``,
  ``read_feather``, ``read_pickle`` (and a few other ``read_*`` readers), ``loadtxt``,
  ``genfromtxt``, ``load_dataset``, ``imread``; ``load`` only as ``np.load``/``numpy.load``/
  ``joblib.load``/``pickle.load``/``torch.load``; ``Image.open``; builtin ``open(path)`` for
  reading (no mode, or a constant mode without ``w``/``a``/``x``) when the path expression
  mentions the input: a string containing ``input``, ``.csv`` or ``.json``, or a name or
  attribute containing ``input`` or ``data`` (case-insensitive, anywhere inside the path
  expression, so ``os.path.join``, ``Path(...)`` and f-strings count);
  ``<path>.read_text()``/``read_bytes()`` under the same path rule.
* model_defined: a CamelCase constructor whose name contains Classifier, Regressor,
  Regression, Classification, Pipeline, SVC, SVR, NB, Boost, Forest, Trees, KNeighbors, Model,
  Net, Booster, LGBM, XGB, Ridge, Lasso, ElasticNet, SGD, MLP, Perceptron, Sequential, CNN,
  RNN, LSTM or GRU, unless it also names a transformer, callback, checkpoint, config, dataset,
  loader, optimizer or scheduler (``SelectFromModel``, ``ModelCheckpoint``, ``optim.SGD``);
  ``make_pipeline`` and the ``*SearchCV`` searches; ``X.from_pretrained(...)`` when ``X``
  passes the same name rule (``AutoModelFor...``, not ``AutoTokenizer``); and any class the
  program defines on top of a model base (``nn.Module``, ``LightningModule``, ``keras.Model``,
  ``BaseEstimator`` with a classifier/regressor mixin, ...).
* model_trained: method calls ``.fit``, ``.partial_fit``, ``.fit_predict``,
  ``.fit_generator`` and ``.train(...)``; ``cross_val_score``, ``cross_validate``,
  ``cross_val_predict``; ``lgb.cv``/``xgb.cv``; ``fasttext.train_supervised``; bare
  ``fit(...)``/``train(...)`` calls with arguments (the program's own training functions).
  Never ``.fit_transform``, and not when the receiver is an obvious transformer: its text
  (call arguments dropped) contains vectoriz, scaler, encoder, tokenizer, imputer, pca, svd,
  transformer, tfidf, count_vec, selector, binarizer, normalizer, poly, preprocess,
  discretiz or hasher, or it is a variable the program assigned from such a constructor
  (``le = LabelEncoder(); le.fit(y)``). ``.train()`` with no arguments (or only a bool /
  ``mode=``) is PyTorch's mode switch and counts only on a receiver named like ``*trainer*``
  (Hugging Face ``Trainer.train()``). A ``for``/``while`` loop whose body calls
  ``.backward(...)`` is a PyTorch-style training loop: ``model_trained`` fires after the
  outermost such loop of its function finishes.
* predictions_made: ``.predict``, ``.predict_proba``, ``.predict_log_proba``,
  ``.decision_function`` and bare ``predict(...)``/``predict_proba(...)``. ``.transform`` is
  not a prediction, and a forward call ``model(X)`` is not detected.
* imports: no call; the hook goes after the last top-level import (see
  :mod:`mle_gym.instrument.plan`). ``submission_written`` is never emitted: the host checks
  the file.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass, field

from mle_gym.instrument.syntax import all_statements, dotted

READERS = frozenset(
    {
        "read_csv",
        "read_json",
        "read_parquet",
        "read_table",
        "read_excel",
        "read_feather",
        "read_pickle",
        "read_fwf",
        "read_hdf",
        "read_orc",
        "loadtxt",
        "genfromtxt",
        "load_dataset",
        "imread",
    }
)
LOAD_MODULES = frozenset({"np", "numpy", "joblib", "pickle", "torch"})
IMAGE_MODULES = frozenset({"Image", "PIL.Image"})
PATH_STRING_WORDS = ("input", ".csv", ".json")
PATH_NAME_WORDS = ("input", "data")

MODEL_WORDS = (
    "Classifier",
    "Regressor",
    "Regression",
    "Classification",
    "Pipeline",
    "SVC",
    "SVR",
    "NB",
    "Boost",
    "Forest",
    "Trees",
    "KNeighbors",
    "Model",
    "Net",
    "Booster",
    "LGBM",
    "XGB",
    "Ridge",
    "Lasso",
    "ElasticNet",
    "SGD",
    "MLP",
    "Perceptron",
    "Sequential",
    "CNN",
    "RNN",
    "LSTM",
    "GRU",
)
MODEL_FUNCTIONS = frozenset(
    {
        "make_pipeline",
        "GridSearchCV",
        "RandomizedSearchCV",
        "HalvingGridSearchCV",
        "HalvingRandomSearchCV",
        "BayesSearchCV",
    }
)
# Receivers whose .fit is preprocessing, not training (matched lower-case, as substrings).
TRANSFORMER_WORDS = (
    "vectoriz",
    "scaler",
    "encoder",
    "tokenizer",
    "imputer",
    "pca",
    "svd",
    "transformer",
    "tfidf",
    "count_vec",
    "selector",
    "binarizer",
    "normalizer",
    "poly",
    "preprocess",
    "discretiz",
    "hasher",
)
# Constructors whose instances are transformers (SelectKBest, VarianceThreshold aside).
TRANSFORMER_CTOR_WORDS = (*TRANSFORMER_WORDS, "select")
# Constructor names that look like a model but are not one.
NOT_MODEL_WORDS = (
    *TRANSFORMER_CTOR_WORDS,
    "checkpoint",
    "callback",
    "config",
    "dataset",
    "loader",
    "optimizer",
    "scheduler",
)
MODEL_BASE_SUFFIXES = ("Module",)  # nn.Module, pl.LightningModule
FIT_METHODS = frozenset({"fit", "partial_fit", "fit_predict", "fit_generator"})
CV_FUNCTIONS = frozenset({"cross_val_score", "cross_validate", "cross_val_predict"})
BOOSTING_MODULES = frozenset({"lgb", "lightgbm", "xgb", "xgboost"})
PREDICT_METHODS = frozenset({"predict", "predict_proba", "predict_log_proba", "decision_function"})
BARE_PREDICT = frozenset({"predict", "predict_proba"})
BARE_TRAIN = frozenset({"fit", "train"})

# Every name the rules above can match: a line without any of them holds no detected call.
TRIGGER_WORDS = frozenset(
    {
        *READERS,
        *MODEL_WORDS,
        *MODEL_FUNCTIONS,
        *FIT_METHODS,
        *CV_FUNCTIONS,
        *PREDICT_METHODS,
        "load",
        "open",
        "read_",
        "train",
        "cv",
        "backward",
        "from_pretrained",
    }
)


def _head_text(node: ast.AST) -> str:
    """The receiver as text with call arguments dropped: ``make_pipeline(...).x`` ->
    ``make_pipeline().x``, so the models inside a pipeline do not decide what it is."""
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append("." + node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            parts.append("()")
            node = node.func
        elif isinstance(node, ast.Subscript):
            key = node.slice
            parts.append(f"[{key.value!r}]" if isinstance(key, ast.Constant) else "[]")
            node = node.value
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            break
        else:
            break
    return "".join(reversed(parts))


def _callee(call: ast.Call) -> tuple[str | None, ast.expr | None]:
    """(called name, receiver) for ``name(...)`` and ``receiver.name(...)``."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id, None
    if isinstance(func, ast.Attribute):
        return func.attr, func.value
    return None, None


@functools.lru_cache(maxsize=4096)
def _looks_like_model(name: str) -> bool:
    if name in MODEL_FUNCTIONS:
        return True
    if not name[:1].isupper() or not any(word in name for word in MODEL_WORDS):
        return False
    lowered = name.lower()
    return not any(word in lowered for word in NOT_MODEL_WORDS)


@functools.lru_cache(maxsize=4096)
def _looks_like_transformer(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in TRANSFORMER_CTOR_WORDS)


def _mentions_input(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            text = sub.value.lower()
            if any(word in text for word in PATH_STRING_WORDS):
                return True
        elif isinstance(sub, ast.Name | ast.Attribute):
            text = (sub.id if isinstance(sub, ast.Name) else sub.attr).lower()
            if any(word in text for word in PATH_NAME_WORDS):
                return True
    return False


def _reads_input(call: ast.Call) -> bool:
    """Builtin ``open(path[, mode])`` reading a path that mentions the input."""
    path = call.args[0] if call.args else None
    mode: ast.expr | None = call.args[1] if len(call.args) > 1 else None
    for kw in call.keywords:
        if kw.arg == "file":
            path = kw.value
        elif kw.arg == "mode":
            mode = kw.value
    if path is None:
        return False
    if mode is not None:
        if not (isinstance(mode, ast.Constant) and isinstance(mode.value, str)):
            return False  # a mode computed at run time: do not guess
        if any(flag in mode.value for flag in "wax"):
            return False
    return _mentions_input(path)


def _is_mode_switch(call: ast.Call) -> bool:
    """PyTorch's ``model.train()``, ``model.train(False)``, ``model.train(mode=...)``."""
    if not call.args and not call.keywords:
        return True
    if len(call.args) == 1 and not call.keywords:
        arg = call.args[0]
        return isinstance(arg, ast.Constant) and isinstance(arg.value, bool)
    return not call.args and [kw.arg for kw in call.keywords] == ["mode"]


@dataclass
class Names:
    """What the program's own assignments and classes say about names."""

    transformers: set[str] = field(default_factory=set)
    models: set[str] = field(default_factory=set)
    model_classes: set[str] = field(default_factory=set)
    transformer_classes: set[str] = field(default_factory=set)


def collect_names(tree: ast.Module) -> Names:
    names = Names()
    assigns: list[tuple[list[ast.expr], ast.Call]] = []
    for node in all_statements(tree.body):
        if isinstance(node, ast.ClassDef):
            last = [(dotted(b) or "").rsplit(".", 1)[-1] for b in node.bases]
            if any("Transformer" in b for b in last):
                names.transformer_classes.add(node.name)
            elif any(b.endswith(MODEL_BASE_SUFFIXES) or _looks_like_model(b) for b in last):
                names.model_classes.add(node.name)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            assigns.append((node.targets, node.value))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.value, ast.Call):
            assigns.append(([node.target], node.value))
    # Classes first: an assignment may come before the class it instantiates.
    for targets, call in assigns:
        ctor, _ = _callee(call)
        if ctor is None:
            continue
        bound = [d for d in map(dotted, targets) if d]
        if ctor in names.transformer_classes or _looks_like_transformer(ctor):
            names.transformers.update(bound)
        elif ctor in names.model_classes or _looks_like_model(ctor):
            names.models.update(bound)
    # A name bound to both kinds somewhere is treated as a model.
    names.transformers -= names.models
    return names


def classify(call: ast.Call, names: Names | None = None) -> str | None:
    """The milestone a completed call reaches, or None."""
    names = names or Names()
    name, receiver = _callee(call)
    if name is None:
        return None
    module = dotted(receiver) if receiver is not None else None

    # data_loaded
    if name in READERS:
        return "data_loaded"
    if name == "load" and module in LOAD_MODULES:
        return "data_loaded"
    if name == "open":
        if module is not None and (module in IMAGE_MODULES or module.endswith(".Image")):
            return "data_loaded"
        if receiver is None and _reads_input(call):
            return "data_loaded"
        return None
    if name in ("read_text", "read_bytes") and receiver is not None:
        return "data_loaded" if _mentions_input(receiver) else None

    # model_trained
    if name in CV_FUNCTIONS or name == "train_supervised":
        return "model_trained"
    if name == "cv" and module in BOOSTING_MODULES:
        return "model_trained"
    if receiver is None and name in BARE_TRAIN:
        return "model_trained" if (call.args or call.keywords) else None
    if name in FIT_METHODS or name == "train":
        head = _head_text(receiver).lower() if receiver is not None else ""
        if name == "train" and _is_mode_switch(call) and "trainer" not in head:
            return None
        if any(word in head for word in TRANSFORMER_WORDS):
            return None
        if module is not None and module in names.transformers:
            return None
        return "model_trained"

    # predictions_made
    if name in PREDICT_METHODS and receiver is not None:
        return "predictions_made"
    if name in BARE_PREDICT and receiver is None:
        return "predictions_made"

    # model_defined
    if name == "from_pretrained" and module is not None:
        return "model_defined" if _looks_like_model(module.rsplit(".", 1)[-1]) else None
    if module is not None and "optim" in module:
        return None  # torch.optim.SGD is an optimizer
    if name in names.model_classes or _looks_like_model(name):
        return "model_defined"
    return None
