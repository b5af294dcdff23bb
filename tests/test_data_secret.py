"""Lite answers cannot be rebuilt: the generator's seed is salted with a per-cache secret.

The attack from issue 11: the program carries a copy of the task's own lite generator (the
container has no tasks/ folder, so the source is embedded in the program's text), reruns it
with the public default seed 0, and submits the answers it rebuilt.
"""

from __future__ import annotations

import filecmp
import os
import stat
import subprocess
import sys

import gymnasium as gym
import pandas as pd
import pytest

from mle_gym.data import SECRET_ENV, SECRET_FILE, cache_root, prepare, prepare_lite
from mle_gym.grading import Grader
from mle_gym.spec import load_task

SPOOKY = load_task("spooky-author")


def rebuild_attack(slug: str = "spooky-author", seed: int = 0) -> str:
    """A program that regenerates the lite data with the task's own code and submits the answers."""
    spec = load_task(slug)
    source = (spec.folder / "lite.py").read_text()
    id_column = spec.id_column
    return f'''
import os, sys, tempfile, types
import pandas as pd
GENERATOR = {source!r}
module = types.ModuleType("stolen_lite")
sys.modules["stolen_lite"] = module  # dataclasses look their module up while being defined
exec(compile(GENERATOR, "stolen_lite.py", "exec"), module.__dict__)
out = tempfile.mkdtemp()
module.generate(out, seed={seed})
answers = pd.read_csv(os.path.join(out, "private", "answers.csv"))
# Keep the submission valid whatever ids were rebuilt: the real test ids, row by row.
test = pd.read_csv(os.path.join(os.environ["MLE_INPUT_DIR"], "test.csv"))
answers[{id_column!r}] = test[{id_column!r}].to_numpy()
answers.to_csv(os.environ["MLE_SUBMISSION_PATH"], index=False)
'''


def run_attack_locally(tmp_path, data, slug: str = "spooky-author") -> pd.DataFrame:
    """The attack's own code, run as a plain subprocess (no sandbox): its submission."""
    submission = tmp_path / "submission.csv"
    program = tmp_path / "attack.py"
    program.write_text(rebuild_attack(slug))
    env = {"PATH": os.environ.get("PATH", ""), "MLE_SUBMISSION_PATH": str(submission),
           "MLE_INPUT_DIR": str(data.public)}
    subprocess.run([sys.executable, str(program)], env=env, check=True, timeout=600)
    return pd.read_csv(submission)


def test_rebuilt_answers_score_like_chance_on_the_real_data(tmp_path, spooky_data):
    """Without the salt this submission is the answers file itself (log loss ~1e-15)."""
    submission = run_attack_locally(tmp_path, spooky_data)
    grade = Grader(spooky_data).grade(submission)
    # A one-hot guess of the author is right about half the time: a log loss far above the
    # sample submission's (1.09), nowhere near a perfect 0.
    assert grade.score > 1.0, grade
    assert spooky_data.answers_path.read_bytes() != (tmp_path / "submission.csv").read_bytes()


@pytest.mark.docker
def test_rebuild_attack_through_the_env_earns_no_perfect_score(docker_sandbox):
    env = gym.make(SPOOKY.env_id, sandbox="docker", time_limit=300)
    env.reset(seed=0)
    _, _, _, _, info = env.step(rebuild_attack())
    env.close()
    assert info["valid_submission"], info["invalid_reason"]
    assert info["score"] > 1.0, info  # chance-level log loss, never ~1e-15


def test_same_secret_same_data_other_secret_other_data(tmp_path, monkeypatch):
    """Seeds stay reproducible for whoever holds the secret, and only for them."""
    monkeypatch.setenv(SECRET_ENV, "a shared secret for two machines")
    a = prepare_lite(SPOOKY, seed=0, root=tmp_path / "a")
    b = prepare_lite(SPOOKY, seed=0, root=tmp_path / "b")
    monkeypatch.setenv(SECRET_ENV, "another secret, another data set")
    c = prepare_lite(SPOOKY, seed=0, root=tmp_path / "c")
    for name in ("public/train.csv", "public/test.csv", "private/answers.csv", "private/split.csv"):
        assert filecmp.cmp(a.root / name, b.root / name, shallow=False), name
        assert not filecmp.cmp(a.root / name, c.root / name, shallow=False), name


def test_the_cache_folder_changes_with_the_secret(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "first secret of sixteen+ chars")
    first = prepare("spooky-author", "lite", seed=0).root
    monkeypatch.setenv(SECRET_ENV, "second secret of sixteen+ chars")
    second = prepare("spooky-author", "lite", seed=0).root
    assert first != second and first.parent == second.parent
    assert "sixteen" not in first.name and "secret" not in first.name


def test_a_short_secret_is_refused(monkeypatch):
    from mle_gym.data import DataNotAvailable

    monkeypatch.setenv(SECRET_ENV, "0")
    with pytest.raises(DataNotAvailable, match=SECRET_ENV):
        prepare("spooky-author", "lite", seed=0)


