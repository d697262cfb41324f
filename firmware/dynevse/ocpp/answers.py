"""The CALLs a charger sends now and then, answered (BootNotification, Authorize,
Start/StopTransaction, DataTransfer, the status notifications), and the answer to a
message at fault. Imported for one message and forgotten after it (``central._sync``);
the frequent CALLs (Heartbeat, StatusNotification, MeterValues) are answered in
``central.py``.

- ``answer``: a CALL checked against ``_TABLE`` and answered; an action not taken here is
  NotSupported (one OCPP 1.6 knows) or NotImplemented
- ``refuse``: a malformed message's CALLERROR (or drop), an answer to no CALL (dropped)
"""
import json

from dynevse.compat import const
from dynevse.ocpp import central, rpc

_SETUP = const(2)      # central._SETUP
_BOOTED = const(5)     # central._BOOTED

# In the form of rpc._TABLE: the schemas of the CALLs answered here and their word lists.
_TABLE = (
    "|BootNotification:chargePointVendor s20!,chargePointModel s20!,chargePointSerialNumber s25,"
    "chargeBoxSerialNumber s25,firmwareVersion s50,iccid s20,imsi s20,meterType s25,meterSerialNumber s25"
    "|Authorize:idTag s20!"
    "|StartTransaction:connectorId i1!,idTag s20!,meterStart i!,reservationId i,timestamp t!"
    "|StopTransaction:idTag s20,meterStop i!,timestamp t!,transactionId i!,reason eREASON,transactionData a0txmv"
    # data is a string in the schema but vendors send objects too; it is never read
    "|DataTransfer:vendorId s255!,messageId s50"
    "|DiagnosticsStatusNotification:status eDIAG!"
    "|FirmwareStatusNotification:status eFW!"
    # security extension: a notification a charger may send on its own
    "|SecurityEventNotification:type s50!,timestamp t!,techInfo s255"
    "|txmv:timestamp t!,sampledValue a0sv!"
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
    " LogStatusNotification SignedFirmwareStatusNotification |")


def answer(s, action, p):
    """The CALLRESULT payload for a CALL of ``action`` that ``central`` does not answer
    itself; raises RpcError for an action not taken and for a payload at fault."""
    if ":" in action or "|" in action or not "A" <= action[0] <= "Z" or "|" + action + ":" not in _TABLE:
        raise rpc.RpcError("NotSupported" if rpc.one_of(action, "NS", _TABLE) else "NotImplemented",
                           "%s is not taken by this central system" % action[:40])
    rpc.check(p, action, _TABLE)
    cs = s._cs
    if action == "BootNotification":
        # kept and shown: as valid text (see rpc.valid_text)
        s.vendor = rpc.valid_text(p["chargePointVendor"])
        s.model = rpc.valid_text(p["chargePointModel"])
        s.firmware = p.get("firmwareVersion")
        if s.firmware is not None:
            s.firmware = rpc.valid_text(s.firmware)
        s._log("BootNotification %s %s firmware %s" % (s.vendor, s.model, s.firmware))
        link = s._link
        if link is not None:
            link[_BOOTED] = True
            t = link[_SETUP]
            if t is True or t is not None and t.done():
                # booted again on the same connection: it has lost its profiles (or the
                # setup could not run, short of memory)
                central._start_setup(s, link)
        return {"status": "Accepted", "currentTime": central.iso8601(cs.clock.utc_s()),
                "interval": cs.config["heartbeat_interval_s"]}
    if action == "StopTransaction":
        tx = p["transactionId"]
        if tx == s.transaction_id:
            s.transaction_id = None
            s._wake()     # a 0 A limit after a RemoteStop goes out as a profile
        s._log("StopTransaction %d at %d Wh (%s)" % (tx, p["meterStop"], p.get("reason") or "Local"))
        if p.get("idTag") is None:
            return {}
        action = "Authorize"
    if action == "Authorize" or action == "StartTransaction":
        tag = rpc.valid_text(p["idTag"])
        st = "Accepted"
        if not cs.config["free_charging"]:
            # IdTokens are case-insensitive strings (CiString20)
            st = "Invalid"
            for t in cs.config["id_tags"]:
                if t.lower() == tag.lower():
                    st = "Accepted"
        if action == "Authorize":
            return {"idTagInfo": {"status": st}}
        cs._tx += 1
        tx = cs._tx
        if st == "Accepted":
            s.transaction_id = tx
            s.meter_start_wh = p["meterStart"]
            s._wake()     # a TxProfile goes with each transaction
        s._log("StartTransaction connector %d idTag %s: %s, transaction %d" % (p["connectorId"], tag, st, tx))
        return {"idTagInfo": {"status": st}, "transactionId": tx}
    if action == "DataTransfer":
        return {"status": "UnknownVendorId"}
    if action != "DiagnosticsStatusNotification":
        # FirmwareStatusNotification, SecurityEventNotification
        s._log("%s %s" % (action, p.get("status") or p.get("type")))
    return {}


def refuse(s, e, action):
    """What answers RpcError ``e`` (of a CALL of ``action``, None when no action was read):
    its CALLERROR, or None when it has no unique id (dropped and counted). A code of None
    is an answer to no outstanding CALL (its id is the description): dropped."""
    if e.code is None:
        s.counters["dropped"] += 1
        s._log("dropped an answer to no outstanding CALL (id %s)" % e.description[:40])
        return None
    d = central._sync("texts", "describe", e)
    if e.unique_id is None:
        s.counters["dropped"] += 1
        s._log("dropped a message: " + d)
        return None
    s.counters["callerrors"] += 1
    s._log("CALLERROR %s to %s: %s" % (e.code, action[:40] if action else "message", d))
    return json.dumps([4, e.unique_id, e.code, d[:120], {}])
