"""Boot: the configuration loaded, the parts built and handed to the app.

``build(board)`` returns what ``main.py`` runs: the ``App`` with its parts, or the
``SafeState`` with the reason — whatever goes wrong, never an exception (a board that
raised here would be reset by its watchdog, again and again). It then forgets this
module, so none of its code stays in the heap.

The configuration (``dynevse.config.store``): a boot whose checked copy matches this
build and config.json takes it as it is. Otherwise config.json is checked; when the
check passes, the checked copy is stored and the board restarts once, because checking
leaves the check's names in the heap for good and a restart leaves them behind. A
checked copy that cannot be used (damaged, or the parts fail to build from it) is
dropped and config.json is checked again in the same boot; if that fails too, the safe
state says why.
"""
import json

from dynevse import log
from dynevse.aio import forget

_CONFIG = ("dynevse.config.",)
_SETUP = ".setup"           # beside config.json: why setup was asked for (dynevse.safe)



def _why(e):
    from dynevse.config.schema import ConfigError
    if isinstance(e, ConfigError):
        return "configuration: %s" % e
    return "starting failed: %s: %s" % (type(e).__name__, e)


def _check(board, text):
    """config.json's text checked: (configuration, raw); raises ConfigError."""
    from dynevse.config.check import check
    from dynevse.config.schema import ConfigError
    if text is None:
        raise ConfigError("config", "no configuration at %s yet" % board.config_path)
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise ConfigError("config", "config.json is not valid JSON (%s)" % e)
    return check(raw), raw


def _parts(board, cfg):
    """The regulator, the central system and the MQTT link (None without a broker)."""
    from dynevse.core.regulate import Regulator
    from dynevse.ocpp.central import CentralSystem
    regulator = Regulator(cfg["regulation"], checked=True)
    central = CentralSystem(cfg["ocpp"], cfg["chargers"], board,
                            lambda cp, line: log.info("ocpp %s: %s", cp, line), checked=True)
    link = None
    if cfg["mqtt"]["host"]:
        from dynevse.mqtt.link import Link
        link = Link(cfg["mqtt"], cfg["device"]["id"], clock=board.monotonic_ms)
        link.register(cfg["device"]["name"], cfg["site"]["phases"], cfg["site"]["battery"] is not None,
                      [{"id": c["id"], "name": c["name"] or c["id"], "phases": c["phases"]} for c in cfg["chargers"]])
    return regulator, central, link


def _app(board, cfg, parts):
    from dynevse.app import App
    log.set_level(cfg["device"]["log_level"])
    log.info("%s (%s) starting with %d charger(s)", cfg["device"]["name"], cfg["device"]["id"],
             len(cfg["chargers"]))
    return App(board, cfg, *parts)


def _build(board):
    from dynevse.config import store
    text, note = store.read(board)
    if note:
        log.warning("%s", note)
    key = store.key(board, text)
    if key is not None:
        # the running modules first: the checked copy's names then reuse theirs
        from dynevse.core.regulate import Regulator  # noqa: F401
        from dynevse.ocpp.central import CentralSystem  # noqa: F401
        cfg = store.read_checked(board, key)
        if cfg is not None:
            try:
                return _app(board, cfg, _parts(board, cfg))
            except Exception as e:
                log.error("the checked configuration did not work (%s: %s); checking config.json again",
                          type(e).__name__, e)
                log.exception(e)
                store.drop_checked(board)
                return _app(board, *_fresh(board, text, restart=False))
    return _app(board, *_fresh(board, text, key is not None))


def _fresh(board, text, restart):
    """Check config.json now: (configuration, parts). With ``restart`` the checked copy is
    stored and the board restarts (on a board this does not return)."""
    from dynevse.config import store
    cfg, _raw = _check(board, text)
    if restart:
        store.store_checked(board, store.key(board, text), cfg)
        log.info("configuration checked; restarting to free the memory the check used")
        board.soft_reset()
    return cfg, _parts(board, cfg)


def request_setup(board, reason, back=False):
    """Restart into the safe state with the setup portal, saying ``reason``: until the
    Wi-Fi joins, or with ``back`` (the settings asked for) for at most ``safe._BACK_MS``."""
    log.warning("%s: restarting into setup", reason)
    board.write_atomic(board.config_path + _SETUP, ("back\n" if back else "wifi\n") + reason)
    board.soft_reset()


def setup_requested(board):
    """(reason, back) of a setup asked for before this boot (then forgotten), or None."""
    text = board.read_text(board.config_path + _SETUP)
    if text is None:
        return None
    board.remove(board.config_path + _SETUP)
    kind, _, reason = text.partition("\n")
    return reason, kind == "back"


def build(board):
    """The app to run, or the safe state; see the module docstring."""
    log.clock = board.monotonic_s
    try:
        if board.safe_mode_requested():
            from dynevse.safe import SafeState
            return SafeState(board, "the safe-mode button was held at boot: configuration not loaded")
        asked = setup_requested(board)
        if asked is not None:
            from dynevse.config import store
            from dynevse.safe import SafeState
            return SafeState(board, asked[0], json.loads(store.read(board)[0] or "null"),
                             rejoin=not asked[1], back=asked[1])
        return _build(board)
    except SystemExit:
        raise          # the unix port's soft reset
    except Exception as e:
        log.exception(e)
        raw = None
        try:
            from dynevse.config import store
            raw = json.loads(store.read(board)[0] or "null")
        except Exception:
            pass
        from dynevse.safe import SafeState
        return SafeState(board, _why(e), raw)
    finally:
        forget(_CONFIG + ("dynevse.start",))
