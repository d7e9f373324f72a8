"""Fault injection on the runtime's cached clients: a `before-call` hook answers chosen AWS
calls in place of the service, as a throttled or failing AWS would after botocore's retries."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse

from runtime import aws


@dataclass
class Fault:
    """Answer `times` calls (None: every call) matching `when` with this error, or run `effect`.
    `when` and `effect` see the serialised request (`url_path`, `headers`, `body`)."""

    code: str
    status: int
    times: int | None = None
    when: Callable[[dict[str, Any]], bool] = lambda params: True
    effect: Callable[[dict[str, Any]], None] | None = None
    body: dict[str, Any] | None = None
    hits: int = 0


@dataclass
class Injector:
    """Registers faults on the runtime's process-wide clients (`runtime.aws`)."""

    faults: dict[str, list[Fault]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: dict[str, int] = field(default_factory=dict)
    _hooked: dict[int, Any] = field(default_factory=dict)

    def add(self, service: str, operation: str, fault: Fault) -> Fault:
        client = aws.client(service)
        event = f"before-call.{client.meta.service_model.service_id.hyphenize()}.{operation}"
        self.faults.setdefault(event, []).append(fault)
        if id(client) not in self._hooked:
            self._hooked[id(client)] = client
            client.meta.events.register("before-call", self._hook)
        return fault

    def close(self) -> None:
        """Unhook from every client (process-wide clients outlive a test)."""
        for client in self._hooked.values():
            client.meta.events.unregister("before-call", self._hook)
        self._hooked.clear()

    def _hook(self, event_name: str, params: dict[str, Any], **kwargs: Any) -> Any:
        with self.lock:
            self.calls[event_name] = self.calls.get(event_name, 0) + 1
            fault = next(
                (
                    f
                    for f in self.faults.get(event_name, [])
                    if (f.times is None or f.hits < f.times) and f.when(params)
                ),
                None,
            )
            if fault is None:
                return None
            fault.hits += 1
        if fault.effect is not None:
            fault.effect(params)
            return None
        response = AWSResponse("https://fault.test/", fault.status, {}, None)
        parsed = fault.body or {
            "Error": {"Code": fault.code, "Message": f"injected {fault.code}"},
            "ResponseMetadata": {"HTTPStatusCode": fault.status},
        }
        return response, parsed
