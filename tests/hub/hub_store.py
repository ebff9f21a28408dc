"""In-memory, git-like storage behind the loopback Hub server (``hub_server.py``).

Blobs are addressed like git (``sha1("blob <size>\\0" + content)``); LFS objects by their sha256. Commits are immutable
snapshots (path -> blob) with a real sha1 computed over the tree, the parent, the date and the message, so an identical
re-push that creates no commit leaves the head sha unchanged and anything else moves it.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import threading
import time
from dataclasses import dataclass, field

LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n"
DEFAULT_GITATTRIBUTES = (
    "*.parquet filter=lfs diff=lfs merge=lfs -text\n"
    "*.arrow filter=lfs diff=lfs merge=lfs -text\n"
    "*.png filter=lfs diff=lfs merge=lfs -text\n"
    "*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
    "*.bin filter=lfs diff=lfs merge=lfs -text\n"
)
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024  # the Hub stores files from 10 MB up in LFS


def git_blob_oid(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


@dataclass(frozen=True)
class Blob:
    content: bytes
    lfs_sha256: str | None = None  # set when the file is stored in LFS

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def oid(self) -> str:
        """git oid: of the content, or of the LFS pointer file for LFS blobs (as git does)."""
        if self.lfs_sha256 is None:
            return git_blob_oid(self.content)
        return git_blob_oid(self.pointer)

    @property
    def pointer(self) -> bytes:
        return LFS_POINTER.format(oid=self.lfs_sha256, size=self.size).encode()

    @property
    def etag(self) -> str:
        return self.lfs_sha256 or self.oid


@dataclass
class Commit:
    sha: str
    parent: str | None
    files: dict[str, Blob]
    title: str
    message: str
    author: str
    date: str


def tree_oid(files: dict[str, Blob], prefix: str = "") -> str:
    h = hashlib.sha1()
    for path in sorted(files):
        if path.startswith(prefix):
            h.update(f"{path}\0{files[path].oid}\n".encode())
    return h.hexdigest()


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    owner: str
    private: bool
    created_at: str = field(default_factory=iso_now)
    refs: dict[str, str] = field(default_factory=dict)  # branch -> commit sha
    commits: dict[str, Commit] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit | None:
        if revision in self.refs:
            return self.commits[self.refs[revision]]
        if revision.startswith("refs/heads/") and revision[len("refs/heads/"):] in self.refs:
            return self.commits[self.refs[revision[len("refs/heads/"):]]]
        return self.commits.get(revision)

    def history(self, sha: str) -> list[Commit]:
        out = []
        while sha is not None:
            commit = self.commits[sha]
            out.append(commit)
            sha = commit.parent
        return out

    def last_commit_touching(self, head: str, path: str) -> Commit:
        """Newest commit in the history of ``head`` that changed ``path`` (a file or a folder prefix)."""
        chain = self.history(head)
        for newer, older in zip(chain, chain[1:]):
            if _view(newer.files, path) != _view(older.files, path):
                return newer
        return chain[-1]

    def lfs_patterns(self, commit: Commit) -> list[str]:
        blob = commit.files.get(".gitattributes")
        if blob is None:
            return []
        return [line.split()[0] for line in blob.content.decode(errors="replace").splitlines()
                if "filter=lfs" in line and line.split()]


def _view(files: dict[str, Blob], path: str) -> dict[str, str]:
    return {p: b.oid for p, b in files.items() if p == path or p.startswith(path.rstrip("/") + "/")}


def tree_paths(commit: Commit, base: str, recursive: bool) -> list[str] | None:
    """Paths listed by the tree endpoint under ``base`` (files and folders), or None when ``base`` does not exist."""
    if base and base in commit.files:
        return [base]
    prefix = base + "/" if base else ""
    below = [p for p in commit.files if p.startswith(prefix)]
    if base and not below:
        return None
    names: set[str] = set()
    for p in below:
        parts = p[len(prefix):].split("/")
        for depth in range(1, len(parts) + 1 if recursive else 2):
            names.add(prefix + "/".join(parts[:depth]))
    return sorted(names)


def path_entry(repo: Repo, commit: Commit, path: str, expand: bool) -> dict:
    """A tree / paths-info entry, as the Hub serialises it."""
    blob = commit.files.get(path)
    if blob is not None:
        entry = {"type": "file", "oid": blob.oid, "size": blob.size, "path": path}
        if blob.lfs_sha256:
            entry["lfs"] = {"oid": blob.lfs_sha256, "size": blob.size, "pointerSize": len(blob.pointer)}
    else:
        entry = {"type": "directory", "oid": tree_oid(commit.files, path + "/"), "size": 0, "path": path}
    if expand:
        last = repo.last_commit_touching(commit.sha, path)
        entry["lastCommit"] = {"id": last.sha, "title": last.title, "date": last.date}
    return entry


class CommitError(Exception):
    """Raised by :meth:`HubStore.commit`; carries the HTTP status and the Hub error code."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class HubStore:
    """All repos and LFS objects of one server; every mutation holds ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs: dict[str, bytes] = {}  # sha256 -> content
        self._clock = 0

    def get(self, repo_type: str, repo_id: str) -> Repo | None:
        return self.repos.get((repo_type, repo_id))

    def create_repo(self, repo_type: str, repo_id: str, owner: str, private: bool) -> Repo:
        repo = Repo(repo_type=repo_type, repo_id=repo_id, owner=owner, private=private)
        self.repos[(repo_type, repo_id)] = repo
        self._add_commit(repo, "main", None, {".gitattributes": Blob(DEFAULT_GITATTRIBUTES.encode())},
                         "initial commit", "", owner)
        return repo

    def upload_mode(self, repo: Repo, revision: str, path: str, size: int, sample: bytes) -> str:
        commit = repo.resolve(revision) or repo.resolve("main")
        patterns = repo.lfs_patterns(commit) if commit else []
        name = path.rsplit("/", 1)[-1]
        if any(fnmatch.fnmatch(name, p) or fnmatch.fnmatch(path, p) for p in patterns):
            return "lfs"
        if size >= LFS_SIZE_THRESHOLD or b"\0" in sample:
            return "lfs"
        return "regular"

    def commit(self, repo: Repo, branch: str, operations: list[dict], header: dict, author: str) -> Commit:
        """Apply NDJSON commit operations on ``branch``; raise :class:`CommitError` like the Hub does."""
        with self.lock:
            if branch not in repo.refs:
                raise CommitError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            head = repo.commits[repo.refs[branch]]
            parent = header.get("parentCommit")
            if parent is not None and parent != head.sha:
                raise CommitError(412, "A commit has happened since. Please refresh and try again.")
            files = dict(head.files)
            for op in operations:
                key, value = op.get("key"), op.get("value", {})
                path = value.get("path", "")
                if key == "file":
                    if value.get("encoding") != "base64":
                        raise CommitError(400, f"Unsupported encoding {value.get('encoding')!r} for {path}")
                    files[path] = Blob(base64.b64decode(value["content"]))
                elif key == "lfsFile":
                    oid = value.get("oid")
                    if oid not in self.lfs:
                        raise CommitError(422, f"LFS object {oid} for {path} was never uploaded")
                    files[path] = Blob(self.lfs[oid], lfs_sha256=oid)
                elif key == "deletedFile":
                    if path not in files:
                        raise CommitError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                    del files[path]
                elif key == "deletedFolder":
                    prefix = path.rstrip("/") + "/"
                    doomed = [p for p in files if p.startswith(prefix)]
                    if not doomed:
                        raise CommitError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
                    for p in doomed:
                        del files[p]
                else:
                    raise CommitError(400, f"Unsupported commit operation {key!r}")
            return self._add_commit(repo, branch, head.sha, files, header.get("summary") or "update",
                                    header.get("description") or "", author)

    def _add_commit(self, repo: Repo, branch: str, parent: str | None, files: dict[str, Blob], title: str,
                    message: str, author: str) -> Commit:
        with self.lock:
            self._clock += 1
            date = iso_now()
            text = f"tree {tree_oid(files)}\nparent {parent}\nauthor {author} {date} #{self._clock}\n\n{title}\n\n{message}"
            sha = hashlib.sha1(f"commit {len(text)}\0{text}".encode()).hexdigest()
            repo.commits[sha] = Commit(sha=sha, parent=parent, files=files, title=title, message=message,
                                       author=author, date=date)
            repo.refs[branch] = sha
            return repo.commits[sha]
