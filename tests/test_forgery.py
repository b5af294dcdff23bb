"""Forged milestones, channel floods, timed-out and oversized programs earn nothing they did
not do (issue 11, escapes 3, 6, 7, 9, 12). Every attack runs through a real env step in
Docker and must get the reward an honest program with the same outcome gets."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

import mle_gym  # noqa: F401 - registers the environments
from mle_gym.grading.sentinel import no_model_reason
from mle_gym.instrument import MAX_PROGRAM_CHARS, StaticInstrumenter, extract_code
from mle_gym.instrument.milestones import HOOK, REPORTED
from mle_gym.instrument.tamper import find_tampering
from mle_gym.reward import PRESETS
from mle_gym.sandbox import runner
from tests import programs

NO_MODEL = PRESETS["default"].no_model_reward
FAILURE = PRESETS["default"].failure_reward
CREDIT = PRESETS["default"].milestone_credit
INVALID = PRESETS["default"].invalid_base

ALL_NAMES = (
    '("imports", "data_loaded", "model_defined", "model_trained", "predictions_made", '
    '"submission_written")'
)
COPY_SAMPLE = """
import os as _os, shutil as _shutil
_shutil.copy(_os.path.join(_os.environ["MLE_INPUT_DIR"], "sample_submission.csv"),
             _os.environ["MLE_SUBMISSION_PATH"])
"""

# The hook by a built name (the old builtin), else whatever callable global looks like it.
FIND_HOOK = """
import builtins
hooks = [getattr(builtins, "__mle" + "_milestone__", None)]
hooks += [v for k, v in list(globals().items()) if "mle" in k and callable(v)]
for hook in [h for h in hooks if h is not None]:
    for name in NAMES:
        hook(name)
""".replace("NAMES", ALL_NAMES)

# Raw writes of milestone names to every descriptor the program might guess.
RAW_FD = """
import os
for fd in range(3, 64):
    for name in NAMES:
        try:
            os.write(fd, (name + "\\n").encode())
        except OSError:
            pass
""".replace("NAMES", ALL_NAMES)

# Frames: the builtins and globals of the program's own frame.
FRAMES = """
import sys
frame = sys._getframe()
for scope in (frame.f_builtins, frame.f_globals):
    for key, value in list(scope.items()):
        if "mle" in key and callable(value):
            for name in NAMES:
                value(name)
""".replace("NAMES", ALL_NAMES)

# One huge line (8 MB, no newline) on every descriptor: the old runner buffered it whole.
HUGE_LINE = """
import os
for fd in range(3, 64):
    try:
        os.write(fd, b"m" * (8 * 1024 * 1024))
    except OSError:
        pass
"""

INVALID_FILE = """
import os
with open(os.environ["MLE_SUBMISSION_PATH"], "w") as f:
    f.write("id,EAP\\nnope,2\\n")
"""

# An honest (tiny) model, the sample submission, then a loop until the time limit.
TRAIN_THEN_LOOP = """
import os, shutil, time
import pandas as pd
from sklearn.linear_model import LogisticRegression
train = pd.read_csv(os.path.join(os.environ["MLE_INPUT_DIR"], "train.csv"))
model = LogisticRegression()
model.fit(train[["id"]].apply(lambda c: c.str.len()), train["author"])
shutil.copy(os.path.join(os.environ["MLE_INPUT_DIR"], "sample_submission.csv"),
            os.environ["MLE_SUBMISSION_PATH"])
while True:
    time.sleep(0.1)
