"""Poster frame of a generated 1080p 30 s MP4 through ranged reads against a whole download,
and the record's sha256 streamed against hashed from a whole download (issue 12.4).

S3 is moto's server on localhost (HTTP, so every GET pays a real round trip and a copy, though
no WAN latency): run against AWS the ranged side gains, since each avoided byte is a slow one.
Each measured call runs in a fresh interpreter so its peak memory is its own (`VmHWM` minus
the interpreter's size once PyAV and boto3 are imported, as in a warm Lambda). Runs alternate
between the two sides; medians, bytes fetched, GET requests, peak memory and the ratios are
printed. Nothing asserts.

    .venv/bin/python bench/media.py [--runs 5] [--seconds 30]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
from moto.server import ThreadedMotoServer

from mediakit.corpus.media import long_video
from runtime.media.poster import poster
from runtime.media.ranged import RangedReader, sha256_file, sha256_object

BUCKET = "media-bench"
KEY = "originals/long.mp4"


def _client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - moto's local server
    )


def _ranged_poster(endpoint: str) -> dict[str, Any]:
    reader = RangedReader(_client(endpoint), BUCKET, KEY)
    result = poster(reader, "video/mp4")
    return {"bytes": reader.bytes_fetched, "requests": reader.requests, "at": result.seconds}


def _whole_poster(endpoint: str) -> dict[str, Any]:
    data = _client(endpoint).get_object(Bucket=BUCKET, Key=KEY)["Body"].read()
    result = poster(io.BytesIO(data), "video/mp4")
    return {"bytes": len(data), "requests": 1, "at": result.seconds}


def _streamed_sha256(endpoint: str) -> dict[str, Any]:
    digest = sha256_object(_client(endpoint), BUCKET, KEY)
    return {"bytes": digest.size, "requests": 1, "sha256": digest.sha256}


def _whole_sha256(endpoint: str) -> dict[str, Any]:
    data = _client(endpoint).get_object(Bucket=BUCKET, Key=KEY)["Body"].read()
    digest = sha256_file(io.BytesIO(data))
    return {"bytes": digest.size, "requests": 1, "sha256": digest.sha256}


SIDES: dict[str, Callable[[str], dict[str, Any]]] = {
    "ranged_poster": _ranged_poster,
    "whole_poster": _whole_poster,
    "streamed_sha256": _streamed_sha256,
    "whole_sha256": _whole_sha256,
}


def _in_child(fn: Callable[[str], dict[str, Any]], endpoint: str) -> dict[str, Any]:
    """fn(endpoint) in a fresh interpreter (`--child`): its answer, wall seconds and the peak
    memory the call added over the interpreter's size after its imports."""
    name = next(key for key, value in SIDES.items() if value is fn)
    output = subprocess.run(
        [sys.executable, __file__, "--child", name, "--endpoint", endpoint],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    answer: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return answer


def _child(name: str, endpoint: str) -> None:
    import av  # noqa: F401 - imported before the baseline, as a warm Lambda has it

    _client(endpoint)  # botocore's first client loads its data files: not the call's cost
    start_rss = _rss_mib()
    started = time.perf_counter()
    answer = SIDES[name](endpoint)
    answer["seconds"] = time.perf_counter() - started
    answer["peak_mib"] = _status_mib("VmHWM") - start_rss
    print(json.dumps(answer))


def _status_mib(field: str) -> float:
    """A /proc/self/status memory field in MiB (VmHWM: peak resident size since exec; the
    rusage peak would still count the parent's pages from before exec)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _rss_mib() -> float:
    return _status_mib("VmRSS")


def _compare(
    title: str,
    ours: Callable[[str], dict[str, Any]],
    reference: Callable[[str], dict[str, Any]],
    endpoint: str,
    runs: int,
) -> None:
    results: dict[str, list[dict[str, Any]]] = {"ours": [], "reference": []}
    for _ in range(runs):
        results["ours"].append(_in_child(ours, endpoint))
        results["reference"].append(_in_child(reference, endpoint))
    print(f"\n{title}")
    print(f"{'':34}{'median s':>10}{'min..max s':>16}{'MB fetched':>12}{'GETs':>6}{'peak MiB':>10}")
    medians = {}
    for side, fn in (("ours", ours), ("reference", reference)):
        rows = results[side]
        seconds = [r["seconds"] for r in rows]
        medians[side] = {
            "seconds": statistics.median(seconds),
            "bytes": statistics.median(r["bytes"] for r in rows),
            "peak": statistics.median(r["peak_mib"] for r in rows),
        }
        print(
            f"{side + ': ' + fn.__name__:34}{medians[side]['seconds']:>10.3f}"
            f"{min(seconds):>8.3f}..{max(seconds):<6.3f}{medians[side]['bytes'] / 1e6:>12.2f}"
            f"{statistics.median(r['requests'] for r in rows):>6.0f}{medians[side]['peak']:>10.1f}"
        )
    o, r = medians["ours"], medians["reference"]
    print(
        f"ratios ours/reference: time {o['seconds'] / r['seconds']:.2f}x, "
        f"bytes {o['bytes'] / r['bytes']:.3f}x, peak memory {o['peak'] / max(r['peak'], 0.1):.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--child", choices=sorted(SIDES), help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.endpoint)
        return
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    started = time.perf_counter()
    data = long_video(seconds=args.seconds, detail=8)
    print(
        f"sample: 1920x1080 H.264 MP4, {args.seconds} s, {len(data) / 1e6:.1f} MB "
        f"(generated in {time.perf_counter() - started:.1f} s), moov at the end"
    )
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = _client(endpoint)
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key=KEY, Body=data)
        _in_child(_ranged_poster, endpoint)  # warm the server
        _compare(
            "poster frame (probe + seek + one decoded frame)",
            _ranged_poster,
            _whole_poster,
            endpoint,
            args.runs,
        )
        _compare(
            "record sha256 (a full read either way)",
            _streamed_sha256,
            _whole_sha256,
            endpoint,
            args.runs,
        )
    finally:
        server.stop()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"\nbench process max RSS {usage.ru_maxrss / 1024:.0f} MiB (holds the sample once)")


if __name__ == "__main__":
    main()
