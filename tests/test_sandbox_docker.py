"""The Docker sandbox holds: limits, isolation, cleanup. Real containers, hostile programs."""

from __future__ import annotations

import os
import time

import gymnasium as gym
import pytest

from mle_gym.sandbox import RunRequest
from mle_gym.sandbox.docker_backend import SESSION_LABEL
from tests import programs

pytestmark = pytest.mark.docker


def run(sandbox, data, code: str, **limits):
    request = RunRequest(program=code, public_dir=data.public, **limits)
    with sandbox.run(request) as result:
        return result, (result.submission.read_text() if result.submission else None)


def step_containers(client, sandbox=None) -> list:
    """This run's step containers, but for those ``sandbox`` started ahead for its next step
    (no program ran in them), once the used ones are removed."""
    session = os.environ["MLE_GYM_SESSION"]  # set by conftest for this run
    waiting = set()
    if sandbox is not None:
        sandbox.settle()
        waiting = {c.id for c in sandbox.waiting()}
    found = client.containers.list(all=True, ignore_removed=True, filters={"label": f"{SESSION_LABEL}={session}"})
    return [c for c in found if c.id not in waiting]


def test_infinite_loop_times_out_and_leaves_nothing(docker_sandbox, docker_client, spooky_data):
    started = time.monotonic()
    result, _ = run(docker_sandbox, spooky_data, programs.INFINITE_LOOP, time_limit=3)
    elapsed = time.monotonic() - started
    assert result.timed_out
    assert 3.0 <= result.duration < 5.0
    assert elapsed < 3 + 2 + 3  # limit + 2 s, plus container start and removal
    assert step_containers(docker_client, docker_sandbox) == []


def test_memory_hog_is_reported_as_oom(docker_sandbox, spooky_data):
    result, _ = run(docker_sandbox, spooky_data, programs.MEMORY_HOG, memory_limit="256m", time_limit=60)
    assert result.oom, (result.exit_code, result.stderr[-500:])
    assert not result.timed_out


def test_network_is_unreachable(docker_sandbox, spooky_data):
    result, _ = run(docker_sandbox, spooky_data, programs.NETWORK, time_limit=20)
    assert "NETWORK-REACHED" not in result.stdout
    assert "network error" in result.stdout


def test_answers_and_host_files_are_out_of_reach(docker_sandbox, spooky_data):
    probe = f"CANDIDATES = {[str(spooky_data.answers_path), str(spooky_data.split_path)]!r}\n"
    result, _ = run(docker_sandbox, spooky_data, probe + programs.PROBE_SECRETS, time_limit=60)
    out = result.stdout
    assert "FOUND: []" in out, out
    assert "READ:" not in out
    assert "UID: 0" not in out and "UID:" in out
    assert "INPUT-READONLY" in out


def test_files_do_not_survive_between_steps(docker_sandbox, spooky_data):
    writer = "open('working/left.txt', 'w').write('x'); open('/tmp/left.txt', 'w').write('x')"
    reader = (
        "import os\n"
        "print('SEEN' if os.path.exists('working/left.txt') or os.path.exists('/tmp/left.txt')"
        " else 'CLEAN')"
    )
    run(docker_sandbox, spooky_data, writer, time_limit=20)
    result, _ = run(docker_sandbox, spooky_data, reader, time_limit=20)
    assert "CLEAN" in result.stdout


def test_submission_symlink_to_answers_is_refused(docker_sandbox, spooky_data):
    code = (
        "import os\n"
        "os.symlink('/etc/passwd', os.environ['MLE_SUBMISSION_PATH'])\n"
    )
    result, text = run(docker_sandbox, spooky_data, code, time_limit=20)
    assert text is None
    assert "regular file" in result.submission_problem


def test_huge_output_is_capped(docker_sandbox, spooky_data):
    code = "import sys\nfor i in range(200000):\n    print('line', i, 'x' * 80)\nprint('THE END')"
    result, _ = run(docker_sandbox, spooky_data, code, time_limit=60)
    assert len(result.stdout) < 40_000
    assert result.stdout.rstrip().endswith("THE END")
    assert "bytes not kept" in result.stdout


def test_fork_bomb_is_contained(docker_sandbox, docker_client, spooky_data):
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    result, _ = run(docker_sandbox, spooky_data, code, time_limit=5)
    assert result.timed_out
    assert step_containers(docker_client, docker_sandbox) == []


