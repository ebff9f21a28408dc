"""Fixtures for the Hub tests: a loopback Hub server and the real clients pointed at it (and nowhere else).

The server socket is bound (127.0.0.1, port 0) when this file is imported, so ``HF_ENDPOINT`` is exported *before*
``huggingface_hub`` / ``datasets`` are imported. If they were imported earlier (another test module, xdist worker reuse),
the per-test fixture patches every place the clients read the endpoint and the offline flag, and restores them after
the test: other tests keep ``HF_HUB_OFFLINE=1``. A guard fails any test that tries to reach a host other than loopback.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import socket
import sys
from types import SimpleNamespace

import pytest

pytest.importorskip("huggingface_hub")
pytest.importorskip("datasets")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hub_server import HubServer  # noqa: E402

HUB_USER = "hs-tester"
WRITE_TOKEN = "hf_loopback_write_0123456789"
READ_TOKEN = "hf_loopback_read_0123456789"
OTHER_TOKEN = "hf_loopback_other_0123456789"

_SERVER = HubServer(tokens={WRITE_TOKEN: (HUB_USER, "write"), READ_TOKEN: (HUB_USER, "read"),
                            OTHER_TOKEN: ("someone-else", "write")}, page_size=3)
if "huggingface_hub" not in sys.modules and "datasets" not in sys.modules:
    os.environ["HF_ENDPOINT"] = _SERVER.url
    os.environ["HF_HUB_DISABLE_XET"] = "1"
_COUNTER = itertools.count()


@pytest.fixture(scope="session")
def hub():
    """The loopback Hub (started once, stopped by its own handle)."""
    _SERVER.start()
    try:
        yield _SERVER
    finally:
        _SERVER.stop()


@pytest.fixture
def repo_name():
    """A fresh dataset repo id under the test user for each call."""
    return lambda stem="sel": f"{HUB_USER}/{stem}-{os.getpid()}-{next(_COUNTER)}"


def _is_loopback(host) -> bool:
    if host in (None, "localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def hub_env(hub, monkeypatch, tmp_path):
    """Point huggingface_hub and datasets at the loopback Hub for one test; refuse every other host."""
    url = hub.url
    home = tmp_path / "hf_home"
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_TOKEN",
                 "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"HF_ENDPOINT": url, "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(home),
                        "HF_UPDATE_DOWNLOAD_COUNTS": "false", "HF_HUB_DISABLE_TELEMETRY": "1"}.items():
        monkeypatch.setenv(name, value)

    import datasets.config as dconfig
    import huggingface_hub.constants as constants
    import huggingface_hub.hf_api as hf_api
    import huggingface_hub.utils._http as hf_http
    from huggingface_hub import HfFileSystem

    for name, value in {
        "ENDPOINT": url, "HUGGINGFACE_CO_URL_TEMPLATE": url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_URL_HOSTS": frozenset(constants.HF_URL_HOSTS | {"127.0.0.1"}), "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_XET": True, "HF_HUB_CACHE": str(home / "hub"), "HF_TOKEN_PATH": str(home / "token"),
        "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"), "AGENT_HARNESSES_PATH": str(home / "agents.json"),
    }.items():
        if hasattr(constants, name):
            monkeypatch.setattr(constants, name, value)
    monkeypatch.setattr(hf_http, "_HUB_ORIGINS", frozenset(hf_http._HUB_ORIGINS | {hf_http._url_origin(url)}))
    monkeypatch.setattr(hf_api.api, "endpoint", url)
    for name, value in {
        "HF_ENDPOINT": url, "HUB_DATASETS_URL": url + "/datasets/{repo_id}/resolve/{revision}/{path}",
        "HF_HUB_OFFLINE": False, "HF_DATASETS_OFFLINE": False, "HF_UPDATE_DOWNLOAD_COUNTS": False,
        "USE_PARQUET_EXPORT": False, "HF_DATASETS_CACHE": home / "datasets",
    }.items():
        monkeypatch.setattr(dconfig, name, value)
    HfFileSystem.clear_instance_cache()

    attempts: list = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def guarded_getaddrinfo(host, *args, **kwargs):
        if not _is_loopback(host):
            attempts.append(("resolve", host))
            raise OSError(f"loopback Hub tests may not resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def guarded_connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            attempts.append(("connect", address))
            raise OSError(f"loopback Hub tests may not connect to {address!r}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    yield SimpleNamespace(hub=hub, attempts=attempts)
    HfFileSystem.clear_instance_cache()
    assert not attempts, f"a test tried to leave the loopback Hub: {attempts}"


@pytest.fixture
def write_token():
    return WRITE_TOKEN


@pytest.fixture
def read_token():
    return READ_TOKEN
