"""Where the configuration lives on the board: config.json, its checked copy, recovery.

``load(board)`` returns the checked configuration and how it was found; ``save(board,
raw)`` writes a new config.json and its checked copy. Nothing else reads or writes these
files.

- A save is atomic (``board.write_atomic``: a temporary file, flushed, renamed over the
  old one), so a power cut leaves the old or the new file, never none. The previous file
  is kept as ``config.json.bak``.
- When config.json is missing or does not parse, the boot takes the last complete save
  (``config.json.tmp``, written just before a cut between its write and its rename) or
  ``config.json.bak``, puts it back as config.json and says which it used.
- The checked copy (``config.json.checked``) is the configuration as ``check`` returned
  it, keyed by this firmware's build id and the CRC of config.json's text: a boot whose
  key matches takes it without checking again (the check's code and names then never
  enter the heap). Its first line is the key, its second the CRC of the rest, the JSON
  of the configuration: a copy that does not read back whole is discarded.
"""
import json

CHECKED = ".checked"
_SECTIONS = ("device", "wifi", "web", "control", "site", "chargers", "regulation", "ocpp", "mqtt")


def _crc(text):
    import binascii
    return binascii.crc32(text.encode()) & 0xffffffff


def key(board, text):
    """What a checked copy must match: this firmware build and this config.json text.
    None when either is unknown (running from source: no build id)."""
    build = board.read_text("build_id.txt")
    if build is None or text is None:
        return None
    return "%s:%08x" % (build.strip(), _crc(text))


def _parses(text):
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def read(board):
    """(config.json's text or None, a note when it was recovered from another file).

    A missing or unreadable config.json is replaced by the last complete save (.tmp),
    else by the previous one (.bak)."""
    path = board.config_path
    try:
        text = board.read_text(path)
    except (OSError, ValueError):    # unreadable, or larger than a configuration can be
        text = None
    if text is not None and _parses(text):
        return text, None
    for suffix, why in ((".tmp", "the last save was cut short"), (".bak", "the previous configuration")):
        try:
            other = board.read_text(path + suffix)
        except (OSError, ValueError):
            other = None
        if other is not None and _parses(other):
            board.write_atomic(path, other)
            what = "missing" if text is None else "not valid JSON"
            return other, "config.json was %s; using %s%s (%s)" % (what, "config.json", suffix, why)
    return text, None


def read_checked(board, k):
    """The checked configuration stored for key ``k``, or None (absent, stale, damaged)."""
    if k is None:
        return None
    try:
        text = board.read_text(board.config_path + CHECKED)
    except (OSError, ValueError):
        return None
    parts = text.split("\n", 2) if text is not None else ()
    if len(parts) != 3 or parts[0] != k or parts[1] != "%08x" % _crc(parts[2]):
        return None
    try:
        cfg = json.loads(parts[2])
    except ValueError:
        return None
    if not isinstance(cfg, dict):
        return None
    for name in _SECTIONS:
        if not isinstance(cfg.get(name), list if name == "chargers" else dict):
            return None
    return cfg


def store_checked(board, k, cfg):
    """Keep the checked configuration next to config.json (no key: nothing to keep)."""
    if k is None:
        return
    text = json.dumps(cfg)
    board.write_atomic(board.config_path + CHECKED, "%s\n%08x\n%s" % (k, _crc(text), text))


def drop_checked(board):
    """Forget the checked copy: the next boot checks config.json again."""
    board.remove(board.config_path + CHECKED)


def save(board, raw, cfg):
    """Write ``raw`` (what config.json holds) atomically and ``cfg`` (its checked form) as
    the checked copy. The caller has checked ``raw``; ``cfg`` is what check returned."""
    text = json.dumps(raw)
    old = None
    try:
        old = board.read_text(board.config_path)
    except (OSError, ValueError):
        pass
    if old is not None and _parses(old):
        board.write_atomic(board.config_path + ".bak", old)
    board.write_atomic(board.config_path, text)
    try:
        store_checked(board, key(board, text), cfg)
    except OSError:
        drop_checked(board)      # a stale copy must not outlive the file it was made from