def test_keyboard_interrupt_removes_the_container(docker_sandbox, docker_client, spooky_data):
    import signal
    import threading

    # Deliver Ctrl-C to this process while the step waits on the container.
    # To the main thread itself: raise_signal() from the timer's thread would only be seen
    # when the main thread's wait ended (the program's whole 30 s).
    main = threading.main_thread().ident
    timer = threading.Timer(2.0, lambda: signal.pthread_kill(main, signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        run(docker_sandbox, spooky_data, programs.INFINITE_LOOP, time_limit=30)
    timer.cancel()
    docker_sandbox.settle()
    assert docker_sandbox.waiting() == []  # Ctrl-C also removes the one started ahead
    assert step_containers(docker_client) == []


def test_env_reports_timeout_and_oom(docker_sandbox):
    env = gym.make("mle/spooky-author-v0", sandbox=docker_sandbox, time_limit=2, memory_limit="256m")
    env.reset(seed=0)
    _, reward, _, _, info = env.step(programs.INFINITE_LOOP)
    assert info["timed_out"] and "time limit" in info["invalid_reason"]
    env.unwrapped.time_limit = 60
    _, _, _, _, info = env.step(programs.MEMORY_HOG)
    assert info["oom"] and "out of memory" in info["invalid_reason"]
    env.close()


def test_the_runner_cannot_be_read_or_written_through_proc(docker_sandbox, spooky_data):
    """The runner holds the report token; a same-uid program must not read its memory or
    write to its stdout (where the trusted report goes)."""
    code = """
import os
for path, mode in (("/proc/1/mem", "rb"), ("/proc/1/environ", "rb"), ("/proc/1/fd/1", "wb")):
    try:
        with open(path, mode) as handle:
            handle.read(1) if "r" in mode else handle.write(b"forged\\n")
        print("OPEN:", path)
    except OSError as exc:
        print("DENIED:", path, type(exc).__name__)
"""
    result, _ = run(docker_sandbox, spooky_data, code, time_limit=30)
    assert "OPEN:" not in result.stdout, result.stdout
    assert result.stdout.count("DENIED:") == 3
    assert result.sandbox_error is None


HOSTNAME = "import os, socket\nopen(os.environ['MLE_SUBMISSION_PATH'], 'w').write(socket.gethostname())\n"


def test_the_next_container_is_started_ahead_and_never_reused(docker_client, docker_sandbox,
                                                              spooky_data, monkeypatch):
    from mle_gym.sandbox import prestart
    from mle_gym.sandbox.docker_backend import DockerSandbox

    sandbox = DockerSandbox(client=docker_client, prestart=1)  # a pool of two: test_prestart
    try:
        seen = []
        for _ in range(3):
            ahead = sandbox.waiting()
            result, host = run(sandbox, spooky_data, HOSTNAME)
            assert result.exit_code == 0 and host
            seen.append(host)
            if ahead:  # the step ran in the container that waited for it
                assert ahead[0].id.startswith(host)
        assert len(set(seen)) == 3  # a fresh container every step
        sandbox.settle()
        waiting = wait_for_waiting(sandbox)
        assert [c.id for c in step_containers(docker_client, docker_sandbox)] == [waiting.id]
        assert waiting.id[:12] not in seen  # no program ran in it
        # A container that waits too long is removed; the next step starts its own.
        monkeypatch.setattr(prestart, "MAX_WAIT", 0.5)
        run(sandbox, spooky_data, HOSTNAME)
        deadline = time.monotonic() + 300
        while step_containers(docker_client, docker_sandbox):  # the used one, the new one
            assert time.monotonic() < deadline, "the container started ahead was not removed"
            time.sleep(0.2)
            sandbox.settle()
        assert sandbox.waiting() == []
        result, _ = run(sandbox, spooky_data, HOSTNAME)
        assert result.exit_code == 0
    finally:
        sandbox.close()
    assert step_containers(docker_client, docker_sandbox) == []


def test_a_dropped_sandbox_leaves_nothing(docker_client, docker_sandbox, spooky_data):
    import gc

    from mle_gym.sandbox.docker_backend import DockerSandbox

    sandbox = DockerSandbox(client=docker_client)
    run(sandbox, spooky_data, HOSTNAME)
    wait_for_waiting(sandbox)
    del sandbox
    gc.collect()  # its finalizer removes the container started ahead
    assert step_containers(docker_client, docker_sandbox) == []


def wait_for_waiting(sandbox):
    deadline = time.monotonic() + 300  # a loaded machine starts containers slowly
    while not sandbox.waiting():
        assert time.monotonic() < deadline, "no container was started ahead"
        time.sleep(0.1)
    return sandbox.waiting()[0]
