"""The image build leaves no file open: the first `make demo` printed an "unclosed file"
ResourceWarning (the demo shows every warning raised while the sandbox is made, and the
bootstrap build's output pipe was left to the garbage collector)."""

from __future__ import annotations

import gc
import os
import shutil
import warnings
from pathlib import Path

import pytest

from mle_gym.sandbox import image


def resource_warnings(action):  # noqa: ANN001, ANN201 - a test helper
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = action()
        gc.collect()  # an unclosed pipe warns when it is collected
    return result, [w for w in caught if issubclass(w.category, ResourceWarning)]


def test_streamed_command_closes_its_pipe_and_keeps_the_last_lines():
    lines: list[str] = []
    (code, tail), leaks = resource_warnings(
        lambda: image.stream_command(["bash", "-c", "echo one; echo two >&2; exit 3"],
                                     lines.append)
    )
    assert leaks == [], [str(w.message) for w in leaks]
    assert code == 3 and tail == ["one", "two"] and lines == ["one", "two"]


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() != 0 or shutil.which("debootstrap") is None
    or shutil.which("docker") is None,
    reason="build_base_bootstrap needs root, debootstrap and the docker CLI",
)
def test_bootstrap_build_leaves_no_unclosed_file(tmp_path, monkeypatch):
    # A stand-in for bootstrap.sh (which takes minutes and a Debian mirror): the same
    # command line, output and exit; what is under test is how its output is read.
    script = tmp_path / "bootstrap.sh"
    script.write_text('echo "making $1"\necho "done"\n')
    monkeypatch.setattr(image, "BOOTSTRAP_SCRIPT", Path(script))
    lines: list[str] = []
    tag, leaks = resource_warnings(lambda: image.build_base_bootstrap("h5-test:none", lines.append))
    assert leaks == [], [str(w.message) for w in leaks]
    assert tag == "h5-test:none" and "making h5-test:none" in lines
