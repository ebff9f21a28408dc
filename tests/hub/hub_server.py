"""A loopback server that speaks the Hugging Face Hub HTTP protocol used by ``huggingface_hub`` and ``datasets``.

Enough of the Hub for the real clients to create repos, upload (regular NDJSON commits and the legacy LFS "basic"
transfer; Xet must be disabled with ``HF_HUB_DISABLE_XET=1``), list trees, read paths-info, resolve and download files
(with ``Range``), manage branches, and get the errors they map to exceptions (``X-Error-Code``). It binds 127.0.0.1
only. Tests may inject failures (:meth:`HubServer.fail_next`) and read the request log.

Example:
    >>> with HubServer(tokens={"hf_w": ("alice", "write")}) as hub:   # doctest: +SKIP
    ...     HfApi(endpoint=hub.url, token="hf_w").create_repo("alice/x", repo_type="dataset")
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote

from hub_store import Blob, CommitError, HubStore, Repo, path_entry, tree_paths

LOOPBACK = "127.0.0.1"
TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_REPO = r"(?P<ns>[^/]+)/(?P<name>[^/]+)"
_API = rf"^/api/(?P<type>models|datasets|spaces)/{_REPO}"
EMPTY_AGENT_REGISTRY = {"standardEnvVars": [], "harnesses": {}}


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, body: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.body = status, message, code, body


class HubServer:
    """Threaded loopback Hub. ``tokens`` maps token -> (user, "read" | "write")."""

    def __init__(self, tokens: dict[str, tuple[str, str]], *, page_size: int = 1000, port: int = 0):
        self.store = HubStore()
        self.tokens = dict(tokens)
        self.page_size = page_size
        self.log: list[tuple[str, str, int]] = []
        self._faults: list[dict] = []
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer((LOOPBACK, port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.hub = self  # type: ignore[attr-defined]
        self.url = f"http://{LOOPBACK}:{self.httpd.server_address[1]}"
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------------------------------
    def start(self) -> "HubServer":
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="loopback-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> "HubServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # test helpers ----------------------------------------------------------------------------------------------
    def fail_next(self, method: str, path_regex: str, *, status: int = 500, times: int = 1,
                  body_contains: bytes | None = None, message: str = "Internal Error (injected by test)") -> None:
        """Answer the next ``times`` matching requests with ``status`` instead of handling them."""
        with self._lock:
            self._faults.append({"method": method, "re": re.compile(path_regex), "status": status, "times": times,
                                 "body": body_contains, "message": message})

    def take_fault(self, method: str, path: str, body: bytes) -> dict | None:
        with self._lock:
            for fault in self._faults:
                if fault["method"] == method and fault["re"].search(path) and (
                        fault["body"] is None or fault["body"] in body):
                    fault["times"] -= 1
                    if fault["times"] <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def repo(self, repo_id: str, repo_type: str = "dataset") -> Repo:
        repo = self.store.get(repo_type, repo_id)
        if repo is None:
            raise KeyError(repo_id)
        return repo

    def head(self, repo_id: str, repo_type: str = "dataset", branch: str = "main") -> str:
        return self.repo(repo_id, repo_type).refs[branch]

    def files(self, repo_id: str, repo_type: str = "dataset", revision: str = "main") -> dict[str, bytes]:
        commit = self.repo(repo_id, repo_type).resolve(revision)
        return {p: b.content for p, b in commit.files.items()}

    def num_commits(self, repo_id: str, repo_type: str = "dataset", branch: str = "main") -> int:
        repo = self.repo(repo_id, repo_type)
        return len(repo.history(repo.refs[branch]))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # idle keep-alive connections are closed so threads end

    def log_message(self, format, *args):  # noqa: A002 - silence stderr logging
        pass

    @property
    def hub(self) -> HubServer:
        return self.server.hub  # type: ignore[attr-defined]

    # plumbing --------------------------------------------------------------------------------------------------
    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, *, head: bool = False) -> None:
        self.send_response(status)
        headers = {"Content-Type": "application/json", **(headers or {})}
        headers.setdefault("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if body and not head:
            self.wfile.write(body)
        self.hub.log.append((self.command, self.path, status))

    def _json(self, status: int, data, headers: dict | None = None) -> None:
        self._send(status, json.dumps(data).encode(), headers)

    def _error(self, err: HubError) -> None:
        headers = {"X-Error-Message": err.message}
        if err.code:
            headers["X-Error-Code"] = err.code
        self._send(err.status, json.dumps(err.body or {"error": err.message}).encode(), headers,
                   head=self.command == "HEAD")

    def _user(self, *, required: bool = False, write: bool = False) -> str | None:
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer "):].strip() if auth.startswith("Bearer ") else None
        if token is None:
            if required or write:
                raise HubError(401, "Invalid username or password.")
            return None
        if token not in self.hub.tokens:
            raise HubError(401, "Invalid credentials in Authorization header")
        user, role = self.hub.tokens[token]
        if write and role != "write":
            raise HubError(403, "You don't have the rights to write with this token (read-only)")
        return user

    def _repo(self, m, *, write: bool = False) -> Repo:
        user = self._user(write=write)
        groups = m.groupdict()
        if "type" in groups:
            repo_type = TYPES[groups["type"]]
        else:  # web/git urls: "", "datasets/" or "spaces/" before the id
            repo_type = {"datasets": "dataset", "spaces": "space"}.get((groups.get("prefix") or "").strip("/"), "model")
        repo = self.hub.store.get(repo_type, f"{m['ns']}/{m['name']}")
        if repo is None or (repo.private and user != repo.owner):
            raise HubError(404, "Repository not found", "RepoNotFound")
        if write and user != repo.owner:
            raise HubError(403, f"You don't have the rights to write to {repo.repo_id}")
        return repo

    def _commit_for(self, repo: Repo, revision: str):
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def _dispatch(self) -> None:
        body = self._body() if self.command in ("POST", "PUT", "DELETE") else b""
        raw_path, _, query = self.path.partition("?")
        fault = self.hub.take_fault(self.command, raw_path, body)
        if fault is not None:
            return self._error(HubError(fault["status"], fault["message"]))
        for method, pattern, func in _ROUTES:
            if method == self.command or (method == "GET" and self.command == "HEAD"):
                m = pattern.match(raw_path)
                if m:
                    try:
                        return func(self, m, parse_qs(query), body)
                    except HubError as err:
                        return self._error(err)
        self._error(HubError(404, f"{self.command} {raw_path} is not served by the loopback Hub"))

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _dispatch

    # endpoints -------------------------------------------------------------------------------------------------
    def whoami(self, m, q, body):
        user = self._user(required=True)
        role = self.hub.tokens[self.headers["Authorization"][7:].strip()][1]
        self._json(200, {"type": "user", "id": user, "name": user, "fullname": user, "orgs": [],
                         "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": role}}})

    def agent_harnesses(self, m, q, body):
        self._json(200, EMPTY_AGENT_REGISTRY)

    def validate_yaml(self, m, q, body):
        data, error = _front_matter(json.loads(body or b"{}").get("content", ""))
        if error:
            return self._json(400, {"errors": [{"message": error}], "warnings": []})
        self._json(200, {"errors": [], "warnings": []})

    def create_repo(self, m, q, body):
        user = self._user(write=True)
        payload = json.loads(body or b"{}")
        repo_type = payload.get("type") or "model"
        ns = payload.get("organization") or user
        repo_id = f"{ns}/{payload['name']}"
        url = f"{self.hub.url}/{PREFIX[repo_type]}{repo_id}"
        if ns != user:
            raise HubError(403, f"You don't have the rights to create a repo under {ns}")
        with self.hub.store.lock:
            if self.hub.store.get(repo_type, repo_id) is not None:
                raise HubError(409, "You already created this repo", body={"error": "You already created this repo",
                                                                          "url": url})
            self.hub.store.create_repo(repo_type, repo_id, user, payload.get("visibility") == "private")
        self._json(200, {"url": url, "name": repo_id, "id": repo_id})

    def repo_info(self, m, q, body):
        repo = self._repo(m)
        revision = unquote(m["rev"]) if m["rev"] else "main"
        commit = self._commit_for(repo, revision)
        blobs = q.get("blobs", ["false"])[0].lower() == "true"
        siblings = []
        for path, blob in sorted(commit.files.items()):
            sib = {"rfilename": path}
            if blobs:
                sib.update(size=blob.size, blobId=blob.oid)
                if blob.lfs_sha256:
                    sib["lfs"] = {"size": blob.size, "sha256": blob.lfs_sha256, "pointerSize": len(blob.pointer)}
            siblings.append(sib)
        info = {"_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24], "id": repo.repo_id,
                "author": repo.owner, "sha": commit.sha, "lastModified": commit.date, "createdAt": repo.created_at,
                "private": repo.private, "gated": False, "disabled": False, "downloads": 0, "likes": 0,
                "tags": [], "siblings": siblings}
        readme = commit.files.get("README.md")
        card = _front_matter(readme.content.decode(errors="replace"))[0] if readme is not None else None
        if card is not None:
            info["cardData"] = card
        self._json(200, info)

    def preupload(self, m, q, body):
        repo = self._repo(m, write=True)
        revision = unquote(m["rev"])
        commit = repo.resolve(revision) or self._commit_for(repo, "main")
        files = []
        for f in json.loads(body)["files"]:
            mode = self.hub.store.upload_mode(repo, revision, f["path"], int(f["size"]),
                                              base64.b64decode(f.get("sample", "")))
            existing = commit.files.get(f["path"])
            oid = None
            if existing is not None:
                oid = existing.lfs_sha256 if mode == "lfs" else existing.oid
            files.append({"path": f["path"], "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        self._json(200, {"files": files, "commitOid": commit.sha})

    def commit(self, m, q, body):
        repo = self._repo(m, write=True)
        user = self._user(write=True)
        if q.get("create_pr", ["0"])[0] not in ("0", "false", "False"):
            raise HubError(501, "create_pr is not supported by the loopback Hub")
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = next((line["value"] for line in lines if line.get("key") == "header"), {})
        ops = [line for line in lines if line.get("key") != "header"]
        try:
            commit = self.hub.store.commit(repo, unquote(m["rev"]), ops, header, user)
        except CommitError as err:
            raise HubError(err.status, err.message, err.code) from None
        url = f"{self.hub.url}/{PREFIX[repo.repo_type]}{repo.repo_id}/commit/{commit.sha}"
        self._json(200, {"success": True, "commitOid": commit.sha, "commitUrl": url, "hookOutput": "",
                         "pullRequestUrl": None})

    def tree(self, m, q, body):
        repo = self._repo(m)
        commit = self._commit_for(repo, unquote(m["rev"]))
        base = unquote(m["path"] or "").strip("/")
        recursive = q.get("recursive", ["false"])[0].lower() == "true"
        expand = q.get("expand", ["false"])[0].lower() == "true"
        names = tree_paths(commit, base, recursive)
        if names is None:
            raise HubError(404, f"{base} does not exist on {m['rev']}", "EntryNotFound")
        start = int(q.get("cursor", ["0"])[0])
        page = [path_entry(repo, commit, n, expand) for n in names[start:start + self.hub.page_size]]
        headers = {}
        if start + self.hub.page_size < len(names):
            nxt = f"{self.hub.url}{self.path.partition('?')[0]}?recursive={str(recursive).lower()}" \
                  f"&expand={str(expand).lower()}&cursor={start + self.hub.page_size}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        self._json(200, page, headers)

    def paths_info(self, m, q, body):
        repo = self._repo(m)
        commit = self._commit_for(repo, unquote(m["rev"]))
        form = parse_qs(body.decode())
        expand = form.get("expand", ["false"])[0].lower() == "true"
        paths = [p.strip("/") for p in form.get("paths", [])]
        self._json(200, [path_entry(repo, commit, p, expand) for p in paths if tree_paths(commit, p, False)])

    def commits(self, m, q, body):
        repo = self._repo(m)
        commit = self._commit_for(repo, unquote(m["rev"]))
        self._json(200, [{"id": c.sha, "title": c.title, "message": c.message, "date": c.date,
                          "authors": [{"user": c.author}]} for c in repo.history(commit.sha)])

    def refs(self, m, q, body):
        repo = self._repo(m)
        branches = [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": sha} for b, sha in sorted(repo.refs.items())]
        self._json(200, {"branches": branches, "converts": [], "tags": [], "pullRequests": []})

    def create_branch(self, m, q, body):
        repo = self._repo(m, write=True)
        branch = unquote(m["branch"])
        start = json.loads(body or b"{}").get("startingPoint") or "main"
        with self.hub.store.lock:
            if branch in repo.refs:
                raise HubError(409, f"Reference already exists: refs/heads/{branch}")
            repo.refs[branch] = self._commit_for(repo, start).sha
        self._send(200)

    def lfs_batch(self, m, q, body):
        self._repo(m, write=True)
        payload = json.loads(body)
        objects = []
        for obj in payload.get("objects", []):
            entry = {"oid": obj["oid"], "size": int(obj["size"]), "authenticated": True}
            if obj["oid"] not in self.hub.store.lfs:
                entry["actions"] = {"upload": {"href": f"{self.hub.url}/lfs-upload/{obj['oid']}", "header": {}},
                                    "verify": {"href": f"{self.hub.url}/lfs-verify/{obj['oid']}", "header": {}}}
            objects.append(entry)
        self._json(200, {"transfer": "basic", "objects": objects}, {"Content-Type": "application/vnd.git-lfs+json"})

    def lfs_upload(self, m, q, body):
        if hashlib.sha256(body).hexdigest() != m["oid"]:
            raise HubError(400, "LFS upload does not match its sha256")
        with self.hub.store.lock:
            self.hub.store.lfs[m["oid"]] = body
        self._send(200)

    def lfs_verify(self, m, q, body):
        if m["oid"] not in self.hub.store.lfs:
            raise HubError(404, "LFS object not found")
        self._send(200)

    def resolve(self, m, q, body):
        repo = self._repo(m)
        commit = self._commit_for(repo, unquote(m["rev"]))
        path = unquote(m["path"])
        blob: Blob | None = commit.files.get(path)
        if blob is None:
            raise HubError(404, "Entry not found", "EntryNotFound")
        headers = {"Content-Type": "application/octet-stream", "ETag": f'"{blob.etag}"', "X-Repo-Commit": commit.sha,
                   "Accept-Ranges": "bytes", "Content-Disposition": f'inline; filename="{quote(path)}"'}
        if blob.lfs_sha256:
            headers.update({"X-Linked-Etag": f'"{blob.etag}"', "X-Linked-Size": str(blob.size)})
        data, status = blob.content, 200
        rng = re.match(r"bytes=(\d*)-(\d*)$", self.headers.get("Range", "") or "")
        if rng and blob.size:
            start = int(rng[1]) if rng[1] else max(blob.size - int(rng[2]), 0)
            end = min(int(rng[2]), blob.size - 1) if rng[1] and rng[2] else blob.size - 1
            if start >= blob.size:
                headers["Content-Range"] = f"bytes */{blob.size}"
                return self._send(416, b"", headers, head=self.command == "HEAD")
            data, status = blob.content[start:end + 1], 206
            headers["Content-Range"] = f"bytes {start}-{end}/{blob.size}"
        self._send(status, data, headers, head=self.command == "HEAD")


def _front_matter(text: str) -> tuple[dict | None, str | None]:
    """``(metadata, error)`` of a README's ``---`` YAML header, as the Hub's validate-yaml sees it."""
    import yaml

    match = re.match(r"^\s*---\s*\n(.*?)\n---\s*\n", text, re.S)
    try:
        data = yaml.safe_load(match.group(1)) if match else None
    except yaml.YAMLError as err:
        return None, f"Invalid YAML: {err}"
    if data is not None and not isinstance(data, dict):
        return None, "YAML metadata must be a mapping"
    return data, None


_ROUTES = [(method, re.compile(pattern), func) for method, pattern, func in [
    ("GET", r"^/api/whoami-v2$", _Handler.whoami),
    ("GET", r"^/api/agent-harnesses$", _Handler.agent_harnesses),
    ("POST", r"^/api/validate-yaml$", _Handler.validate_yaml),
    ("POST", r"^/api/repos/create$", _Handler.create_repo),
    ("GET", _API + r"(?:/revision/(?P<rev>[^/]+))?$", _Handler.repo_info),
    ("POST", _API + r"/preupload/(?P<rev>[^/]+)$", _Handler.preupload),
    ("POST", _API + r"/commit/(?P<rev>[^/]+)$", _Handler.commit),
    ("GET", _API + r"/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$", _Handler.tree),
    ("POST", _API + r"/paths-info/(?P<rev>[^/]+)$", _Handler.paths_info),
    ("GET", _API + r"/commits/(?P<rev>[^/]+)$", _Handler.commits),
    ("GET", _API + r"/refs$", _Handler.refs),
    ("POST", _API + r"/branch/(?P<branch>[^/]+)$", _Handler.create_branch),
    ("POST", r"^/(?P<prefix>datasets/|spaces/)?" + _REPO + r"\.git/info/lfs/objects/batch$", _Handler.lfs_batch),
    ("PUT", r"^/lfs-upload/(?P<oid>[0-9a-f]{64})$", _Handler.lfs_upload),
    ("POST", r"^/lfs-verify/(?P<oid>[0-9a-f]{64})$", _Handler.lfs_verify),
    ("GET", r"^/(?P<prefix>datasets/|spaces/)?" + _REPO + r"/resolve/(?P<rev>[^/]+)/(?P<path>.+)$", _Handler.resolve),
]]
