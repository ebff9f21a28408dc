"""Fixtures for the Space tests: the app module loaded from spaces/app.py and one running app on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
from pathlib import Path

import pytest

from hf_select.import_utils import is_package_available

APP_PATH = Path(__file__).resolve().parents[2] / "spaces" / "app.py"
TEST_POOL_ROWS = 3000  # small embedded pool: the whole Space suite stays well under a minute and a half

if not is_package_available("gradio") or not is_package_available("gradio_client"):
    pytest.skip('the Space needs gradio and gradio_client: pip install "hf-select[space]"', allow_module_level=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pool_rows() -> int:
    """Row cap of the embedded pool in the running test app."""
    return TEST_POOL_ROWS


@pytest.fixture(scope="session")
def app_module():
    """spaces/app.py imported as a module (it is a script, not part of the package)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    spec = importlib.util.spec_from_file_location("hf_select_space_app", APP_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


@pytest.fixture(scope="session")
def space_url(app_module):
    """URL of the Space running in this process on a free loopback port; closed (by its own handle) at the end."""
    import hf_select as hs

    # Build / read the cached embedded pool once, before any click: on a fresh machine the first build takes minutes,
    # which must not count against the browser tests' per-click timeouts.
    hs.load_builtin_pool(max_rows=TEST_POOL_ROWS)
    hs.load_builtin_target("validation")
    demo = app_module.build_demo(max_pool_rows=TEST_POOL_ROWS)
    port = free_port()
    demo.launch(**app_module.LAUNCH_KWARGS, server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="session")
def client(space_url):
    from gradio_client import Client

    return Client(space_url, verbose=False)


HUB_TESTS = Path(__file__).resolve().parents[1] / "hub"
HUB_USER, HUB_TOKEN = "space-tester", "hf_space_loopback_write_0123456789"


@pytest.fixture
def loopback_hub(monkeypatch, tmp_path):
    """The loopback Hub server of tests/hub, with huggingface_hub and datasets pointed at it for one test.

    The Space runs in this process (server threads), so patching the clients' endpoint here reaches its Push handler.
    Stopped by its own handle at the end of the test.
    """
    if not (HUB_TESTS / "hub_server.py").exists():
        pytest.skip("tests/hub/hub_server.py (the loopback Hub) is not present")
    sys.path.insert(0, str(HUB_TESTS))
    try:
        from hub_server import HubServer
    finally:
        sys.path.remove(str(HUB_TESTS))
    import datasets.config as dconfig
    import huggingface_hub.constants as constants
    import huggingface_hub.hf_api as hf_api
    import huggingface_hub.utils._http as hf_http

    server = HubServer(tokens={HUB_TOKEN: (HUB_USER, "write")}).start()
    url, home = server.url, tmp_path / "hf_home"
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    for name, value in {"ENDPOINT": url, "HF_HUB_OFFLINE": False, "HF_HUB_DISABLE_XET": True,
                        "HUGGINGFACE_CO_URL_TEMPLATE": url + "/{repo_id}/resolve/{revision}/{filename}",
                        "HF_HUB_CACHE": str(home / "hub"), "HF_TOKEN_PATH": str(home / "token"),
                        "HF_STORED_TOKENS_PATH": str(home / "stored_tokens")}.items():
        if hasattr(constants, name):
            monkeypatch.setattr(constants, name, value)
    if hasattr(hf_http, "_HUB_ORIGINS"):
        monkeypatch.setattr(hf_http, "_HUB_ORIGINS", frozenset(hf_http._HUB_ORIGINS | {hf_http._url_origin(url)}))
    monkeypatch.setattr(hf_api.api, "endpoint", url)
    for name, value in {"HF_ENDPOINT": url, "HUB_DATASETS_URL": url + "/datasets/{repo_id}/resolve/{revision}/{path}",
                        "HF_HUB_OFFLINE": False, "HF_DATASETS_OFFLINE": False, "USE_PARQUET_EXPORT": False,
                        "HF_DATASETS_CACHE": home / "datasets"}.items():
        if hasattr(dconfig, name):
            monkeypatch.setattr(dconfig, name, value)
    from huggingface_hub import HfFileSystem

    HfFileSystem.clear_instance_cache()
    try:
        yield server
    finally:
        HfFileSystem.clear_instance_cache()
        server.stop()


@pytest.fixture
def hub_user() -> str:
    return HUB_USER


@pytest.fixture
def hub_token() -> str:
    return HUB_TOKEN
