"""OCPP-J 1.6 messages: the RPC frame (CALL / CALLRESULT / CALLERROR) and the payloads.

``decode`` turns one websocket text message into a tuple or raises ``RpcError`` with the
CALLERROR code OCPP-J 1.6 names for the fault (``unique_id`` None: no id could be read, so
the message can only be dropped and counted). ``check_call`` checks a CALL from a charger
(action and payload), ``check`` a payload against one schema, ``one_of`` a word against
one of the word lists.

Which code for which fault (OCPP-J 1.6, table "Valid Error Codes"):

- the frame is not a well-formed CALL (bad JSON, wrong length, a message type id that is
  not 2/3/4, an action or payload of the wrong type): FormationViolation
- the action is unknown: NotImplemented; a 1.6 action the central system does not
  take (e.g. one only a central system sends): NotSupported
- a required field is missing ("payload incomplete"): ProtocolError
- a field has the wrong JSON type, a string is longer than its CiString type or a
  dateTime is not one: TypeConstraintViolation
- a field has a value outside its enumeration or range: PropertyConstraintViolation
- a list that must have at least one entry is empty: OccurenceConstraintViolation

Properties the 1.6 schemas do not name are ignored, and ``null`` counts as absent: a
vendor's extra field should not cost a whole message.

The tables come from the official 1.6 JSON schemas (field names, types, required fields,
CiString lengths, enumerations). They are two strings, read where they are used: on
MicroPython a table of tuples or dicts costs several times the heap of the same table
as one string. ``_SCHEMAS`` is ``|name:field kind,field kind,...|name:...``:

- ``s`` string, ``s20`` of at most 20 characters; ``i`` integer, ``i0`` at least 0
- ``b`` boolean; ``t`` dateTime; ``eNAME`` one of the words of list NAME in ``_WORDS``
- ``a1name`` list of objects of schema ``name`` with at least 1 entry; ``l50`` list of
  strings of at most 50 characters
- a trailing ``!`` marks a required field

Names starting with a capital are the CALLs a charger may send us; lower-case names are
parts of them and the answer to our GetConfiguration. ``_WORDS`` is ``|NAME word word
... |NAME ...``: the enumerations, the actions a central system sends (``NS``), what
TriggerMessage may ask for (``TRIG``), the measurands (``MEAS``) and, under the name of
each CALL we send, the statuses a charger may answer to it.
"""
import json

from dynevse.compat import const

_CALL = const(2)
_CALLRESULT = const(3)
_CALLERROR = const(4)
_UNIQUE_ID_MAX = const(36)    # OCPP-J: "maximum of 36 characters"
_DESCRIPTION_MAX = const(120)

_FORMATION = "FormationViolation"
_TYPE = "TypeConstraintViolation"
_PROPERTY = "PropertyConstraintViolation"

_SCHEMAS = (
    "|BootNotification:chargePointVendor s20!,chargePointModel s20!,chargePointSerialNumber s25,"
    "chargeBoxSerialNumber s25,firmwareVersion s50,iccid s20,imsi s20,meterType s25,meterSerialNumber s25"
    "|Heartbeat:"
    "|StatusNotification:connectorId i0!,errorCode eERR!,info s50,status eSTATUS!,timestamp t,"
    "vendorId s255,vendorErrorCode s50"
    "|Authorize:idTag s20!"
    "|StartTransaction:connectorId i1!,idTag s20!,meterStart i!,reservationId i,timestamp t!"
    "|StopTransaction:idTag s20,meterStop i!,timestamp t!,transactionId i!,reason eREASON,transactionData a0txmv"
    "|MeterValues:connectorId i0!,transactionId i,meterValue a1mv!"
    # data is a string in the schema but vendors send objects too; it is never read
    "|DataTransfer:vendorId s255!,messageId s50"
    "|DiagnosticsStatusNotification:status eDIAG!"
    "|FirmwareStatusNotification:status eFW!"
    # security extension: a notification a charger may send on its own
    "|SecurityEventNotification:type s50!,timestamp t!,techInfo s255"
    # MeterValues lists are 1..*, StopTransaction's transactionData may hold empty ones
    "|mv:timestamp t!,sampledValue a1sv!"
    "|txmv:timestamp t!,sampledValue a0sv!"
    "|sv:value s!,context eCTX,format eFMT,measurand eMEAS,phase ePHASE,location eLOC,unit eUNIT"
    # the answer to our GetConfiguration
    "|config:configurationKey a0key,unknownKey l50"
    "|key:key s50!,readonly b!,value s500|")

