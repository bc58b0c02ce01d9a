"""neonize's import runs ``os.popen("uname -a")`` and never closes it. The unreaped child
keeps the pipe alive in ``subprocess._active`` until the next subprocess starts, when it is
collected with a ResourceWarning (an error under our warning filters). Import neonize once
here, then reap that child and collect the pipe with that one warning ignored."""

from __future__ import annotations

import gc
import subprocess
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", ResourceWarning)
    import neonize  # noqa: F401

    gc.collect()  # the dropped Popen parks its unreaped child in subprocess._active
    for child in list(getattr(subprocess, "_active", None) or []):  # private: no public API
        child.wait()
    subprocess._cleanup()  # type: ignore[attr-defined]  # private, see above
    gc.collect()
