"""A small local HTTP server speaking the documented Jenkins remote-access API.

Used by tests and benchmarks in place of a Jenkins controller. It implements only the
endpoints gantry and python-jenkins call, shaped as https://www.jenkins.io/doc/book/using/remote-access-api/
documents them:

- ``GET crumbIssuer/api/json`` -> ``{"crumb": ..., "crumbRequestField": "Jenkins-Crumb"}``
  (404 when CSRF protection is off); with it on, every POST without the crumb gets 403;
- ``GET [job/F/]api/json?tree=jobs[...]`` (folders nest ``jobs``), ``job/X/api/json?tree=name``;
- ``POST [job/F/]createItem?name=X`` with ``config.xml`` (400 if it exists, 404 if no folder);
- ``GET|POST job/F/job/X/config.xml``; ``POST job/X/doDelete`` (302 to the parent);
- ``POST job/X/buildWithParameters?...`` -> 201 with ``Location: <url>/queue/item/N/``
  (404 when the job does not exist); ``GET queue/item/N/api/json``; ``GET queue/api/json``
  (items waiting; builds here leave the queue at once, so it is empty) and
  ``GET job/X/api/json?tree=builds[number,actions[parameters[name,value]]]`` (newest first,
  each with its ``ParametersAction``).
- ``GET pluginManager/api/json?depth=N`` -> ``{"plugins": [...]}`` from ``plugins`` (each with
  ``shortName``, ``longName``, ``version``, ``active``, ``enabled``, as the plugin manager lists them);
- views (https://www.jenkins.io/doc/book/using/remote-access-api/ and python-jenkins' URL
  templates): the root ``api/json`` lists top-level ``views`` (an ``all`` view always exists, as
  on a real controller); ``POST [job/F/]createView?name=X`` with ``config.xml`` (400 if it
  exists); ``GET|POST [job/F/]view/X/config.xml``; ``GET [job/F/]view/X/api/json?tree=name``;
  ``POST [job/F/]view/X/doDelete``.

Basic auth with a user and API token is enforced when configured. Faults, as real controllers
show them:

- ``fail(status, count=N)`` / ``fail(status, seconds=T)``: answer ``status`` (500, 502, 503) to
  the next N requests or for T seconds; ``unavailable_for(T)`` is a restart (503 "Jenkins is
  getting ready to work"); ``fail_next = N`` is ``fail(503, count=N)``;
- ``expire_crumb()``: the crumb handed out so far stops working (a controller restart or a
  new session): a POST carrying it gets 403 "No valid crumb was included in the request";
- ``build_delay`` answers builds slowly; ``write_delay`` models the time a real controller
  takes to save and load a job;
- ``stall_builds = N``: the next N ``buildWithParameters`` are queued, then the answer is held
  for ``stall_seconds`` (longer than the client's timeout: the client gives up on a build
  Jenkins did queue); ``builds_without_location = N``: the next N are queued and answered
  ``201`` without ``Location`` (a proxy dropping the header, or a plugin answering oddly).
"""

from __future__ import annotations

import base64
import collections
import json
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlsplit

FOLDER_CLASS = "com.cloudbees.hudson.plugins.folder.Folder"
ALL_VIEW_XML = ("<?xml version='1.1' encoding='UTF-8'?>\n<hudson.model.AllView>\n  <name>all</name>\n"
                "  <filterExecutors>false</filterExecutors>\n  <filterQueue>false</filterQueue>\n"
                "  <properties class=\"hudson.model.View$PropertyList\"/>\n</hudson.model.AllView>")


@dataclass
class Item:
    xml: str
    folder: bool


@dataclass
class Build:
    job: str
    params: dict[str, str]
    queue_id: int
    number: int = 0


@dataclass
class JenkinsState:
    items: dict[str, Item] = field(default_factory=dict)
    views: dict[str, str] = field(default_factory=lambda: {"all": ALL_VIEW_XML})  # "folder/view" -> xml
    builds: list[Build] = field(default_factory=list)
    requests: collections.Counter = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_queue_id: int = 1


