"""Tests of the whatsmeow transport.

neonize's import runs ``os.popen("uname -a")`` and never closes the pipe; when the pipe is
collected, Python warns (an error under our warning filters). Every module of this package
imports neonize after this one, so it is imported once here, and those pipes closed and
reaped."""

from __future__ import annotations

import gc
import subprocess
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", ResourceWarning)
    import neonize  # noqa: F401

    for leftover in gc.get_objects():
        if isinstance(leftover, subprocess.Popen) and leftover.args == "uname -a":
            if leftover.stdout is not None:
                leftover.stdout.close()
            leftover.wait()
    gc.collect()
