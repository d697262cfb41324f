"""The questions of ``config new --ask``: a first configuration that works.

Each answer is checked at once with the board's own rules (``board_check``) and the
question is asked again with the reason. The same questions can be answered from a JSON
file (``--answers FILE``, keys as in ``Wizard.ask`` calls, e.g. ``{"breaker_a": 32,
"grid_source": "mqtt", "grid_preset": "victron", "victron.portal_id": "c0619ab1e2f3"}``);
there a bad or missing answer is an error naming the key. Passwords are read without
echo. EOF or Ctrl-C stop with one line (``Stopped``).
"""
import copy
import getpass
import json

from host_tools import FIRMWARE_PATH  # noqa: F401  (puts firmware/ on sys.path)
from host_tools import presets
from dynevse.config import fields, schema
from dynevse.config.check import check
from dynevse.config.schema import ConfigError

CAR_MIN_A = 6          # IEC 61851-1: the lowest current a car charges at


def board_check(cfg, path=None, value=None):
    """The board's checks, all of them in this one place: ``value`` alone as the field at
    ``path`` (e.g. "site.breaker_a", "chargers.0.max_a"), then the whole configuration
    ``cfg`` with it set. Returns the value as the board normalises it; raises ConfigError
    naming the field and what is allowed."""
    if path is not None:
        row = field(path)
        if row is not None:
            value = schema.check_value(path, value, *row)
        cfg = copy.deepcopy(cfg)
        set_path(cfg, path, value)
    check(cfg)
    return value


def field(path):
    """(kind, lo, hi, unit) of the schema field at ``path``, or None."""
    parts = [p for p in path.split(".") if not p.isdigit()]
    section, key = ".".join(parts[:-1]), parts[-1]
    for name, table, _is_list in fields.SECTIONS:
        if name == section:
            for row in table:
                if row[0] == key:
                    return row[1:2] + row[3:6]
    return None


def set_path(cfg, path, value):
    """Set ``site.breaker_a`` or ``chargers.0.max_a`` in a nested configuration."""
    parts = path.split(".")
    node = cfg
    for i, p in enumerate(parts[:-1]):
        if isinstance(node, list):
            node = node[int(p)]
            continue
        if p not in node:
            node[p] = [] if parts[i + 1].isdigit() else {}
        node = node[p]
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


class Stopped(Exception):
    """The person ended the questions (EOF, Ctrl-C); ``code`` is the exit status."""

    def __init__(self, why, code):
        super().__init__(why)
        self.code = code


class AnswerError(Exception):
    """An answer file's answer is missing or refused."""


class Terminal:
    """Answers typed by a person: the default in brackets, passwords without echo."""

    interactive = True

    def answer(self, key, question, default, secret):
        shown = "" if secret or default in (None, "") else " [%s]" % default
        try:
            if secret:
                text = getpass.getpass("%s: " % question)
            else:
                text = input("%s%s: " % (question, shown))
        except EOFError:
            raise Stopped("end of input", 1)
        except KeyboardInterrupt:
            raise Stopped("interrupted", 130)
        text = text.strip()
        return text if text else None

    def say(self, text):
        print(text, flush=True)


class AnswerFile:
    """Answers from a JSON object; a missing key takes the question's default."""

    interactive = False

    def __init__(self, path):
        self.path = path
        try:
            with open(path) as f:
                self.answers = json.load(f)
        except (OSError, ValueError) as e:
            raise AnswerError("%s: %s" % (path, e))
        if not isinstance(self.answers, dict):
            raise AnswerError("%s: must be a JSON object of answers" % path)
        self.used = set()

    def answer(self, key, question, default, secret):
        self.used.add(key)
        v = self.answers.get(key)
        return None if v is None or v == "" else v

    def say(self, text):
        print(text, flush=True)         # notes on the chosen devices; no menus are shown here

    def unused(self):
        return sorted(k for k in self.answers if k not in self.used)


