"""asyncio and clock differences between MicroPython and CPython, for the I/O packages,
and ``forget`` for code loaded for one use.

The core never imports this (it takes time as a number). Everything that runs tasks,
sockets or timeouts uses these names instead of probing the runtime itself.
"""
import asyncio
import sys

try:
    from time import ticks_ms, ticks_diff, ticks_add  # MicroPython: wraps, use ticks_diff
except ImportError:
    import time as _time

    def ticks_ms():
        return int(_time.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b

    def ticks_add(a, delta):
        return a + delta


def sleep_ms(ms):
    """Awaitable sleep in milliseconds on both runtimes."""
    if hasattr(asyncio, "sleep_ms"):
        return asyncio.sleep_ms(ms)
    return asyncio.sleep(ms / 1000)


wait_for = asyncio.wait_for
TimeoutError = asyncio.TimeoutError


class BoundedQueue:
    """A small FIFO for tasks: put never blocks; when full the oldest item is dropped.

    ``dropped`` counts what was lost, so a caller can report it.
    """

    def __init__(self, size):
        self._items = []
        self._size = size
        self._event = asyncio.Event()
        self.dropped = 0

    def put(self, item):
        if len(self._items) >= self._size:
            self._items.pop(0)
            self.dropped += 1
        self._items.append(item)
        self._event.set()

    async def get(self):
        while not self._items:
            self._event.clear()
            await self._event.wait()
        return self._items.pop(0)

    def __len__(self):
        return len(self._items)


def loaded(names):
    """The modules among ``names`` loaded now; a name ending in "." stands for that package
    and every module in it ("dynevse.config.")."""
    out = []
    for n in sys.modules:
        for name in names:
            if n == name or name[-1] == "." and (n.startswith(name) or n == name[:-1]):
                out.append(n)
                break
    return out


def forget(names):
    """Forget modules loaded for one use (boot, a command, a rare message), so their code
    leaves the heap once nothing else holds them; ``names`` as for ``loaded``."""
    for name in loaded(names):
        mod = sys.modules.pop(name, None)
        if mod is None:
            continue
        parent, _, child = name.rpartition(".")
        pkg = sys.modules.get(parent)
        if pkg is not None and getattr(pkg, child, None) is mod:
            delattr(pkg, child)
