"""Files on both runtimes: bounded reads and atomic writes (temp file, then rename)."""
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


def write_atomic(path, text):
    """Write ``text`` so that a power cut leaves either the old or the new file."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    try:
        os.remove(path + ".bak")
    except OSError:
        pass
    try:
        os.rename(path, path + ".bak")
    except OSError:
        pass
    os.rename(tmp, path)