def _parse(raw, kind):
    """A typed answer in the field's kind; text that is not one stays text, for the board's
    check to say what is allowed."""
    if kind == "yesno":
        if raw is True or raw is False:
            return raw
        t = str(raw).lower()
        if t in ("y", "yes", "true", "1"):
            return True
        if t in ("n", "no", "false", "0"):
            return False
        raise ValueError("answer yes or no")
    if kind == "text" and type(raw) in (int, float):
        return str(raw)                 # an answer file's 123456 for a serial number
    if kind == "number" and isinstance(raw, str):
        try:
            x = float(raw)
        except ValueError:
            return raw
        return int(x) if x == int(x) else x
    return raw


def _kind_of(path):
    row = field(path) if path else None
    if row is None:
        return "text"
    kind = row[0]
    if kind in (schema.NUM, schema.INT) or (isinstance(kind, tuple) and isinstance(kind[0], int)):
        return "number"
    if kind == schema.BOOL:
        return "yesno"
    return "text"


class Wizard:
    """Asks, checks and builds ``cfg``; ``answers`` keeps every accepted answer by key."""

    def __init__(self, source):
        self.src = source
        self.cfg = {}
        self.answers = {}
        self.noted = set()          # presets whose note was said

    def say(self, text):
        self.src.say(text)

    def ask(self, key, question, default=None, path=None, kind=None, choices=None, secret=False,
            convert=None, rule=None, makes=None, needed="an answer is needed"):
        """One question, asked until the answer passes: ``convert`` (the answer to a value),
        the board's check of ``path``, ``rule`` (the wizard's own), ``makes`` (the MQTT inputs
        the answer produces, checked in the configuration). ``choices``: [(key, text)] or
        keys; the answer may be a key or its number. ``needed``: the reason when there is no
        answer and no default. Raises AnswerError (answer files)."""
        kind = kind or _kind_of(path)
        names = [c[0] if isinstance(c, tuple) else c for c in choices or ()]
        if choices and self.src.interactive and any(isinstance(c, tuple) for c in choices):
            for i, c in enumerate(choices):
                self.say("  %d) %s" % (i + 1, c[1] if isinstance(c, tuple) else c))
        while True:
            raw = self.src.answer(key, question, default, secret)
            try:
                if raw is None:
                    if default is None:
                        raise ValueError(needed)
                    value = _parse(default, kind)
                else:
                    value = _parse(raw, kind)
                if names:
                    value = self._choice(value, names)
                if convert is not None:
                    value = convert(value)
                if path is not None:
                    value = board_check(self.cfg, path, value)
                if rule is not None:
                    rule(value)
                if makes is not None:
                    self.check_inputs(makes(value))
            except ValueError as e:           # ConfigError is one
                why = str(e)
                if isinstance(e, ConfigError) and e.field == _board_path(path):
                    why = e.message
                if not self.src.interactive:
                    raise AnswerError("%s: %s" % (key, why))
                self.say("  %s" % why)
                continue
            if path is not None:
                set_path(self.cfg, path, value)
            self.answers[key] = value
            return value

    def _choice(self, value, names):
        t = str(value)
        if t.isdigit() and 1 <= int(t) <= len(names):
            return names[int(t) - 1]
        if t in names:
            return t
        starting = [n for n in names if t and n.startswith(t)]
        if len(starting) == 1:          # "y" for yes, "sh" for shelly_pro_3em
            return starting[0]
        raise ValueError("must be one of %s (or its number)" % ", ".join(names))

    def check_inputs(self, inputs):
        """``inputs`` (quantity -> mapping) added to the configuration so far, as the board checks it."""
        trial = copy.deepcopy(self.cfg)
        trial.setdefault("mqtt", {}).setdefault("inputs", {}).update(inputs)
        board_check(trial)

    def preset_ask(self, preset):
        """The ``ask`` a preset gets: its answers are kept under "<preset>.<key>", so a
        preset used for the grid and for solar asks its device once."""
        def ask(key, question, default, makes=None, choices=None):
            full = preset.key + "." + key
            if full in self.answers:
                return self.answers[full]
            return self.ask(full, question, default, kind="text", choices=choices, makes=makes)
        return ask


def _board_path(path):
    """"chargers.0.max_a" as the board names it: "chargers[0].max_a"."""
    if path is None:
        return None
    out = []
    for p in path.split("."):
        if p.isdigit():
            out[-1] += "[%s]" % p
        else:
            out.append(p)
    return ".".join(out)


