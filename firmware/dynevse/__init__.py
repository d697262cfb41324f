"""Dynamic OCPP EVSE panel controller firmware."""
VERSION = "0.1.0"
