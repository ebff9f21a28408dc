"""Headless Chromium loads the running Space: the main components render (DOM after JS) and screenshots are kept.

1. ``--dump-dom`` with a virtual-time budget: the elem_ids of the main components are in the rendered DOM.
2. ``--screenshot``: a 1280x1600 PNG of the page.
3. Chrome DevTools Protocol over ``--remote-debugging-pipe`` (no extra package): click **Plan**, wait for the plot and the
   recommendation, click **Select**, wait for the domain mix, and screenshot both states.

Needs Debian's ``chromium`` (``apt-get install -y chromium``); skipped with that reason when it is missing.
Screenshots are written under a temporary directory whose path is printed (run pytest with ``-s`` to see it).
"""

from __future__ import annotations

import base64
import json
import os
import time
import shutil
import subprocess
import sys
import tempfile

import pytest

import hf_select as hs

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
                  "--hide-scrollbars", "--window-size=1280,1600")
VIRTUAL_TIME_MS = 20_000  # virtual time for Gradio's JS to fetch the config and render the components
TIMEOUT_S = 60  # wall-clock limit of one chromium run
EVENT_TIMEOUT_S = 120  # wall-clock limit for a Plan / Select click to show its result (pool build on a fresh machine)
POLL_S = 0.25
# Inputs, buttons and the (initially open) Plan tab's outputs; other tabs render lazily: their buttons are checked.
MAIN_ELEM_IDS = ("pool-source", "pool-max-rows", "pool-file", "hub-id", "target-source", "target-text", "methods",
                 "budget", "budget-unit", "gpu", "mfu", "train-params", "selector-params", "fraction", "plan-btn",
                 "select-btn", "plan-summary", "plan-plot", "plan-table", "plan-tab-button", "select-tab-button",
                 "push-tab-button")


def _chromium() -> str | None:
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless browser test needs Debian chromium: apt-get install -y chromium"
)


def _run_chromium(url: str, workdir: str, *extra: str) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="profile-", dir=workdir)
    cmd = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={VIRTUAL_TIME_MS}",
           *extra, url]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)  # our own process group only (start_new_session=True)
        proc.communicate()
        pytest.fail(f"chromium did not finish within {TIMEOUT_S}s: {' '.join(cmd)}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.fixture(scope="module")
def browser_dir():
    path = tempfile.mkdtemp(prefix="hf_select_space_browser_")
    yield path  # kept after the run: the screenshot is a test artifact


def test_dom_has_main_components(space_url, browser_dir):
    res = _run_chromium(space_url, browser_dir, "--dump-dom")
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    with open(os.path.join(browser_dir, "space.html"), "w", encoding="utf-8") as f:
        f.write(dom)
    missing = [e for e in MAIN_ELEM_IDS if f'id="{e}"' not in dom]
    assert not missing, f"components not rendered: {missing} (DOM saved in {browser_dir}/space.html)"
    assert "hf_select: compute-constrained data selection" in dom
    assert "Embedded pool" in dom and "GPU preset" in dom


def test_screenshot(space_url, browser_dir):
    png = os.path.join(browser_dir, "space.png")
    res = _run_chromium(space_url, browser_dir, f"--screenshot={png}")
    assert res.returncode == 0, res.stderr[-2000:]
    assert os.path.exists(png), f"no screenshot written; chromium said: {res.stderr[-2000:]}"
    with open(png, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    assert (width, height) == (1280, 1600)
    assert os.path.getsize(png) > 20_000, "screenshot is nearly empty: the page did not render"
    print(f"\nSpace screenshot: {png}")


class DevToolsPipe:
    """Minimal Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (fd 3: commands in, fd 4: events out)."""

    def __init__(self, workdir: str):
        profile = tempfile.mkdtemp(prefix="profile-", dir=workdir)
        cmd_r, self._cmd_w = os.pipe()
        self._out_r, out_w = os.pipe()
        # a tiny exec wrapper maps our pipe ends onto fds 3 and 4, then becomes chromium (same PID)
        wrapper = ("import os, sys; r, w = int(sys.argv[1]), int(sys.argv[2]); "
                   "r3, w4 = os.dup(r), os.dup(w); os.dup2(r3, 3); os.dup2(w4, 4); "
                   "os.set_inheritable(3, True); os.set_inheritable(4, True); os.execv(sys.argv[3], sys.argv[3:])")
        cmd = [sys.executable, "-c", wrapper, str(cmd_r), str(out_w), CHROMIUM, *CHROMIUM_FLAGS,
               f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"]
        self.log_path = os.path.join(workdir, "chromium-devtools.log")
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(cmd, pass_fds=(cmd_r, out_w), stdout=log, stderr=log,
                                         start_new_session=True)
        os.close(cmd_r)
        os.close(out_w)
        self._buf, self._id, self.session = b"", 0, None

    def send(self, method: str, params: dict | None = None, *, session: bool = True) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply["result"]
            chunk = os.read(self._out_r, 1 << 16)
            if not chunk:
                raise RuntimeError(f"chromium closed the DevTools pipe during {method}; log: {self.log_path}")
            self._buf += chunk

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", {"url": url})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 1600, "deviceScaleFactor": 1,
                                                         "mobile": False})

    def js(self, expression: str):
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout: float = EVENT_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(POLL_S)
        shot = self.screenshot(os.path.join(os.path.dirname(self.log_path), "timeout.png"))
        pytest.fail(f"timed out after {timeout}s waiting for {what} (page: {shot})")

    def screenshot(self, path: str) -> str:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False)
            self.proc.wait(timeout=TIMEOUT_S)
        except Exception:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, 9)  # our own process group only
                self.proc.wait()
        finally:
            os.close(self._cmd_w)
            os.close(self._out_r)


