"""A local stand-in for the Hugging Face Hub and Kaggle Models, for tests: the real, unpatched clients download from it.

:class:`HubServer` serves local folders on 127.0.0.1; :func:`point_clients_at` points huggingface_hub
(``snapshot_download``, ``hf_hub_download``, ``model_info``) and kagglehub (``model_download``) of this process at
it, and so keras_hub's ``get_file("hf://...")`` / ``get_file("kaggle://...")``::

    with HubServer() as hub:
        hub.add_hf("org/name", folder)
        hub.add_kaggle("owner/model/keras/variant", folder)  # version 1
        point_clients_at(hub, monkeypatch, tmp_path / "caches")
        huggingface_hub.snapshot_download("org/name")
        kagglehub.model_download("owner/model/keras/variant", path="config.json")
        assert "/api/models/org/name/revision/main" in hub.requests

Files are read at request time. The HF commit sha hashes every path and git blob id (the ETag), so editing a file
makes a new commit and huggingface_hub fetches the changed file again. Kaggle versions are immutable (kagglehub
caches by version): publish a change as ``add_kaggle(handle, folder, version=2)``; an unversioned handle gets the
highest version. The endpoints are those huggingface_hub 2.4 and kagglehub 1.0.2 (kagglesdk 0.1.28) call, with
404s like the real hubs' (so the clients raise their usual errors): see ``HubServer._hf_route`` and ``_kaggle_route``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import tarfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, NamedTuple
from urllib.parse import unquote, urlsplit

import pytest

_HF_INFO = re.compile(r"/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?")
_HF_TREE = re.compile(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?")
_HF_FILE = re.compile(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)")
_KAGGLE_RPC = "/api/v1/models.ModelApiService/"
_KAGGLE_METHODS = ("GetModelInstance", "ListModelInstanceVersionFiles", "DownloadModelInstanceVersion")
_KAGGLE_PAGE = 25  # kagglehub's page size; above it kagglehub asks for the archive


@dataclass
class _Reply(Exception):
    """An HTTP answer; a route returns one, or raises one (a 404) to answer at once."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class _Snapshot(NamedTuple):
    files: dict[str, bytes]  # relative posix path -> contents, sorted
    oids: dict[str, str]  # relative posix path -> git blob id
    sha: str  # the commit: a hash of every path and blob id


def _json(status: int, obj: object, **headers: str) -> _Reply:
    return _Reply(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **headers})


def _hf_error(code: str, message: str, **headers: str) -> _Reply:
    return _json(404, {"error": message}, **{"X-Error-Code": code, "X-Error-Message": message, **headers})


def _kaggle_error(message: str) -> _Reply:
    return _json(404, {"code": 404, "message": message})


