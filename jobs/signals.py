"""Stopping cleanly: SIGTERM and SIGINT ask the run to stop after the batch in flight."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["stop_requested_on_signals"]

logger = logging.getLogger(__name__)


@contextmanager
def stop_requested_on_signals() -> Iterator[threading.Event]:
    """Within the block, SIGTERM/SIGINT set the yielded event instead of killing the process.

    A second signal restores the default behaviour, so an operator can still force an exit.
    Outside the main thread (where handlers cannot be installed) the event is never set.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handle(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
            return
        logger.warning("%s received: stopping after the batch in flight", name)
        stop.set()

    for sig in previous:
        signal.signal(sig, handle)
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