"""

# A real fit, then the same probabilities for every row.
CONSTANT = """
import os
import pandas as pd
from sklearn.linear_model import LogisticRegression
inp = os.environ["MLE_INPUT_DIR"]
train = pd.read_csv(os.path.join(inp, "train.csv"))
test = pd.read_csv(os.path.join(inp, "test.csv"))
model = LogisticRegression()
model.fit(train[["id"]].apply(lambda c: c.str.len()), train["author"])
sub = pd.DataFrame({"id": test["id"], "EAP": 0.4, "HPL": 0.3, "MWS": 0.3})
sub.to_csv(os.environ["MLE_SUBMISSION_PATH"], index=False)
"""

ATTACKS: dict[str, str] = {
    "copy_sample_forge_by_name": FIND_HOOK + COPY_SAMPLE,
    "copy_sample_raw_fd": RAW_FD + COPY_SAMPLE,
    "frames_no_submission": FRAMES,
    "forge_all_invalid_file": FIND_HOOK + INVALID_FILE,
    "huge_line": HUGE_LINE,
    "train_sample_then_loop": TRAIN_THEN_LOOP,
    "constant_predictions": CONSTANT,
    "big_action": "x = 1\n" * 12_000,
}


def run_attack(name: str, sandbox: str = "docker", **make) -> tuple[float, dict]:
    env = gym.make("mle/spooky-author-v0", sandbox=sandbox, **make)
    try:
        env.reset(seed=0)
        _, reward, _, _, info = env.step(ATTACKS[name])
        return reward, info
    finally:
        env.close()


# --------------------------------------------------------------------------- Docker steps


@pytest.mark.docker
@pytest.mark.parametrize("sandbox", ["docker", "docker-warm"])
def test_forged_hook_with_the_sample_submission_is_no_model(docker_client, sandbox):
    reward, info = run_attack("copy_sample_forge_by_name", sandbox)
    # What the honest program (import, copy the sample) reaches; the forged calls count for
    # nothing, and the sample submission is "no model" whatever the milestones say.
    assert info["milestones"] == ["imports", "submission_written"]
    assert info["valid_submission"] and info["no_model_trained"]
    assert info["no_model_reason"]  # spooky's sample has the same priors on every row
    assert reward == NO_MODEL


@pytest.mark.docker
@pytest.mark.parametrize("sandbox", ["docker", "docker-warm"])
def test_raw_writes_to_the_milestone_descriptor_earn_nothing(docker_client, sandbox):
    reward, info = run_attack("copy_sample_raw_fd", sandbox)
    assert info["milestones"] == ["imports", "submission_written"]
    assert reward == NO_MODEL


@pytest.mark.docker
@pytest.mark.parametrize("sandbox", ["docker", "docker-warm"])
def test_one_huge_line_on_the_channel_is_dropped_and_the_step_ends_normally(
    docker_client, sandbox
):
    reward, info = run_attack("huge_line", sandbox)  # before: SandboxError (cold)
    assert info["milestones"] == ["imports"]
    assert info["exit_code"] == 0
    assert reward == pytest.approx(INVALID + CREDIT)


@pytest.mark.docker
def test_frame_introspection_gets_no_milestone_credit(docker_client):
    reward, info = run_attack("frames_no_submission")
    assert info["tampering"] and "_getframe" in info["tampering"]
    assert info["milestones"] == []
    assert "milestones not credited" in info["invalid_reason"]
    assert info["exit_code"] == 0  # it ran
    assert reward == FAILURE  # before: -0.4 (six forged milestones)


@pytest.mark.docker
def test_submission_written_is_the_hosts_and_counted_once(docker_client):
    reward, info = run_attack("forge_all_invalid_file")
    assert info["milestones"] == ["imports", "submission_written"]
    assert not info["valid_submission"]
    assert reward == pytest.approx(INVALID + 2 * CREDIT)  # before: -0.3 (seven milestones)


@pytest.mark.docker
def test_a_timed_out_step_is_not_graded(docker_client):
    reward, info = run_attack("train_sample_then_loop", time_limit=30)
    assert info["timed_out"]
    assert not info["valid_submission"] and info["score"] is None
    assert "not graded" in info["invalid_reason"]
    assert info["milestones"] == ["imports", "data_loaded", "model_defined", "model_trained"]
    assert reward == pytest.approx(INVALID + 4 * CREDIT)  # before: 1.01 (graded)


@pytest.mark.docker
def test_constant_predictions_are_no_model_despite_a_fit(docker_client):
    reward, info = run_attack("constant_predictions")
    assert "model_trained" in info["milestones"] and info["valid_submission"]
    assert info["no_model_trained"] and "same prediction" in info["no_model_reason"]
    assert reward == NO_MODEL  # before: 1.01


@pytest.mark.docker
def test_a_reference_solution_is_neither_no_model_nor_tampering(docker_client, solutions):
    env = gym.make("mle/spooky-author-v0", sandbox="docker")
    try:
        env.reset(seed=0)
        _, reward, _, _, info = env.step(solutions["fast"])
    finally:
        env.close()
    assert info["valid_submission"] and not info["no_model_trained"]
    assert info["tampering"] is None and info["no_model_reason"] is None
    assert info["milestones"] == [
        "imports", "data_loaded", "model_defined", "model_trained", "predictions_made",
        "submission_written",
    ]
    assert reward > 0


# --------------------------------------------------------------------------- no Docker


def test_a_program_over_the_action_bound_is_refused_before_instrumenting():
    env = gym.make("mle/spooky-author-v0", sandbox="local")
    try:
        env.reset(seed=0)
        text = ATTACKS["big_action"]
        assert len(text) > MAX_PROGRAM_CHARS
        _, reward, _, _, info = env.step(text)
        # In a markdown answer, too: extraction does not parse it either.
        _, _, _, _, fenced = env.step("Plan.\n```python\n" + text + "```\n")
    finally:
        env.close()
    assert info["exit_code"] is None and info["duration"] == 0.0
    assert "72,000 characters" in info["invalid_reason"] and "65,536" in info["invalid_reason"]
    assert reward == FAILURE
    assert "65,536" in fenced["invalid_reason"]
    assert extract_code("```python\n" + text + "```").startswith("```")


FLAGGED = {
    "sys._getframe": "import sys\nf = sys._getframe()\n",
    "f_back": "def g(frame):\n    return frame.f_back\n",
    "tb_frame": "try:\n    1/0\nexcept Exception as e:\n    e.__traceback__.tb_frame\n",
    "__code__": "def f():\n    pass\nc = f.__code__\n",
    "__closure__": "h = None\nh.__closure__\n",
    "getattr const": "getattr(print, '__glo' 'bals__')\n",
    "gc.get_referents": "import gc\ngc.get_referents(gc)\n",
    "from gc import": "from gc import get_objects\n",
    "inspect.stack": "import inspect as I\nI.stack()\n",
    "from inspect": "from inspect import currentframe\n",
    "ctypes": "import ctypes\n",
    "marshal": "from marshal import loads\n",
    "__builtins__": "b = __builtins__\n",
    "compile": "code = compile('1', 'x', 'eval')\n",
    "eval computed": "name = 'x'\neval(name)\n",
    "exec f-string": "n = 1\nexec(f'x = {n}')\n",
    "settrace": "import sys\nsys.settrace(None)\n",
    "addaudithook": "import sys\nsys.addaudithook(print)\n",
    "/proc mem": "import os\nopen(f'/proc/{os.getpid()}/mem', 'rb')\n",
    "NFKC": "import sys\nsys.\uff3fgetframe()\n",
}


@pytest.mark.parametrize("name", sorted(FLAGGED))
def test_introspection_is_flagged(name):
    assert find_tampering(FLAGGED[name]) is not None


def test_ordinary_programs_are_not_flagged():
    ordinary = """
