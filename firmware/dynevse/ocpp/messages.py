"""The OCPP 1.6 payloads the central system checks, and the walk that checks them.

Taken from the official 1.6 JSON schemas: field names, types, required fields, CiString
lengths and enumerations. ``SCHEMAS`` holds the CALLs a charger may send us (by action)
and the parts they share (upper-case names); ``ANSWERS`` the statuses a charger may answer
to the CALLs we send.

The tables are text, not tuples: on MicroPython a table of tuples costs about three times
the heap of the same table as one string. A schema is ``field kind,field kind,...``:

- ``s`` string, ``s20`` of at most 20 characters; ``i`` integer, ``i0`` at least 0
- ``b`` boolean; ``t`` dateTime; ``eNAME`` one of the words of ``ENUMS[NAME]``
- ``a1NAME`` list of objects of schema NAME with at least 1 entry; ``l50`` list of strings
  of at most 50 characters
- a trailing ``!`` marks a required field

Which CALLERROR code each fault gets is explained in ``rpc``.
"""
from dynevse.ocpp.rpc import (RpcError, PROTOCOL_ERROR, TYPE_CONSTRAINT, PROPERTY_CONSTRAINT,
                              OCCURENCE_CONSTRAINT)

# Words with a space at each end, so " word " finds a whole word.
MEASURANDS = (" Energy.Active.Export.Register Energy.Active.Import.Register"
              " Energy.Reactive.Export.Register Energy.Reactive.Import.Register"
              " Energy.Active.Export.Interval Energy.Active.Import.Interval"
              " Energy.Reactive.Export.Interval Energy.Reactive.Import.Interval"
              " Power.Active.Export Power.Active.Import Power.Offered Power.Reactive.Export"
              " Power.Reactive.Import Power.Factor Current.Import Current.Export Current.Offered"
              " Voltage Frequency Temperature SoC RPM ")
TRIGGER_MESSAGES = (" BootNotification DiagnosticsStatusNotification FirmwareStatusNotification"
                    " Heartbeat MeterValues StatusNotification ")

ENUMS = {
    "MEAS": MEASURANDS,
    "PHASE": " L1 L2 L3 N L1-N L2-N L3-N L1-L2 L2-L3 L3-L1 ",
    "UNIT": " Wh kWh varh kvarh W kW VA kVA var kvar A V K Celcius Celsius Fahrenheit Percent Hertz ",
    "CTX": (" Interruption.Begin Interruption.End Sample.Clock Sample.Periodic Transaction.Begin"
            " Transaction.End Trigger Other "),
    "LOC": " Cable EV Inlet Outlet Body ",
    "FMT": " Raw SignedData ",
    "STATUS": " Available Preparing Charging SuspendedEVSE SuspendedEV Finishing Reserved Unavailable Faulted ",
    "ERR": (" ConnectorLockFailure EVCommunicationError GroundFailure HighTemperature InternalError"
            " LocalListConflict NoError OtherError OverCurrentFailure PowerMeterFailure"
            " PowerSwitchFailure ReaderFailure ResetFailure UnderVoltage OverVoltage WeakSignal "),
    "REASON": (" EmergencyStop EVDisconnected HardReset Local Other PowerLoss Reboot Remote"
               " SoftReset UnlockCommand DeAuthorized "),
    "DIAG": " Idle Uploaded UploadFailed Uploading ",
    "FW": " Downloaded DownloadFailed Downloading Idle InstallationFailed Installing Installed ",
}

SCHEMAS = {
    "BootNotification": ("chargePointVendor s20!,chargePointModel s20!,chargePointSerialNumber s25,"
                         "chargeBoxSerialNumber s25,firmwareVersion s50,iccid s20,imsi s20,"
                         "meterType s25,meterSerialNumber s25"),
    "Heartbeat": "",
    "StatusNotification": ("connectorId i0!,errorCode eERR!,info s50,status eSTATUS!,timestamp t,"
                           "vendorId s255,vendorErrorCode s50"),
    "Authorize": "idTag s20!",
    "StartTransaction": "connectorId i1!,idTag s20!,meterStart i!,reservationId i,timestamp t!",
    "StopTransaction": ("idTag s20,meterStop i!,timestamp t!,transactionId i!,reason eREASON,"
                        "transactionData a0TXMV"),
    "MeterValues": "connectorId i0!,transactionId i,meterValue a1MV!",
    # data is a string in the schema but vendors send objects too; it is never read
    "DataTransfer": "vendorId s255!,messageId s50",
    "DiagnosticsStatusNotification": "status eDIAG!",
    "FirmwareStatusNotification": "status eFW!",
    # security extension: a notification a charger may send on its own
    "SecurityEventNotification": "type s50!,timestamp t!,techInfo s255",
    # parts; MeterValues lists are 1..*, StopTransaction's transactionData may hold empty ones
    "MV": "timestamp t!,sampledValue a1SV!",
    "TXMV": "timestamp t!,sampledValue a0SV!",
    "SV": "value s!,context eCTX,format eFMT,measurand eMEAS,phase ePHASE,location eLOC,unit eUNIT",
    # the answer to our GetConfiguration
    "GetConfiguration": "configurationKey a0KEY,unknownKey l50",
    "KEY": "key s50!,readonly b!,value s500",
}

