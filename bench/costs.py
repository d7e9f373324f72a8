"""Cost per 1,000 uploads: the processor Lambda from a measured duration, S3 from real sizes.

    .venv/bin/python bench/costs.py --ms 290            # median ms per upload (thumbnails.py)
    .venv/bin/python bench/costs.py --ms 290 --size 6000x4000 --arch x86_64

Lambda: requests (one invocation per `processorBatchSize` messages) plus duration at
`processorMemoryMb` (runtime/settings.py) for `--ms` per upload; `--ms` should come from
bench/thumbnails.py's median for the same original, preferably the one-CPU run (`taskset -c 0`):
below 1,769 MB a function has less than one vCPU. The duration is the image work only
(`process_image`); the S3 GET/PUTs, the record writes and the warm processing child's round trip
(bench/isolation.py: 2-4 ms) come on top.

S3: the original (the generated sample of `--size`, or `--image`) and the three default
derivatives rendered from it, their bytes stored for a year: all in S3 Standard, or with the
stack's lifecycle rule for originals (STANDARD_IA after `iaTransitionDays`, GLACIER_IR after
`glacierTransitionDays`; derivatives stay in Standard), plus the PUTs (original + derivatives),
the processor's GET and the two lifecycle transition requests per original. Reads by viewers
and data transfer out are not included: they depend on traffic, not on uploads.

Prices: US East (N. Virginia) list prices, the first tier of each (first 50 TB of S3 Standard,
first 7.5 billion GB-s of Lambda Arm, 6 billion of x86), no free tier. Taken on 2026-12-01 from
the stored copies of public pages listed in PRICE_SOURCES (this machine reaches package registries
only, not aws.amazon.com); check them against https://aws.amazon.com/lambda/pricing/ and
https://aws.amazon.com/s3/pricing/ before quoting a bill.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mediakit.corpus.samples import large_jpeg
from runtime.imaging import process_image
from runtime.settings import Settings

PRICES_TAKEN = "2026-12-01"
# USD, us-east-1 list prices.
LAMBDA_REQUEST = 0.20 / 1_000_000
LAMBDA_GB_SECOND = {"arm64": 0.0000133334, "x86_64": 0.0000166667}
S3_GB_MONTH = {"STANDARD": 0.023, "STANDARD_IA": 0.0125, "GLACIER_IR": 0.004}
S3_PUT = 0.005 / 1000  # PUT, COPY, POST, LIST into S3 Standard
S3_GET = 0.0004 / 1000  # GET, SELECT and all other requests, S3 Standard
# Lifecycle transition requests into a class cost that class's PUT price.
S3_TRANSITION = {"STANDARD_IA": 0.01 / 1000, "GLACIER_IR": 0.02 / 1000}
PRICE_SOURCES = (
    (
        "Lambda requests + Arm/x86 GB-s",
        'https://cloudchipr.com/blog/aws-lambda-pricing ("AWS Lambda Pricing Breakdown: '
        'Ultimate Guide 2024", US East (N. Virginia)); same figures in '
        "https://git.mcrn.ar/mariano/lambda_local_runner (docs/lambdas-md/lambda-13-cost.md)",
    ),
    (
        "S3 storage per GB-month",
        'https://costnimbus.com/article/s3-storage-classes-cost-guide ("pricing as of March '
        '2026 (US East - N. Virginia)"); https://cloudburn.io/blog/amazon-s3-pricing '
        "(March 13th, 2026)",
    ),
    (
        "S3 requests + transitions",
        "https://c3x.dev/blog/s3-request-fees-explained (per-class PUT/GET matrix); a stored "
        "copy of https://aws.amazon.com/s3/pricing/ (at https://smart.socialdev.workers.dev/"
        "page-https-aws.amazon.com/s3/pricing, undated) says moving data into a class by "
        "lifecycle rule is charged per request like a PUT into it",
    ),
)
GB = 1024**3
DAYS_PER_MONTH = 365 / 12


@dataclass(frozen=True)
class Upload:
    original_bytes: int
    derivative_bytes: int
    derivatives: int


def _upload(data: bytes, settings: Settings) -> Upload:
    result = process_image(data, "image/jpeg", settings, include_gps=False)
    return Upload(len(data), sum(len(d.body) for d in result.derivatives), len(result.derivatives))


def lambda_cost(ms: float, settings: Settings, arch: str) -> tuple[float, float]:
    """(requests, duration) in USD per 1,000 uploads."""
    invocations = 1000 / settings.processor_batch_size
    gb_seconds = 1000 * (settings.processor_memory_mb / 1024) * (ms / 1000)
    return invocations * LAMBDA_REQUEST, gb_seconds * LAMBDA_GB_SECOND[arch]


def storage_year(up: Upload, settings: Settings, *, lifecycle: bool) -> dict[str, float]:
    """USD per 1,000 uploads stored for 365 days: storage by class, requests, transitions."""
    originals_gb = 1000 * up.original_bytes / GB
    derivatives_gb = 1000 * up.derivative_bytes / GB
    out = {
        "requests": 1000 * ((1 + up.derivatives) * S3_PUT + S3_GET),
        "derivatives": derivatives_gb * S3_GB_MONTH["STANDARD"] * 12,
    }
    if not lifecycle:
        out["originals"] = originals_gb * S3_GB_MONTH["STANDARD"] * 12
        return out
    ia, glacier = settings.ia_transition_days, settings.glacier_transition_days
    standard_days = min(ia, 365)
    ia_days = max(0, min(glacier, 365) - ia)
    glacier_days = max(0, 365 - glacier)
    out["originals"] = (
        originals_gb
        * (
            standard_days * S3_GB_MONTH["STANDARD"]
            + ia_days * S3_GB_MONTH["STANDARD_IA"]
            + glacier_days * S3_GB_MONTH["GLACIER_IR"]
        )
        / DAYS_PER_MONTH
    )
    out["transitions"] = 1000 * (
        (S3_TRANSITION["STANDARD_IA"] if ia < 365 else 0.0)
        + (S3_TRANSITION["GLACIER_IR"] if glacier <= 365 else 0.0)
    )
    return out


def later_year(up: Upload, *, lifecycle: bool) -> float:
    """USD per 1,000 uploads for each further year they are kept (all originals cold by then)."""
    cls = "GLACIER_IR" if lifecycle else "STANDARD"
    return 1000 * 12 * (up.original_bytes * S3_GB_MONTH[cls] + up.derivative_bytes * 0.023) / GB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--ms", type=float, required=True, help="measured ms per upload")
    parser.add_argument("--size", default="4000x3000", help="generated sample, WxH")
    parser.add_argument("--image", type=Path, help="a JPEG instead of the generated sample")
    parser.add_argument("--arch", choices=sorted(LAMBDA_GB_SECOND), default="arm64")
    args = parser.parse_args(argv)

    settings = Settings()
    w, h = (int(v) for v in args.size.lower().split("x"))
    data = args.image.read_bytes() if args.image else large_jpeg((w, h))
    up = _upload(data, settings)
    requests, duration = lambda_cost(args.ms, settings, args.arch)
    plain = storage_year(up, settings, lifecycle=False)
    tiered = storage_year(up, settings, lifecycle=True)

    print(f"prices      us-east-1 list prices taken {PRICES_TAKEN}; sources:")
    for what, where in PRICE_SOURCES:
        print(f"  {what}: {where}")
    print(
        f"upload      {up.original_bytes / 1e6:.2f} MB original "
        f"({'--image' if args.image else args.size}), {up.derivatives} derivatives "
        f"{up.derivative_bytes / 1e3:.0f} KB"
    )
    print(
        f"lambda      {args.arch}, processorMemoryMb {settings.processor_memory_mb}, "
        f"batch {settings.processor_batch_size}, {args.ms:.0f} ms per upload"
    )
    tiers = f"IA {settings.ia_transition_days} d, Glacier IR {settings.glacier_transition_days} d"
    print(f"\n| per 1,000 uploads (USD) | all S3 Standard | with lifecycle ({tiers}) |")
    print("|---|---|---|")
    print(f"| Lambda requests | {requests:.5f} | {requests:.5f} |")
    print(f"| Lambda duration | {duration:.5f} | {duration:.5f} |")
    print(f"| S3 PUT + GET requests | {plain['requests']:.5f} | {tiered['requests']:.5f} |")
    print(f"| S3 lifecycle transitions | - | {tiered['transitions']:.5f} |")
    print(
        f"| S3 originals, first 365 days | {plain['originals']:.5f} | {tiered['originals']:.5f} |"
    )
    print(
        f"| S3 derivatives, first 365 days | {plain['derivatives']:.5f} | "
        f"{tiered['derivatives']:.5f} |"
    )
    first_plain = requests + duration + sum(plain.values())
    first_tiered = requests + duration + sum(tiered.values())
    print(f"| **first year, total** | **{first_plain:.4f}** | **{first_tiered:.4f}** |")
    print(
        f"| each further year kept | {later_year(up, lifecycle=False):.4f} | "
        f"{later_year(up, lifecycle=True):.4f} |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
