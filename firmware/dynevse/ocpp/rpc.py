"""OCPP-J 1.6 messages: the RPC frame (CALL / CALLRESULT / CALLERROR) and the payloads.

``decode`` turns one websocket text message into a tuple or raises ``RpcError`` with the
CALLERROR code OCPP-J 1.6 names for the fault (``unique_id`` None: no id could be read, so
the message can only be dropped and counted). ``check`` checks a payload against one
schema, ``one_of`` a word against one of the word lists.

Which code for which fault (OCPP-J 1.6, table "Valid Error Codes"):

- the frame is not a well-formed CALL (bad JSON, wrong length, a message type id that is
  not 2/3/4, an action or payload of the wrong type): FormationViolation
- the action is unknown: NotImplemented; a 1.6 action the central system does not
  take (e.g. one only a central system sends): NotSupported (``answers.answer``)
- a required field is missing ("payload incomplete"): ProtocolError
- a field has the wrong JSON type, a string is longer than its CiString type or a
  dateTime is not one: TypeConstraintViolation
- a field has a value outside its enumeration or range: PropertyConstraintViolation
- a list that must have at least one entry is empty: OccurenceConstraintViolation

Properties the 1.6 schemas do not name are ignored, and ``null`` counts as absent: a
vendor's extra field should not cost a whole message.

A fault's ``description`` names it by a key: ``~json`` for a frame, ``connectorId ~int``
or ``info ~max:50`` for a field (its path, then the key); ``texts.describe`` turns it
into text (``connectorId must be an integer``) when it is answered or logged, so the
texts cost no heap while all is well.

The tables come from the official 1.6 JSON schemas (field names, types, required fields,
CiString lengths, enumerations). A table is one string, read where it is used: on
MicroPython a table of tuples or dicts costs several times the heap of the same table
as one string. ``_TABLE`` has what the frequent CALLs (Heartbeat, StatusNotification,
MeterValues) and our SetChargingProfile need; ``answers.py``, ``setup.py`` and ``commands.py`` have tables of the same
form for the others, which ``check`` and ``one_of`` take as ``extra``. In a table,

- ``|name:field kind,field kind,...`` is a schema: ``s`` string, ``s20`` of at most 20
  characters; ``i`` integer, ``i0`` at least 0; ``b`` boolean; ``t`` dateTime; ``eNAME``
  one of the words of list NAME; ``a1name`` list of objects of schema ``name`` with at
  least 1 entry; ``l50`` list of strings of at most 50 characters; a trailing ``!``
  marks a required field. Names of CALLs start with a capital, parts of them do not.
- ``|NAME word word ... `` is a word list: an enumeration, the measurands (``MEAS``)
  or, under the name of a CALL we send, the statuses a charger may answer to it.
"""
import json

from dynevse.compat import const

_CALL = const(2)
_CALLRESULT = const(3)
_CALLERROR = const(4)
_UNIQUE_ID_MAX = const(36)    # OCPP-J: "maximum of 36 characters"

_FORMATION = "FormationViolation"
_TYPE = "TypeConstraintViolation"
_PROPERTY = "PropertyConstraintViolation"