import gc, os, sys, json, inspect
import numpy as np
x = np.stack([np.zeros(2), np.ones(2)])
gc.collect()
cfg = {k: v for k, v in globals().items() if k.isupper()}
model_name = "Ridge"
cls = getattr(__import__("sklearn.linear_model"), "linear_model")
os.write(1, b"progress\\n")
print(open("/proc/meminfo").read()[:10], open("/proc/self/status").read()[:10])
print(inspect.signature(print), eval("1 + 1"), sys.version)
"""
    assert find_tampering(ordinary) is None


def test_no_reference_solution_test_program_or_baseline_is_flagged():
    root = Path(__file__).resolve().parents[1]
    paths = [*root.glob("tasks/*/solutions/*.py"), *root.glob("baselines/**/*.py")]
    assert len(paths) >= 24
    flagged = {str(p): find_tampering(p.read_text()) for p in paths}
    flagged.update({name: find_tampering(text) for name, text in vars(programs).items()
                    if isinstance(text, str) and not name.startswith("__")})
    flagged.update({name: find_tampering(text) for name, text in ATTACKS.items()
                    if name != "frames_no_submission"})
    assert {k: v for k, v in flagged.items() if v} == {}


def _sub(path: Path, ids, rows) -> Path:
    frame = pd.DataFrame(rows, columns=["EAP", "HPL", "MWS"])
    frame.insert(0, "id", list(ids))
    frame.to_csv(path, index=False)
    return path


def test_the_sentinel_reads_the_submission(spooky_data, tmp_path):
    spec, public = spooky_data.spec, spooky_data.public
    sample = pd.read_csv(public / "sample_submission.csv")
    ids = sample["id"]
    n = len(ids)
    copied = tmp_path / "copy.csv"
    sample.iloc[::-1].to_csv(copied, index=False)
    assert no_model_reason(copied, spec, public) is not None  # spooky's sample is constant
    # A sample submission that varies by row: copying it (reordered, rounded) is no model.
    own = tmp_path / "public"
    own.mkdir()
    rng = np.random.default_rng(1)
    _sub(own / "sample_submission.csv", ids, rng.dirichlet([1, 1, 1], size=n))
    varied_sample = pd.read_csv(own / "sample_submission.csv")
    varied_sample.iloc[::-1].round(9).to_csv(copied, index=False)
    assert "sample submission" in no_model_reason(copied, spec, own)
    constant = _sub(tmp_path / "const.csv", ids, [[0.5, 0.25, 0.25]] * n)
    assert "same prediction" in no_model_reason(constant, spec, public)
    rng = np.random.default_rng(0)
    varied = rng.dirichlet([1, 1, 1], size=n)
    assert no_model_reason(_sub(tmp_path / "model.csv", ids, varied), spec, public) is None
    # One column constant is fine (a model may never predict one class).
    varied[:, 2] = 0.2
    assert no_model_reason(_sub(tmp_path / "model2.csv", ids, varied), spec, public) is None


def test_the_runner_knows_the_instrumenters_names():
    assert runner.HOOK == HOOK
    assert runner.REPORTED == REPORTED


def _channel_records(payload: bytes, secret: str) -> list:
    read_fd, write_fd = os.pipe()
    found: list = []
    thread = threading.Thread(target=runner.read_channel, args=(read_fd, secret, 0.0, found))
    thread.start()
    os.write(write_fd, payload)
    os.close(write_fd)
    thread.join(timeout=60)
    assert not thread.is_alive()
    return [name for name, _ in found]


def test_the_channel_keeps_only_bounded_records_with_the_secret():
    secret = "ab" * 16
    payload = (
        b"model_trained\n"  # no secret
        + b"0" * 32 + b" model_trained\n"  # wrong secret
        + secret.encode() + b" imports\n"
        + secret.encode() + b" " + b"x" * 5_000_000 + b"\n"  # over LINE_BYTES
        + secret.encode() + b" submission_written\n"  # never the program's to report
        + secret.encode() + b" imports\n"  # once
        + secret.encode() + b" data_loaded\n"
    )
    assert _channel_records(payload, secret) == ["imports", "data_loaded"]


def test_the_hook_records_only_at_its_call_sites(tmp_path):
    """The bootstrap, run as the runner runs it: a forged call with the hook in hand, or a
    hook call the program wrote at another place, earns nothing."""
    program = StaticInstrumenter().instrument(
        "import os\n"
        "hook = [v for k, v in list(globals().items()) if k.startswith('_mle_')][0]\n"
        "hook('model_trained'); hook('predictions_made', 1)\n"
        "print(type(hook).__name__, hook('x', 42))\n"
    ).source
    path = tmp_path / "program.py"
    path.write_text(program)
    env = dict(os.environ)
    channel = runner.Channel(env)
    child = subprocess.Popen(
        [sys.executable, "-c", runner.BOOTSTRAP, str(path)], env=env, pass_fds=channel.pass_fds,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
    )
    channel.started()
    found: list = []
    reader = threading.Thread(
        target=runner.read_channel, args=(channel.read_fd, channel.secret, 0.0, found)
    )
    reader.start()
    out, err = child.communicate(timeout=120)
    reader.join(timeout=60)
    assert child.returncode == 0, err.decode()
    assert out.decode().split() == ["function", "42"]  # it held the real hook
    assert [name for name, _ in found] == ["imports"]
