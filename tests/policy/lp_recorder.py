"""Records every AWS API call made while the real handlers run, tagged with the role making it.

botocore's event system is the tap: `before-parameter-build` keeps a call's API parameters,
`before-call` records the call, and `before-sign` (S3, presigning only) records a presigned URL
or POST: signed now, sent later by a client with the signer's credentials, so it counts as a call
of the signer's role. The hooks go into botocore's built-in handler list, so every session made
while they are installed has them: the runtime's cached clients and the test's own alike. A call
counts for a role only inside `acting_as(role)`; everything else (provisioning, the test's own
checks) is recorded unattributed and never reaches a comparison.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import botocore.handlers

from policies.callmap import (
    DIRECT,
    PRESIGNED_POST,
    PRESIGNED_URL,
    Call,
    Environment,
    FunctionFacts,
    Need,
    lambda_service_calls,
    needs,
)

Handler = Callable[[dict[str, Any], Any], Any]

_PARAMS = "mediakit.lp.params"
# Form fields of a presigned POST -> the PutObject parameters they stand for.
_POST_FIELDS = {
    "content-type": "ContentType",
    "x-amz-server-side-encryption": "ServerSideEncryption",
    "x-amz-server-side-encryption-aws-kms-key-id": "SSEKMSKeyId",
    "tagging": "Tagging",
    "acl": "ACL",
}
IMPLICIT = "implicit"


@dataclass(frozen=True)
class Recorded:
    """One call: the role it was made with (None: no Lambda role) and who made it."""

    role: str | None
    origin: str
    call: Call


class CallRecorder:
    """Install, run the flows inside `acting_as` / `lambda_function` wrappers, read `records`."""

    def __init__(self) -> None:
        self.records: list[Recorded] = []
        self._lock = threading.Lock()
        # Per thread and per context: the event source mapping runs handlers in threads.
        self._actor: ContextVar[tuple[str, str] | None] = ContextVar("lp_actor", default=None)
        self._hooks = [
            ("before-parameter-build.*.*", self._keep_params),
            ("before-call.*.*", self._on_call),
            ("before-sign.s3.*", self._on_sign),
        ]

    # -- lifecycle -----------------------------------------------------------------------------

    def install(self) -> None:
        """Hook every botocore session created from now on (create clients afterwards)."""
        botocore.handlers.BUILTIN_HANDLERS.extend(self._hooks)

    def uninstall(self) -> None:
        for hook in self._hooks:
            botocore.handlers.BUILTIN_HANDLERS.remove(hook)

    @contextmanager
    def acting_as(self, role: str, origin: str) -> Iterator[None]:
        token = self._actor.set((role, origin))
        try:
            yield
        finally:
            self._actor.reset(token)

    def lambda_function(self, fn: FunctionFacts, handler: Handler) -> Handler:
        """`handler` as Lambda runs it: with the function's role, plus the calls the Lambda
        service makes with that role for this invocation (`callmap.LAMBDA_SERVICE_CALLS`)."""

        def invoke(event: dict[str, Any], context: Any) -> Any:
            with self.acting_as(fn.role, fn.handler):
                today = datetime.datetime.now(datetime.UTC).date()
                for row, call in lambda_service_calls(fn, event, now=today):
                    self._add(call, origin=f"{IMPLICIT}: {row.caller}")
                return handler(event, context)

        return invoke

    # -- reading -------------------------------------------------------------------------------

    def snapshot(self) -> list[Recorded]:
        with self._lock:
            return list(self.records)

    def attributed(self) -> list[Recorded]:
        return [r for r in self.snapshot() if r.role is not None]

    def unattributed(self) -> list[Recorded]:
        return [r for r in self.snapshot() if r.role is None]

    def needs_by_role(self, env: Environment) -> dict[str, set[Need]]:
        """Role -> every permission its recorded calls need (raises on an unmapped call)."""
        out: dict[str, set[Need]] = {}
        for r in self.attributed():
            assert r.role is not None
            out.setdefault(r.role, set()).update(needs(r.call, env))
        return out

    # -- botocore hooks ------------------------------------------------------------------------

    def _add(self, call: Call, origin: str | None = None) -> None:
        actor = self._actor.get()
        role, default_origin = actor if actor else (None, "unattributed")
        with self._lock:
            self.records.append(Recorded(role, origin or default_origin, call))

    def _keep_params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        # The same context dict travels to before-call and, for presigning, to before-sign.
        context[_PARAMS] = dict(params)

    def _on_call(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        service = model.service_model.service_name
        self._add(Call(service, model.name, context.get(_PARAMS, {}), DIRECT))

    def _on_sign(self, request: Any, operation_name: str, **kwargs: Any) -> None:
        context = request.context
        if not context.get("is_presign_request"):
            return
        params = dict(context.get(_PARAMS, {}))
        if str(kwargs.get("signature_version", "")).endswith("presign-post"):
            # botocore builds a POST from CreateBucket's URL and signs it as PutObject; what the
            # form may upload is in its fields.
            fields = {str(k).lower(): v for k, v in context["s3-presign-post-fields"].items()}
            post = {"Bucket": params["Bucket"], "Key": fields["key"]}
            post.update({p: fields[f] for f, p in _POST_FIELDS.items() if f in fields})
            self._add(Call("s3", "PutObject", post, PRESIGNED_POST))
        else:
            self._add(Call("s3", operation_name, params, PRESIGNED_URL))
