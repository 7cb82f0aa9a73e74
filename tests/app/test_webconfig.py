"""The exporters' web config file and the basic-auth middleware, on an aiohttp test server."""

import asyncio
import base64
import ssl
import subprocess

import bcrypt
import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

from streamer.app.settings import Settings
from streamer.app.webconfig import BasicAuth, WebConfigError, read_web_config

HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()


def write(tmp_path, text):
    path = tmp_path / "web.yml"
    path.write_text(text)
    return path


def test_an_empty_file_guards_nothing(tmp_path):
    config = read_web_config(write(tmp_path, ""))
    assert config.ssl_context is None and not config.users


def test_users_are_read_with_their_hashes_and_htpasswd_2y_hashes_pass(tmp_path):
    two_y = HASH.replace("$2b$", "$2y$", 1)
    config = read_web_config(write(tmp_path, f"basic_auth_users: {{a: '{HASH}', b: '{two_y}'}}"))
    assert config.users == {"a": HASH.encode(), "b": two_y.encode()}
    assert bcrypt.checkpw(b"s3cret", config.users["b"])


def test_every_problem_in_the_file_is_listed(tmp_path):
    path = write(
        tmp_path,
        "basic_auth_users: {a: plain-password, b: '" + HASH + "'}\n"
        "tls_server_config: {cert_file: x.crt}\n"
        "http_server_config: {http2: true}\n",
    )
    with pytest.raises(WebConfigError) as refused:
        read_web_config(path)
    assert refused.value.problems == [
        f"{path}: tls_server_config.key_file: Field required",
        f"{path}: basic_auth_users: Value error, not a bcrypt hash for user(s) a",
        f"{path}: http_server_config: Extra inputs are not permitted",
    ]


def test_certificates_are_read_relative_to_the_file(tmp_path):
    path = write(tmp_path, "tls_server_config: {cert_file: missing.crt, key_file: missing.key}")
    with pytest.raises(WebConfigError, match="tls_server_config: cannot load"):
        read_web_config(path)
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(tmp_path / "missing.key"), "-out", str(tmp_path / "missing.crt"),
            "-subj", "/CN=localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    config = read_web_config(path)
    assert isinstance(config.ssl_context, ssl.SSLContext)
    assert config.ssl_context.verify_mode == ssl.CERT_NONE  # no client certificates asked for
    links = Settings(web_host="10.0.0.5", web_config_file=str(path)).base_url()
    assert links == "https://10.0.0.5:6066"


def basic(credentials):
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


async def statuses(requests):
    async def hello(request):
        return web.Response(text="hello")

    app = web.Application(middlewares=[BasicAuth({"prometheus": HASH.encode()})])
    for path in ("/metrics", "/healthz", "/readyz"):
        app.router.add_get(path, hello)
    async with TestServer(app) as server, ClientSession() as client:
        found = []
        for path, headers in requests:
            async with client.get(server.make_url(path), headers=headers) as response:
                found.append((response.status, response.headers.get("WWW-Authenticate")))
        return found


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/metrics", {}, 401),  # no credentials
        ("/metrics", basic("prometheus:wrong"), 401),
        ("/metrics", basic("nobody:s3cret"), 401),  # a password of someone else's
        ("/metrics", basic("prometheus"), 401),  # no colon
        ("/metrics", {"Authorization": "Basic %%%"}, 401),  # not base64
        ("/metrics", {"Authorization": "Bearer s3cret"}, 401),
        ("/metrics", basic("prometheus:" + "x" * 100), 401),  # beyond bcrypt's 72 bytes
        ("/metrics", basic("prometheus:s3cret"), 200),
        ("/healthz", {}, 200),  # probes stay open
        ("/readyz", {}, 200),
    ],
)
def test_basic_auth_refuses_all_but_the_right_password_and_leaves_probes_open(
    path, headers, status
):
    [(found, challenge)] = asyncio.run(statuses([(path, headers)]))
    assert found == status
    assert (challenge == 'Basic realm="streamer", charset="UTF-8"') == (status == 401)


def test_accepted_credentials_keep_working_on_later_scrapes():
    right = ("/metrics", basic("prometheus:s3cret"))
    wrong = ("/metrics", basic("prometheus:s3cret-not"))
    found = asyncio.run(statuses([right, right, wrong, right]))
    assert [status for status, _ in found] == [200, 200, 401, 200]