_WORDS = (
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
    "|REASON EmergencyStop EVDisconnected HardReset Local Other PowerLoss Reboot Remote SoftReset"
    " UnlockCommand DeAuthorized "
    "|DIAG Idle Uploaded UploadFailed Uploading "
    "|FW Downloaded DownloadFailed Downloading Idle InstallationFailed Installing Installed "
    # OCPP 1.6 (and security extension) actions this central system knows but does not
    # take from a charger: NotSupported rather than NotImplemented
    "|NS CancelReservation ChangeAvailability ChangeConfiguration ClearCache ClearChargingProfile"
    " GetCompositeSchedule GetConfiguration GetDiagnostics GetLocalListVersion RemoteStartTransaction"
    " RemoteStopTransaction ReserveNow Reset SendLocalList SetChargingProfile TriggerMessage"
    " UnlockConnector UpdateFirmware CertificateSigned DeleteCertificate ExtendedTriggerMessage"
    " GetInstalledCertificateIds GetLog InstallCertificate SignedUpdateFirmware SignCertificate"
    " LogStatusNotification SignedFirmwareStatusNotification "
    "|TRIG BootNotification DiagnosticsStatusNotification FirmwareStatusNotification Heartbeat"
    " MeterValues StatusNotification "
    # the statuses of the answers to the CALLs we send (GetConfiguration has a schema)
    "|ChangeConfiguration Accepted Rejected RebootRequired NotSupported "
    "|SetChargingProfile Accepted Rejected NotSupported "
    "|ClearChargingProfile Accepted Unknown "
    "|RemoteStartTransaction Accepted Rejected "
    "|RemoteStopTransaction Accepted Rejected "
    "|Reset Accepted Rejected "
    "|TriggerMessage Accepted Rejected NotImplemented |")


