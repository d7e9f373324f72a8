"""`mediakit.errors.explain`: each failure we know of becomes one line saying what to do, with
the "could not run" exit code; anything else is left to the boundary's internal error."""

from __future__ import annotations

import urllib.error

import click
import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoRegionError,
    PartialCredentialsError,
)

from mediakit.errors import EXIT_SETUP, SetupError, explain, internal_error, one_line
from runtime.errors import SettingsError


def _message(exc: BaseException) -> str:
    clean = explain(exc)
    assert clean is not None
    assert clean.exit_code == EXIT_SETUP
    assert "\n" not in clean.message
    return clean.message


def _client_error(code: str, operation: str = "ReceiveMessage") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "no"}}, operation)


def test_errors_dead_endpoint_local_says_start_dev_remote_says_network() -> None:
    local = EndpointConnectionError(endpoint_url="http://127.0.0.1:4566/")
    remote = EndpointConnectionError(endpoint_url="https://sqs.eu-west-1.amazonaws.com/")
    assert "no emulator answers at http://127.0.0.1:4566/: start `mediakit dev`" in _message(local)
    assert _message(remote).startswith("cannot reach https://sqs.eu-west-1.amazonaws.com/")
    assert "mediakit dev" not in _message(remote)


def test_errors_credentials_region_and_refusals_name_the_fix() -> None:
    partial = _message(PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"))
    assert partial.startswith("no AWS credentials (Partial credentials found in env")
    assert "AWS_REGION" in _message(NoRegionError())
    denied = _message(_client_error("AccessDenied"))
    assert denied.startswith("AWS refused ReceiveMessage: AccessDenied: no")
    assert "credentials are valid and for the stack's account" in denied
    gone = _message(_client_error("AWS.SimpleQueueService.NonExistentQueue"))
    assert "pulumi stack output --json" in gone


def test_errors_settings_files_and_connections() -> None:
    assert _message(SettingsError("MEDIAKIT_X", "must be an integer")) == (
        "MEDIAKIT_X: must be an integer"
    )
    missing = FileNotFoundError(2, "No such file or directory", "/tmp/none.json")
    assert _message(missing) == "/tmp/none.json: No such file or directory"
    refused = urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))
    assert "is `mediakit dev` running" in _message(refused)


def test_errors_click_errors_pass_through_and_bugs_are_not_explained() -> None:
    usage = click.UsageError("give --stack")
    assert explain(usage) is usage
    assert explain(ZeroDivisionError("x")) is None
    assert explain(KeyError("k")) is None
    assert internal_error(KeyError("k")).startswith("internal error: KeyError: 'k' (a bug")


def test_errors_setup_error_is_a_click_exception_with_exit_2() -> None:
    with pytest.raises(click.ClickException) as raised:
        raise SetupError("no X: run Y first")
    assert raised.value.exit_code == EXIT_SETUP == 2


def test_errors_one_line_folds_and_cuts() -> None:
    assert one_line("pip said:\n  ERROR: a\n\tERROR: b ") == "pip said: ERROR: a ERROR: b"
    assert one_line("x" * 500, 20) == "x" * 17 + "..."