def _room_for_a_car(breaker_a, margin_a, path):
    if breaker_a - margin_a < CAR_MIN_A:
        raise ConfigError(path, "leaves %g A for the chargers, less than the %d A a car charges at: no car "
                          "could ever charge" % (breaker_a - margin_a, CAR_MIN_A))


def _charger_ids(value, phases):
    ids = value if isinstance(value, list) else str(value).split()
    if ids == ["none"]:
        return []
    if not ids:
        raise ValueError("give at least one charger id, or none for no chargers yet")
    # on a 1-phase site every charger is a 1-phase one (only L1 is connected)
    return [{"id": i} if phases == 3 else {"id": i, "phases": 1} for i in ids]


_GRID_SOURCES = (
    ("ct", "CT clamps on the board (the current only: they can't see solar export)"),
    ("mqtt", "a smart meter or inverter over MQTT (a preset for yours comes next)"),
    ("none", "none: static limits only (the breaker as if the house drew nothing)"),
)
_MODES = (
    ("standard", "standard: as fast as the breaker allows"),
    ("eco", "eco: at least the minimum, more from solar surplus"),
    ("solar", "solar: from the solar surplus only"),
    ("excess", "excess: only from export above a threshold"),
)


def _preset(w, role, phases, grid_preset):
    offered = presets.offered(role, phases)
    choices = [(p.key, p.label) for p in offered]
    default = None
    if role != "grid":
        choices.insert(0, ("none", "none"))
        default = grid_preset.key if grid_preset is not None and grid_preset.serves(role, phases) else "none"
    elif phases == 3:
        left_out = [p.label for p in presets.PRESETS if "grid" in p.roles and not p.serves(role, phases)]
        if left_out:
            w.say("  (%s: one grid total only, which can't protect each phase: not offered on a 3-phase "
                  "site; take the grid from CT clamps or a 3-phase meter, solar and battery from it)"
                  % ", ".join(left_out))
    what = {"grid": "Grid data (each phase) from", "solar": "Solar production from",
            "battery": "Home battery (state of charge and power) from"}[role]
    key = w.ask(role + "_preset", what, default, choices=choices)
    if key == "none":
        return None
    p = presets.find(key)
    if p.note and p.key not in w.noted:
        w.noted.add(p.key)
        w.say("  note: " + p.note)
    inputs = p.inputs(w.preset_ask(p), role, phases)
    w.check_inputs(inputs)
    w.cfg.setdefault("mqtt", {}).setdefault("inputs", {}).update(inputs)
    return p


