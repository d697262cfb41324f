"""The central system on microdot: the websocket route ``/ocpp/<chargePointId>``.

microdot parses the HTTP request; a refused upgrade gets an ordinary HTTP answer, an
accepted one is taken over by ``CentralSystem.serve`` (microdot's own websocket support
has no subprotocols, continuation frames or close codes).
"""
from microdot import Microdot, Response


def mount(central, app, prefix="/ocpp"):
    """Add the OCPP websocket route to a microdot app; returns the app."""

    async def _handled(request, response):
        return Response.already_handled

    async def ocpp_endpoint(request, cp_id):
        refusal = central.refusal(cp_id, request.headers)
        if refusal is not None:
            return refusal
        # after_request handlers of the app must not write a response on the websocket
        request.after_request(_handled)
        await central.serve(cp_id, request.headers, request.sock[0], request.sock[1])
        return Response.already_handled

    app.route(prefix + "/<cp_id>")(ocpp_endpoint)
    return app


def make_app(central):
    """A microdot app serving only the OCPP route (more routes may be added to it)."""
    return mount(central, Microdot())
