"""What the app does once, at start: the configuration, the network, the parts wired up.

Loaded by ``App.run`` and dropped after, so none of this code stays in the heap.

The configuration: the first boot after config.json or the firmware changed validates it
(the schema and the packages' setting tables), stores the checked copy next to
config.json and restarts: validating leaves ~25 KB of interned names in the heap for
good, and a restart leaves them behind. Later boots read the checked copy, after the
running modules are loaded, so its names are the ones those modules already hold.
Any problem: the safe state, with the reason.
"""
import asyncio
import json

from dynevse import log
from dynevse.aio import forget

CHECKED = ".checked"


def config_key(board, text):
    """What a checked copy must match: this firmware build and this config.json text.
    None when either is unknown (running from source: no build id; no config)."""
    build = board.read_text("build_id.txt")
    if build is None or text is None:
        return None
    import binascii
    return "%s:%08x" % (build.strip(), binascii.crc32(text.encode()) & 0xffffffff)


def store_checked(board, key, cfg):
    """Keep the checked configuration next to config.json."""
    try:
        board.write_atomic(board.config_path + CHECKED, json.dumps({"key": key, "config": cfg}))
    except OSError as e:
        log.warning("can't store the checked configuration: %s", e)


def read_checked(board, key):
    """The checked configuration stored for ``key``, or None."""
    try:
        checked = json.loads(board.read_text(board.config_path + CHECKED) or "null")
    except ValueError:
        return None
    if isinstance(checked, dict) and checked.get("key") == key:
        return checked["config"]
    return None


def validate(app, text):
    """Check config.json; True when it was stored and a restart should follow."""
    from dynevse import settings
    from dynevse.core.schema import ConfigError
    board = app.board
    try:
        if text is None:
            raise ConfigError("config", "no configuration at %s yet" % board.config_path)
        try:
            raw = json.loads(text)
        except ValueError as e:
            raise ConfigError("config", "not valid JSON (%s)" % e)
        cfg = settings.check_config(raw)
        cfg["ocpp"] = settings.ocpp_settings(cfg)
    except (ConfigError, ValueError, OSError) as e:
        app.safe_reason = str(e)
        return False
    app.cfg = cfg
    key = config_key(board, text)
    if key is None:
        return False
    store_checked(board, key, cfg)
    return True


async def start(app):
    """Set the app up; the tasks to run, or None for the safe state (app.safe_reason)."""
    board = app.board
    log.clock = board.monotonic_s
    if board.safe_mode_requested():
        app.safe_reason = "the safe-mode button was held at boot: configuration not loaded"
        return None
    text = board.read_text(board.config_path)
    key = config_key(board, text)
    cfg = None
    if key is not None:
        # the running modules first: the checked copy's names then reuse theirs
        from dynevse.core.regulate import Regulator  # noqa: F401
        from dynevse.ocpp.central import CentralSystem  # noqa: F401
        cfg = read_checked(board, key)
    if cfg is None:
        restart = validate(app, text)
        forget(("dynevse.settings", "dynevse.mqtt.config", "dynevse.ocpp.config", "dynevse.core.schema"))
        if restart:
            log.info("configuration checked; restarting to free the memory the check used")
            board.soft_reset()
        if app.cfg is None:
            return None
        cfg = app.cfg
    app.cfg = cfg
    app.engine_cfg = (cfg["site"], cfg["chargers"], cfg["site"]["groups"])
    log.set_level(cfg["device"]["log_level"])
    log.info("%s (%s) starting with %d charger(s)", cfg["device"]["name"], cfg["device"]["id"],
             len(cfg["chargers"]))
    wifi = cfg.pop("wifi")       # secrets leave memory once used
    if wifi["ssid"]:
        address = await board.network_up(wifi)
        if address is None:
            log.error("Wi-Fi %r not joined; starting the setup access point", wifi["ssid"])
            board.start_access_point(wifi["ap_ssid"], wifi["ap_password"])
        else:
            log.info("network up: %s", address)
            board.sync_time()
    from dynevse.core.regulate import Regulator
    from dynevse.ocpp.central import CentralSystem
    from dynevse.app import BoardClock
    app.regulator = Regulator(cfg["regulation"], checked=True)
    app.central = CentralSystem(cfg["ocpp"], cfg["chargers"], BoardClock(board),
                                lambda cp, line: log.info("ocpp %s: %s", cp, line), checked=True)
    tasks = [asyncio.create_task(app.supervise("http", app.serve_http))]
    if cfg["mqtt"]["host"]:
        from dynevse.mqtt.link import Link
        app.link = Link(cfg["mqtt"], cfg["device"]["id"], on_command=app.on_command, checked=True)
        app.link.register(cfg["device"]["name"], cfg["site"]["phases"], cfg["site"]["battery"] is not None,
                          [{"id": c["id"], "name": c["name"] or c["id"]} for c in cfg["chargers"]],
                          checked=True)
        tasks.append(asyncio.create_task(app.supervise("mqtt", app.link.run)))
    tasks.append(asyncio.create_task(app.supervise("control loop", app.control_loop)))
    return tasks
