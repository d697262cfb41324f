"""OCPP-J 1.6 RPC framing: CALL / CALLRESULT / CALLERROR, and the CALLERROR codes.

``decode`` turns one websocket text message into a tuple or raises ``RpcError`` with the
CALLERROR code OCPP-J 1.6 names for the fault (``unique_id`` None: no id could be read, so
the message can only be dropped and counted). ``messages.check`` checks payloads.

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
"""
import json

from dynevse.compat import const

CALL = const(2)
CALLRESULT = const(3)
CALLERROR = const(4)

FORMATION_VIOLATION = "FormationViolation"
PROTOCOL_ERROR = "ProtocolError"
TYPE_CONSTRAINT = "TypeConstraintViolation"
OCCURENCE_CONSTRAINT = "OccurenceConstraintViolation"   # sic: the 1.6 spelling
PROPERTY_CONSTRAINT = "PropertyConstraintViolation"
NOT_IMPLEMENTED = "NotImplemented"
NOT_SUPPORTED = "NotSupported"
INTERNAL_ERROR = "InternalError"
GENERIC_ERROR = "GenericError"

UNIQUE_ID_MAX = const(36)    # OCPP-J: "maximum of 36 characters"
_DESCRIPTION_MAX = const(120)


class RpcError(Exception):
    """An OCPP-J fault: ``code`` is the CALLERROR errorCode, ``unique_id`` the id to answer
    (None when the message had no readable id)."""

    def __init__(self, code, description, unique_id=None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.unique_id = unique_id


def _scan_call_id(text):
    """The unique id of text that starts like a CALL, ``[2,"id"``, though it is not JSON."""
    n = len(text)
    i = 0
    state = 0
    while i < n and i < 64:
        c = text[i]
        i += 1
        if c in " \t\r\n":
            continue
        if state == 0 and c == "[":
            state = 1
        elif state == 1 and c == "2":
            state = 2
        elif state == 2 and c == ",":
            state = 3
        elif state == 3 and c == '"':
            end = text.find('"', i, i + UNIQUE_ID_MAX + 1)
            if end < 0 or "\\" in text[i:end]:
                return None
            return text[i:end]
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
        raise RpcError(FORMATION_VIOLATION, "message is not valid JSON", _scan_call_id(text))
    if type(msg) is not list:
        raise RpcError(FORMATION_VIOLATION, "message is not a JSON array")
    n = len(msg)
    uid = msg[1] if n > 1 else None
    if not isinstance(uid, str) or not uid:
        raise RpcError(FORMATION_VIOLATION, "message has no unique id")
    kind = msg[0]
    if type(kind) is not int or kind < CALL or kind > CALLERROR:
        raise RpcError(FORMATION_VIOLATION, "message type id must be 2, 3 or 4", uid)
    if kind == CALL:
        if len(uid) > UNIQUE_ID_MAX:
            raise RpcError(FORMATION_VIOLATION, "unique id longer than 36 characters", uid)
        if n != 4:
            raise RpcError(FORMATION_VIOLATION, "CALL must have 4 elements", uid)
        if not isinstance(msg[2], str) or not msg[2]:
            raise RpcError(FORMATION_VIOLATION, "CALL action must be a string", uid)
        if type(msg[3]) is not dict:
            raise RpcError(FORMATION_VIOLATION, "CALL payload must be a JSON object", uid)
        return CALL, uid, msg[2], msg[3]
    # A result or an error is never answered: a bad one is dropped (uid None).
    if kind == CALLRESULT:
        if n != 3 or type(msg[2]) is not dict:
            raise RpcError(FORMATION_VIOLATION, "CALLRESULT must be [3, id, {payload}]")
        return CALLRESULT, uid, msg[2], None
    code = msg[2] if n > 2 and isinstance(msg[2], str) else GENERIC_ERROR
    desc = msg[3] if n > 3 and isinstance(msg[3], str) else ""
    return CALLERROR, uid, code, desc


def call_text(unique_id, action, payload):
    return json.dumps([CALL, unique_id, action, payload])


def result_text(unique_id, payload):
    return json.dumps([CALLRESULT, unique_id, payload])


def error_text(unique_id, code, description):
    return json.dumps([CALLERROR, unique_id, code, description[:_DESCRIPTION_MAX], {}])