# OCPP 1.6 (and security extension) actions this central system knows but does not take
# from a charger: NotSupported rather than NotImplemented.
NOT_SUPPORTED = (" CancelReservation ChangeAvailability ChangeConfiguration ClearCache"
                 " ClearChargingProfile GetCompositeSchedule GetConfiguration GetDiagnostics"
                 " GetLocalListVersion RemoteStartTransaction RemoteStopTransaction ReserveNow"
                 " Reset SendLocalList SetChargingProfile TriggerMessage UnlockConnector"
                 " UpdateFirmware CertificateSigned DeleteCertificate ExtendedTriggerMessage"
                 " GetInstalledCertificateIds GetLog InstallCertificate SignedUpdateFirmware"
                 " SignCertificate LogStatusNotification SignedFirmwareStatusNotification ")

# The answer statuses of the CALLs we send (GetConfiguration has a schema instead).
ANSWERS = {
    "ChangeConfiguration": " Accepted Rejected RebootRequired NotSupported ",
    "SetChargingProfile": " Accepted Rejected NotSupported ",
    "ClearChargingProfile": " Accepted Unknown ",
    "RemoteStartTransaction": " Accepted Rejected ",
    "RemoteStopTransaction": " Accepted Rejected ",
    "Reset": " Accepted Rejected ",
    "TriggerMessage": " Accepted Rejected NotImplemented ",
}

# The CALLs a charger sends that this central system answers.
REQUESTS = (" BootNotification Heartbeat StatusNotification Authorize StartTransaction"
            " StopTransaction MeterValues DataTransfer DiagnosticsStatusNotification"
            " FirmwareStatusNotification SecurityEventNotification ")


def is_word(value, words):
    """Whether the string ``value`` is one of the space-separated ``words``."""
    return isinstance(value, str) and value != "" and " " not in value \
        and (" " + value + " ") in words


def _is_datetime(v):
    # 2024-05-01T12:00:00 with an optional fraction and zone: the shape is checked, the
    # calendar is not (a charger with a wrong clock still sends a dateTime)
    if not isinstance(v, str) or not 19 <= len(v) <= 35:
        return False
    for i in range(19):
        c = v[i]
        if i == 4 or i == 7:
            if c != "-":
                return False
        elif i == 10:
            if c != "T" and c != "t" and c != " ":
                return False
        elif i == 13 or i == 16:
            if c != ":":
                return False
        elif not "0" <= c <= "9":
            return False
    return True


def _path(parts):
    # parts: a tuple of names and indexes, joined only when a fault is reported
    out = ""
    for p in parts:
        if type(p) is int:
            out += "[%d]" % p
        else:
            out += ("." if out else "") + p
    return out


def check(payload, name):
    """Check a payload (dict) against ``SCHEMAS[name]`` without recursion; raise RpcError
    (no unique id) with the code of the first fault found."""
    stack = [(payload, SCHEMAS[name].split(","), ())]
    while stack:
        obj, specs, where = stack.pop()
        for spec in specs:
            if not spec:
                continue
            field, kind = spec.split(" ")
            v = obj.get(field)
            if v is None:
                if kind[-1] == "!":
                    raise RpcError(PROTOCOL_ERROR, "%s is required" % _path(where + (field,)))
                continue
            arg = kind[1:].rstrip("!")
            kind = kind[0]
            fault = None
            code = TYPE_CONSTRAINT
            if kind == "s":
                if not isinstance(v, str):
                    fault = "must be a string"
                elif arg and len(v) > int(arg):
                    fault = "must be at most %s characters" % arg
            elif kind == "i":
                if type(v) is not int:
                    fault = "must be an integer"
                elif arg and v < int(arg):
                    fault, code = "must be at least " + arg, PROPERTY_CONSTRAINT
            elif kind == "b":
                if type(v) is not bool:
                    fault = "must be true or false"
            elif kind == "e":
                if not isinstance(v, str):
                    fault = "must be a string"
                elif not is_word(v, ENUMS[arg]):
                    fault, code = "is not an allowed value", PROPERTY_CONSTRAINT
            elif kind == "t":
                if not _is_datetime(v):
                    fault = "must be a dateTime such as 2024-05-01T12:00:00Z"
            elif kind == "a":
                least = int(arg[0])
                if type(v) is not list:
                    fault = "must be a list"
                elif len(v) < least:
                    fault, code = "must have at least %d entries" % least, OCCURENCE_CONSTRAINT
                else:
                    sub = SCHEMAS[arg[1:]].split(",")
                    for i in range(len(v)):
                        if type(v[i]) is not dict:
                            fault = "entries must be objects"
                            break
                        stack.append((v[i], sub, where + (field, i)))
            elif kind == "l":
                if type(v) is not list:
                    fault = "must be a list"
                else:
                    for s in v:
                        if not isinstance(s, str) or len(s) > int(arg):
                            fault = "must hold strings of at most %s characters" % arg
                            break
            if fault is not None:
                raise RpcError(code, "%s %s" % (_path(where + (field,)), fault))
