"""Make moto's S3 look like S3: its event notifications, and its endpoint's checks.

S3 puts the object's `versionId` and a per-key increasing `sequencer` in every ObjectCreated
record; moto 5.2 leaves both out. The processor's idempotency is keyed on them (and it reads
exactly the version the event names), so without this the emulator would exercise a weaker path
than the one that runs on AWS.

moto's server accepts any signature, expired URLs and forms that break their POST policy, and
allows every CORS origin; the emulator's server puts `mediakit.local.s3.front.S3Front` in front of
moto's S3 so a request S3 would refuse is refused locally too, with S3's error.
"""

from __future__ import annotations

import io
import itertools
import threading
from collections.abc import Mapping
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
        _install_multipart()
        _install_event_envelope()
        _installed = True


def _xml_text(element: Any, tag: str) -> str | None:
    """The text of `element`'s first `tag` child, None without one."""
    found = element.getElementsByTagName(tag)
    if not found:
        return None
    return "".join(node.data for node in found[0].childNodes if node.nodeType == node.TEXT_NODE)


def _install_multipart() -> None:
    """Multipart uploads as S3 answers them. ListParts: moto 5.2 reads PartNumberMarker as an
    index into the sorted part list and calls a page truncated by counting parts, so once a
    part is missing (what a resumed upload looks like) a page skips parts or claims to be the
    last. UploadPart to an aborted (or unknown) upload: moto fails with a KeyError (a 500),
    S3 answers 404 NoSuchUpload. CompleteMultipartUpload of an upload created with
    ChecksumAlgorithm=SHA256: moto ignores the part checksums, S3 requires each part's and
    refuses one that is not the part's."""
    from xml.dom import minidom

    from moto.s3.exceptions import InvalidPart, NoSuchUpload, S3ClientError
    from moto.s3.models import FakeMultipart, S3Backend
    from moto.s3.responses import S3Response

    real_upload_part = S3Backend.upload_part

    def upload_part(
        self: Any, bucket_name: str, multipart_id: str, part_id: int, value: bytes
    ) -> Any:
        if multipart_id not in self.get_bucket(bucket_name).multiparts:
            raise NoSuchUpload(upload_id=multipart_id)
        return real_upload_part(self, bucket_name, multipart_id, part_id, value)

    def list_parts(self: Any, part_number_marker: int, max_parts: int) -> Any:
        after = [n for n in self.partlist if n > part_number_marker][:max_parts]
        return iter([self.parts[n] for n in after])

    def is_truncated(self: Any, bucket_name: str, multipart_id: str, marker: int) -> bool:
        multipart = self.get_bucket(bucket_name).multiparts[multipart_id]
        return any(n > int(marker) for n in multipart.partlist)

    real_upload_part_response = S3Response.upload_part

    def upload_part_response(self: Any) -> Any:
        answer = real_upload_part_response(self)
        # Remember the part's SHA-256 as S3 does (the front verified the body against it).
        multipart = self.backend.get_bucket(self.bucket_name).multiparts.get(
            self._get_param("uploadId")
        )
        if multipart is not None:
            part = multipart.parts.get(self._get_int_param("partNumber"))
            if part is not None:
                part.mediakit_checksum_sha256 = self.headers.get("x-amz-checksum-sha256")
        return answer

    real_complete_body = S3Response._complete_multipart_body

    def complete_body(self: Any, body: bytes) -> Any:
        multipart = self.backend.get_bucket(self.bucket_name).multiparts.get(
            self._get_param("uploadId")
        )
        algorithm = multipart.metadata.get("x-amz-checksum-algorithm") if multipart else None
        if multipart is not None and str(algorithm).upper() == "SHA256":
            # moto parses this same body with minidom right after (the S3 front has checked
            # its signature first).
            parts = minidom.parseString(body).getElementsByTagName("Part")  # noqa: S318
            for element in parts:
                number = int(_xml_text(element, "PartNumber") or 0)
                given = _xml_text(element, "ChecksumSHA256")
                if given is None:
                    raise S3ClientError(
                        "InvalidRequest",
                        "The upload was created using a sha256 checksum. The complete request "
                        f"must include the checksum for each part. It was missing for part "
                        f"{number} in the request.",
                    )
                part = multipart.parts.get(number)
                if part is None or given != getattr(part, "mediakit_checksum_sha256", None):
                    raise InvalidPart()
        return real_complete_body(self, body)

    S3Response.upload_part = upload_part_response  # type: ignore[method-assign]
    S3Response._complete_multipart_body = complete_body  # type: ignore[method-assign]
    S3Backend.upload_part = upload_part  # type: ignore[method-assign]
    FakeMultipart.list_parts = list_parts  # type: ignore[method-assign]
    S3Backend.is_truncated = is_truncated  # type: ignore[method-assign,assignment]


# EventBridge's event as a target receives it has version, id, detail-type, source, account,
# time, region, resources and detail (EventBridge User Guide, "Events"); moto 5.2's default
# input template leaves `account` out.
_EVENT_TEMPLATE = (
    '{"version": "0", "id": "<id>", "detail-type": "<detail-type>", "source": "<source>", '
    '"account": "<account>", "time": <time>, "region": "<region>", "resources": <resources>, '
    '"detail": <detail>}'
)


def _install_event_envelope() -> None:
    """Events delivered to targets carry `account`, as EventBridge's do (api/events/ schemas
    require it)."""
    from moto.events.utils import EventTemplateParser

    EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE = _EVENT_TEMPLATE


def read_body(environ: dict[str, Any]) -> bytes:
    """Read the whole request body before moto sees it, and leave it readable again.

    moto's server parses a PUT sent as `application/x-www-form-urlencoded` (curl's default with
    `--data-binary`) as a form and then blocks reading the already-consumed socket until the
    client gives up; with the body in memory it answers at once, as S3 would. A body sent with
    `Transfer-Encoding: chunked` (botocore's aws-chunked uploads with trailing checksums) has no
    Content-Length: werkzeug de-chunks it and marks the input terminated, so it is read to the
    end and given the length moto expects."""
    stream = environ["wsgi.input"]
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > 0:
        body: bytes = stream.read(length)
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
        environ["CONTENT_LENGTH"] = str(len(body))
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def gated_app(keys: Mapping[str, str], region: str) -> Any:
    """moto's WSGI app with every request routed to its S3 backend passing `S3Front` first:
    signatures, POST policies and CORS checked as S3 checks them for the keys in `keys`."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from mediakit.local.s3.front import S3Front, wsgi_headers

    front = S3Front(keys, region)

    class GatedDispatcher(DomainDispatcherApplication):
        def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
            headers = wsgi_headers(environ)  # before read_body rewrites the framing
            body = read_body(environ)
            # moto's own routing decides what is S3 (it may read the body to decide).
            app = self.get_application(environ)
            environ["wsgi.input"] = io.BytesIO(body)
            if getattr(app, "service", None) != "s3":
                return app(environ, start_response)
            return front(app, environ, headers, body, start_response)

    return GatedDispatcher(create_backend_app)


def moto_server(host: str, *, keys: Mapping[str, str], region: str) -> Any:
    """moto's threaded server on a free port of `host`, its S3 gated by `S3Front` for `keys`
    (access key id -> secret) in `region`, with request bodies buffered."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    class GatedMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            # Same as moto's, but for the app: moto's dispatcher behind the S3 gate.
            app = gated_app(keys, region)
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    return GatedMotoServer(ip_address=host, port=0, verbose=False)