def ask_all(w):
    """Every question, in the order a person setting up a panel thinks of them; returns
    the summary lines."""
    cfg = w.cfg
    w.ask("device_id", "Board name (letters, digits, _ - .)", "dynevse", path="device.id")
    psram = w.ask("psram", "Does the board have PSRAM (an ESP32-WROVER module, or an S3 with R2 or R8 in "
                  "its name)?", "no", kind="yesno")
    ssid = w.ask("wifi_ssid", "Wi-Fi network (SSID) the board joins; if it can't join it, the board opens "
                 "its setup access point \"DynEVSE-setup\"", "", path="wifi.ssid")
    if ssid:
        w.ask("wifi_password", "Wi-Fi password (not shown as you type)", "", path="wifi.password", secret=True)
    else:
        w.say("  no Wi-Fi: the board stays off the network until wifi.ssid is set")
    phases = w.ask("phases", "Phases of the supply (1 or 3)", 3, path="site.phases")
    # meters that report watts are turned into amps with it: a wrong one misjudges the breaker
    w.ask("voltage_v", "Phase voltage, V (230 in Europe, 120 in North America)", 230, path="site.voltage_v")
    w.ask("breaker_a", "Main breaker rating per phase, A", 25, path="site.breaker_a",
          rule=lambda v: _room_for_a_car(v, 0, "site.breaker_a"))
    w.ask("breaker_margin_a", "Amps to keep free below it (0 unless your electrician says otherwise)", 0,
          path="site.breaker_margin_a",
          rule=lambda v: _room_for_a_car(cfg["site"]["breaker_a"], v, "site.breaker_margin_a"))
    source = w.ask("grid_source", "Where does the board get the grid current of each phase?", "mqtt",
                   path="control.grid_source", choices=_GRID_SOURCES)
    need_mqtt = source == "mqtt"
    host = w.ask("mqtt_host", "MQTT broker (host name or address)" +
                 ("" if need_mqtt else "; empty: no MQTT (no Home Assistant, no solar or battery data)"),
                 None if need_mqtt else "", path="mqtt.host",
                 needed="the grid data comes over MQTT: give the broker's host name or address")
    used = {}
    if host:
        w.ask("mqtt_port", "MQTT port", 1883, path="mqtt.port")
        if w.ask("mqtt_username", "MQTT user name (empty: none)", "", path="mqtt.username"):
            w.ask("mqtt_password", "MQTT password (not shown as you type)", "", path="mqtt.password", secret=True)
        grid = _preset(w, "grid", phases, None) if need_mqtt else None
        used["grid"] = grid
        used["solar"] = _preset(w, "solar", phases, grid)
        used["battery"] = _preset(w, "battery", phases, grid)
        if used["battery"] is not None:
            cfg["site"]["battery"] = {}
            board_check(cfg)
    w.ask("mode", "Charging mode", "standard", path="site.mode", choices=_MODES)
    chargers = w.ask("chargers", "Charger ids (the chargePointId set in each charger), separated by spaces; "
                     "none for no chargers yet", "", path="chargers", convert=lambda v: _charger_ids(v, phases))
    for i, c in enumerate(chargers):
        w.ask("charger.%s.max_a" % c["id"], "%s: the most current it may draw, A (its rating or its cable's)"
              % c["id"], 16, path="chargers.%d.max_a" % i)
        if phases == 3:
            w.ask("charger.%s.phases" % c["id"], "%s: phases it is wired with (1 or 3)" % c["id"], 3,
                  path="chargers.%d.phases" % i)
    board_check(cfg)
    return summary(cfg, source, used, psram)


def summary(cfg, source, used, psram):
    """What was set up, in a few lines."""
    def name(p):
        return p.label if p is not None else "none"
    grid = {"ct": "the board's CT clamps", "none": "none (static limits)"}.get(source)
    lines = ["  grid: %s" % (grid or "%s over MQTT (%s)" % (name(used.get("grid")), cfg["mqtt"]["host"]))]
    if cfg.get("mqtt", {}).get("host"):
        lines.append("  solar: %s; home battery: %s" % (name(used.get("solar")), name(used.get("battery"))))
    chargers = cfg.get("chargers") or []
    if chargers:
        lines.append("  chargers: " + ", ".join("%s (%s A, %s phase%s)" % (c["id"], c["max_a"], c.get("phases", 3),
                                                "" if c.get("phases", 3) == 1 else "s") for c in chargers))
        lines.append("  each charger connects to ws://<board address>/ocpp/<its id>")
    else:
        lines.append("  no chargers yet: the board controls nothing until chargers are added (docs/configuration.md)")
    if psram:
        lines.append("  board: with PSRAM: flash MicroPython's SPIRAM build (ESP32_GENERIC-SPIRAM; an S3 with "
                     "octal PSRAM: ESP32_GENERIC_S3-SPIRAM_OCT); see README.md, Hardware")
    else:
        lines.append("  board: plain ESP32 without PSRAM (about 110 KB for the firmware): flash ESP32_GENERIC "
                     "(ESP32-S3: ESP32_GENERIC_S3); see README.md, Hardware")
    return lines


def new_config(answers_path=None):
    """Ask (or read from ``answers_path``) every question; (configuration, summary lines).
    Raises Stopped or AnswerError."""
    src = AnswerFile(answers_path) if answers_path else Terminal()
    w = Wizard(src)
    lines = ask_all(w)
    if answers_path and src.unused():
        raise AnswerError("%s: answers to no question asked: %s" % (answers_path, ", ".join(src.unused())))
    return w.cfg, lines
