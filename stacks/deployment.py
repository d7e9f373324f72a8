"""Whether the program is deploying for real or being synthesized offline.

`pulumi.runtime.is_dry_run()` cannot tell: a real `pulumi preview` is a dry run too, and mocks
may run either way. What differs is who answers the resource registrations: under
`pulumi.runtime.set_mocks` (`mediakit synth`, `mediakit check`, the stack tests, anything built on
them) the SDK's monitor is a `MockMonitor`; under `pulumi preview` / `pulumi up` it is the
engine's gRPC stub. Checks that only make sense against a real account (placeholder values) run
when, and only when, no mock monitor is installed.
"""

from __future__ import annotations

from pulumi.runtime import mocks, settings


def is_offline() -> bool:
    """True under Pulumi mocks: nothing this run registers reaches an AWS account."""
    return isinstance(settings.get_monitor(), mocks.MockMonitor)
