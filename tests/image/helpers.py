"""Test helpers: a skopeo copy (the "ECR replication" stand-in) and a faulty HTTP proxy."""

from __future__ import annotations

import http.server
import socketserver
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import requests


def skopeo_copy(src: str, dst: str, *, preserve: bool = True) -> None:
    argv = ["skopeo", "--insecure-policy", "copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false"]
    if preserve:
        argv.append("--preserve-digests")
    subprocess.run([*argv, src, dst], check=True, capture_output=True, timeout=120)


class FaultyProxy:
    """Forwards to a registry; ``faults`` decides per request: None, 'drop' or an HTTP status."""

    def __init__(self, upstream: str, faults) -> None:
        self.upstream = upstream
        self.faults = faults
        self.log: list[tuple[str, str, str]] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy.faults(self.command, self.path)
                proxy.log.append((self.command, self.path, str(fault)))
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if isinstance(fault, int):
                    self.send_response(fault)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("content-length",)}
                resp = requests.request(self.command, proxy.upstream + self.path, data=body or None,
                                        headers=headers, allow_redirects=False, timeout=60)
                self.send_response(resp.status_code)
                content = resp.content if self.command != "HEAD" else b""
                for k, v in resp.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", resp.headers.get("Content-Length", "0")
                                 if self.command == "HEAD" else str(len(content)))
                self.end_headers()
                if content:
                    self.wfile.write(content)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[FaultyProxy]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