def test_the_secret_file_is_private_and_stable(monkeypatch, tmp_path):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    monkeypatch.setenv("MLE_GYM_CACHE", str(tmp_path / "cache"))
    first = prepare("spooky-author", "lite", seed=0)
    secret = cache_root() / SECRET_FILE
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    text = secret.read_text().strip()
    assert len(text) == 64
    assert prepare("spooky-author", "lite", seed=0).root == first.root  # read back, not remade
    # Nothing the program sees holds the secret: not the public files, not the folder names.
    for path in first.public.rglob("*"):
        assert text.encode() not in path.read_bytes(), path
    assert text not in str(first.public.resolve())
    # The marker (outside public/) has no secret and no seed derived from it either.
    marker = (first.root / ".mle-gym").read_text()
    assert text not in marker and "derived" not in marker
    # Sharing the file's text through the environment reproduces the same folder.
    monkeypatch.setenv("MLE_GYM_CACHE", str(tmp_path / "other-cache"))
    monkeypatch.setenv(SECRET_ENV, text)
    shared = prepare("spooky-author", "lite", seed=0)
    assert shared.root.name == first.root.name
    assert filecmp.cmp(shared.answers_path, first.answers_path, shallow=False)


def test_the_program_environment_has_no_secret(monkeypatch):
    from mle_gym.sandbox.base import RunRequest
    from mle_gym.sandbox.docker_backend import program_environment

    monkeypatch.setenv(SECRET_ENV, "a secret that must stay on the host")
    request = RunRequest(program="", public_dir=SPOOKY.folder, submission_file="submission.csv",
                         time_limit=1, memory_limit="1g", cpus=1)
    assert SECRET_ENV not in program_environment(request)
    assert not any("stay on the host" in v for v in program_environment(request).values())


HASH_GUESS = """
import os, zlib
import pandas as pd
test = pd.read_csv(os.path.join(os.environ["MLE_INPUT_DIR"], "test.csv"))
guess = test["text"].map(lambda t: zlib.crc32(t.encode()) % 3)
sub = pd.DataFrame({"id": test["id"]})
for k, author in enumerate(["EAP", "HPL", "MWS"]):
    sub[author] = (guess == k) * 0.8 + 0.1
sub.to_csv(os.environ["MLE_SUBMISSION_PATH"], index=False)
"""


def hash_guess(data) -> pd.DataFrame:
    """HASH_GUESS's submission, computed here: its score tells which data set it was run on."""
    import zlib

    test = pd.read_csv(data.public / "test.csv")
    guess = test["text"].map(lambda t: zlib.crc32(t.encode()) % 3)
    sub = pd.DataFrame({"id": test["id"]})
    for k, author in enumerate(["EAP", "HPL", "MWS"]):
        sub[author] = (guess == k) * 0.8 + 0.1
    return sub


def test_ray_actors_get_the_drivers_secret_in_their_environment():
    from mle_gym.data import data_secret
    from mle_gym.pool.ray_backend import with_data_secret

    merged = with_data_secret({"env_vars": {"OTHER": "1"}, "pip": ["x"]})
    assert merged == {"env_vars": {"OTHER": "1", SECRET_ENV: data_secret().decode()}, "pip": ["x"]}
    assert with_data_secret(None) == {"env_vars": {SECRET_ENV: data_secret().decode()}}


@pytest.mark.slow
def test_a_ray_worker_with_its_own_cache_grades_on_the_drivers_data(tmp_path, spooky_data):
    """An actor whose cache is elsewhere (another node) must still build the driver's data."""
    pytest.importorskip("ray")
    from mle_gym.pool import RolloutPool, StepJob

    own_cache = {"runtime_env": {"env_vars": {"MLE_GYM_CACHE": str(tmp_path / "node-cache")}}}
    with RolloutPool(backend="ray", workers=1, sandbox="local", actor_options=own_cache) as pool:
        handle = pool.submit(StepJob(task="spooky-author", program=HASH_GUESS,
                                     options={"data": "lite", "time_limit": 300}))
        result = handle.result(timeout=600)
    assert result.error is None and result.info["valid_submission"], result
    expected = Grader(spooky_data).grade(hash_guess(spooky_data))
    assert result.info["score"] == pytest.approx(expected.public, abs=1e-12)
    assert (tmp_path / "node-cache" / "spooky-author").is_dir()  # it really used its own cache


LOOK_AROUND = """
import os
print(sorted(os.environ.items()))
print(open("/proc/self/mountinfo").read())
for folder, _, names in os.walk(os.environ["MLE_INPUT_DIR"]):
    for name in names:
        print(name, open(os.path.join(folder, name), "rb").read().hex()[:0])
"""


@pytest.mark.docker
def test_nothing_in_the_container_holds_the_secret(docker_sandbox, monkeypatch):
    from mle_gym.data import data_secret, lite_generator_seed

    monkeypatch.setenv(SECRET_ENV, "a secret the container must never see 12345")
    env = gym.make(SPOOKY.env_id, sandbox="docker", time_limit=300)
    env.reset(seed=0)
    _, _, _, _, info = env.step(LOOK_AROUND)
    env.close()
    seen = info["stdout_tail"] + info["stderr_tail"]
    assert "/step/input" in seen and "MLE_INPUT_DIR" in seen, seen[:2000]
    for hidden in (data_secret().decode(), str(lite_generator_seed(SPOOKY, 0)), SECRET_ENV):
        assert hidden not in seen
    public = prepare("spooky-author", "lite", seed=0).public
    for path in public.rglob("*"):
        assert data_secret() not in path.read_bytes()
        assert str(lite_generator_seed(SPOOKY, 0)).encode() not in path.read_bytes()
