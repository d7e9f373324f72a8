"""Client configuration, transient-fault classification, and the cold-import budget."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

from runtime import aws, config
from runtime.errors import PermanentFault, TransientFault

ROOT = Path(__file__).resolve().parents[2]


def _error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op"
    )


def test_client_is_created_once_per_process(aws_env: None) -> None:
    # GIVEN no cached clients WHEN asked twice THEN the same client comes back until reset
    first = aws.s3()
    assert aws.s3() is first
    aws.reset()
    assert aws.s3() is not first


def test_client_config_adaptive_retries_and_checksums_when_required(aws_env: None) -> None:
    cfg = aws.s3().meta.config
    assert cfg.retries["mode"] == "adaptive"
    assert cfg.request_checksum_calculation == "when_required"
    assert cfg.signature_version == "s3v4"
    assert aws.dynamodb().meta.config.retries["mode"] == "adaptive"


def test_client_honours_endpoint_override_with_path_style(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the emulator's endpoint in the environment
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:5000")
    aws.reset()
    # WHEN clients are created THEN they talk to it, S3 path-style
    assert aws.s3().meta.endpoint_url == "http://localhost:5000"
    assert aws.s3().meta.config.s3["addressing_style"] == "path"
    assert aws.events().meta.endpoint_url == "http://localhost:5000"


def test_client_without_override_keeps_virtual_hosting(aws_env: None) -> None:
    assert (aws.s3().meta.config.s3 or {}).get("addressing_style") != "path"


def test_reset_clears_cached_settings(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN settings read once
    monkeypatch.setenv("MEDIAKIT_LIST_PAGE_SIZE", "7")
    assert config.settings().list_page_size == 7
    monkeypatch.setenv("MEDIAKIT_LIST_PAGE_SIZE", "9")
    assert config.settings().list_page_size == 7
    # WHEN reset THEN the environment is read again
    aws.reset()
    assert config.settings().list_page_size == 9


@pytest.mark.parametrize(
    "exc",
    [
        _error("SlowDown", 503),
        _error("ThrottlingException", 400),
        _error("ProvisionedThroughputExceededException", 400),
        _error("InternalError", 500),
        _error("Whatever", 502),
        _error("TooManyRequests", 429),
        ConnectTimeoutError(endpoint_url="https://x"),
        ReadTimeoutError(endpoint_url="https://x"),
        TimeoutError(),
        TransientFault("retry"),
    ],
)
def test_is_transient_true_for_throttling_5xx_and_timeouts(exc: BaseException) -> None:
    assert aws.is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        _error("AccessDenied", 403),
        _error("NoSuchKey", 404),
        _error("ValidationException", 400),
        PermanentFault("bad"),
        ValueError("x"),
    ],
)
def test_is_transient_false_for_client_faults(exc: BaseException) -> None:
    assert not aws.is_transient(exc)


@pytest.mark.parametrize("module", ["runtime.presign", "runtime.processor"])
def test_cold_import_loads_neither_boto3_nor_pillow(module: str) -> None:
    # GIVEN a fresh interpreter WHEN a handler module is imported
    heavy = "('boto3', 'botocore', 'PIL')"
    code = f"import sys, {module}; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    # THEN the heavy libraries wait until the first invocation needs them
    assert out.stdout.strip() == "[]"