_TABLE = (
    "|Heartbeat:"
    "|StatusNotification:connectorId i0!,errorCode eERR!,info s50,status eSTATUS!,timestamp t,"
    "vendorId s255,vendorErrorCode s50"
    "|MeterValues:connectorId i0!,transactionId i,meterValue a1mv!"
    # MeterValues lists are 1..* (StopTransaction's, in answers.py, may hold empty ones)
    "|mv:timestamp t!,sampledValue a1sv!"
    "|sv:value s!,context eCTX,format eFMT,measurand eMEAS,phase ePHASE,location eLOC,unit eUNIT"
    "|MEAS Energy.Active.Export.Register Energy.Active.Import.Register Energy.Reactive.Export.Register"
    " Energy.Reactive.Import.Register Energy.Active.Export.Interval Energy.Active.Import.Interval"
    " Energy.Reactive.Export.Interval Energy.Reactive.Import.Interval Power.Active.Export"
    " Power.Active.Import Power.Offered Power.Reactive.Export Power.Reactive.Import Power.Factor"
    " Current.Import Current.Export Current.Offered Voltage Frequency Temperature SoC RPM "
    "|PHASE L1 L2 L3 N L1-N L2-N L3-N L1-L2 L2-L3 L3-L1 "
    "|UNIT Wh kWh varh kvarh W kW VA kVA var kvar A V K Celcius Celsius Fahrenheit Percent Hertz "
    "|CTX Interruption.Begin Interruption.End Sample.Clock Sample.Periodic Transaction.Begin"
    " Transaction.End Trigger Other "
    "|LOC Cable EV Inlet Outlet Body "
    "|FMT Raw SignedData "
    "|STATUS Available Preparing Charging SuspendedEVSE SuspendedEV Finishing Reserved Unavailable Faulted "
    "|ERR ConnectorLockFailure EVCommunicationError GroundFailure HighTemperature InternalError"
    " LocalListConflict NoError OtherError OverCurrentFailure PowerMeterFailure PowerSwitchFailure"
    " ReaderFailure ResetFailure UnderVoltage OverVoltage WeakSignal "
    "|SetChargingProfile Accepted Rejected NotSupported |")


