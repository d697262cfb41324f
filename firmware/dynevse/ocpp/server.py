"""The central system on microdot: the websocket route ``/ocpp/<chargePointId>``.

microdot parses the HTTP request and ``CentralSystem.serve`` answers it: a refusal in
HTTP/1.1 (microdot answers in HTTP/1.0, which websocket clients reject) or the websocket
(microdot's own websocket support has no subprotocols, continuation frames or close codes).
"""
from microdot import Microdot, Response


def mount(central, app, prefix="/ocpp"):
    """Add the OCPP websocket route to a microdot app; returns the app."""

    async def _handled(request, response):
        return Response.already_handled

    async def ocpp_endpoint(request, cp_id):
        # the answer (refusal or websocket) is written by serve; after_request handlers of
        # the app must not write another
        request.after_request(_handled)
        await central.serve(cp_id, request.headers, request.sock[0], request.sock[1])
        return Response.already_handled

    app.route(prefix + "/<cp_id>")(ocpp_endpoint)
    return app


def make_app(central):
    """A microdot app serving only the OCPP route (more routes may be added to it)."""
    return mount(central, Microdot())