def _read_files(folder: Path) -> dict[str, bytes]:
    """Every file under folder (subfolders too), read now."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _snapshot(folder: Path) -> _Snapshot:
    files = _read_files(folder)
    oids = {n: hashlib.sha1(b"blob %d\0" % len(d) + d).hexdigest() for n, d in files.items()}
    sha = hashlib.sha1("".join(f"{n}\0{o}\n" for n, o in oids.items()).encode()).hexdigest()
    return _Snapshot(files, oids, sha)


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class HubServer:
    """A ThreadingHTTPServer on 127.0.0.1 (an ephemeral port, a daemon thread) serving folders as hub repos; a
    context manager that starts and stops it. ``requests`` lists the path (no query) of every request received."""

    def __init__(self) -> None:
        self._hf: dict[str, Path] = {}
        self._kaggle: dict[tuple[str, ...], dict[int, Path]] = {}
        self.requests: list[str] = []
        self._httpd = _Server(self)
        self.url: str = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="HubServer", daemon=True)

    def add_hf(self, repo_id: str, folder: Path) -> None:
        """Serve folder's files, subfolders too, as the Hugging Face model repo ``repo_id`` at revision main."""
        if repo_id.count("/") != 1:
            raise ValueError(f"a Hugging Face repo id is org/name, not {repo_id!r}")
        self._hf[repo_id] = Path(folder)

    def add_kaggle(self, handle: str, folder: Path, version: int = 1) -> None:
        """Serve folder's files as version ``version`` of the Kaggle model variation ``owner/model/keras/variant``."""
        parts = tuple(handle.lower().strip("/").split("/"))
        if len(parts) != 4:
            raise ValueError(f"a Kaggle handle is owner/model/framework/variation, not {handle!r}")
        self._kaggle.setdefault(parts, {})[version] = Path(folder)

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def _hf_route(self, path: str) -> _Reply:
        """The answer to ``GET``/``HEAD path``: ``/api/models/{repo}[/revision/{rev}]`` (``sha``, ``siblings``),
        ``/api/models/{repo}/tree/{rev}[/{dir}]`` (every file, one page, always recursive) and
        ``/{repo}/resolve/{rev}/{file}`` (with ``X-Repo-Commit``, ``ETag``, ``Content-Length``; no Xet headers, so
        plain HTTP downloads). ``rev`` is main or the current sha. A 404 has an ``X-Error-Code`` as on the Hub."""
        routes = ((_HF_INFO, self._hf_info), (_HF_TREE, self._hf_tree), (_HF_FILE, self._hf_file))
        for pattern, route in routes:
            if match := pattern.fullmatch(path):
                return route(*(unquote(g) if g else None for g in match.groups()))
        return _json(404, {"error": "Not Found"})

    def _hf_repo(self, repo_id: str, revision: str | None) -> _Snapshot:
        if repo_id not in self._hf:
            raise _hf_error("RepoNotFound", "Repository not found")
        snap = _snapshot(self._hf[repo_id])
        if revision not in (None, "main", snap.sha):
            raise _hf_error("RevisionNotFound", f"Invalid rev id: {revision}")
        return snap

    def _hf_info(self, repo_id: str, revision: str | None) -> _Reply:
        snap = self._hf_repo(repo_id, revision)
        siblings = [{"rfilename": n, "size": len(d), "blobId": snap.oids[n]} for n, d in snap.files.items()]
        return _json(200, {"id": repo_id, "modelId": repo_id, "sha": snap.sha, "private": False, "siblings": siblings})

    def _hf_tree(self, repo_id: str, revision: str, sub: str | None) -> _Reply:
        snap = self._hf_repo(repo_id, revision)
        prefix = sub.strip("/") + "/" if sub and sub.strip("/") else ""
        entries = [{"type": "file", "path": n, "size": len(d), "oid": snap.oids[n]}
                   for n, d in snap.files.items() if n.startswith(prefix)]
        if prefix and not entries:
            raise _hf_error("EntryNotFound", f"{sub} does not exist on {revision}", **{"X-Repo-Commit": snap.sha})
        return _json(200, entries)

    def _hf_file(self, repo_id: str, revision: str, filename: str) -> _Reply:
        snap = self._hf_repo(repo_id, revision)
        if filename not in snap.files:
            raise _hf_error("EntryNotFound", "Entry not found", **{"X-Repo-Commit": snap.sha})
        return _Reply(200, snap.files[filename], {"X-Repo-Commit": snap.sha, "ETag": f'"{snap.oids[filename]}"',
                                                  "Content-Type": "application/octet-stream"})

    def _kaggle_route(self, path: str, body: bytes) -> _Reply:
        """The answer to ``POST /api/v1/models.ModelApiService/{method}`` with a JSON body, kagglesdk's calls:
        ``GetModelInstance`` (the current version), ``ListModelInstanceVersionFiles`` (25 a page: kagglehub fetches
        up to 25 files one by one, more as one archive), ``DownloadModelInstanceVersion`` (a file, or all as .tar.gz,
        with the ``X-Goog-Hash`` md5 kagglehub checks). A 404 is ``{"code": 404, "message": ...}`` as on Kaggle."""
        method, req = path.removeprefix(_KAGGLE_RPC), json.loads(body or b"{}")
        if not path.startswith(_KAGGLE_RPC) or method not in _KAGGLE_METHODS:
            raise _kaggle_error(f"no such method: {path}")
        framework = str(req.get("framework", "")).removeprefix("MODEL_FRAMEWORK_")
        key = tuple(str(s).lower() for s in (req.get("ownerSlug"), req.get("modelSlug"), framework,
                                             req.get("instanceSlug")))
        if not (versions := self._kaggle.get(key)):
            raise _kaggle_error(f"Model instance {'/'.join(key)} not found")
        if method == "GetModelInstance":
            return _json(200, {"slug": key[3], "framework": req.get("framework"), "versionNumber": max(versions)})
        if (folder := versions.get(int(req.get("versionNumber") or 0))) is None:
            raise _kaggle_error(f"Version {req.get('versionNumber')} of {'/'.join(key)} not found")
        files = _read_files(folder)
        if method == "ListModelInstanceVersionFiles":
            start, size = int(req.get("pageToken") or 0), int(req.get("pageSize") or _KAGGLE_PAGE)
            page = [{"name": n, "size": len(d)} for n, d in list(files.items())[start:start + size]]
            return _json(200, {"files": page, "nextPageToken": str(start + size) if start + size < len(files) else ""})
        if (name := req.get("path")) and name not in files:
            raise _kaggle_error(f"{name} is not present in the model files")
        data = files[name] if name else _tar_gz(files)
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        return _Reply(200, data, {"Content-Type": "application/octet-stream", "X-Goog-Hash": f"md5={md5}"})


