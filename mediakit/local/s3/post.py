"""Browser form uploads (POST Object) checked as S3 checks them: the multipart form, the SigV4
signature over the base64 policy, the policy's expiration, and every condition, exact,
`starts-with` and `content-length-range`, with no form field left without one.

https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-UsingHTTPPOST.html
https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html
https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from mediakit.local.s3.auth import (
    ALGORITHM,
    Clock,
    Keyring,
    check_signature,
    parse_scope,
    secret_for,
    sign,
    signature_does_not_match,
    unsupported_mechanism,
    utc_now,
)
from mediakit.local.s3.errors import S3Error

# The fields S3 requires of a SigV4 form, in the casing its errors name them.
SIGNATURE_FIELDS = (
    "x-amz-signature",
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "policy",
)
# Fields a policy need not mention: "Each form field that you specify in a form (except
# x-amz-signature, file, policy, and field names that have an x-ignore- prefix) must appear in
# the list of conditions." (sigv4-HTTPPOSTConstructPolicy)
UNCONDITIONED_FIELDS = frozenset({"x-amz-signature", "file", "policy"})
_EXPIRATION_FORMATS = ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Upload:
    """The form's `file` part: the name the browser gave it, and its size."""

    filename: str
    size: int


@dataclass(frozen=True)
class Form:
    """A POST Object form as S3 reads it: the fields before the file (S3 ignores every field
    after it), in order, and the file."""

    fields: tuple[tuple[str, str], ...]
    file: Upload | None

    def get(self, name: str) -> str | None:
        """The first value of field `name`; form field names are not case-sensitive."""
        lowered = name.lower()
        return next((v for k, v in self.fields if k.lower() == lowered), None)


def is_form_upload(method: str, content_type: str | None) -> bool:
    """A POST whose body is multipart/form-data: S3's browser-based upload."""
    return method == "POST" and (content_type or "").lower().startswith("multipart/form-data")


def parse_form(content_type: str, body: bytes) -> Form:
    """Read the multipart form with werkzeug's decoder, keeping field order up to `file`."""
    _, options = parse_options_header(content_type)
    boundary = options.get("boundary", "")
    malformed = S3Error(
        400,
        "MalformedPOSTRequest",
        "The body of your POST request is not well-formed multipart/form-data.",
    )
    if not boundary:
        raise malformed
    decoder = MultipartDecoder(boundary.encode("latin-1"))
    decoder.receive_data(body)
    decoder.receive_data(None)
    fields: list[tuple[str, str]] = []
    chunks: list[bytes] = []
    name, filename, is_file = "", "", False
    try:
        while True:
            event = decoder.next_event()
            if isinstance(event, (Field, File)):
                name, chunks, is_file = event.name, [], isinstance(event, File)
                filename = event.filename if isinstance(event, File) else ""
            elif isinstance(event, Data):
                chunks.append(event.data)
                if event.more_data:
                    continue
                if is_file or name.lower() == "file":
                    size = sum(len(c) for c in chunks)
                    return Form(tuple(fields), Upload(filename, size))
                fields.append((name, b"".join(chunks).decode("utf-8", "replace")))
            elif isinstance(event, (Epilogue, NeedData)):
                if isinstance(event, NeedData):
                    raise malformed
                return Form(tuple(fields), None)
    except ValueError:
        raise malformed from None


def _invalid_argument(message: str, name: str, value: str) -> S3Error:
    return S3Error(
        400, "InvalidArgument", message, (("ArgumentName", name), ("ArgumentValue", value))
    )


def _missing_field(name: str) -> S3Error:
    # S3 names the field title-cased: 'X-Amz-Signature', 'Policy'.
    shown = "-".join(p[:1].upper() + p[1:] for p in name.split("-"))
    return _invalid_argument(
        f"Bucket POST must contain a field named '{shown}'.  If it is specified, please check "
        "the order of the fields.",
        shown,
        "",
    )


def _invalid_policy(detail: str) -> S3Error:
    return S3Error(400, "InvalidPolicyDocument", f"Invalid Policy: {detail}")


def _condition_failed(condition: Any) -> S3Error:
    return S3Error(
        403,
        "AccessDenied",
        f"Invalid according to Policy: Policy Condition failed: {json.dumps(condition)}",
    )


def _query_style(detail: str, details: Sequence[tuple[str, str]] = ()) -> S3Error:
    return S3Error(
        400,
        "AuthorizationQueryParametersError",
        f"Error parsing the X-Amz-Credential parameter; {detail}",
        details,
    )


def verify_post(
    form: Form, *, bucket: str, keys: Keyring, region: str, now: Clock = utc_now
) -> None:
    """Authorize a POST Object form: its structure, its signature, then its policy."""
    if form.file is None:
        raise _invalid_argument("POST requires exactly one file upload per request.", "file", "0")
    if form.get("key") is None:
        raise _missing_field("key")
    present = [f for f in SIGNATURE_FIELDS if form.get(f) is not None]
    if not present:
        if form.get("AWSAccessKeyId") is not None or form.get("signature") is not None:
            raise unsupported_mechanism()
        # An anonymous form writes only to a publicly writable bucket, which this one is not.
        raise S3Error(403, "AccessDenied", "Access Denied")
    missing = [f for f in SIGNATURE_FIELDS if f not in present]
    if missing:
        raise _missing_field(missing[0])
    check_post_signature(form, keys=keys, region=region)
    policy = decode_policy(form.get("policy") or "")
    check_expiration(policy, now())
    check_conditions(policy, form, bucket=bucket)


