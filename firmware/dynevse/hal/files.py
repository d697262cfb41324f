"""Files on both runtimes: bounded reads and atomic writes."""
import os

_MAX_FILE = 16384


def read_text(path, limit=_MAX_FILE):
    """The file's text, or None if it does not exist; a longer file is an error."""
    try:
        size = os.stat(path)[6]
    except OSError:
        return None
    if size > limit:
        raise ValueError("%s is larger than %d bytes" % (path, limit))
    with open(path) as f:
        return f.read()


def _flush(f):
    f.flush()
    if hasattr(os, "fsync"):
        os.fsync(f.fileno())        # CPython: the data is on the disk before the rename
        return True
    return False


def write_atomic(path, text):
    """Write ``text`` so that ``path`` always holds a complete file: the old one until the
    new one is whole, then the new one (a rename over the old file is atomic on POSIX and
    on littlefs)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
        synced = _flush(f)
    if not synced and hasattr(os, "sync"):
        os.sync()                   # MicroPython VFS (the board): flush the filesystem's caches
    try:
        os.rename(tmp, path)
    except OSError:
        # a filesystem that does not rename over a file (FAT): the window is this short
        remove(path)
        os.rename(tmp, path)


def remove(path):
    """Remove a file if it exists."""
    try:
        os.remove(path)
    except OSError:
        pass
