"""An ASGI app that accepts every WebSocket and does nothing else.

Served by ``python -m bench.idle --bare`` to measure what daphne, autobahn and Twisted
themselves keep per open connection: the floor under the project's own cost.
"""


async def application(scope, receive, send):
    """Accept WebSockets and wait for them to close; answer 404 to anything else."""
    if scope["type"] == "websocket":
        while True:
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
            elif message["type"] == "websocket.disconnect":
                return
    elif scope["type"] == "http":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    elif scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            pass