def check_post_signature(form: Form, *, keys: Keyring, region: str) -> None:
    """The form's x-amz-signature must be the HMAC of the base64 policy under the signing key
    of its x-amz-credential (what botocore's S3SigV4PostAuth computes)."""
    if form.get("x-amz-algorithm") != ALGORITHM:
        raise unsupported_mechanism()
    scope = parse_scope(form.get("x-amz-credential") or "", region, _query_style)
    secret = secret_for(scope, keys)
    if (form.get("x-amz-date") or "")[:8] != scope.date:
        raise S3Error(
            400,
            "AuthorizationQueryParametersError",
            "Invalid credential date. Date is not the same as X-Amz-Date.",
        )
    policy = form.get("policy") or ""
    provided = form.get("x-amz-signature") or ""
    check_signature(
        sign(secret, scope, policy),
        provided,
        lambda: signature_does_not_match(scope, provided, policy),
    )


def decode_policy(policy: str) -> dict[str, Any]:
    """The policy document: base64 of a JSON object."""
    try:
        document = json.loads(base64.b64decode(policy, validate=True))
    except (binascii.Error, ValueError):
        raise _invalid_policy("Invalid JSON.") from None
    if not isinstance(document, dict):
        raise _invalid_policy("Invalid JSON.")
    return document


def check_expiration(policy: dict[str, Any], now: datetime) -> None:
    """The policy's `expiration` (ISO 8601 GMT) must be present, valid, and not passed."""
    expiration = policy.get("expiration")
    if expiration is None:
        raise _invalid_policy("Policy missing expiration.")
    for fmt in _EXPIRATION_FORMATS:
        try:
            expires_at = datetime.strptime(str(expiration), fmt).replace(tzinfo=UTC)
            break
        except ValueError:
            continue
    else:
        raise _invalid_policy(f"Invalid 'expiration' value: '{expiration}'")
    if now > expires_at:
        raise S3Error(403, "AccessDenied", "Invalid according to Policy: Policy expired.")


def _value_of(name: str, form: Form, bucket: str) -> str | None:
    # `bucket` is the bucket the form was posted to; `key` has `${filename}` filled in, as S3
    # stores it.
    lowered = name.lower()
    if lowered == "bucket":
        return bucket
    value = form.get(lowered)
    if lowered == "key" and value is not None and form.file is not None:
        return value.replace("${filename}", form.file.filename)
    return value


def check_conditions(policy: dict[str, Any], form: Form, *, bucket: str) -> None:
    """Every condition must hold, and every form field (bar the exempt ones and `x-ignore-*`)
    must be named by at least one condition."""
    conditions = policy.get("conditions")
    if not isinstance(conditions, list):
        raise _invalid_policy(
            "Policy missing conditions."
            if conditions is None
            else "Invalid 'conditions' value: must be a List."
        )
    covered: set[str] = set()
    for condition in conditions:
        covered.add(check_condition(condition, form, bucket=bucket))
    for name, _ in form.fields:
        lowered = name.lower()
        if lowered in UNCONDITIONED_FIELDS or lowered.startswith("x-ignore-") or lowered in covered:
            continue
        raise S3Error(
            403, "AccessDenied", f"Invalid according to Policy: Extra input fields: {name}"
        )


def matches(operator: str, value: str | None, expected: Any) -> bool:
    """Whether a field's value meets an exact (`eq`) or `starts-with` condition; a field the
    form does not have meets none (`["starts-with", "$f", ""]` allows any value of a field
    that is there)."""
    if value is None:
        return False
    if operator == "eq":
        return bool(value == expected)
    return value.startswith(str(expected))


def check_condition(condition: Any, form: Form, *, bucket: str) -> str:
    """Check one condition; returns the (lower-cased) field it constrains."""
    if isinstance(condition, dict):
        if len(condition) != 1:
            raise _invalid_policy(
                "Invalid Simple-Condition: "
                "Simple-Conditions must have exactly one property specified."
            )
        ((name, expected),) = condition.items()
        if not matches("eq", _value_of(str(name), form, bucket), expected):
            raise _condition_failed(condition)
        return str(name).lower()
    if not isinstance(condition, list) or not condition:
        raise _invalid_policy(f"Invalid Condition: {json.dumps(condition)}")
    operator = str(condition[0]).lower()
    if operator == "content-length-range" and len(condition) == 3:
        check_content_length_range(condition, form)
        return "content-length-range"
    field = condition[1] if len(condition) == 3 else None
    if operator not in ("eq", "starts-with") or not isinstance(field, str) or field[:1] != "$":
        raise _invalid_policy(f"Invalid Condition: {json.dumps(condition)}")
    if not matches(operator, _value_of(field[1:], form, bucket), condition[2]):
        raise _condition_failed(condition)
    return field[1:].lower()


def check_content_length_range(condition: list[Any], form: Form) -> None:
    """The file's size must lie within [min, max] (bytes, inclusive)."""
    try:
        low, high = int(condition[1]), int(condition[2])
    except (TypeError, ValueError):
        raise _invalid_policy(f"Invalid Condition: {json.dumps(condition)}") from None
    size = form.file.size if form.file is not None else 0
    if size < low:
        raise S3Error(
            400,
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed size",
            (("ProposedSize", str(size)), ("MinSizeAllowed", str(low))),
        )
    if size > high:
        raise S3Error(
            400,
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size",
            (("ProposedSize", str(size)), ("MaxSizeAllowed", str(high))),
        )
