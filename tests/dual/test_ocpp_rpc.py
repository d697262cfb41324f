"""OCPP-J framing and payload checks: every fault gets the CALLERROR code OCPP-J 1.6 names.

Runs under pytest and on the MicroPython unix port (tests/dual/run.py).
"""
from dualtest import raises
from dynevse.ocpp import answers, commands, rpc, setup
from dynevse.ocpp.rpc import RpcError


def fault(text):
    return raises(RpcError, rpc.decode, text)


def payload_fault(payload, action):
    # the schemas of the less frequent CALLs are in answers.py's table
    return raises(RpcError, rpc.check, payload, action, answers._TABLE)


def test_decode_the_three_message_types():
    assert rpc.decode('[2, "19223201", "BootNotification", {"chargePointVendor": "V"}]') == \
        (2, "19223201", "BootNotification", {"chargePointVendor": "V"})
    assert rpc.decode('[3, "a1", {"status": "Accepted"}]') == (3, "a1", {"status": "Accepted"}, None)
    assert rpc.decode('[4, "a1", "NotSupported", "no", {}]') == (4, "a1", "NotSupported", "no")


def test_invalid_json_is_a_formation_violation_answered_when_the_id_can_be_read():
    e = fault('[2, "abc", "Heartbeat", {')          # cut off: not JSON
    assert e.code == "FormationViolation" and e.unique_id == "abc"
    e = fault('  [ 2 ,"x-1" , garbage')
    assert e.code == "FormationViolation" and e.unique_id == "x-1"
    # no readable CALL id: dropped (unique_id None)
    for text in ('{"not": "closed"', "nonsense", '[3, "r1", {', '[2, 17, "Heartbeat"',
                 '[2, "' + "x" * 40 + '", {', ""):
        e = fault(text)
        assert e.code == "FormationViolation" and e.unique_id is None, text


def test_not_an_array_or_no_id_is_dropped():
    for text in ('{"a": 1}', '"text"', "42", "null", "[]", "[2]", '[2, 5, "Heartbeat", {}]',
                 '[2, "", "Heartbeat", {}]', '[2, null, "Heartbeat", {}]'):
        e = fault(text)
        assert e.unique_id is None, text


def test_wrong_message_type_id_is_answered():
    # 5 is no OCPP-J message type; "2" is a string, 2.0 a float, true a bool
    for text in ('[5, "m1", "Heartbeat", {}]', '["2", "m1", "Heartbeat", {}]',
                 '[2.0, "m1", "Heartbeat", {}]', '[true, "m1", "Heartbeat", {}]',
                 '[1, "m1", "Heartbeat", {}]'):
        e = fault(text)
        assert (e.code, e.unique_id) == ("FormationViolation", "m1"), text


def test_malformed_call_shapes():
    for text in ('[2, "m2", "Heartbeat"]', '[2, "m2", "Heartbeat", {}, {}]',
                 '[2, "m2", 7, {}]', '[2, "m2", "Heartbeat", []]', '[2, "m2", "Heartbeat", "{}"]',
                 '[2, "m2", "", {}]'):
        e = fault(text)
        assert (e.code, e.unique_id) == ("FormationViolation", "m2"), text
    # ids are at most 36 characters (OCPP-J); the overlong id is still answered
    long_id = "i" * 37
    e = fault('[2, "%s", "Heartbeat", {}]' % long_id)
    assert (e.code, e.unique_id) == ("FormationViolation", long_id)
    assert rpc.decode('[2, "%s", "Heartbeat", {}]' % ("i" * 36))[1] == "i" * 36


def test_bad_results_are_dropped_never_answered():
    for text in ('[3, "r1"]', '[3, "r1", []]', '[3, "r1", {}, {}]'):
        e = fault(text)
        assert e.unique_id is None, text
    # a CALLERROR with odd fields still reaches the waiting call, as a GenericError
    assert rpc.decode('[4, "r2"]') == (4, "r2", "GenericError", "")


def status(**kw):
    p = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
    p.update(kw)
    return p


def test_valid_payloads_pass():
    rpc.check({"chargePointVendor": "V" * 20, "chargePointModel": "M"}, "BootNotification", answers._TABLE)
    rpc.check({}, "Heartbeat")
    rpc.check(status(timestamp="2024-05-01T12:00:00.123+02:00"), "StatusNotification")
    rpc.check(status(timestamp="2024-05-01 12:00:00"), "StatusNotification")
    rpc.check({"connectorId": 1, "meterValue": [{"timestamp": "2024-05-01T12:00:00Z",
                                                 "sampledValue": [{"value": "1"}]}]}, "MeterValues")
    # unknown properties and null optional fields are tolerated
    rpc.check(status(vendorExtra={"a": 1}, info=None), "StatusNotification")
    # the answer to our GetConfiguration
    rpc.check({"configurationKey": [{"key": "K", "readonly": False, "value": "v"}], "unknownKey": ["X"]},
              "config", setup._TABLE)
    for bad, code in (({"configurationKey": [{"key": "K"}]}, "ProtocolError"),
                      ({"configurationKey": [{"key": "K", "readonly": "yes"}]}, "TypeConstraintViolation"),
                      ({"unknownKey": ["x" * 51]}, "TypeConstraintViolation"),
                      ({"unknownKey": "X"}, "TypeConstraintViolation")):
        assert raises(RpcError, rpc.check, bad, "config", setup._TABLE).code == code, bad