def _text(elem_id: str) -> str:
    return f"((document.querySelector('#{elem_id}') || {{}}).innerText || '')"


def test_plan_and_select_clicked_in_the_browser(space_url, browser_dir):
    browser = DevToolsPipe(browser_dir)
    try:
        browser.open(space_url)
        browser.wait_for("!!document.querySelector('#plan-btn')", "the Space to render", timeout=TIMEOUT_S)
        browser.js("document.querySelector('#plan-btn').click()")
        src = browser.wait_for("(document.querySelector('#plan-plot img') || {}).src || ''", "the plan plot")
        summary = browser.wait_for(f"{_text('plan-summary')}.includes('Recommended') && {_text('plan-summary')}",
                                   "the recommendation")
        assert "/gradio_api/file=" in src and "plan.png" in src
        assert summary.split("Recommended: ")[1].split()[0] in ("random", "bm25", "embedding", "dsir", "perplexity",
                                                               "less")
        plan_png = browser.screenshot(os.path.join(browser_dir, "space_plan.png"))

        # untick the embedding selector like a user would (keeps the click fast on a busy CPU), then Select
        untick = ("[...document.querySelectorAll('#methods label')].filter(l => l.innerText.trim() === 'embedding')"
                  ".forEach(l => l.click())")
        browser.js(untick)
        browser.wait_for("[...document.querySelectorAll('#methods input:checked')].length === 5", "the unticked box",
                         timeout=TIMEOUT_S)
        browser.js("document.querySelector('#select-btn').click()")
        status = browser.wait_for(f"/Selected|Error/.test({_text('select-status')}) && {_text('select-status')}",
                                  "the Select result")
        assert "bm25" in status and "dsir" in status and "embedding" not in status and "Error" not in status
        target_domain = hs.load_builtin_target("validation")[0]["domain"]
        browser.wait_for(f"{_text('domain-mix')}.includes('{target_domain}')", "the domain mix table")
        browser.wait_for(f"{_text('card-preview')}.includes('How to load')", "the cost card preview")
        select_png = browser.screenshot(os.path.join(browser_dir, "space_select.png"))
    finally:
        browser.close()
    for png in (plan_png, select_png):
        assert os.path.getsize(png) > 20_000
        print(f"\nSpace screenshot: {png}")