class RpcError(Exception):
    """An OCPP-J fault: ``code`` is the CALLERROR errorCode, ``unique_id`` the id to answer
    (None when the message had no readable id)."""

    def __init__(self, code, description, unique_id=None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.unique_id = unique_id


def words(name):
    """The text of word list ``name`` of ``_WORDS``: `` word word ... `` (for messages)."""
    i = _WORDS.find("|" + name + " ") + len(name) + 1
    return _WORDS[i:_WORDS.find("|", i)]


def one_of(value, name):
    """Whether ``value`` is a string and one of the words of list ``name`` in ``_WORDS``."""
    if not isinstance(value, str) or not value or " " in value or "|" in value:
        return False
    i = _WORDS.find("|" + name + " ")
    return i >= 0 and _WORDS.find(" " + value + " ", i + 1 + len(name), _WORDS.find("|", i + 1)) >= 0


def _scan_call_id(text):
    """The unique id of text that starts like a CALL, ``[2,"id"``, though it is not JSON."""
    state = 0
    for i in range(min(len(text), 64)):
        c = text[i]
        if c in " \t\r\n":
            continue
        if state < 3 and c == '[2,'[state]:
            state += 1
        elif state == 3 and c == '"':
            end = text.find('"', i + 1, i + 2 + _UNIQUE_ID_MAX)
            if end < 0 or "\\" in text[i + 1:end]:
                return None
            return text[i + 1:end]
        else:
            return None
    return None


def decode(text):
    """Parse one OCPP-J message.

    Returns ``(CALL, id, action, payload)``, ``(CALLRESULT, id, payload, None)`` or
    ``(CALLERROR, id, errorCode, errorDescription)``; raises ``RpcError`` otherwise.
    """
    try:
        msg = json.loads(text)
    except Exception:   # ValueError; CPython may also raise RecursionError on deep nesting
        raise RpcError(_FORMATION, "message is not valid JSON", _scan_call_id(text))
    if type(msg) is not list:
        raise RpcError(_FORMATION, "message is not a JSON array")
    n = len(msg)
    uid = msg[1] if n > 1 else None
    if not isinstance(uid, str) or not uid:
        raise RpcError(_FORMATION, "message has no unique id")
    kind = msg[0]
    if type(kind) is not int or kind < _CALL or kind > _CALLERROR:
        raise RpcError(_FORMATION, "message type id must be 2, 3 or 4", uid)
    if kind == _CALL:
        fault = None
        if len(uid) > _UNIQUE_ID_MAX:
            fault = "unique id longer than 36 characters"
        elif n != 4:
            fault = "CALL must have 4 elements"
        elif not isinstance(msg[2], str) or not msg[2]:
            fault = "CALL action must be a string"
        elif type(msg[3]) is not dict:
            fault = "CALL payload must be a JSON object"
        if fault:
            raise RpcError(_FORMATION, fault, uid)
        return kind, uid, msg[2], msg[3]
    # A result or an error is never answered: a bad one is dropped (uid None).
    if kind == _CALLRESULT:
        if n != 3 or type(msg[2]) is not dict:
            raise RpcError(_FORMATION, "CALLRESULT must be [3, id, {payload}]")
        return kind, uid, msg[2], None
    return (kind, uid, msg[2] if n > 2 and isinstance(msg[2], str) else "GenericError",
            msg[3] if n > 3 and isinstance(msg[3], str) else "")


def error_text(unique_id, code, description):
    """A CALLERROR, with the description cut to a bounded length."""
    return json.dumps([_CALLERROR, unique_id, code, description[:_DESCRIPTION_MAX], {}])


def check_call(action, payload):
    """Check a CALL from a charger: an action this central system takes, and its payload."""
    if ":" in action or "|" in action or not "A" <= action[0] <= "Z" or "|" + action + ":" not in _SCHEMAS:
        raise RpcError("NotSupported" if one_of(action, "NS") else "NotImplemented",
                       "%s is not taken by this central system" % action[:40])
    check(payload, action)


def _schema(name):
    i = _SCHEMAS.find("|" + name + ":") + len(name) + 2
    return _SCHEMAS[i:_SCHEMAS.find("|", i)].split(",")


def _is_datetime(v):
    # 2024-05-01T12:00:00 with an optional fraction and zone: the shape is checked, the
    # calendar is not (a charger with a wrong clock still sends a dateTime)
    if not isinstance(v, str) or not 19 <= len(v) <= 35:
        return False
    for i in range(19):
        c = v[i]
        p = "dddd-dd-ddTdd:dd:dd"[i]
        if not ("0" <= c <= "9" if p == "d" else c in "Tt " if p == "T" else c == p):
            return False
    return True


def check(payload, name):
    """Check a payload (dict) against schema ``name`` without recursion; raise RpcError
    (no unique id) with the code of the first fault found."""
    stack = [(payload, _schema(name), "")]
    while stack:
        obj, specs, where = stack.pop()
        for spec in specs:
            if not spec:
                continue
            field, kind = spec.split(" ")
            v = obj.get(field)
            required = kind[-1] == "!"
            if v is None:
                if required:
                    raise RpcError("ProtocolError", where + field + " is required")
                continue
            arg = kind[1:-1] if required else kind[1:]
            kind = kind[0]
            fault = None
            code = _TYPE
            if kind == "s":
                if not isinstance(v, str):
                    fault = "must be a string"
                elif arg and len(v) > int(arg):
                    fault = "must be at most %s characters" % arg
            elif kind == "i":
                if type(v) is not int:
                    fault = "must be an integer"
                elif arg and v < int(arg):
                    fault, code = "must be at least " + arg, _PROPERTY
            elif kind == "b":
                if type(v) is not bool:
                    fault = "must be true or false"
            elif kind == "e":
                if not isinstance(v, str):
                    fault = "must be a string"
                elif not one_of(v, arg):
                    fault, code = "is not an allowed value", _PROPERTY
            elif kind == "t":
                if not _is_datetime(v):
                    fault = "must be a dateTime such as 2024-05-01T12:00:00Z"
            elif type(v) is not list:     # a (list of objects) or l (list of strings)
                fault = "must be a list"
            elif kind == "l":
                for s in v:
                    if not isinstance(s, str) or len(s) > int(arg):
                        fault = "must hold strings of at most %s characters" % arg
                        break
            elif len(v) < int(arg[0]):
                fault, code = "must have at least %s entries" % arg[0], "OccurenceConstraintViolation"
            else:
                sub = _schema(arg[1:])
                for i in range(len(v)):
                    if type(v[i]) is not dict:
                        fault = "entries must be objects"
                        break
                    stack.append((v[i], sub, "%s%s[%d]." % (where, field, i)))
            if fault is not None:
                raise RpcError(code, where + field + " " + fault)
