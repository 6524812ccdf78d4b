"""A Hugging Face hub on localhost that serves small repos to the real ``huggingface_hub``
client (``HF_ENDPOINT``): repo info, the file tree, and files with HEAD and Range."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


class ServingHub(ThreadingHTTPServer):
    """Serves ``repos`` (id -> {path in repo: bytes}); remembers every request."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.repos: dict[str, dict[str, bytes]] = {}
        self.requests: list[str] = []
        self.fail_with: int | None = None  # answer every request with this HTTP status
        self.lfs: bool = False  # describe weights files with their sha256, as the hub does

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def add_repo(self, repo_id: str, files: dict[str, bytes]) -> None:
        self.repos[repo_id] = dict(files)

    def add_folder(self, repo_id: str, folder: Path) -> None:
        """Serve every file under ``folder`` as the repo ``repo_id``."""
        files = {
            path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*"))
            if path.is_file()
        }
        self.add_repo(repo_id, files)

    def commit(self, repo_id: str) -> str:
        digest = hashlib.sha1()
        for name, data in sorted(self.repos[repo_id].items()):
            digest.update(name.encode() + hashlib.sha1(data).digest())
        return digest.hexdigest()


def _split(rest: str, marker: str) -> tuple[str, str, str] | None:
    """``org/name/<marker>/rev/path`` -> (repo id, revision, path)."""
    parts = rest.split("/")
    if len(parts) < 4 or parts[2] != marker:
        return None
    return f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:])


class _Handler(BaseHTTPRequestHandler):
    server: ServingHub

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data: object) -> None:
        self._send(200, json.dumps(data).encode(), {"Content-Type": "application/json"})

    def _not_found(self) -> None:
        body = b'{"error": "Repository not found"}'
        self._send(404, body, {"Content-Type": "application/json", "X-Error-Code": "RepoNotFound"})

    def _answer(self) -> None:
        hub = self.server
        hub.requests.append(f"{self.command} {self.path}")
        if hub.fail_with is not None:
            self._send(hub.fail_with, b'{"error": "Internal Error"}')
            return
        path = unquote(urlsplit(self.path).path)
        if path.startswith("/api/models/"):
            self._api(path.removeprefix("/api/models/"))
        else:
            self._file(path.lstrip("/"))

    def _api(self, rest: str) -> None:
        hub = self.server
        if rest.count("/") == 1:  # repo info without a revision: main
            rest += "/revision/main"
        for marker in ("revision", "tree"):
            found = _split(rest, marker)
            if found and found[0] in hub.repos:
                repo_id, _, prefix = found
                files = hub.repos[repo_id]
                entries = [self._entry(name, data) for name, data in sorted(files.items())]
                if marker == "tree":
                    self._json([e for e in entries if str(e["path"]).startswith(prefix)])
                    return
                siblings = [
                    {"rfilename": e["path"], "size": e["size"], "blobId": e["oid"]}
                    | ({"lfs": e["lfs"]} if "lfs" in e else {})
                    for e in entries
                ]
                info = {"id": repo_id, "modelId": repo_id, "sha": hub.commit(repo_id)}
                self._json(info | {"private": False, "siblings": siblings})
                return
        self._not_found()

    def _entry(self, name: str, data: bytes) -> dict[str, object]:
        entry: dict[str, object] = {
            "type": "file",
            "path": name,
            "size": len(data),
            "oid": hashlib.sha1(data).hexdigest(),
        }
        if self.server.lfs and name.endswith((".safetensors", ".ckpt", ".bin")):
            sha = hashlib.sha256(data).hexdigest()
            entry["lfs"] = {"oid": sha, "sha256": sha, "size": len(data), "pointerSize": 130}
        return entry

    def _file(self, rest: str) -> None:
        hub = self.server
        found = _split(rest, "resolve")
        if not found or found[0] not in hub.repos or found[2] not in hub.repos[found[0]]:
            self._not_found()
            return
        repo_id, _, name = found
        data = hub.repos[repo_id][name]
        headers = {
            "X-Repo-Commit": hub.commit(repo_id),
            "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
        }
        wanted = self.headers.get("Range", "")
        if wanted.startswith("bytes=") and self.command == "GET":
            start = int(wanted.removeprefix("bytes=").split("-")[0] or 0)
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            self._send(206, data[start:], headers)
            return
        self._send(200, data, headers)

    do_GET = do_HEAD = _answer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests read ``requests``, not a log."""


@contextmanager
def serving_hub() -> Iterator[ServingHub]:
    """A running :class:`ServingHub`, shut down afterwards."""
    server = ServingHub()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