class RpcError(Exception):
    """An OCPP-J fault: ``code`` is the CALLERROR errorCode, ``unique_id`` the id to answer
    (None when the message had no readable id)."""

    def __init__(self, code, description, unique_id=None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.unique_id = unique_id


def _find(key, extra):
    """(table, index) of ``key`` in ``extra`` (a table) or else in ``_TABLE``; index -1
    when neither has it."""
    i = extra.find(key) if extra else -1
    if i >= 0:
        return extra, i
    return _TABLE, _TABLE.find(key)


def one_of(value, name, extra=None):
    """Whether ``value`` is a string and one of the words of list ``name``."""
    if not isinstance(value, str) or not value or " " in value or "|" in value:
        return False
    t, i = _find("|" + name + " ", extra)
    return i >= 0 and t.find(" " + value + " ", i + 1 + len(name), t.find("|", i + 1)) >= 0


def valid_text(s):
    """``s`` as text that encodes to valid UTF-8. A character beyond the BMP comes in JSON
    as an escaped UTF-16 surrogate pair (``\\ud83d\\ude00``); MicroPython's json keeps
    each half as a character of its own, which no UTF-8 encoder may write: a pair is
    joined into its character, a lone half (invalid on both runtimes) becomes U+FFFD."""
    try:
        if len(s.encode()) == len(s):
            return s           # ASCII: the usual case, at C speed
    except UnicodeError:       # CPython: a lone surrogate
        pass
    out = []
    high = 0
    for c in s:
        o = ord(c)
        if 0xDC00 <= o < 0xE000 and high:
            out.append(chr(0x10000 + (high - 0xD800 << 10) + o - 0xDC00))
            high = 0
            continue
        if high:
            out.append("\ufffd")
            high = 0
        if 0xD800 <= o < 0xDC00:
            high = o
        else:
            out.append("\ufffd" if 0xDC00 <= o < 0xE000 else c)
    if high:
        out.append("\ufffd")
    return "".join(out)


def decode(text):
    """Parse one OCPP-J message.

    Returns ``(CALL, id, action, payload)``, ``(CALLRESULT, id, payload, None)`` or
    ``(CALLERROR, id, errorCode, errorDescription)``; raises ``RpcError`` otherwise.
    """
    try:
        msg = json.loads(text)
    except Exception:   # ValueError; CPython may also raise RecursionError on deep nesting
        # the unique id of text that starts like a CALL, [2,"id", is still answered
        uid = None
        state = 0
        for i in range(min(len(text), 64)):
            c = text[i]
            if c in " \t\r\n":
                continue
            if state < 3 and c == '[2,'[state]:
                state += 1
                continue
            if state == 3 and c == '"':
                end = text.find('"', i + 1, i + 2 + _UNIQUE_ID_MAX)
                if end > 0 and "\\" not in text[i + 1:end]:
                    uid = text[i + 1:end]
            break
        raise RpcError(_FORMATION, "~json", uid)
    if type(msg) is not list:
        raise RpcError(_FORMATION, "~array")
    n = len(msg)
    uid = msg[1] if n > 1 else None
    if not isinstance(uid, str) or not uid:
        raise RpcError(_FORMATION, "~id")
    uid = valid_text(uid)    # it goes back in the answer
    kind = msg[0]
    if type(kind) is not int or kind < _CALL or kind > _CALLERROR:
        raise RpcError(_FORMATION, "~type", uid)
    if kind == _CALL:
        fault = None
        if len(uid) > _UNIQUE_ID_MAX:
            fault = "~long"
        elif n != 4:
            fault = "~call"
        elif not isinstance(msg[2], str) or not msg[2]:
            fault = "~action"
        elif type(msg[3]) is not dict:
            fault = "~payload"
        if fault:
            raise RpcError(_FORMATION, fault, uid)
        return kind, uid, valid_text(msg[2]), msg[3]   # an unknown action's name is answered too
    # A result or an error is never answered: a bad one is dropped (uid None).
    if kind == _CALLRESULT:
        if n != 3 or type(msg[2]) is not dict:
            raise RpcError(_FORMATION, "~result")
        return kind, uid, msg[2], None
    return (kind, uid, msg[2] if n > 2 and isinstance(msg[2], str) else "GenericError",
            msg[3] if n > 3 and isinstance(msg[3], str) else "")


def check(payload, name, extra=None):
    """Check a payload (dict) against schema ``name`` (of table ``extra`` or ``_TABLE``)
    without recursion; raise RpcError (no unique id) with the code of the first fault."""
    stack = [(payload, name, "")]
    while stack:
        obj, name, where = stack.pop()
        t, i = _find("|" + name + ":", extra)
        i += len(name) + 2
        for spec in t[i:t.find("|", i)].split(","):
            if not spec:
                continue
            field, kind = spec.split(" ")
            v = obj.get(field)
            required = kind[-1] == "!"
            if v is None:
                if required:
                    raise RpcError("ProtocolError", where + field + " ~req")
                continue
            arg = kind[1:-1] if required else kind[1:]
            kind = kind[0]
            fault = None
            code = _TYPE
            if kind == "s":
                if not isinstance(v, str):
                    fault = "~str"
                elif arg and len(v) > int(arg):
                    fault = "~max:" + arg
            elif kind == "i":
                if type(v) is not int:
                    fault = "~int"
                elif arg and v < int(arg):
                    fault, code = "~min:" + arg, _PROPERTY
            elif kind == "b":
                if type(v) is not bool:
                    fault = "~bool"
            elif kind == "e":
                if not isinstance(v, str):
                    fault = "~str"
                elif not one_of(v, arg, extra):
                    fault, code = "~enum", _PROPERTY
            elif kind == "t":
                # 2024-05-01T12:00:00 with an optional fraction and zone: the shape is
                # checked, the calendar is not (a charger with a wrong clock still sends one)
                if not isinstance(v, str) or not 19 <= len(v) <= 35:
                    fault = "~time"
                else:
                    for i in range(19):
                        c = v[i]
                        p = "dddd-dd-ddTdd:dd:dd"[i]
                        if not ("0" <= c <= "9" if p == "d" else c in "Tt " if p == "T" else c == p):
                            fault = "~time"
                            break
            elif type(v) is not list:     # a (list of objects) or l (list of strings)
                fault = "~list"
            elif kind == "l":
                for x in v:
                    if not isinstance(x, str) or len(x) > int(arg):
                        fault = "~strs:" + arg
                        break
            elif len(v) < int(arg[0]):
                fault, code = "~few:" + arg[0], "OccurenceConstraintViolation"
            else:
                for i in range(len(v)):
                    if type(v[i]) is not dict:
                        fault = "~obj"
                        break
                    stack.append((v[i], arg[1:], "%s%s[%d]." % (where, field, i)))
            if fault is not None:
                raise RpcError(code, where + field + " " + fault)