def test_missing_required_field_is_a_protocol_error():
    p = status()
    del p["status"]
    e = payload_fault(p, "StatusNotification")
    assert e.code == "ProtocolError" and "status" in e.description
    e = raises(RpcError, rpc.check, {"chargePointVendor": "V"}, "BootNotification", answers._TABLE)
    assert e.code == "ProtocolError" and "chargePointModel" in e.description
    # required but null counts as missing
    e = raises(RpcError, rpc.check, {"idTag": None}, "Authorize", answers._TABLE)
    assert e.code == "ProtocolError"
    # nested: a sampled value without its value
    e = payload_fault({"connectorId": 1, "meterValue": [{"timestamp": "2024-05-01T12:00:00Z",
                                                         "sampledValue": [{"unit": "A"}]}]}, "MeterValues")
    assert e.code == "ProtocolError" and "meterValue[0].sampledValue[0].value" in e.description


def test_wrong_types_are_type_constraint_violations():
    cases = [
        (status(connectorId="1"), "StatusNotification", "connectorId"),
        (status(connectorId=1.5), "StatusNotification", "connectorId"),
        (status(connectorId=True), "StatusNotification", "connectorId"),   # bool is not an integer
        (status(status=3), "StatusNotification", "status"),
        (status(timestamp="yesterday"), "StatusNotification", "timestamp"),
        (status(timestamp=20240501), "StatusNotification", "timestamp"),
        ({"chargePointVendor": "V" * 21, "chargePointModel": "M"}, "BootNotification", "chargePointVendor"),
        ({"idTag": ["A"]}, "Authorize", "idTag"),
        ({"connectorId": 1, "meterValue": {"timestamp": "x"}}, "MeterValues", "meterValue"),
        ({"connectorId": 1, "meterValue": ["x"]}, "MeterValues", "meterValue"),
    ]
    for p, action, field in cases:
        e = payload_fault(p, action)
        assert e.code == "TypeConstraintViolation", (p, e.code)
        assert field in e.description, (field, e.description)


def test_values_out_of_range_are_property_constraint_violations():
    for p in (status(status="Sleeping"), status(errorCode="Oops"), status(connectorId=-1),
              status(status="Available Charging")):
        e = payload_fault(p, "StatusNotification")
        assert e.code == "PropertyConstraintViolation", p
    # a transaction starts on a real connector (> 0)
    e = payload_fault({"connectorId": 0, "idTag": "T", "meterStart": 0,
                       "timestamp": "2024-05-01T12:00:00Z"}, "StartTransaction")
    assert e.code == "PropertyConstraintViolation" and "connectorId" in e.description


def test_empty_lists_are_occurence_constraint_violations():
    e = payload_fault({"connectorId": 1, "meterValue": []}, "MeterValues")
    assert e.code == "OccurenceConstraintViolation"
    e = payload_fault({"connectorId": 1, "meterValue": [{"timestamp": "2024-05-01T12:00:00Z",
                                                         "sampledValue": []}]}, "MeterValues")
    assert e.code == "OccurenceConstraintViolation"
    # StopTransaction's transactionData may be empty
    rpc.check({"meterStop": 5, "timestamp": "2024-05-01T12:00:00Z", "transactionId": 1,
               "transactionData": []}, "StopTransaction", answers._TABLE)


def test_word_lists():
    assert rpc.one_of("Charging", "STATUS") and rpc.one_of("Available", "STATUS") and rpc.one_of("Faulted", "STATUS")
    assert not rpc.one_of("Charg", "STATUS")
    assert not rpc.one_of("Available Charging", "STATUS")
    assert not rpc.one_of("", "STATUS")
    assert not rpc.one_of(None, "STATUS")
    assert not rpc.one_of("STATUS", "STATUS")             # a list's name is not one of its words
    assert not rpc.one_of("Heartbeat", "STATUS")          # nor a word of another list
    assert not rpc.one_of("L1", "NOSUCHLIST")
    assert not rpc.one_of("Faulted |ERR", "STATUS") and not rpc.one_of("Faulted|ERR", "STATUS")
    assert rpc.one_of("L3-L1", "PHASE") and rpc.one_of("SoC", "MEAS")
    # a second table (setup.py's, commands.py's) is looked at first, then rpc's
    t = setup._TABLE
    assert rpc.one_of("Unknown", "ClearChargingProfile", t) and not rpc.one_of("Rejected", "ClearChargingProfile", t)
    assert rpc.one_of("Charging", "STATUS", t) and not rpc.one_of("Unknown", "ClearChargingProfile")
    t = commands._TABLE
    for m in ("BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification", "Heartbeat",
              "MeterValues", "StatusNotification"):
        assert rpc.one_of(m, "TRIG", t), m
    assert not rpc.one_of("Authorize", "TRIG", t) and not rpc.one_of("Heartbeat", "TRIG")
