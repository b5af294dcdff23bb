"""The static instrumenter: rewritten programs really run, and report what they reach."""

from __future__ import annotations

import ast
import contextlib
import logging
import subprocess
import sys
import sysconfig
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mle_gym.instrument import (
    InstrumentationError,
    InstrumentedProgram,
    StaticInstrumenter,
    extract_code,
    get_instrumenter,
)
from mle_gym.instrument.milestones import DESCRIPTIONS, HOOK, MILESTONES, REPORTED
from mle_gym.instrument.static import PROLOGUE
from tests import programs

STATIC = StaticInstrumenter()


def instrument(code: str, **kwargs) -> InstrumentedProgram:
    return StaticInstrumenter(**kwargs).instrument(textwrap.dedent(code))


def run(source: str, monkeypatch, *, name: str = "__main__", events: list | None = None) -> list:
    """Exec ``source`` the way the runner does, with a recording hook in the module's globals.

    Returns the shared event list: ``("hook", milestone)`` entries (first time only, like the
    runner), plus whatever the program appends to the ``events`` global it is given.
    """
    events = [] if events is None else events

    def hook(milestone, value=None):
        if ("hook", milestone) not in events:
            events.append(("hook", milestone))
        return value

    exec(compile(source, "program.py", "exec"), {"__name__": name, "events": events, HOOK: hook})
    return events


def hooks(events: list) -> list[str]:
    return [name for kind, name in events if kind == "hook"]


class Unhook(ast.NodeTransformer):
    """Removes the hooks again: what is left must be the original program."""

    def visit_Call(self, node):
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == HOOK and len(node.args) == 2:
            return node.args[1]
        return node

    def visit_Expr(self, node):
        value = node.value
        if (
            isinstance(value, ast.Call)
            and getattr(value.func, "id", None) == HOOK
            and len(value.args) == 1
        ):
            return None
        return self.generic_visit(node)

    def visit_Module(self, node):
        prologue = ast.dump(ast.parse(PROLOGUE).body[0])
        node.body = [s for s in node.body if ast.dump(s) != prologue]
        return self.generic_visit(node)


@contextlib.contextmanager
def no_fallback():
    """Fails when the instrumenter had to give up editing the text in place."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("mle_gym.instrument.static")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    assert not records, [r.getMessage() for r in records]


def assert_only_hooks_added(result: InstrumentedProgram) -> None:
    original = ast.parse(result.original.lstrip("\ufeff"))
    rewritten = Unhook().visit(ast.parse(result.source))
    assert ast.dump(rewritten) == ast.dump(original)


# ----------------------------------------------------------------------------- running

SKLEARN_PROGRAM = """
import os
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

