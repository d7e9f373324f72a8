"""Every name mediakit accepts from a user: `MEDIAKIT_*` environment variables and stack-file
config keys. Anything else in those namespaces is a typo, refused with a suggestion, so a
misspelled setting never deploys or runs on its default.

Environment: the settings (`runtime.settings.Settings`, `MEDIAKIT_<SNAKE>`), the resource names
the stack hands the functions (`Resources.ENV`), the CLI's own variables (`CLI_ENV`, one line per
variable: add yours there) and the variables of the kit's tools and tests (`TOOL_ENV`).
Stack files: the `mediakit:` keys (settings + `stacks.config.INFRA_KEYS`, passed in by the
stack, which this package may not import) and the pulumi-aws provider's keys (`AWS_PROVIDER_KEYS`,
compared with the installed pulumi_aws by tests/test_settings_registry.py). Keys of other
namespaces (`pulumi:`, another package's) belong to someone else and are left alone.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping

from runtime.errors import SettingsError

ENV_PREFIX = "MEDIAKIT_"
# The Pulumi project (Pulumi.yaml `name`): the namespace of the kit's config keys, and the one
# Pulumi gives a key written without a namespace.
NAMESPACE = "mediakit"

# Variables the CLI reads (click `envvar=` and os.environ), each with what reads it.
CLI_ENV: dict[str, str] = {
    "MEDIAKIT_API_URL": "upload/status/abort --api-url",
    "MEDIAKIT_CONTENT_TYPE": "upload --content-type",
    "MEDIAKIT_DEBUG": "every command: 1 shows an internal error's traceback (mediakit/cli)",
    "MEDIAKIT_DEMO_KEEP_RUNNING": "demo --keep-running",
    "MEDIAKIT_DEMO_OUT": "demo --out",
    "MEDIAKIT_DEV_AUDIENCE": "dev --audience",
    "MEDIAKIT_DEV_CORS_ORIGINS": "dev --cors-origin",
    "MEDIAKIT_DEV_FAIL_RATE": "dev --fail-rate",
    "MEDIAKIT_DEV_HOST": "dev --host",
    "MEDIAKIT_DEV_ISSUER": "dev --issuer",
    "MEDIAKIT_DEV_PORT": "dev --port",
    "MEDIAKIT_DEV_QUIET": "dev --quiet",
    "MEDIAKIT_DEV_VISIBILITY_TIMEOUT": "dev --visibility-timeout",
    "MEDIAKIT_ENV_FILE": "--env-file of the commands that talk to mediakit dev",
    "MEDIAKIT_ERASE_TENANT": "erase --tenant",
    "MEDIAKIT_IMPORT_MANIFEST": "import --manifest",
    "MEDIAKIT_IMPORT_PARALLEL": "import --parallel",
    "MEDIAKIT_LAMBDA_ARCH": "build --arch",
    "MEDIAKIT_LAMBDA_PYTHON": "build --python",
    "MEDIAKIT_PART_SIZE_MIB": "upload --part-size",
    "MEDIAKIT_REPROCESS_TENANT": "reprocess --tenant",
    "MEDIAKIT_STACK_OUTPUTS": "dlq/erase/reprocess --outputs",
    "MEDIAKIT_STATE_DIR": "upload/import --state-dir",
    "MEDIAKIT_TENANT": "token/upload/import --tenant",
    "MEDIAKIT_TOKEN": "upload/status/abort --token",
    "MEDIAKIT_TOKEN_TTL": "token --ttl",
    "MEDIAKIT_UPLOAD_METHOD": "upload --method",
    "MEDIAKIT_UPLOAD_PARALLEL": "upload --parallel",
    "MEDIAKIT_WAIT_TIMEOUT": "upload/import --timeout",
}
# Variables of the kit's own tools and tests (checkov runner, browser test).
TOOL_ENV: dict[str, str] = {
    "MEDIAKIT_CHECKOV_VENV": "mediakit check: the checkov virtualenv (policies/checkov_runner.py)",
    "MEDIAKIT_CHROMIUM": "tests/emulator/test_browser.py: the Chromium binary",
    "MEDIAKIT_SCREENSHOT": "tests/emulator/test_browser.py: where to save the page's screenshot",
}

# The pulumi-aws provider's config keys (`aws:<key>`), as its config module
# (pulumi_aws/config/vars.py) reads them; tests compare this list with the installed package.
AWS_PROVIDER_KEYS: tuple[str, ...] = (
    "accessKey",
    "allowedAccountIds",
    "assumeRoleWithWebIdentity",
    "assumeRoles",
    "customCaBundle",
    "defaultTags",
    "ec2MetadataServiceEndpoint",
    "ec2MetadataServiceEndpointMode",
    "endpoints",
    "forbiddenAccountIds",
    "httpProxy",
    "httpsProxy",
    "ignoreTags",
    "insecure",
    "maxRetries",
    "noProxy",
    "profile",
    "region",
    "retryMode",
    "s3UsEast1RegionalEndpoint",
    "s3UsePathStyle",
    "secretKey",
    "sharedConfigFiles",
    "sharedCredentialsFiles",
    "skipCredentialsValidation",
    "skipMetadataApiCheck",
    "skipRegionValidation",
    "skipRequestingAccountId",
    "stsRegion",
    "tagPolicyCompliance",
    "token",
    "tokenBucketRateLimiterCapacity",
    "useDualstackEndpoint",
    "useFipsEndpoint",
    "userAgents",
)


def setting_env() -> dict[str, str]:
    """`MEDIAKIT_<SNAKE>` of every setting -> its config key."""
    import dataclasses

    from runtime.settings import Settings, env_name

    return {env_name(f.name): str(f.metadata["config"]) for f in dataclasses.fields(Settings)}


def resource_env() -> dict[str, str]:
    """The resource-name variables the stack (or the emulator) hands the functions."""
    from runtime.settings import Resources

    return {var: f"resource name ({attr})" for attr, var in Resources.ENV.items()}


def environment_names() -> dict[str, str]:
    """Every accepted `MEDIAKIT_*` variable -> what it is."""
    names = {var: f"setting {key}" for var, key in setting_env().items()}
    names |= resource_env()
    names |= {var: f"mediakit {what}" for var, what in CLI_ENV.items()}
    names |= TOOL_ENV
    return names


def _hint(name: str, known: Iterable[str], spell: str = "{}") -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f", did you mean {spell.format(close[0])}?" if close else ""


def unknown_environ(environ: Mapping[str, str]) -> list[str]:
    """The `MEDIAKIT_*` variables in `environ` that nothing reads, sorted."""
    known = environment_names()
    return sorted(name for name in environ if name.startswith(ENV_PREFIX) and name not in known)


def check_environ(environ: Mapping[str, str]) -> None:
    """Refuse a `MEDIAKIT_*` variable nothing reads (a typo would otherwise run on a default)."""
    unknown = unknown_environ(environ)
    if unknown:
        raise SettingsError(
            unknown[0],
            "unknown variable, nothing reads it"
            + _hint(unknown[0], environment_names())
            + " (the README's configuration reference lists every MEDIAKIT_ name)",
        )


def check_stack_keys(
    present: Iterable[str], project_keys: Collection[str], source: str = "stack config"
) -> None:
    """Refuse a stack-file key of the kit's or the aws provider's namespace that nothing reads,
    and a key without a namespace. `project_keys`: the `mediakit:` keys (without namespace)."""
    for full_key in sorted(present):
        namespace, sep, key = str(full_key).partition(":")
        if not sep:
            # Pulumi files a namespace-less key under the project (mediakit:), but the kit's
            # stack files and readers always spell the namespace: ask for it.
            if full_key in project_keys:
                hint = f", write {NAMESPACE}:{full_key}"
            else:
                hint = _hint(full_key, project_keys, NAMESPACE + ":{}")
            raise SettingsError(full_key, f"key without a namespace in {source}{hint}")
        if namespace == NAMESPACE and key not in project_keys:
            hint = _hint(key, project_keys, NAMESPACE + ":{}")
            raise SettingsError(full_key, f"unknown key in {source}{hint}")
        if namespace == "aws" and key not in AWS_PROVIDER_KEYS:
            hint = _hint(key, AWS_PROVIDER_KEYS, "aws:{}")
            raise SettingsError(
                full_key, f"unknown key in {source}: the aws provider reads no such key{hint}"
            )