class _Handler(BaseHTTPRequestHandler):
    """Hands each request to the HubServer; HTTP/1.0, so every connection closes after its answer."""

    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer(self.server.hub._hf_route, self._path())

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(self.server.hub._hf_route, self._path(), head=True)

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(self.server.hub._kaggle_route, self._path(), body)

    def _path(self) -> str:
        path = urlsplit(self.path).path
        self.server.hub.requests.append(path)
        return path

    def _answer(self, route: Callable[..., _Reply], *args: object, head: bool = False) -> None:
        try:
            reply = route(*args)
        except _Reply as raised:  # a 404
            reply = raised
        self.send_response(reply.status)
        for name, value in {"Content-Length": str(len(reply.body)), **reply.headers}.items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        pass  # quiet: HubServer.requests records what was asked


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, hub: HubServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hub = hub


def point_clients_at(server: HubServer, monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> None:
    """Point huggingface_hub and kagglehub of this process at ``server``, their caches under ``cache_dir``.

    Everything goes through ``monkeypatch``, so it is undone after the test. huggingface_hub reads its environment
    once, at import, into ``huggingface_hub.constants``: the env vars are set (for subprocesses started later) and
    the constants that decide the URL, the cache, the token, offline mode, telemetry and Xet patched, and the
    module-level ``HfApi`` behind ``huggingface_hub.model_info`` given the endpoint. kagglesdk takes its endpoint
    from a fixed table chosen by ``KAGGLE_API_ENVIRONMENT`` (kagglehub 1.0.2 reads no ``KAGGLE_API_ENDPOINT``):
    ``LOCALHOST`` is chosen and its entry of that table replaced, which only this process sees."""
    import huggingface_hub
    import kagglehub.config
    from huggingface_hub import constants, hf_api
    from kagglesdk import kaggle_env

    url, cache_dir = server.url, Path(cache_dir)
    hf_home, hf_cache = cache_dir / "hf", cache_dir / "hf" / "hub"
    no_proxy = ",".join(filter(None, ("127.0.0.1,localhost", os.environ.get("NO_PROXY") or os.environ.get("no_proxy"))))
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE", "TRANSFORMERS_OFFLINE", "KAGGLE_USERNAME",
                 "KAGGLE_KEY", "KAGGLE_KERNEL_RUN_TYPE", "KAGGLE_DATA_PROXY_URL", "TBE_RUNTIME_ADDR"):
        monkeypatch.delenv(name, raising=False)  # no real token, no Kaggle-notebook or Colab resolver
    for name, value in {
        "HF_ENDPOINT": url, "HF_HOME": str(hf_home), "HF_HUB_CACHE": str(hf_cache), "HF_HUB_OFFLINE": "0",
        "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
        "KAGGLE_API_ENVIRONMENT": "LOCALHOST", "KAGGLEHUB_CACHE": str(cache_dir / "kagglehub"),
        "KAGGLE_CONFIG_DIR": str(cache_dir / "kaggle"), "KAGGLE_API_TOKEN": "hubserver-fake-token",
        "DISABLE_KAGGLE_CACHE": "1", "DISABLE_COLAB_CACHE": "1", "NO_PROXY": no_proxy, "no_proxy": no_proxy,
    }.items():
        monkeypatch.setenv(name, value)
    for name, value in {
        "ENDPOINT": url, "HUGGINGFACE_CO_URL_TEMPLATE": url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HUB_CACHE": str(hf_cache), "HF_TOKEN_PATH": str(hf_home / "token"),
        "HF_STORED_TOKENS_PATH": str(hf_home / "stored_tokens"), "AGENT_HARNESSES_PATH": str(hf_home / "agents.json"),
        "HF_HUB_OFFLINE": False, "HF_HUB_DISABLE_TELEMETRY": True, "HF_HUB_DISABLE_XET": True,
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": True,
    }.items():
        monkeypatch.setattr(constants, name, value)
    monkeypatch.setattr(hf_api.api, "endpoint", url)
    monkeypatch.setitem(kaggle_env._env_to_endpoint, kaggle_env.KaggleEnv.LOCAL, url)
    monkeypatch.setattr(kagglehub.config, "_kaggle_credentials", None)  # one set by kagglehub.login()
    huggingface_hub.close_session()  # the shared httpx client is rebuilt with this environment (proxies)
