"""Where a panel's callbacks run: on the thread that built the panel, whichever thread a widget message came in on.

    home = HomeThread()                  # in the panel's constructor (a cell: the kernel's main thread)
    handler = home.wrap(handler)         # the slider's callback, called on any thread ...
    widget.observe(handler, "value")     # ... runs here now, or is queued on the home thread's event loop

**Why.** JupyterLab 4.4 and later send widget messages to kernel *subshells* (its Settings >
Kernels > "Kernel Comms over subshells", on by default), and ipykernel 7 handles each subshell on
a thread of its own, routing a widget's message to the subshell that last sent on that widget. So
a slider's callback can run on another thread than the cells, Play's task and the other sliders'
callbacks. PyTorch's autograd and optimizers, matplotlib's renderer and a panel's own state are
not safe to use from two threads at once: two trainings of one run at once crash the kernel
(SIGSEGV in ``optimizer.zero_grad``), which a student sees as "the kernel appears to have died".

**What.** A :class:`HomeThread` remembers the thread that made it and that thread's running event
loop (the kernel's; seen again at each call made on that thread, so a panel built before a loop
ran finds it later). A wrapped callback called on that thread runs at once, as before. Called on
another thread while the home loop runs, it is queued on the home loop
(``loop.call_soon_threadsafe``, in arrival order) and runs there between Play's slices, exactly as
a widget message did before subshells; the calling thread returns at once. Without a running home
loop (a script, a test without asyncio) it runs at once on the calling thread.
"""
from __future__ import annotations

import asyncio
import functools
import threading

__all__ = ["HomeThread"]


class HomeThread:
    """The thread that built a panel, and its event loop: :meth:`call` runs a function there (module docstring)."""

    def __init__(self):
        self.ident = threading.get_ident()
        self.loop = _running_loop()

    def here(self) -> bool:
        """True when called on the home thread (noting its running loop, if one runs now)."""
        if threading.get_ident() != self.ident:
            return False
        self.loop = _running_loop() or self.loop
        return True

    def call(self, fn, *args, **kwargs) -> None:
        """``fn(*args, **kwargs)`` now on the home thread, or queued on its running loop from another thread."""
        loop = self.loop
        if self.here() or loop is None or loop.is_closed() or not loop.is_running():
            fn(*args, **kwargs)
            return
        try:
            loop.call_soon_threadsafe(functools.partial(fn, *args, **kwargs))
        except RuntimeError:               # the loop closed just now: nothing else runs there any more
            fn(*args, **kwargs)

    def wrap(self, fn):
        """``fn`` as a callback that :meth:`call` runs (it returns None: widget callbacks' results are unused)."""
        @functools.wraps(fn)
        def on_home_thread(*args, **kwargs):
            self.call(fn, *args, **kwargs)
        return on_home_thread


def _running_loop():
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
