"""A loopback Hub-protocol server for tests: just enough of the Hub's HTTP API for the real `huggingface_hub`
and `datasets` clients to create repos, commit files (regular and Git LFS), list, download and load them.

Repos live in memory; each commit is a full snapshot, so `resolve/{sha}` of an old commit works. It listens
on 127.0.0.1 only. The endpoints and headers follow what the clients were observed to send
(shared/HUB_PROTOCOL.md). Run with `HF_HUB_DISABLE_XET=1` so uploads use the Git LFS batch API.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

import yaml

PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
# The license identifiers the Hub accepts in card metadata (huggingface.co/docs/hub/repositories-licenses).
HUB_LICENSES = set(
    """apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0
    bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc
    cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0
    cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0
    cdla-sharing-1.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1
    eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c
    ms-pl apple-ascl apple-amlr mpl-2.0 odc-by odbl openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib
    pddl lgpl-lr deepfloyd-if-license llama2 llama3 llama3.1 llama3.2 llama3.3 llama4 gemma unknown other""".split()
)
HUB_SIZE_CATEGORIES = {
    "n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B", "1B<n<10B",
    "10B<n<100B", "100B<n<1T", "n>1T",
}  # fmt: skip
_HUB_ID = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.\-]*/)?[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def card_errors(repo_type: str, content: str) -> list[str]:
    """What the Hub's `/api/validate-yaml` objects to in a README's metadata: the fields' types, licenses from
    the Hub's list (a list of them only for datasets), size categories from the Hub's set, and `base_model` /
    `datasets` that are repo ids (a local path there is a broken link)."""
    if not content.startswith("---"):
        return []
    try:
        meta = yaml.safe_load(content.split("\n---", 1)[0][3:]) or {}
    except yaml.YAMLError as err:
        return [f"invalid YAML: {err}"]
    if not isinstance(meta, dict):
        return ["metadata must be a mapping"]
    errors = []

    def strings(key: str, allow_str: bool = True) -> list:
        value = meta.get(key)
        if value is None:
            return []
        if isinstance(value, str) and allow_str:
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            errors.append(f'"{key}" must be {"a string or " if allow_str else ""}an array of strings')
            return []
        return value

    licenses = meta.get("license")
    if isinstance(licenses, list) and repo_type != "dataset":
        errors.append('"license" must be a string')
    for license_ in strings("license"):
        if license_ not in HUB_LICENSES:
            errors.append(f'"license" must be one of the Hub\'s license identifiers, got {license_!r}')
    for key, kind in (("base_model", "model"), ("datasets", "dataset")):
        for value in strings(key):
            if not _HUB_ID.match(value) or ".." in value:
                errors.append(f'"{key}" must contain valid {kind} ids, got {value!r}')
    for key in ("tags", "language", "task_categories", "source_datasets"):
        strings(key)
    for value in strings("size_categories", allow_str=False):
        if value not in HUB_SIZE_CATEGORIES:
            errors.append(f'"size_categories" must be one of the Hub\'s values, got {value!r}')
    configs = meta.get("configs", [])
    if not isinstance(configs, list) or not all(
        isinstance(c, dict) and isinstance(c.get("config_name"), str) for c in configs
    ):
        errors.append('"configs" must be an array of objects with a "config_name"')
    return errors


PLURAL = {"models": "model", "datasets": "dataset", "spaces": "space"}
DEFAULT_TOKEN = "hf_loopback_test_token"  # the token tests/conftest.py's loopback_hub fixture sets


@dataclass
class Commit:
    id: str
    title: str
    date: str
    files: dict[str, tuple[bytes, bool]]  # path -> (content, stored in LFS)


@dataclass
class Repo:
    repo_id: str
    repo_type: str
    private: bool
    commits: list[Commit] = field(default_factory=list)

    def head(self) -> Commit:
        return self.commits[-1]


def _git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class HubState:
    def __init__(self) -> None:
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.lock = threading.RLock()
        self.requests: list[str] = []  # "METHOD path" of every request, for tests that check what was sent
        self.validated: list[tuple[str, list[str]]] = []  # (repo type, errors) of every card validated
        self.accounts: dict[str, str] = {DEFAULT_TOKEN: "tester"}  # token -> user name, for whoami-v2
        self.space_hosts: dict[
            str, str
        ] = {}  # Space id -> URL where a test runs it (space_info.host, runtime)

    def create(self, repo_type: str, repo_id: str, private: bool) -> Repo | None:
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                return None
            repo = Repo(repo_id, repo_type, private)
            repo.commits.append(Commit(self._new_sha(repo_id), "initial commit", _now(), {}))
            self.repos[(repo_type, repo_id)] = repo
            return repo

    def _new_sha(self, seed: str) -> str:
        return hashlib.sha1(f"{seed}{time.time_ns()}{len(self.repos)}".encode()).hexdigest()

    def commit(self, repo: Repo, title: str, ops: list[dict]) -> Commit:
        with self.lock:
            files = dict(repo.head().files)
            for op in ops:
                key, value = op["key"], op["value"]
                if key == "file":
                    files[value["path"]] = (base64.b64decode(value["content"]), False)
                elif key == "lfsFile":
                    files[value["path"]] = (self.lfs[value["oid"]], True)
                elif key == "deletedFile":
                    files.pop(value["path"], None)
                elif key == "deletedFolder":
                    folder = value["path"].rstrip("/") + "/"
                    files = {p: v for p, v in files.items() if not p.startswith(folder)}
            commit = Commit(self._new_sha(repo.repo_id), title, _now(), files)
            repo.commits.append(commit)
            return commit

    def commit_on_parent(self, repo: Repo, parent: str | None, title: str, ops: list[dict]) -> Commit | None:
        """Commit unless `parent` is given and is no longer the head: None then (the Hub answers 412)."""
        with self.lock:
            if parent and repo.head().id != parent:
                return None
            return self.commit(repo, title, ops)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format, *args):  # quiet: tests read state.requests instead
        pass

    # ------------------------------------------------------------------ plumbing
    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj, status=200, headers=None):
        self._send(status, json.dumps(obj).encode(), headers)

    def _error(self, status: int, code: str, message: str):
        header = " ".join(message.split())  # one line: a header cannot hold a newline
        self._json({"error": message}, status, {"X-Error-Code": code, "X-Error-Message": header})

    def _repo(self, repo_type: str, repo_id: str) -> Repo | None:
        repo = self.server.state.repos.get((repo_type, repo_id))
        if repo is None:
            self._error(404, "RepoNotFound", f"Repository not found: {repo_id}")
        return repo

    def _commit(self, repo: Repo, rev: str) -> Commit | None:
        rev = unquote(rev)
        if rev == "main":
            return repo.head()
        for c in repo.commits:
            if c.id == rev:
                return c
        self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return None

    def _url(self, path: str) -> str:
        return f"http://{self.server.server_address[0]}:{self.server.server_address[1]}{path}"

    # ------------------------------------------------------------------ dispatch
    def do_HEAD(self):
        self._dispatch()

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def _dispatch(self):
        parsed = urlparse(self.path)
        path, query = parsed.path, parse_qs(parsed.query)
        self.server.state.requests.append(f"{self.command} {path}")
        # Read the whole body before routing, so that a kept-alive connection never sees leftovers.
        self.body = self._read_body() if self.command in ("POST", "PUT") else b""
        routes = [
            ("POST", r"^/api/repos/create$", self.create_repo),
            ("POST", r"^/api/validate-yaml$", self.validate_yaml),
            ("GET", r"^/api/whoami-v2$", self.whoami),
            ("POST", r"^/api/(models|datasets|spaces)/([^/]+/[^/]+)/preupload/([^/]+)$", self.preupload),
            ("POST", r"^/api/(models|datasets|spaces)/([^/]+/[^/]+)/commit/([^/]+)$", self.commit),
            ("POST", r"^/api/(models|datasets|spaces)/([^/]+/[^/]+)/paths-info/([^/]+)$", self.paths_info),
            ("GET", r"^/api/(models|datasets|spaces)/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?$", self.tree),
            ("GET", r"^/api/(models|datasets|spaces)/([^/]+/[^/]+)/commits/([^/]+)$", self.commits),
            ("GET", r"^/api/spaces/([^/]+/[^/]+)/runtime$", self.space_runtime),
            ("GET", r"^/api/(models|datasets|spaces)/([^/]+/[^/]+)(?:/revision/([^/]+))?$", self.info),
            ("POST", r"^/(datasets/|spaces/)?([^/]+/[^/]+)\.git/info/lfs/objects/batch$", self.lfs_batch),
            ("PUT", r"^/lfs-upload/([0-9a-f]{64})$", self.lfs_upload),
            ("GET", r"^/(datasets/|spaces/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", self.resolve),
            ("HEAD", r"^/(datasets/|spaces/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", self.resolve),
        ]
        for method, pattern, handler in routes:
            m = re.match(pattern, path)
            if m and method == self.command:
                self.query = query
                return handler(*m.groups())
        self._error(404, "NotFound", f"no route for {self.command} {path}")

    # ------------------------------------------------------------------ endpoints
    def whoami(self):
        """The account a token belongs to (`state.accounts`); 401 for a missing or unknown token, as the Hub."""
        token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        name = self.server.state.accounts.get(token)
        if name is None:
            return self._error(401, "Unauthorized", "Invalid credentials in Authorization header")
        self._json({"type": "user", "name": name, "orgs": [], "auth": {"accessToken": {"role": "write"}}})

    def validate_yaml(self):
        payload = json.loads(self.body or b"{}")
        errors = card_errors(payload.get("repoType") or "model", payload.get("content") or "")
        self.server.state.validated.append((payload.get("repoType"), errors))
        if errors and "text/plain" in self.headers.get("Accept", ""):  # RepoCard.validate asks for text
            return self._send(400, "\n".join(errors).encode(), ctype="text/plain")
        self._json({"errors": [{"message": e} for e in errors], "warnings": []}, 400 if errors else 200)

    def create_repo(self):
        if not self.headers.get("Authorization"):
            return self._error(401, "Unauthorized", "You must be authenticated to create a repo")
        payload = json.loads(self.body or b"{}")
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or 'tester'}/{payload['name']}"
        private = payload.get("visibility") == "private" or bool(payload.get("private"))
        url = self._url(f"/{PREFIX[repo_type]}{repo_id}")
        if self.server.state.create(repo_type, repo_id, private) is None:
            # The Hub's 409 carries the url too: the client reads it when exist_ok=True.
            message = "You already created this repo"
            return self._json(
                {"error": message, "url": url},
                409,
                {"X-Error-Code": "RepoExists", "X-Error-Message": message},
            )
        self._json({"url": url, "name": repo_id, "id": repo_id})

    def info(self, kind, repo_id, rev=None):
        repo = self._repo(PLURAL[kind], repo_id)
        if repo is None:
            return
        commit = self._commit(repo, rev or "main")
        if commit is None:
            return
        card_data = None
        if "README.md" in commit.files:
            text = commit.files["README.md"][0].decode()
            if text.startswith("---"):
                card_data = yaml.safe_load(text.split("\n---", 1)[0][3:])
        siblings = [{"rfilename": p, "size": len(v[0])} for p, v in sorted(commit.files.items())]
        self._json(
            {
                "id": repo_id,
                "_id": repo_id,
                "author": repo_id.split("/")[0],
                "sha": commit.id,
                "private": repo.private,
                "gated": False,
                "disabled": False,
                "lastModified": commit.date,
                "createdAt": repo.commits[0].date,
                "siblings": siblings,
                "cardData": card_data,
                "tags": [],
                "downloads": 0,
                "likes": 0,
                "sdk": "gradio" if repo.repo_type == "space" else None,
                **self._space_host(repo),
            }
        )

    def _space_host(self, repo: Repo) -> dict:
        """A running Space's `host` (what gradio_client connects to), when a test runs it."""
        host = self.server.state.space_hosts.get(repo.repo_id) if repo.repo_type == "space" else None
        return {"host": host} if host else {}

    def space_runtime(self, repo_id):
        """A Space's runtime: RUNNING where a test runs it (`state.space_hosts`), else stopped."""
        if self._repo("space", repo_id) is None:
            return
        stage = "RUNNING" if repo_id in self.server.state.space_hosts else "STOPPED"
        self._json({"stage": stage, "hardware": {"current": "cpu-basic", "requested": "cpu-basic"}})

    def _entry(self, path: str, content: bytes, lfs: bool) -> dict:
        entry = {"type": "file", "path": path, "size": len(content), "oid": _git_blob_sha(content)}
        if lfs:
            entry["lfs"] = {
                "oid": hashlib.sha256(content).hexdigest(),
                "size": len(content),
                "pointerSize": 134,
            }
        return entry

    def _entries(self, commit: Commit, folder: str, recursive: bool) -> list[dict]:
        prefix = folder.strip("/") + "/" if folder.strip("/") else ""
        files, dirs = [], set()
        for path, (content, lfs) in sorted(commit.files.items()):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix) :]
            parts = rest.split("/")
            for i in range(1, len(parts)):
                if recursive or i == 1:
                    dirs.add(prefix + "/".join(parts[:i]))
            if recursive or len(parts) == 1:
                files.append(self._entry(path, content, lfs))
        folders = [
            {"type": "directory", "path": d, "oid": hashlib.sha1(d.encode()).hexdigest()}
            for d in sorted(dirs)
        ]
        return folders + files

    def tree(self, kind, repo_id, rev, folder=None):
        repo = self._repo(PLURAL[kind], repo_id)
        commit = repo and self._commit(repo, rev)
        if commit is None:
            return
        folder = unquote(folder or "")
        if folder and not any(p.startswith(folder.rstrip("/") + "/") for p in commit.files):
            return self._error(404, "EntryNotFound", f"{folder} does not exist on {rev}")
        recursive = self.query.get("recursive", ["false"])[0].lower() in ("1", "true")
        self._json(self._entries(commit, folder, recursive))

    def paths_info(self, kind, repo_id, rev):
        repo = self._repo(PLURAL[kind], repo_id)
        commit = repo and self._commit(repo, rev)
        if commit is None:
            return
        body = self.body
        if self.headers.get("Content-Type", "").startswith("application/json"):
            paths = json.loads(body).get("paths", [])
        else:
            paths = parse_qs(body.decode()).get("paths", [])
        out = []
        for p in paths:
            if p in commit.files:
                out.append(self._entry(p, *commit.files[p]))
            elif any(f.startswith(p.rstrip("/") + "/") for f in commit.files):
                out.append({"type": "directory", "path": p, "oid": hashlib.sha1(p.encode()).hexdigest()})
        self._json(out)

    def commits(self, kind, repo_id, rev):
        repo = self._repo(PLURAL[kind], repo_id)
        if repo is None or self._commit(repo, rev) is None:
            return
        self._json(
            [
                {"id": c.id, "title": c.title, "message": "", "date": c.date, "authors": [{"user": "tester"}]}
                for c in reversed(repo.commits)
            ]
        )

    def preupload(self, kind, repo_id, rev):
        if self._repo(PLURAL[kind], repo_id) is None:
            return
        files = json.loads(self.body).get("files", [])
        # Everything but small text files goes to LFS, as the Hub does for binary files such as parquet shards.
        modes = [
            {
                "path": f["path"],
                "uploadMode": "regular"
                if f["path"].endswith((".md", ".json", ".txt", ".py", ".yaml")) and f["size"] < 10_000_000
                else "lfs",
                "shouldIgnore": False,
            }
            for f in files
        ]
        self._json({"files": modes, "commitOid": None})

    def lfs_batch(self, prefix, repo_id):
        body = json.loads(self.body)
        objects = []
        for obj in body.get("objects", []):
            item = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self.server.state.lfs:
                item["actions"] = {"upload": {"href": self._url(f"/lfs-upload/{obj['oid']}"), "header": {}}}
            objects.append(item)
        self._send(
            200,
            json.dumps({"transfer": "basic", "objects": objects}).encode(),
            ctype="application/vnd.git-lfs+json",
        )

    def lfs_upload(self, oid):
        data = self.body
        if hashlib.sha256(data).hexdigest() != oid:
            return self._error(400, "BadRequest", "sha256 mismatch")
        self.server.state.lfs[oid] = data
        self._send(200)

    def commit(self, kind, repo_id, rev):
        repo = self._repo(PLURAL[kind], repo_id)
        if repo is None:
            return
        if not self.headers.get("Authorization"):
            return self._error(401, "Unauthorized", "You must be authenticated to commit")
        lines = [json.loads(line) for line in self.body.decode().splitlines() if line.strip()]
        header = next((line["value"] for line in lines if line["key"] == "header"), {})
        ops = [line for line in lines if line["key"] != "header"]
        missing = [
            op["value"]["oid"]
            for op in ops
            if op["key"] == "lfsFile" and op["value"]["oid"] not in self.server.state.lfs
        ]
        if missing:
            return self._error(422, "LfsMissing", f"LFS objects not uploaded: {missing}")
        readme = next(
            (op["value"] for op in ops if op["key"] == "file" and op["value"]["path"] == "README.md"), None
        )
        if readme is not None:  # the Hub refuses a commit whose README metadata it would not validate
            errors = card_errors(repo.repo_type, base64.b64decode(readme["content"]).decode(errors="replace"))
            if errors:
                return self._error(400, "BadRequest", "Invalid metadata in README.md.\n" + "\n".join(errors))
        commit = self.server.state.commit_on_parent(
            repo, header.get("parentCommit"), header.get("summary", "commit"), ops
        )
        if commit is None:  # the Hub's answer to a stale `parent_commit` (optimistic concurrency)
            return self._error(
                412, "PreconditionFailed", "A commit has happened since. Please refresh and try again."
            )
        self._json(
            {
                "success": True,
                "commitOid": commit.id,
                "commitUrl": self._url(f"/{PREFIX[repo.repo_type]}{repo_id}/commit/{commit.id}"),
            }
        )

    def resolve(self, prefix, repo_id, rev, path):
        repo = self._repo({"datasets/": "dataset", "spaces/": "space"}.get(prefix or "", "model"), repo_id)
        commit = repo and self._commit(repo, rev)
        if commit is None:
            return
        path = unquote(path)
        if path not in commit.files:
            return self._error(404, "EntryNotFound", f"{path} does not exist at {rev}")
        content, lfs = commit.files[path]
        headers = {
            "X-Repo-Commit": commit.id,
            "ETag": f'"{_git_blob_sha(content)}"',
            "Accept-Ranges": "bytes",
        }
        if lfs:
            sha = hashlib.sha256(content).hexdigest()
            headers.update(
                {"X-Linked-Etag": f'"{sha}"', "X-Linked-Size": str(len(content)), "ETag": f'"{sha}"'}
            )
        status, body = 200, content
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start_s, end_s = rng[6:].split("-", 1)
            start = int(start_s) if start_s else max(0, len(content) - int(end_s))
            end = int(end_s) if end_s and start_s else len(content) - 1
            end = min(end, len(content) - 1)
            body = content[start : end + 1]
            headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
            status = 206
        self._send(status, body, headers, ctype="application/octet-stream")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: HubState):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class LoopbackHub:
    """Start with `LoopbackHub().start()`; `.endpoint` is the URL to use as HF_ENDPOINT; `.stop()` ends it."""

    def __init__(self) -> None:
        self.state = HubState()
        self._server = _Server(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LoopbackHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
