"""Small agent programs used as actions in the tests."""

DIES_AFTER_LOADING = """
import os
import pandas as pd
train = pd.read_csv(os.path.join(os.environ["MLE_INPUT_DIR"], "train.csv"))
print("rows", len(train))
raise RuntimeError("boom after loading")
"""

SYNTAX_ERROR = "import pandas as pd\ndef broken(:\n    pass\n"

INFINITE_LOOP = """
import time
while True:
    time.sleep(0.01)
"""

MEMORY_HOG = """
import numpy as np
blocks = []
while True:
    blocks.append(np.ones(32 * 1024 * 1024 // 8))  # 32 MiB at a time, touched
"""

NETWORK = """
import socket
try:
    socket.create_connection(("1.1.1.1", 53), timeout=3)
    print("NETWORK-REACHED")
except OSError as exc:
    print("network error:", type(exc).__name__, exc)
"""

FORGER = """
import sys
for name in ("imports", "data_loaded", "model_defined", "model_trained", "predictions_made",
             "submission_written"):
    print(name)
    print("MILESTONE:", name)
    sys.stderr.write(name + "\\n")
"""

PROBE_SECRETS = """
import os
found = []
for root, dirs, files in os.walk("/", onerror=lambda e: None):
    if root.startswith(("/proc", "/sys", "/dev")):
        dirs[:] = []
        continue
    for f in files:
        if f in ("answers.csv", "split.csv", "token"):
            found.append(os.path.join(root, f))
print("FOUND:", found)
for path in CANDIDATES:
    try:
        open(path).read()
        print("READ:", path)
    except OSError as exc:
        print("DENIED:", path, type(exc).__name__)
print("UID:", os.getuid())
try:
    open(os.path.join(os.environ["MLE_INPUT_DIR"], "train.csv"), "a").write("x")
    print("INPUT-WRITABLE")
except OSError as exc:
    print("INPUT-READONLY", type(exc).__name__)
"""

# A valid submission after a pause: the sample submission, copied after sleeping.
SLEEP_THEN_SUBMIT = """
import os, shutil, time
time.sleep({seconds})
shutil.copy(os.path.join(os.environ["MLE_INPUT_DIR"], "sample_submission.csv"),
            os.environ["MLE_SUBMISSION_PATH"])
"""


def sleep_then_submit(seconds: float) -> str:
    return SLEEP_THEN_SUBMIT.format(seconds=seconds)
