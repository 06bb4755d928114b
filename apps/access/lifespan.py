"""The ASGI lifespan protocol for the WebSocket server: flush the access history at shutdown.

uvicorn sends ``lifespan.shutdown`` after it has closed every connection, so the rows of
those connections are buffered by then. This replaces atexit, which never runs under
uvicorn because it ends by re-raising SIGTERM.
"""

from asgiref.sync import sync_to_async

from .buffer import flush_at_shutdown


async def lifespan(scope: dict, receive, send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            # In a worker thread, because Django refuses ORM calls from a thread running an event loop.
            await sync_to_async(flush_at_shutdown, thread_sensitive=False)()
            await send({"type": "lifespan.shutdown.complete"})
            return
