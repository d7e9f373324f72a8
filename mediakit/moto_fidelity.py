"""Make moto's S3 event notifications look like S3's.

S3 puts the object's `versionId` and a per-key increasing `sequencer` in every ObjectCreated
record; moto 5.2 leaves both out. The processor's idempotency is keyed on them (and it reads
exactly the version the event names), so without this the emulator would exercise a weaker path
than the one that runs on AWS.
"""

from __future__ import annotations

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
