"""Fixtures for runtime/media: the canary file, a file-access audit, and a moto S3 bucket.

The audit answers "did this call read anything outside its own bytes?" three ways, because
FFmpeg opens files in C, where Python's audit hooks never see it:
- the kernel's own count of read syscalls and bytes read by the process (`/proc/self/io`
  `syscr`/`rchar`) during the call, against the same count for doing nothing: a call that works
  only on bytes in memory makes no read syscall at all;
- inotify on the canary file (IN_OPEN / IN_ACCESS): any process opening it is reported;
- a Python audit hook for `open` events (what Python-level code would open).
The call runs in a forked child, so the counters, the hook and FFmpeg's state are its own.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

# importlib mode: put this folder on sys.path so the tests can share media_support.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from media_support import BUCKET, REGION

from mediakit.corpus.media import CANARY_TOKEN


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    # `.ts`: an extension FFmpeg's HLS demuxer accepts for segments, so the positive controls
    # below really make an unguarded FFmpeg open it.
    path = tmp_path / "canary.ts"
    path.write_text(f"{CANARY_TOKEN}\nAWS_SECRET_ACCESS_KEY={CANARY_TOKEN}\n")
    return path


@pytest.fixture
def s3() -> Iterator[Any]:
    """A moto S3 client with an empty versioned bucket `BUCKET`."""
    with mock_aws():
        client = boto3.client(
            "s3",
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client
