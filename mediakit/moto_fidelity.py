"""Make moto's S3 event notifications look like S3's.

S3 puts the object's `versionId` and a per-key increasing `sequencer` in every ObjectCreated
record; moto 5.2 leaves both out. The processor's idempotency is keyed on them (and it reads
exactly the version the event names), so without this the emulator would exercise a weaker path
than the one that runs on AWS.
"""

from __future__ import annotations

import io
import itertools
import threading
from typing import Any

_install_lock = threading.Lock()
_counter_lock = threading.Lock()
_installed = False


def install() -> None:
    """Patch moto's notification builder once per process (idempotent, thread-safe)."""
    global _installed
    import moto.s3.notifications as notifications

    with _install_lock:
        if _installed:
            return
        real = notifications._get_s3_event
        # One process-wide counter also increases per key, which is all S3 promises.
        counter = itertools.count(0x5F0000000000)

        def get_s3_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> Any:
            event = real(event_name, bucket, key, notification_id)
            for record in event["Records"]:
                obj = record["s3"]["object"]
                if key.version_id:
                    obj["versionId"] = key.version_id
                with _counter_lock:
                    obj["sequencer"] = f"{next(counter):016X}"
            return event

        notifications._get_s3_event = get_s3_event
        _installed = True


def _buffer_body(app: Any) -> Any:
    """Read the request body before moto sees it. moto's server parses a PUT sent as
    `application/x-www-form-urlencoded` (curl's default with `--data-binary`) as a form and
    then blocks reading the already-consumed socket until the client gives up; with the body
    in memory it answers at once, as S3 would."""

    def app_with_buffered_body(environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > 0:
            environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].read(length))
        return app(environ, start_response)

    return app_with_buffered_body


def moto_server(host: str) -> Any:
    """moto's threaded server on a free port of `host`, with request bodies buffered."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class BufferedMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            # Same as moto's, but for the middleware around the app.
            app = _buffer_body(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    return BufferedMotoServer(ip_address=host, port=0, verbose=False)
