"""Stand-in Lambda handlers that run in the emulator's worker processes, named by their dotted
path (`tests.emulator.lambda_handlers:behave`). Only the standard library: a worker's cold start
stays cheap, and nothing here shares state with the test process except through the event."""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

log = logging.getLogger("tests.lambda_handlers")

MIB = 1024 * 1024
# Far more than any memory limit the tests set, so only the kill stops the allocation.
_HOARD_LIMIT = 4096 * MIB
_FOREVER = 3600.0


def behave(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SQS batch handler whose behaviour each record's body names, as `ACTION:TAG`:
    `ok` succeeds, `hang-first` sleeps past any timeout on its first delivery, `exit-first`
    ends the process with status 3 on its first delivery, `hog` allocates until killed,
    `nap` sleeps 0.2 s. Every delivery is logged as "delivery N of BODY by PID"."""
    actions = []
    for record in event["Records"]:
        body = record["body"]
        count = int(record["attributes"]["ApproximateReceiveCount"])
        log.warning("delivery %d of %s by %d", count, body, os.getpid())
        actions.append((body.split(":", 1)[0], count))
    for action, count in actions:
        if action == "hang-first" and count == 1:
            time.sleep(_FOREVER)
        elif action == "exit-first" and count == 1:
            os._exit(3)
        elif action == "hog":
            _hoard()
        elif action == "nap":
            time.sleep(0.2)
    return {"batchItemFailures": []}


def _hoard() -> None:
    hoard = []
    while len(hoard) * 16 * MIB < _HOARD_LIMIT:
        # Written bytes, not zeros: calloc'd zero pages would not count as resident.
        hoard.append(b"\x01" * (16 * MIB))
        time.sleep(0.01)


def api(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """HTTP API handler: `GET /v1/uploads` describes the environment it runs in;
    `GET /v1/uploads/sleep` sleeps past any timeout; `GET /v1/uploads/nap` sleeps 0.3 s."""
    upload_id = (event.get("pathParameters") or {}).get("id")
    if upload_id == "sleep":
        time.sleep(_FOREVER)
    if upload_id == "nap":
        time.sleep(0.3)
    body = {
        "pid": os.getpid(),
        "environ": dict(os.environ),
        "function_name": context.function_name,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "invoked_function_arn": context.invoked_function_arn,
    }
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }


def sleep(event: dict[str, Any], context: Any) -> None:
    """Create the file `event["started"]` names, if any, then sleep `event["seconds"]`."""
    if "started" in event:
        with open(event["started"], "w", encoding="utf-8"):
            pass
    time.sleep(float(event["seconds"]))