INPUT = os.environ["MLE_INPUT_DIR"]
train = pd.read_csv(os.path.join(INPUT, "train.csv"))
test = pd.read_csv(os.path.join(INPUT, "test.csv"))
vec = TfidfVectorizer()
X = vec.fit_transform(train["text"])
model = LogisticRegression(max_iter=200)
model.fit(X, train["author"])
probs = model.predict_proba(vec.transform(test["text"]))
sub = pd.DataFrame(probs, columns=model.classes_)
sub.insert(0, "id", test["id"])
sub.to_csv("submission.csv", index=False)
"""


@pytest.fixture
def tiny_data(tmp_path, monkeypatch):
    data = tmp_path / "input"
    data.mkdir()
    rows = ["id,text,author"] + [
        f"{i},{'dark night raven' if i % 2 else 'sunny meadow flower'} {i},{'EAP' if i % 2 else 'MWS'}"
        for i in range(12)
    ]
    (data / "train.csv").write_text("\n".join(rows) + "\n")
    (data / "test.csv").write_text("id,text\n100,raven night\n101,meadow sun\n")
    monkeypatch.setenv("MLE_INPUT_DIR", str(data))
    monkeypatch.chdir(tmp_path)
    return data


def test_sklearn_program_reaches_every_milestone_in_order(tiny_data, monkeypatch, tmp_path):
    result = instrument(SKLEARN_PROGRAM)
    assert result.milestones == REPORTED
    assert result.original == textwrap.dedent(SKLEARN_PROGRAM)
    events = run(result.source, monkeypatch)
    assert hooks(events) == ["imports", "data_loaded", "model_defined", "model_trained",
                             "predictions_made"]
    submission = (tmp_path / "submission.csv").read_text().splitlines()
    assert submission[0] == "id,EAP,MWS" and len(submission) == 3


def test_crash_after_loading_records_imports_and_data_only(tiny_data, monkeypatch):
    result = STATIC.instrument(programs.DIES_AFTER_LOADING)
    assert result.milestones == ("imports", "data_loaded")
    events: list = []
    with pytest.raises(RuntimeError, match="boom after loading"):
        run(result.source, monkeypatch, events=events)
    assert hooks(events) == ["imports", "data_loaded"]


def test_printing_milestone_names_earns_nothing(monkeypatch, capsys):
    result = STATIC.instrument(programs.FORGER)
    assert result.milestones == ("imports",)
    assert hooks(run(result.source, monkeypatch)) == ["imports"]
    assert "model_trained" in capsys.readouterr().out


def test_fitting_a_transformer_is_not_training():
    result = instrument("""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.preprocessing import LabelEncoder, StandardScaler
        tfidf = TfidfVectorizer()
        tfidf.fit(["a b", "b c"])
        le = LabelEncoder()
        le.fit(["x", "y"])
        StandardScaler().fit([[1.0], [2.0]])
        features = tfidf.fit_transform(["a b"])
        self_check = tfidf.transform(["a"])
    """)
    assert result.milestones == ("imports",)


def test_training_calls_that_count():
    cases = {
        "cross_val_score(model, X, y, cv=3)": "model_trained",
        "make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(X, y)": (
            "model_defined",
            "model_trained",
        ),
        "lgb.train(params, dtrain)": "model_trained",
        "trainer.train()": "model_trained",
        "net.train()": None,  # PyTorch's mode switch
        "model.fit_transform(X)": None,
        "pipe.predict_proba(X)": "predictions_made",
        "clf.decision_function(X)": "predictions_made",
        "vec.transform(X)": None,
        "model(X)": None,
        "lgb.Dataset(X, y)": None,
        "RandomForestClassifier(n_estimators=10)": "model_defined",
        "GridSearchCV(est, grid)": "model_defined",
        "AutoModelForSequenceClassification.from_pretrained(path)": "model_defined",
        "AutoTokenizer.from_pretrained(path)": None,
        "torch.optim.SGD(params, lr=0.1)": None,
        "np.load('x.npy')": "data_loaded",
        "json.load(f)": None,
        "open(os.path.join(INPUT_DIR, 'train.csv'))": "data_loaded",
        "open('submission.csv', 'w')": None,
        "open(path)": None,
        "Image.open(p)": "data_loaded",
    }
    for call, expected in cases.items():
        got = STATIC.instrument(f"x = {call}\n").milestones
        extra = expected if isinstance(expected, tuple) else (expected,) if expected else ()
        assert got == tuple(extra), call  # no import in the snippet: no imports milestone


def test_cross_val_score_fires_when_it_returns(monkeypatch):
    result = instrument("""
        import numpy as np
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import cross_val_score
        X = np.array([[0.0], [1.0], [0.1], [0.9], [0.2], [0.8]])
        y = np.array([0, 1, 0, 1, 0, 1])
        scores = cross_val_score(LogisticRegression(), X, y, cv=2)
        events.append(("scores", len(scores)))
    """)
    assert hooks(run(result.source, monkeypatch)) == ["imports", "model_defined", "model_trained"]


def test_calls_in_lambdas_comprehensions_and_returns_fire_after_they_complete(monkeypatch):
    result = instrument("""
        class Clf:
            def fit(self, X, y):
                events.append(("ran", "fit"))
                return self

            def predict(self, X):
                events.append(("ran", "predict"))
                return [len(X)]

        def learn(model):
            return model.fit([1], [1])

        model = learn(Clf())
        preds = [model.predict(x) for x in ([1], [1, 2])]
        again = (lambda: model.predict([3]))()
        events.append(("preds", preds))
    """)
    events = run(result.source, monkeypatch)
    assert events == [
        ("ran", "fit"), ("hook", "model_trained"),
        ("ran", "predict"), ("hook", "predictions_made"),
        ("ran", "predict"), ("ran", "predict"),
        ("preds", [[1], [2]]),
    ]  # fmt: skip


def test_chained_and_awaited_calls_fire_in_order(monkeypatch):
    result = instrument("""
        import asyncio

        class Model:
            def fit(self, X):
                events.append(("ran", "fit"))
                return self

            def predict(self, X):
                events.append(("ran", "predict"))
                return X

        class Trainer:
            async def train(self):
                await asyncio.sleep(0)
                events.append(("ran", "async train"))

        async def main():
            await Trainer().train()

        Model().fit(1).predict(2)
        asyncio.run(main())
    """)
    events = run(result.source, monkeypatch)
    assert events == [
        ("hook", "imports"),
        ("hook", "model_defined"),
        ("ran", "fit"), ("hook", "model_trained"),
        ("ran", "predict"), ("hook", "predictions_made"),
        ("ran", "async train"),
    ]  # fmt: skip


def test_training_loop_fires_after_the_outermost_loop(monkeypatch):
    result = instrument("""
        class Loss:
            def backward(self):
                events.append(("ran", "backward"))

        class Net:
            def train(self, mode=True):
                events.append(("ran", "train mode"))

        net = Net()

        def fit_epochs(n):
            for epoch in range(n):
                net.train()
                for batch in range(2):
                    Loss().backward()
            events.append(("ran", "after loop"))

        fit_epochs(2)
    """)
    events = run(result.source, monkeypatch)
    assert hooks(events) == ["model_defined", "model_trained"]  # no imports in it
    assert events.index(("hook", "model_trained")) == events.index(("ran", "after loop")) - 1
    assert events.count(("ran", "backward")) == 4


def test_uncalled_functions_report_nothing_and_main_guard_runs(monkeypatch):
    code = """
        import pandas as pd

        def never_called():
            return pd.read_csv("input/train.csv")

        def main():
            events.append(("ran", "main"))

        if __name__ == "__main__":
            main()
    """
    result = instrument(code)
    assert result.milestones == ("imports", "data_loaded")
    assert run(result.source, monkeypatch) == [("hook", "imports"), ("ran", "main")]
    assert run(result.source, monkeypatch, name="imported") == [("hook", "imports")]


def test_imports_hook_placement(monkeypatch):
    guarded = instrument("""
        def main():
            events.append(("ran", "main"))

        if __name__ == "__main__":
            import sys
            main()
    """)
    assert hooks(run(guarded.source, monkeypatch)) == ["imports"]
    assert run(guarded.source, monkeypatch)[0] == ("hook", "imports")

    optional = instrument("""
        import os
        try:
            import lightgbm_that_does_not_exist as lgb
        except ImportError:
            lgb = None
        events.append(("ran", "after imports"))
    """)
    assert run(optional.source, monkeypatch) == [("hook", "imports"), ("ran", "after imports")]

    none = instrument("""
        events.append(("ran", "body"))
    """)
    assert run(none.source, monkeypatch) == [("ran", "body")]  # imported nothing


def test_docstring_and_future_imports_stay_first(monkeypatch):
    result = instrument('''
        """The module docstring."""
        from __future__ import annotations
        import os
        def f(x: pd.read_csv(1)) -> int:  # never evaluated, so never rewritten
            return 1
        events.append(("doc", __doc__))
        events.append(("ann", f.__annotations__))
    ''')
    events = run(result.source, monkeypatch)
    assert ("doc", "The module docstring.") in events
    assert ("ann", {"x": "pd.read_csv(1)", "return": "int"}) in events


def test_runs_without_the_builtin(tmp_path):
    result = instrument("""
        import sys
        class Model:
            def fit(self, X):
                return self
            def predict(self, X):
                return [x * 2 for x in X]
        print(Model().fit([1]).predict([1, 2]))
    """)
    assert HOOK in result.source
    path = tmp_path / "program.py"
    path.write_text(result.source)
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[2, 4]\n"


def test_line_numbers_and_comments_are_kept(tmp_path):
    code = textwrap.dedent("""
        # a comment at the top
        import os  # why os


        def load():
            import pandas as pd
            return pd.read_csv(os.path.join("input", "train.csv"))  # explained


        def main():
            data = load()
            raise ValueError("the error")


        main()
    """)
    result = STATIC.instrument(code)
    assert len(result.source.splitlines()) == len(code.splitlines())
    assert "# explained" in result.source and "# a comment at the top" in result.source
    for before, after in zip(code.splitlines(), result.source.splitlines(), strict=True):
        if "raise" in before:
            assert after == before
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "train.csv").write_text("a\n1\n")
    path = tmp_path / "program.py"
    path.write_text(result.source)
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    line = code.splitlines().index('    raise ValueError("the error")') + 1
    assert f"line {line}, in main" in done.stderr
    assert "ValueError: the error" in done.stderr


def test_awkward_text_is_handled(monkeypatch):
    # CRLF endings, a BOM, tabs, non-ASCII names on a wrapped line, a call in an f-string.
    code = "\ufeffimport os\r\nclass M:\r\n\tdef predict(self, x):\r\n\t\treturn x\r\n" \
        "données = [M().predict('é') for _ in 'ab']; z = f\"{M().predict(1)}\"\r\n" \
        "events.append(('out', données, z))\r\n"
    result = STATIC.instrument(code)
    assert_only_hooks_added(result)
    events = run(result.source, monkeypatch)
    assert events == [("hook", "imports"), ("hook", "predictions_made"), ("out", ["é", "é"], "1")]


# ----------------------------------------------------------------------------- rejected


@pytest.mark.parametrize(
    "code",
    [
        f'{HOOK}("model_trained")\n',
        f"def {HOOK}(name, value=None):\n    return value\n",
        f"{HOOK} = print\n",
        f"import builtins\nbuiltins.{HOOK}('x')\n",
        f"import builtins\ngetattr(builtins, '{HOOK}')('x')\n",
        f"# {HOOK}\nprint(1)\n",
        "__ｍle_milestone__('imports')\n",  # a fullwidth m: the same identifier to Python
    ],
)
def test_programs_that_touch_the_hook_are_rejected(code):
    with pytest.raises(InstrumentationError, match="reserved name"):
        STATIC.instrument(code)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (programs.SYNTAX_ERROR, "line 2"),
        ("x = 1\ny = 2\nz = '\x00'\n", "null byte (line 3)"),
        ("", "empty program"),
        ("   \n\t\n", "empty program"),
        ("# only a comment\n", "empty program"),
        ("x = " + "(" * 500 + ")" * 500, "line 1"),
        ("x = " + "-" * 100_000 + "1", "nested too deeply"),
        ("x = " + "1 + " * 20_000 + "1", "nested too deeply"),
        ("def f():\n    pass\nreturn 3\n", "line 3"),
        ("if True:\nprint(1)\n", "IndentationError at line 2"),
        ("x = '\ud800'\n", "Unicode"),
    ],
)
def test_unusable_programs_raise_instrumentation_error(code, message):
    with pytest.raises(InstrumentationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        STATIC.instrument(code)


def test_instrumentation_error_is_a_value_error():
    assert issubclass(InstrumentationError, ValueError)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_arbitrary_text_only_raises_instrumentation_error(text):
    try:
        result = STATIC.instrument(text)
    except InstrumentationError as exc:
        assert str(exc)
        return
    ast.parse(result.source)


SNIPPETS = [
    "import os",
    "import pandas as pd",
    "try:\n    import lightgbm as lgb\nexcept ImportError:\n    lgb = None",
    "df = pd.read_csv('input/train.csv')",
    "model = LogisticRegression(C=1.0)",
    "model.fit(X, y)",
    "p = model.predict_proba(X)",
    "def f(a, b=pd.read_csv('x.csv')):\n    return model.fit(a, b)",
    "for epoch in range(3):\n    for b in loader:\n        loss.backward()",
    "while True:\n    loss.backward()\n    break",
    "if __name__ == '__main__':\n    import sys\n    f(1)",
    "class Net(nn.Module):\n    def forward(self, x):\n        return x",
    "x = [m.predict(v) for v in data]  # comment",
    "y = lambda: cross_val_score(m, X, y)",
    "with open('input/a.json') as fh:\n    text = fh.read()",
    "print(f\"{model.predict(X)} {'a'}\")",
    "# just a comment",
    "",
    "async def g():\n    return await trainer.train(data)",
    "@decorator(Model())\ndef h():\n    pass",
    "match cmd:\n    case 1:\n        model.fit(X)\n    case _:\n        pass",
    "z = (model\n     .fit(X, y)\n     .predict(X))",
    "s = 'a'; t = model.predict(X); u = 3",
    "if x:\n    import numpy as np\nelse:\n    np = None",
    "x = 1 \\\n    + model.predict(2)",
    "\"\"\"A docstring.\"\"\"",
    "from __future__ import annotations",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(SNIPPETS), min_size=1, max_size=12))
def test_any_parsable_program_instruments_to_the_same_program_plus_hooks(snippets):
    code = "\n".join(snippets) + "\n"
    try:
        compile(code, "<p>", "exec", dont_inherit=True)
    except SyntaxError:
        with pytest.raises(InstrumentationError):
            StaticInstrumenter(check=True).instrument(code)
        return
    if not ast.parse(code).body:
        with pytest.raises(InstrumentationError, match="empty program"):
            STATIC.instrument(code)
        return
    for check in (True, False):
        with no_fallback():
            result = StaticInstrumenter(check=check).instrument(code)
        assert HOOK in result.source  # hooks, not the hook-less last resort
        compile(result.source, "<p>", "exec", dont_inherit=True)
        assert_only_hooks_added(result)


def _stdlib_sample() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    names = ["argparse", "ast", "json/decoder", "pickle", "tarfile", "zipfile", "asyncio/tasks",
             "dataclasses", "logging/__init__", "pathlib", "shutil", "tokenize", "typing",
             "unittest/case", "email/message", "http/client", "csv", "configparser"]
    return [p for p in (root / f"{n}.py" for n in names) if p.exists()]


@pytest.mark.parametrize("path", _stdlib_sample(), ids=lambda p: p.stem)
def test_real_modules_are_rewritten_exactly(path):
    code = path.read_text(encoding="utf-8")
    if HOOK in code:
        pytest.skip("mentions the hook")
    with no_fallback():
        result = StaticInstrumenter(check=True).instrument(code)
    assert result.milestones[0] == "imports"
    assert_only_hooks_added(result)
    # Nothing renumbered: the n-th line is the same line, hooks aside.
    assert len(result.source.splitlines()) <= len(code.splitlines()) + 2


# ----------------------------------------------------------------------------- fallback


def test_an_edit_that_comes_out_wrong_is_regenerated_from_the_tree(monkeypatch, caplog):
    """Should the in-place edit ever change the program, the check catches it and the plan is
    applied to the tree instead (printed by ast.unparse): still the program plus hooks."""
    import mle_gym.instrument.static as static

    monkeypatch.setattr(static, "splice", lambda text, tree, plan: text + "\ninjected_by_a_bug = 1\n")
    with caplog.at_level(logging.ERROR, logger="mle_gym.instrument.static"):
        result = STATIC.instrument(SKLEARN_PROGRAM)
    assert "regenerating" in caplog.text
    assert result.milestones == REPORTED
    assert_only_hooks_added(result)
    assert "injected_by_a_bug" not in result.source


def test_when_both_rewrites_fail_the_program_runs_unchanged(monkeypatch, caplog):
    import mle_gym.instrument.static as static

    def broken(*args):
        raise RuntimeError("a bug in the rewrite")

    monkeypatch.setattr(static, "splice", broken)
    monkeypatch.setattr(static, "regenerate", broken)
    with caplog.at_level(logging.ERROR, logger="mle_gym.instrument.static"):
        result = STATIC.instrument(SKLEARN_PROGRAM)
    assert (result.source, result.milestones) == (SKLEARN_PROGRAM, ())
    assert "regenerating the program failed" in caplog.text


def test_the_check_tells_hooks_from_other_changes():
    from mle_gym.instrument.check import same_program, strip_hooks, tree_dump

    original = tree_dump(ast.parse(SKLEARN_PROGRAM))
    source = STATIC.instrument(SKLEARN_PROGRAM).source
    assert same_program(source, original) is True
    assert same_program(source.replace("LogisticRegression(", "LogisticRegression(C=2, "),
                        original) is False
    assert same_program(source + "\n(", original) is False  # does not parse
    _, names = strip_hooks(ast.parse(source))
    assert sorted(set(names)) == sorted(REPORTED)


def test_instrument_modules_use_no_private_names_of_their_siblings():
    """Each module of the package uses what its siblings export, not their internals."""
    import mle_gym.instrument as package

    folder = Path(package.__file__).parent
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mle_gym"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from {node.module}"


# ----------------------------------------------------------------------------- speed


def test_two_thousand_lines_instrument_quickly():
    block = textwrap.dedent('''
        def step_{i}(train, test, y):
            """Fit one model and predict."""
            vec = TfidfVectorizer(ngram_range=(1, 2), min_df=2)  # features
            X = vec.fit_transform(train["text"])
            model = LogisticRegression(C=4.0, max_iter=1000)
            scores = cross_val_score(model, X, y, cv=5)
            print(f"fold scores {{scores.mean():.4f}}")
            model.fit(X, y)
            out = pd.DataFrame(model.predict_proba(vec.transform(test["text"])))
            for k in range(3):
                out[k] = [x * 2 for x in out[k]]
            return out
    ''')
    code = "import pandas as pd\n" + "".join(block.format(i=i) for i in range(154))
    assert code.count("\n") >= 2000
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        result = STATIC.instrument(code)
        best = min(best, time.perf_counter() - start)
    assert result.milestones == ("imports", "model_defined", "model_trained", "predictions_made")
    # About 0.1 s on a slow two-core machine; the bound leaves room for loaded CI runners.
    assert best < 1.0, f"{best:.3f} s"


# ----------------------------------------------------------------------------- markdown


def test_extract_code_takes_the_longest_python_block():
    text = textwrap.dedent("""
        Plan: load the data, fit a model.

        ```bash
        pip install something-long-enough-to-be-the-longest-block-of-all-of-them
        ```

        ```python
        print("short")
        ```

        ```py
        import pandas as pd
        print("the program")
        ```
    """)
    assert extract_code(text) == 'import pandas as pd\nprint("the program")\n'


def test_extract_code_fences_and_plain_code():
    assert extract_code("Plan.\n~~~python\nx = 1\n~~~\n") == "x = 1\n"
    assert extract_code("Here:\n```\nx = 2\n```") == "x = 2\n"
    assert extract_code("Here:\n```python\nx = 3\nprint(x)\n") == "x = 3\nprint(x)\n"
    assert extract_code("1. step\n   ```python\n   x = 4\n   ```\n") == "x = 4\n"
    assert extract_code("````python\nprint('```')\n````\n") == "print('```')\n"
    plain = "import os\nprint(os.getcwd())\n"
    assert extract_code(plain) == plain
    # A program whose string contains a fence is already Python and stays whole.
    program = 'PROMPT = """\n```python\nx = 1\n```\n"""\nprint(PROMPT)\n'
    assert extract_code(program) == program
    assert extract_code("Only prose, no code.") == "Only prose, no code."
    assert extract_code("```bash\nls\n```\n") == "```bash\nls\n```\n"


# ----------------------------------------------------------------------------- API


def test_get_instrumenter():
    assert isinstance(get_instrumenter(None), StaticInstrumenter)
    assert get_instrumenter("static").name == "static"
    with pytest.raises(ValueError, match="static"):
        get_instrumenter("llm")

    class Custom:
        name = "custom"

        def instrument(self, code: str) -> InstrumentedProgram:
            return InstrumentedProgram(code, code, ())

    custom = Custom()
    assert get_instrumenter(custom) is custom

    class Nameless:
        def instrument(self, code: str) -> InstrumentedProgram:
            return InstrumentedProgram(code, code, ())

    wrapped = get_instrumenter(Nameless())
    assert wrapped.name == "Nameless"
    assert wrapped.instrument("x = 1").source == "x = 1"
    with pytest.raises(TypeError):
        get_instrumenter(42)  # type: ignore[arg-type]


def test_milestone_constants():
    assert MILESTONES[-1] == "submission_written"
    assert MILESTONES[:-1] == REPORTED
    assert set(DESCRIPTIONS) == set(MILESTONES)
    result = STATIC.instrument(SKLEARN_PROGRAM)
    assert "submission_written" not in result.milestones
    with pytest.raises(AttributeError):
        result.source = "x"  # type: ignore[misc]



def test_instrumenting_from_many_threads_at_once_is_safe():
    """CPython 3.11's ast is not thread-safe (python/cpython#106905): a garbage collection
    that switches threads in the middle of a tree conversion breaks it. The pool's workers
    instrument programs concurrently, so instrumentation serialises its tree work. The
    frequent thread switches and cyclic garbage with finalizers make the race likely."""
    import gc
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from mle_gym.spec import load_task

    programs = [p.read_text() for p in (load_task("spooky-author").folder / "solutions").glob("*.py")]
    instrumenter = StaticInstrumenter()
    expected = [instrumenter.instrument(p).source for p in programs]

    class Finalised:
        def __del__(self) -> None:
            pass

    def work(i: int) -> str:
        garbage = [[Finalised()] for _ in range(50)]
        for cycle in garbage:
            cycle.append(cycle)
        del garbage
        return instrumenter.instrument(programs[i % len(programs)]).source

    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    sys.setswitchinterval(1e-6)
    gc.set_threshold(10, 1, 1)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(work, range(600)))
    finally:
        sys.setswitchinterval(interval)
        gc.set_threshold(*thresholds)
    assert results == [expected[i % len(programs)] for i in range(600)]