class LocalJenkins:
    """Start with ``with LocalJenkins(...) as j:``; ``j.url`` is the controller URL."""

    def __init__(self, *, user: str | None = None, token: str | None = None,
                 crumb: bool = False, host: str = "127.0.0.1") -> None:
        self.user = user
        self.token = token
        self.crumb = "c0ffee5eed" if crumb else None
        self.state = JenkinsState()
        self.fail_next = 0
        self.fail_status = 503
        self.fail_until = 0.0  # time.monotonic() before which every request gets fail_status
        self.build_delay = 0.0
        self.write_delay = 0.0  # seconds per createItem/config.xml POST (a controller saving to disk)
        self.stall_builds = 0  # next N builds: queued, then the answer is held stall_seconds
        self.stall_seconds = 5.0
        self.builds_without_location = 0  # next N builds: queued, answered 201 without Location
        self.crumbs_issued = 0
        self.plugins: list[dict] = [  # what pluginManager/api/json lists
            {"shortName": "cloudbees-folder", "longName": "Folders Plugin", "version": "6.955.v81e2a_35c08d3"},
            {"shortName": "workflow-job", "longName": "Pipeline: Job", "version": "1436.vfa_244484591f"},
            {"shortName": "git", "longName": "Git plugin", "version": "5.2.2"},
        ]
        self._crumb_generation = 0
        self._host = host
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> "LocalJenkins":
        handler = type("Handler", (_Handler,), {"jenkins": self})
        self._server = ThreadingHTTPServer((self._host, 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="local-jenkins", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "LocalJenkins":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    # -- faults -------------------------------------------------------------------------------
    def fail(self, status: int = 503, *, count: int = 0, seconds: float = 0.0) -> None:
        """Answer ``status`` to the next ``count`` requests, or to every request for ``seconds``."""
        with self.state.lock:
            self.fail_status = status
            self.fail_next = count
            self.fail_until = time.monotonic() + seconds if seconds else 0.0

    def unavailable_for(self, seconds: float) -> None:
        """A restart: 503 for ``seconds``; the crumbs issued before it are void afterwards."""
        self.fail(503, seconds=seconds)
        if self.crumb is not None:
            self.expire_crumb()

    def expire_crumb(self) -> None:
        """The crumb issued so far is refused from now on (403); crumbIssuer hands out a new one."""
        with self.state.lock:
            if self.crumb is not None:
                self._crumb_generation += 1
                self.crumb = f"c0ffee5eed{self._crumb_generation}"

    def builds_of(self, job: str) -> list[Build]:
        with self.state.lock:
            return [b for b in self.state.builds if b.job == job]

    # -- helpers for tests --------------------------------------------------------------------
    def count(self, method: str, action: str) -> int:
        return self.state.requests[(method, action)]

    def reset_counts(self) -> None:
        self.state.requests.clear()

    def put(self, name: str, xml: str, folder: bool | None = None) -> None:
        """Create or overwrite an item directly (what a hand edit in the UI does)."""
        if folder is None:
            folder = ET.fromstring(xml.encode()).tag == FOLDER_CLASS
        self.state.items[name] = Item(xml, folder)

    def config(self, name: str) -> str | None:
        item = self.state.items.get(name)
        return item.xml if item else None

    def view_config(self, name: str) -> str | None:
        return self.state.views.get(name)


def _parse_path(path: str) -> tuple[str, str]:
    """``/job/a/job/b/config.xml`` -> (``a/b``, ``config.xml``)."""
    parts = [unquote(p) for p in path.strip("/").split("/") if p]
    names: list[str] = []
    i = 0
    while i + 1 < len(parts) and parts[i] == "job":
        names.append(parts[i + 1])
        i += 2
    return "/".join(names), "/".join(parts[i:])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK stalls
    jenkins: LocalJenkins
    server_version = "Jetty(10.0.20)"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep quiet
        pass

    # -- plumbing -----------------------------------------------------------------------------
    def _send(self, status: int, body: bytes | str = b"", ctype: str = "text/plain;charset=utf-8",
              headers: dict[str, str] | None = None) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Jenkins", "2.462.3")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _json(self, obj: object, status: int = 200) -> None:
        self._send(status, json.dumps(obj), "application/json;charset=utf-8")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authorized(self) -> bool:
        j = self.jenkins
        if j.user is None:
            return True
        expected = "Basic " + base64.b64encode(f"{j.user}:{j.token}".encode()).decode()
        return self.headers.get("Authorization") == expected

    def _job_url(self, name: str) -> str:
        return self.jenkins.url + "".join(f"job/{quote(p)}/" for p in name.split("/"))

    def _children(self, folder: str) -> list[str]:
        prefix = folder + "/" if folder else ""
        return sorted(n for n in self.jenkins.state.items
                      if n.startswith(prefix) and "/" not in n[len(prefix):])

    def _tree(self, folder: str) -> list[dict]:
        out = []
        for name in self._children(folder):
            item = self.jenkins.state.items[name]
            entry = {"_class": FOLDER_CLASS if item.folder else "org.jenkinsci.plugins.workflow.job.WorkflowJob",
                     "name": name.rsplit("/", 1)[-1], "url": self._job_url(name)}
            if item.folder:
                entry["jobs"] = self._tree(name)
            else:
                entry["color"] = "notbuilt"
            out.append(entry)
        return out

    # -- verbs --------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        j = self.jenkins
        url = urlsplit(self.path)
        name, action = _parse_path(url.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        body = self._body() if method == "POST" else b""
        kind = action.split("/")[0] if action else ("job" if name else "root")
        with j.state.lock:
            j.state.requests[(method, action or kind)] += 1
            failing = j.fail_next > 0 or time.monotonic() < j.fail_until
            if j.fail_next > 0:
                j.fail_next -= 1
            status = j.fail_status
        if failing:
            body = {500: "<html><body><h2>Oops!</h2>A problem occurred while processing the request.</body></html>",
                    503: "<html><body>Jenkins is getting ready to work</body></html>"}.get(status, "Error")
            self._send(status, body, "text/html;charset=utf-8")
            return
        if not self._authorized():
            self._send(401, "Unauthorized", headers={"WWW-Authenticate": 'Basic realm="Jenkins"'})
            return
        if action == "crumbIssuer/api/json" and method == "GET":
            if j.crumb is None:
                self._send(404, "Not Found")
            else:
                j.crumbs_issued += 1
                self._json({"_class": "hudson.security.csrf.DefaultCrumbIssuer",
                            "crumb": j.crumb, "crumbRequestField": "Jenkins-Crumb"})
            return
        if method == "POST" and j.crumb is not None and self.headers.get("Jenkins-Crumb") != j.crumb:
            self._send(403, "No valid crumb was included in the request")
            return
        if method == "POST" and j.write_delay and action in ("createItem", "config.xml"):
            time.sleep(j.write_delay)
        with j.state.lock:
            self._route(method, name, action, query, body)

    def _view_url(self, name: str) -> str:
        folder, _, short = name.rpartition("/")
        return (self._job_url(folder) if folder else self.jenkins.url) + f"view/{quote(short)}/"

    def _route_view(self, method: str, folder: str, action: str, query: dict[str, str], body: bytes) -> bool:
        """Views: ``createView``, ``view/X/config.xml``, ``view/X/api/json``, ``view/X/doDelete``."""
        views = self.jenkins.state.views
        prefix = folder + "/" if folder else ""
        if method == "POST" and action == "createView":
            short = query.get("name", "")
            if not short or "/" in short:
                self._send(400, "No name is specified")
            elif prefix + short in views:
                self._send(400, f"A view already exists with the name \"{short}\"")
            else:
                try:
                    ET.fromstring(body)
                except ET.ParseError as exc:
                    self._send(500, f"Failed to parse config.xml: {exc}")
                    return True
                views[prefix + short] = body.decode("utf-8")
                self._send(200, "")
            return True
        parts = action.split("/", 2)
        if parts[0] != "view" or len(parts) < 3:
            return False
        full = prefix + unquote(parts[1])
        if full not in views:
            self._send(404, "Not Found")
            return True
        rest = parts[2]
        if rest == "config.xml" and method == "GET":
            self._send(200, views[full], "application/xml")
        elif rest == "config.xml" and method == "POST":
            try:
                ET.fromstring(body)
            except ET.ParseError as exc:
                self._send(500, f"Failed to parse config.xml: {exc}")
                return True
            views[full] = body.decode("utf-8")
            self._send(200, "")
        elif rest == "api/json" and method == "GET":
            self._json({"_class": "hudson.model.ListView", "name": full.rsplit("/", 1)[-1]})
        elif rest == "doDelete" and method == "POST":
            del views[full]
            self._send(302, "", headers={"Location": self._job_url(folder) if folder else self.jenkins.url})
        else:
            self._send(404, "Not Found")
        return True

    def _route(self, method: str, name: str, action: str, query: dict[str, str], body: bytes) -> None:
        j = self.jenkins
        items = j.state.items
        if (not name or name in items) and self._route_view(method, name, action, query, body):
            return
        if name and name not in items:
            if not (method == "GET" and action == ""):
                self._send(404, "Not Found")
                return
        if method == "GET" and action == "pluginManager/api/json" and not name:
            self._json({"_class": "hudson.LocalPluginManager", "plugins": [
                {"active": True, "enabled": True, "bundled": False, "hasUpdate": False, "pinned": False,
                 "deleted": False, "downgradable": False, "supportsDynamicLoad": "MAYBE", "dependencies": [], **p}
                for p in j.plugins]})
            return
        if method == "GET" and action == "queue/api/json":
            self._json({"_class": "hudson.model.Queue", "discoverableItems": [], "items": []})
            return
        if method == "GET" and action == "api/json":
            if name and query.get("tree") == "name":
                self._json({"_class": "x", "name": name.rsplit("/", 1)[-1]})
            elif name and not items[name].folder:
                job = {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": name.rsplit("/", 1)[-1],
                       "url": self._job_url(name), "color": "notbuilt"}
                if query.get("tree", "").startswith("builds["):
                    job = {"_class": job["_class"], "builds": [
                        {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun", "number": b.number,
                         "actions": [{"_class": "hudson.model.ParametersAction", "parameters": [
                             {"_class": "hudson.model.StringParameterValue", "name": k, "value": v}
                             for k, v in b.params.items()]}]}
                        for b in reversed(j.state.builds) if b.job == name]}
                self._json(job)
            else:
                prefix = name + "/" if name else ""
                views = [{"_class": "hudson.model.ListView", "name": v[len(prefix):], "url": self._view_url(v)}
                         for v in sorted(j.state.views) if v.startswith(prefix) and "/" not in v[len(prefix):]]
                self._json({"_class": "hudson.model.Hudson", "jobs": self._tree(name), "views": views})
            return
        if method == "GET" and action == "":
            self._send(200 if not name or name in items else 404, "ok")
            return
        if action == "config.xml":
            if method == "GET":
                self._send(200, items[name].xml, "application/xml")
                return
            try:
                ET.fromstring(body)
            except ET.ParseError as exc:
                self._send(500, f"Failed to parse config.xml: {exc}")
                return
            items[name] = Item(body.decode("utf-8"), items[name].folder)
            self._send(200, "")
            return
        if method == "POST" and action == "createItem":
            short = query.get("name", "")
            full = f"{name}/{short}" if name else short
            if not short or "/" in short:
                self._send(400, "No name is specified")
                return
            if name and not items[name].folder:
                self._send(404, "Not Found")
                return
            if full in items:
                self._send(400, f"A job already exists with the name \u2018{short}\u2019")
                return
            if "mode" in query or not body:
                self._send(400, "createItem requires config.xml in this stand-in")
                return
            try:
                root = ET.fromstring(body)
            except ET.ParseError as exc:
                self._send(500, f"Failed to parse config.xml: {exc}")
                return
            items[full] = Item(body.decode("utf-8"), root.tag == FOLDER_CLASS)
            self._send(200, "")
            return
        if method == "POST" and action == "doDelete":
            for n in [n for n in items if n == name or n.startswith(name + "/")]:
                del items[n]
            parent = name.rsplit("/", 1)[0] if "/" in name else ""
            self._send(302, "", headers={"Location": self._job_url(parent) if parent else j.url})
            return
        if method == "POST" and action in ("buildWithParameters", "build"):
            if items[name].folder:
                self._send(405, "Method Not Allowed")
                return
            queue_id = j.state.next_queue_id
            j.state.next_queue_id += 1
            number = 1 + sum(1 for b in j.state.builds if b.job == name)
            j.state.builds.append(Build(name, dict(query), queue_id, number))
            delay = j.build_delay
            if j.stall_builds > 0:
                j.stall_builds -= 1
                delay = max(delay, j.stall_seconds)
            if j.builds_without_location > 0:
                j.builds_without_location -= 1
                self._send(201, "")
                return
            if delay:
                j.state.lock.release()
                try:
                    time.sleep(delay)
                finally:
                    j.state.lock.acquire()
            self._send(201, "", headers={"Location": f"{j.url}queue/item/{queue_id}/"})
            return
        if method == "GET" and action.startswith("queue/item/"):
            try:
                queue_id = int(action.split("/")[2])
            except (IndexError, ValueError):
                self._send(404, "Not Found")
                return
            for b in j.state.builds:
                if b.queue_id == queue_id:
                    self._json({"_class": "hudson.model.Queue$WaitingItem", "id": queue_id,
                                "task": {"name": b.job.rsplit("/", 1)[-1], "url": self._job_url(b.job)},
                                "why": "Waiting for next available executor",
                                "params": "\n" + "\n".join(f"{k}={v}" for k, v in b.params.items())})
                    return
            self._send(404, "Not Found")
            return
        self._send(404, "Not Found")
