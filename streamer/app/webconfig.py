"""Who may read the worker's endpoints: the Prometheus exporters' web config file.

``STREAMER_WEB_CONFIG_FILE`` names a YAML file in the shape of exporter-toolkit's
``--web.config.file`` (what node_exporter and Prometheus itself read), so the same file, Secret
and ServiceMonitor settings serve both::

    tls_server_config:            # optional: serve HTTPS
      cert_file: server.crt       # relative paths are read from the file's directory
      key_file: server.key
      client_ca_file: ca.crt      # optional, with client_auth_type RequireAndVerifyClientCert
    basic_auth_users:             # optional: name -> bcrypt hash (htpasswd -nBC 10 "" | tr -d ':')
      prometheus: $2y$10$...

With users configured, every path but the probes (``/healthz``, ``/readyz``) needs one of them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import re
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import bcrypt
import yaml
from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
_BCRYPT_HASH = re.compile(r"\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{53}")
# Checked when the user is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = b"$2b$10$" + b"." * 53
_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}


class WebConfigError(ValueError):
    """The web config file is unusable; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class _Tls(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cert_file: str
    key_file: str
    client_ca_file: str | None = None
    client_auth_type: Literal[
        "NoClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"
    ] = "NoClientCert"


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tls_server_config: _Tls | None = None
    basic_auth_users: dict[str, str] | None = None

    @field_validator("basic_auth_users")
    @classmethod
    def _bcrypt_hashes(cls, users: dict[str, str] | None) -> dict[str, str] | None:
        bad = [name for name, hashed in (users or {}).items() if not _BCRYPT_HASH.fullmatch(hashed)]
        if bad:
            raise ValueError(f"not a bcrypt hash for user(s) {', '.join(sorted(bad))}")
        return users


@dataclass(frozen=True, slots=True)
class WebConfig:
    ssl_context: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)


def read_web_config(path: Path) -> WebConfig:
    """The parsed file, with its TLS certificate and key loaded; raises WebConfigError."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        parsed = _File.model_validate(raw)
    except OSError as error:
        raise WebConfigError([f"cannot read {path}: {error.strerror}"]) from None
    except yaml.YAMLError as error:
        raise WebConfigError([f"{path} is not valid YAML: {error}"]) from None
    except ValidationError as error:
        raise WebConfigError(
            [
                f"{path}: {'.'.join(map(str, e['loc'])) or 'the file'}: {e['msg']}"
                for e in error.errors()
            ]
        ) from None
    users = {name: hashed.encode() for name, hashed in (parsed.basic_auth_users or {}).items()}
    tls = parsed.tls_server_config
    return WebConfig(_ssl_context(tls, path.parent) if tls else None, users)


def _ssl_context(tls: _Tls, directory: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(directory / tls.cert_file, directory / tls.key_file)
        if tls.client_ca_file:
            context.load_verify_locations(directory / tls.client_ca_file)
    except (OSError, ssl.SSLError) as error:
        raise WebConfigError([f"tls_server_config: cannot load: {error}"]) from None
    context.verify_mode = _CLIENT_AUTH[tls.client_auth_type]
    return context


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BasicAuth:
    """aiohttp middleware: HTTP basic auth against bcrypt hashes, probes left open.

    bcrypt is slow on purpose (tens of milliseconds), so checks run off the event loop and a
    scraper's repeated credentials are remembered by a digest once they have been accepted.
    """

    __middleware_version__ = 1  # aiohttp's mark of a new-style middleware
    _REMEMBERED_MAX = 64

    def __init__(self, users: Mapping[str, bytes]) -> None:
        self._users = dict(users)
        self._accepted: set[bytes] = set()

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS or await self._allowed(request.headers.get("Authorization")):
            return await handler(request)
        return web.Response(
            status=401,
            text="401 Unauthorized\n",
            headers={"WWW-Authenticate": 'Basic realm="streamer", charset="UTF-8"'},
        )

    async def _allowed(self, header: str | None) -> bool:
        scheme, _, encoded = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            name, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if not sep:
            return False
        digest = hashlib.sha256(f"{name}\0{password}".encode()).digest()
        if digest in self._accepted:
            return True
        hashed = self._users.get(name)
        ok = await asyncio.get_running_loop().run_in_executor(
            None, _check, password.encode(), hashed or _DUMMY_HASH
        )
        if ok and hashed is not None:
            if len(self._accepted) >= self._REMEMBERED_MAX:
                self._accepted.clear()
            self._accepted.add(digest)
            return True
        return False


def _check(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # longer than bcrypt's 72 bytes, or a hash bcrypt cannot read
        return False
