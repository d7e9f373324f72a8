"""`mediakit dev --issuer URL --audience A`: the dev API trusts a real identity provider instead
of its own dev issuer, finding its JWKS through the provider's discovery document over HTTPS.
The provider here is a fake served on loopback by the test, with a certificate it made."""

from __future__ import annotations

import datetime
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mediakit.cli import cli
from mediakit.client import request
from mediakit.local import oidc as jwt
from mediakit.local.emulator import DevEnv, Emulator
from runtime.settings import Settings
from tests.emulator.conftest import FakeHandlers, self_signed_certificate

CLIENT_ID = "app-client-123"


@dataclass
class FakeIdp:
    """An OIDC provider on https://127.0.0.1:<port>: discovery and JWKS, a key it can rotate."""

    server: ThreadingHTTPServer
    issuer: str
    ca_file: Path
    signer: jwt.DevIssuer
    requests: list[str] = field(default_factory=list)

    def rotate(self) -> None:
        """A new signing key, and only it in the JWKS (as after a provider's rotation)."""
        self.signer = jwt.DevIssuer.generate(self.issuer)

    def token(self, **claims: Any) -> str:
        now = int(datetime.datetime.now(datetime.UTC).timestamp())
        base: dict[str, Any] = {"iss": self.issuer, "sub": "user-1", "iat": now, "exp": now + 300}
        base.update(claims)
        return self.signer.sign({k: v for k, v in base.items() if v is not None})


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeIdp]:
    cert_file, key_file = self_signed_certificate(tmp_path_factory.mktemp("idp"))
    holder: list[FakeIdp] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake = holder[0]
            fake.requests.append(self.path)
            documents = {
                "/tenant-pool/.well-known/openid-configuration": {
                    "issuer": fake.issuer,
                    "jwks_uri": f"{fake.issuer}/keys",
                },
                "/tenant-pool/keys": fake.signer.jwks(),
            }
            body = json.dumps(documents.get(self.path, {})).encode()
            self.send_response(200 if self.path in documents else 404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    issuer = f"https://127.0.0.1:{server.server_address[1]}/tenant-pool"
    holder.append(FakeIdp(server, issuer, cert_file, jwt.DevIssuer.generate(issuer)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder[0]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def trusting(idp: FakeIdp) -> Iterator[tuple[DevEnv, FakeHandlers]]:
    """The emulator trusting the fake provider, with recording handlers."""
    handlers = FakeHandlers()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SSL_CERT_FILE", str(idp.ca_file))
        emulator = Emulator(
            Settings(),
            issuer=idp.issuer,
            audiences=(CLIENT_ID, "second-audience"),
            presign_handler=handlers.presign,
            processor_handler=handlers.processor,
        )
        with emulator as env:
            yield env, handlers


def _remote_keys() -> jwt.RemoteKeys:
    """The running emulator's view of the provider's JWKS."""
    from mediakit.local.emulator import _running

    keys = _running[0]._api.gateway.authorizer.keys  # type: ignore[union-attr]
    assert isinstance(keys, jwt.RemoteKeys)
    return keys


def test_idp_unknown_kids_refetch_the_jwks_at_most_once_a_minute(
    idp: FakeIdp, trusting: tuple[DevEnv, FakeHandlers], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a stream of tokens naming kids the provider never published
    env, _ = trusting
    monkeypatch.setattr(_remote_keys(), "_attempted_at", float("-inf"))
    fetched = idp.requests.count("/tenant-pool/keys")
    claims = {"iss": idp.issuer, "aud": CLIENT_ID, "exp": 4_000_000_000}
    # WHEN each calls the API
    for i in range(5):
        assert _list(env, jwt.sign(claims, idp.signer.key, kid=f"forged-{i}")).status == 401
    # THEN the JWKS was read again once, not once per token
    assert idp.requests.count("/tenant-pool/keys") == fetched + 1


def _list(env: DevEnv, token: str) -> Any:
    return request("GET", f"{env.api_url}/v1/uploads", headers={"authorization": f"Bearer {token}"})


def test_idp_discovery_and_jwks_read_at_start(
    idp: FakeIdp, trusting: tuple[DevEnv, FakeHandlers]
) -> None:
    # GIVEN / WHEN the emulator started trusting the provider
    env, _ = trusting
    # THEN it read the discovery document, then the JWKS it names, and says who issues tokens
    assert idp.requests[:2] == [
        "/tenant-pool/.well-known/openid-configuration",
        "/tenant-pool/keys",
    ]
    assert env.jwt_issuer == idp.issuer
    assert env.jwt_signing_key == ""


def test_idp_tokens_are_accepted(idp: FakeIdp, trusting: tuple[DevEnv, FakeHandlers]) -> None:
    # GIVEN the provider's ID-style token (aud) and access-style token (client_id, no aud)
    env, handlers = trusting
    id_token = idp.token(aud=CLIENT_ID)
    access_token = idp.token(client_id="second-audience", scope="uploads/write")
    # WHEN each calls the API / THEN both reach the function with their claims
    assert _list(env, id_token).status == 200
    assert _list(env, access_token).status == 200
    claims = handlers.api_events[-1]["requestContext"]["authorizer"]["jwt"]["claims"]
    assert claims["client_id"] == "second-audience"
    assert claims["iss"] == idp.issuer


@pytest.mark.parametrize(
    "kind", ["wrong-audience", "expired", "other-issuer", "dev-issuer-key", "unknown-kid"]
)
def test_idp_bad_tokens_are_refused(
    idp: FakeIdp, trusting: tuple[DevEnv, FakeHandlers], kind: str
) -> None:
    # GIVEN a token the authorizer must refuse
    env, _ = trusting
    forger = jwt.DevIssuer.generate(idp.issuer)
    token = {
        "wrong-audience": lambda: idp.token(aud="someone-else"),
        "expired": lambda: idp.token(aud=CLIENT_ID, iat=1_000_000_000, exp=1_000_000_600),
        "other-issuer": lambda: idp.token(aud=CLIENT_ID, iss="https://other.example"),
        "dev-issuer-key": lambda: forger.issue(audience=CLIENT_ID, tenant_claim="sub", tenant="x"),
        "unknown-kid": lambda: jwt.sign(
            {"iss": idp.issuer, "aud": CLIENT_ID, "exp": 4_000_000_000},
            idp.signer.key,
            kid="not-published",
        ),
    }[kind]()
    # WHEN it calls the API / THEN API Gateway's 401
    resp = _list(env, token)
    assert resp.status == 401
    assert resp.json() == {"message": "Unauthorized"}


def test_idp_key_rotation_is_followed(
    idp: FakeIdp, trusting: tuple[DevEnv, FakeHandlers], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the provider rotated its key after the emulator read the JWKS (and no refetch is
    # held back by an earlier unknown kid)
    env, _ = trusting
    monkeypatch.setattr(_remote_keys(), "refetch_seconds", 0)
    old_token = idp.token(aud=CLIENT_ID)
    idp.rotate()
    fetched = idp.requests.count("/tenant-pool/keys")
    # WHEN a token signed with the new key arrives
    resp = _list(env, idp.token(aud=CLIENT_ID))
    # THEN the unknown kid made the emulator read the JWKS again, and the token is accepted;
    # the old key left the JWKS, so its tokens stop verifying (which is why AWS advises a grace
    # period with both keys published)
    assert resp.status == 200
    assert idp.requests.count("/tenant-pool/keys") == fetched + 1
    assert _list(env, old_token).status == 401


def test_idp_mode_mints_no_dev_tokens(
    trusting: tuple[DevEnv, FakeHandlers], tmp_path: Path
) -> None:
    # GIVEN the emulator trusting a real provider, and its env file
    env, _ = trusting
    env_file = tmp_path / "dev.json"
    env.write(env_file)
    # WHEN the page and the CLI ask for a dev token
    page = request(
        "POST",
        f"{env.api_url}/dev/token",
        headers={"content-type": "application/json", "host": env.api_url.split("//")[1]},
        body=b'{"tenant": "acme"}',
    )
    config = request("GET", f"{env.api_url}/dev/config.json").json()
    cli_result = CliRunner().invoke(cli, ["token", "--tenant", "a", "--env-file", str(env_file)])
    # THEN both say where tokens come from instead, and the issuer documents are not served
    assert page.status == 404
    assert env.jwt_issuer in page.json()["error"]["message"]
    assert config["dev_tokens"] is False
    assert config["issuer"] == env.jwt_issuer
    assert cli_result.exit_code != 0
    assert env.jwt_issuer in cli_result.output
    discovery = request("GET", f"{env.api_url}/dev/oidc/.well-known/openid-configuration")
    assert discovery.status == 404
