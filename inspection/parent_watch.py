"""Child processes that end with the process that started them.

A launcher killed with SIGKILL, by the OOM killer, or a closed terminal runs none of its clean-up, and
its children go on under init: nodes still serving the pipeline's services on DDS, campaign workers
still computing parts nobody will read. Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG)``) acts at
once but fires when the *thread* that forked the child ends, and only where the launcher sets it; this
watch, run in the child, covers every launcher. A child of init itself (a service manager) has none.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Callable

PARENT_POLL_S = 0.5  # how often the child looks whether its parent is still there


def on_parent_death(action: Callable[[], None], parent: int | None = None) -> None:
    """Call ``action`` (in a daemon thread) once this process's parent has died.

    ``parent``: the pid the parent had, when the child knows it (multiprocessing's parent_process()); a
    parent that died before the watch began is then seen too, instead of taken for init.
    """
    if parent is None:
        parent = os.getppid()
        if parent == 1:
            return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        action()

    threading.Thread(target=watch, name="parent_watch", daemon=True).start()
