"""Programs copied into the sandbox and run there: standard library only, each self-contained
(the warm supervisor imports the step supervisor from the folder it is copied to).

``step_supervisor.py`` runs one program and reports (a cold container's PID 1, or the local
backend's child process); ``warm_supervisor.py`` is a warm container's resident PID 1.
"""

from pathlib import Path

STEP_SUPERVISOR = Path(__file__).with_name("step_supervisor.py")
WARM_SUPERVISOR = Path(__file__).with_name("warm_supervisor.py")
