"""Jenkins client: python-jenkins with settings from env or the JJB ini, retries and crumbs.

Settings: ``JENKINS_URL``, ``JENKINS_USER``, ``JENKINS_API_TOKEN`` from the environment win;
otherwise the ``[jenkins]`` section (``url``, ``user``, ``password``) of the JJB ini file given
with ``--conf``. CSRF crumbs come from ``crumbIssuer/api/json`` (python-jenkins) and are fetched
again when Jenkins refuses an expired one. Connection errors, timeouts and 5xx answers are
retried with exponential backoff; 4xx answers are not.
"""

from __future__ import annotations

import configparser
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import jenkins
import requests

from pipeline_lib.core.answer import parse as parse_answer, require
from pipeline_lib.core.errors import GantryError, NotFound, Unauthorized, Unavailable
from pipeline_lib.core.retry import retrying
from pipeline_lib.core.settingsmodel import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

_STATUS_IN_MESSAGE = re.compile(r"\[(\d{3})\]")


def _env_network_settings(s: JenkinsSettings) -> bool:
    """Does the environment configure proxies (or, for https, a CA bundle) for ``s.url``?"""
    if s.proxy:
        return True
    return urlsplit(s.url).scheme == "https" and bool(s.ca_bundle)


@dataclass(frozen=True)
class JenkinsSettings:
    """Where Jenkins is and who we are; the token is never printed."""

    url: str
    user: str | None = None
    token: str | None = None
    timeout: float = 30.0
    # what the environment (read by the CLI, :class:`~pipeline_lib.core.settings.Settings`) says
    # about the network: proxies set (requests honours them), the CA bundle, PYTHONHTTPSVERIFY=0,
    # JENKINS_API_EXTRA_HEADERS set (python-jenkins adds them)
    proxy: bool = False
    ca_bundle: str | None = None
    https_verify_off: bool = False
    extra_headers: bool = False

    def __repr__(self) -> str:  # keep the token out of logs and tracebacks
        return f"JenkinsSettings(url={self.url!r}, user={self.user!r}, token={'***' if self.token else None})"


def load_settings(conf: str | os.PathLike[str] | None = None,
                  env: Mapping[str, str] | None = None, section: str = "jenkins", *,
                  settings: Settings | None = None) -> JenkinsSettings:
    """Jenkins from ``settings`` (the environment the CLI read; else the mapping ``env``; neither:
    nothing set), falling back to the JJB ini ``conf``."""
    settings = settings if settings is not None else Settings.from_env(env or {})
    url, user, token = settings.jenkins_url, settings.jenkins_user, settings.jenkins_token
    timeout = 30.0
    if conf is not None:
        where = str(conf)
        parser = configparser.ConfigParser(interpolation=None)
        try:
            with open(conf, encoding="utf-8") as fh:
                parser.read_file(fh)
        except FileNotFoundError:
            raise GantryError(where, "no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise GantryError(where, f"unreadable: {exc.__class__.__name__}") from None
        except configparser.Error as exc:
            first = str(exc).strip().splitlines()[0]
            raise GantryError(where, f"invalid ini file: {first}") from None
        if parser.has_section(section):
            url = url or parser.get(section, "url", fallback=None) or None
            user = user or parser.get(section, "user", fallback=None) or None
            token = token or parser.get(section, "password", fallback=None) or None
            raw_timeout = parser.get(section, "timeout", fallback=None)
            if raw_timeout:
                try:
                    timeout = float(raw_timeout)
                except ValueError:
                    raise GantryError(f"{where}: [{section}] timeout", f"not a number: {raw_timeout!r}") from None
    if not url:
        raise GantryError("jenkins", "no Jenkins URL: set JENKINS_URL or pass --conf with a [jenkins] url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise GantryError("jenkins", f"JENKINS_URL must be an http(s) URL, got {url!r}")
    if (user is None) != (token is None):
        raise GantryError("jenkins", "set both JENKINS_USER and JENKINS_API_TOKEN (or user and password in the ini)")
    return JenkinsSettings(url.rstrip("/") + "/", user, token, timeout, proxy=settings.proxy is not None,
                           ca_bundle=settings.ca_bundle, https_verify_off=settings.python_https_verify == "0",
                           extra_headers=settings.jenkins_api_extra_headers is not None)


def _status(exc: BaseException) -> int | None:
    """The HTTP status behind ``exc`` (python-jenkins wraps requests' HTTPError in its own)."""
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 5:
        response = getattr(cur, "response", None)
        if response is not None and getattr(response, "status_code", None):
            return int(response.status_code)
        m = _STATUS_IN_MESSAGE.search(str(cur))
        if m:
            return int(m.group(1))
        cur = cur.__cause__ or cur.__context__
        seen += 1
    return None


def _transient(exc: BaseException) -> bool:
    """For the raw config reader: a connection problem or a 5xx."""
    if not isinstance(exc, (OSError, _HTTPStatusError, ValueError)):
        return False
    status = getattr(exc, "status", None)
    return status is None or status >= 500


def is_retryable(exc: BaseException) -> bool:
    """Connection problems, timeouts and 5xx are worth another try; the rest is final."""
    if isinstance(exc, GantryError):   # an answer without a field: asking again gives the same
        return False
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, jenkins.TimeoutException,
                        ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, jenkins.NotFoundException):
        return False
    status = _status(exc)
    if status is not None:
        return status >= 500
    if isinstance(exc, jenkins.BadHTTPException):  # get_info's wrapper around a failed request
        return True
    return isinstance(exc, jenkins.JenkinsException) and "Error in request" in str(exc)


class JenkinsClient:
    """The calls gantry needs, each retried with backoff; thread-safe for ``--workers``."""

    def __init__(self, settings: JenkinsSettings, *, retries: int = 4, backoff: float = 0.5,
                 max_backoff: float = 8.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._local = threading.local()
        self._crumb_lock = threading.Lock()
        self._crumb: Any = None  # shared between threads: None unknown, False not needed

    # python-jenkins keeps a requests.Session; one per thread keeps workers independent.
    @property
    def server(self) -> jenkins.Jenkins:
        srv = getattr(self._local, "server", None)
        if srv is None:
            s = self.settings
            srv = jenkins.Jenkins(s.url, s.user, s.token, timeout=s.timeout)
            adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=4)
            srv._session.mount("http://", adapter)
            srv._session.mount("https://", adapter)
            if s.user and not _env_network_settings(s):
                # Nothing in the environment to honour: skip requests' per-call proxy/CA lookups.
                srv._session.trust_env = False
            srv.crumb = self._crumb
            self._local.server = srv
        return srv

    def call(self, what: str, fn: Callable[[jenkins.Jenkins], T]) -> T:
        """Run ``fn(server)``; retry transient failures (:func:`pipeline_lib.core.retry.retrying`:
        ``retries`` more tries, waits growing from ``backoff`` to ``max_backoff`` seconds); a crumb
        refused once is fetched again at once."""
        try:
            for attempt in self._retrying(what):
                with attempt:
                    return self._call_once(fn)
        except Exception as exc:  # noqa: BLE001 - classified here
            err = self._error(what, exc)
            err.retryable = is_retryable(exc)  # type: ignore[attr-defined]
            raise err from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _retrying(self, what: str, when: Callable[[BaseException], bool] = is_retryable):  # type: ignore[no-untyped-def]
        def note(state) -> None:  # type: ignore[no-untyped-def]
            log.warning("jenkins: %s failed (%s), retry %d/%d in %.1fs", what, _short(state.outcome.exception()),
                        state.attempt_number, self.retries, state.next_action.sleep)
        return retrying(Exception, when=when, attempts=self.retries + 1, first=self.backoff,
                        max_wait=self.max_backoff, sleep=self._sleep, before_sleep=note)

    def _call_once(self, fn: Callable[[jenkins.Jenkins], T]) -> T:
        srv = self.server
        for refreshed in (False, True):
            try:
                srv.crumb = self._crumb if srv.crumb is None else srv.crumb
                result = fn(srv)
                if srv.crumb is not None and self._crumb is None:
                    with self._crumb_lock:
                        self._crumb = srv.crumb
                return result
            except Exception as exc:  # noqa: BLE001 - a refused crumb is retried here, the rest above
                if refreshed or _status(exc) != 403 or not srv.crumb:
                    raise
                # Crumbs expire with the session that issued them: fetch a new one.
                with self._crumb_lock:
                    self._crumb = None
                srv.crumb = None
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, what: str, exc: BaseException) -> GantryError:
        if isinstance(exc, GantryError):   # already one line (an answer without a field)
            return exc
        status = _status(exc)
        host = urlsplit(self.settings.url).netloc
        if status in (401, 403):
            return Unauthorized(f"jenkins {host}", f"{what}: HTTP {status}: check JENKINS_USER and "
                                "JENKINS_API_TOKEN (and the user's permissions)")
        if isinstance(exc, jenkins.NotFoundException) or status == 404:
            return NotFound(f"jenkins {host}", f"{what}: not found (HTTP 404)")
        if is_retryable(exc):
            return Unavailable(f"jenkins {host}", f"{what}: {_short(exc)}")
        return GantryError(f"jenkins {host}", f"{what}: {_short(exc)}")

    # -- jobs -------------------------------------------------------------------------------
    def list_jobs(self) -> list[str]:
        """Full names (``folder/job``) of every item, folders included (python-jenkins'
        ``get_all_jobs`` walk: ``[job/F/]api/json?tree=jobs[url,color,name,jobs[…]]``, ten folder
        levels per request; an answer without ``jobs`` or a job without ``name`` is BadAnswer)."""
        return self.call("list jobs", self._job_names)

    def _get_json(self, srv: jenkins.Jenkins, spec: str, variables: dict[str, str] | None = None) -> tuple[Any, str]:
        """GET python-jenkins URL template ``spec`` as JSON, and the endpoint for messages
        (``jenkins HOST GET job/F/api/json``)."""
        url = srv._build_url(spec, variables)
        parts = urlsplit(url)
        path = parts.path.removeprefix(urlsplit(self.settings.url).path) or "/"
        where = f"jenkins {parts.netloc} GET {path}"
        return parse_answer(srv.jenkins_open(requests.Request("GET", url)), where), where

    def _job_names(self, srv: jenkins.Jenkins) -> list[str]:
        query = "jobs"
        for _ in range(10):
            query = jenkins.JOBS_QUERY_TREE % query
        query = jenkins.JOBS_QUERY % query
        names: list[str] = []
        pending: list[list[str]] = [[]]          # folders still to ask for, as name paths
        while pending:
            folder = pending.pop(0)
            item = "".join(f"job/{quote(p, safe='')}/" for p in folder)
            info, where = self._get_json(srv, item + jenkins.INFO + query)
            level = [(folder, require(info, "jobs", kind=list, where=where), ("jobs",))]
            while level:
                root, jobs, at = level.pop(0)
                for i, job in enumerate(jobs):
                    path = [*root, require(info, *at, i, "name", kind=str, where=where)]
                    names.append("/".join(path))
                    children = job.get("jobs")
                    if isinstance(children, list):   # a folder
                        if any(not isinstance(c, dict) or "url" not in c for c in children):
                            pending.append(path)      # deeper than this request reached
                        else:
                            level.append((path, children, (*at, i, "jobs")))
        return names

    def _or_none(self, what: str, fn: Callable[[jenkins.Jenkins], str]) -> str | None:
        """``call``, with None for HTTP 404."""
        try:
            return self.call(what, fn)
        except NotFound:
            return None

    def get_config(self, name: str) -> str | None:
        """The live ``config.xml`` of ``name``, or None when there is no such job."""
        return self._or_none(f"read {name}/config.xml", lambda s: s.get_job_config(name))

    def get_configs(self, names: list[str], workers: int = 4) -> dict[str, str | None]:
        """Live ``config.xml`` of many jobs (None for missing ones), read in parallel.

        A plain keep-alive ``http.client`` connection per thread reads them when nothing in the
        environment asks for proxies or other CA bundles: about five times less CPU per job than
        requests, which matters for `gantry jobs update` of 1 000 unchanged jobs. Otherwise each
        read goes through python-jenkins.
        """
        from concurrent.futures import ThreadPoolExecutor

        fast = _FastReader.usable(self.settings)
        reader = _FastReader(self) if fast else None

        def one(name: str) -> tuple[str, str | None]:
            return name, (reader.get_config(name) if reader else self.get_config(name))

        try:
            with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
                return dict(pool.map(one, names))
        finally:
            if reader is not None:
                reader.close()

    def create(self, name: str, xml: str) -> None:
        self.call(f"create {name}", lambda s: _post_xml(s, name, xml, create=True))

    def reconfigure(self, name: str, xml: str) -> None:
        self.call(f"update {name}", lambda s: _post_xml(s, name, xml, create=False))

    def delete(self, name: str) -> None:
        self.call(f"delete {name}", lambda s: s.jenkins_open(requests.Request(
            "POST", s._build_url(jenkins.DELETE_JOB, _folder_vars(s, name)))))

    # -- views (python-jenkins: https://python-jenkins.readthedocs.io/en/latest/api.html) -----
    def list_views(self) -> list[str]:
        """Names of the controller's top-level views (``GET api/json`` -> ``views``)."""
        def names(srv: jenkins.Jenkins) -> list[str]:
            info, where = self._get_json(srv, jenkins.INFO)
            views = require(info, "views", kind=list, where=where)
            return [require(info, "views", i, "name", kind=str, where=where) for i in range(len(views))]
        return self.call("list views", names)

    def get_view_config(self, name: str) -> str | None:
        """The live ``[job/F/]view/NAME/config.xml``, or None when there is no such view."""
        return self._or_none(f"read view {name}/config.xml", lambda s: s.get_view_config(name))

    def create_view(self, name: str, xml: str) -> None:
        """``POST [job/F/]createView?name=NAME`` with the config.xml (python-jenkins' URL template;
        its ``create_view`` probes existence by short name, which fails for views in folders)."""
        self.call(f"create view {name}", lambda s: s.jenkins_open(requests.Request(
            "POST", s._build_url(jenkins.CREATE_VIEW, _folder_vars(s, name)), data=xml.encode("utf-8"),
            headers=jenkins.DEFAULT_HEADERS)))

    def reconfigure_view(self, name: str, xml: str) -> None:
        self.call(f"update view {name}", lambda s: s.reconfig_view(name, xml))

    def delete_view(self, name: str) -> None:
        self.call(f"delete view {name}", lambda s: s.jenkins_open(requests.Request(
            "POST", s._build_url(jenkins.DELETE_VIEW, _folder_vars(s, name)))))

    def plugins_info(self) -> list[dict[str, Any]]:
        """Installed plugins as jenkins-job-builder's ModuleRegistry reads them (``shortName``,
        ``longName``, ``version`` of each), from ``GET pluginManager/api/json?depth=2`` ->
        ``plugins``: what ``jenkins-jobs`` renders with when ``query_plugins_info`` is on."""
        data, where = self.call("read the plugin list",
                                lambda s: self._get_json(s, jenkins.PLUGIN_INFO, {"depth": 2}))
        plugins = require(data, "plugins", kind=list, where=where)
        return [{k: p.get(k) for k in ("shortName", "longName", "version")} for p in plugins if isinstance(p, dict)]

    def build(self, name: str, parameters: Mapping[str, str]) -> int:
        """``buildWithParameters``; returns the queue item number from ``Location``."""
        return self.call(f"build {name}", lambda s: s.build_job(name, dict(parameters)))


    def find_build(self, name: str, parameters: Mapping[str, str], recent: int = 100) -> str | None:
        """Is a build of ``name`` with these parameters queued or among its ``recent`` builds?

        Returns ``"queue item N"`` / ``"build #N"`` or None. Reads ``queue/api/json`` and
        ``job/…/api/json?tree=builds[…]{0,recent}`` (both list ``ParametersAction`` parameters as
        ``{"name", "value"}``). A parameter the job does not define is dropped by Jenkins, so only
        the names a build reports are compared; ``COMMIT_SHA`` and ``GIT_REF`` must be among them.
        """
        def matches(actions: Any) -> bool:
            seen: dict[str, str] = {}
            for action in actions if isinstance(actions, list) else []:
                for p in (action or {}).get("parameters", []) or []:
                    if isinstance(p, dict) and "name" in p:
                        seen[str(p["name"])] = "" if p.get("value") is None else str(p.get("value"))
            if not {"COMMIT_SHA", "GIT_REF"} <= seen.keys():
                return False
            return all(seen[k] == v for k, v in parameters.items() if k in seen)

        job_url_tail = "".join(f"job/{part}/" for part in name.split("/"))
        queue, where = self.call("read the queue", lambda s: self._get_json(
            s, "queue/api/json?tree=items[id,task[url],actions[parameters[name,value]]]"))
        for item in require(queue, "items", kind=list, where=where):
            if not isinstance(item, dict):
                continue
            url = str((item.get("task") or {}).get("url", ""))
            if url.endswith(job_url_tail) and matches(item.get("actions")):
                return f"queue item {item.get('id')}"
        tree = f"builds[number,actions[parameters[name,value]]]{{0,{int(recent)}}}"
        info, where = self.call(f"read {name} builds", lambda s: self._get_json(
            s, "%(folder_url)sjob/%(short_name)s/api/json?tree=" + tree.replace("%", "%%"), _folder_vars(s, name)))
        for build in require(info, "builds", kind=list, where=where):
            if matches((build or {}).get("actions")):
                return f"build #{build.get('number')}"
        return None


class _HTTPStatusError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP [{status}] {reason}")
        self.status = status


class _FastReader:
    """GET ``job/.../config.xml`` over one persistent http.client connection per thread."""

    def __init__(self, client: JenkinsClient) -> None:
        import base64
        import ssl

        self.client = client
        parts = urlsplit(client.settings.url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        self.base = parts.path.rstrip("/") + "/"
        self.headers = {"Accept": "application/xml"}
        s = client.settings
        if s.user and s.token:
            cred = base64.b64encode(f"{s.user}:{s.token}".encode("utf-8")).decode("ascii")
            self.headers["Authorization"] = f"Basic {cred}"
        cafile = s.ca_bundle
        if self.https and cafile:
            self.context = (ssl.create_default_context(capath=cafile) if os.path.isdir(cafile)
                            else ssl.create_default_context(cafile=cafile))
        else:
            self.context = ssl.create_default_context() if self.https else None
        self.local = threading.local()
        self.conns: list[Any] = []
        self.lock = threading.Lock()

    @staticmethod
    def usable(settings: JenkinsSettings) -> bool:
        if settings.proxy or settings.https_verify_off:
            return False  # CA bundles from the environment are honoured by the SSL context
        if settings.extra_headers:
            return False
        return urlsplit(settings.url).scheme in ("http", "https")

    def _conn(self):
        import http.client

        conn = getattr(self.local, "conn", None)
        if conn is None:
            timeout = self.client.settings.timeout
            conn = (http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.context)
                    if self.https else http.client.HTTPConnection(self.host, self.port, timeout=timeout))
            self.local.conn = conn
            with self.lock:
                self.conns.append(conn)
        return conn

    def _get(self, name: str) -> str | None:
        from urllib.parse import quote

        path = self.base + "".join(f"job/{quote(p.encode('utf-8'))}/" for p in name.split("/")) + "config.xml"
        conn = self._conn()
        try:
            conn.request("GET", path, headers=self.headers)
            resp = conn.getresponse()
            body = resp.read()
        except Exception:
            conn.close()
            self.local.conn = None
            raise
        if resp.status == 200:
            return body.decode("utf-8", errors="replace")
        if resp.status == 404:
            return None
        if 300 <= resp.status < 400:  # a redirecting front end: let requests follow it
            return self.client.get_config(name)
        raise _HTTPStatusError(resp.status, resp.reason)

    def get_config(self, name: str) -> str | None:
        what = f"read {name}/config.xml"
        try:
            for attempt in self.client._retrying(what, when=_transient):
                with attempt:
                    return self._get(name)
        except (OSError, _HTTPStatusError, ValueError) as exc:
            err = self.client._error(what, exc)
            err.retryable = _transient(exc)  # type: ignore[attr-defined]
            raise err from None
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.close()
            except OSError:
                pass


def _folder_vars(srv: jenkins.Jenkins, name: str) -> dict[str, str]:
    folder_url, short_name = srv._get_job_folder(name)
    return {"folder_url": folder_url, "short_name": short_name}


def _post_xml(srv: jenkins.Jenkins, name: str, xml: str, *, create: bool) -> None:
    """createItem / config.xml POST without python-jenkins' extra existence probes.

    ``Jenkins.create_job`` GETs the job before and after creating it; with a plan computed from
    the live job list that doubles the requests of ``gantry jobs update`` for nothing.
    """
    spec = jenkins.CREATE_JOB if create else jenkins.CONFIG_JOB
    srv.jenkins_open(requests.Request("POST", srv._build_url(spec, _folder_vars(srv, name)),
                                      data=xml.encode("utf-8"), headers=jenkins.DEFAULT_HEADERS))


def _short(exc: BaseException) -> str:
    """One short, secret-free line for ``exc`` (requests' connection errors are very long)."""
    text = str(exc)
    if isinstance(exc, (requests.ConnectionError, ConnectionError)) or "NewConnectionError" in text:
        for needle, short in (("Connection refused", "connection refused"),
                              ("Name or service not known", "host not found"),
                              ("Failed to resolve", "host not found"),
                              ("timed out", "timed out"),
                              ("Connection reset", "connection reset"),
                              ("RemoteDisconnected", "connection closed by the server")):
            if needle in text:
                return short
        return "connection failed"
    if isinstance(exc, (requests.Timeout, jenkins.TimeoutException, TimeoutError)):
        return "timed out"
    text = text.strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0][:300]}" if text else exc.__class__.__name__


def client_from(conf: str | Path | None = None, settings: Settings | None = None, **kwargs: Any) -> JenkinsClient:
    """A client for the Jenkins of ``settings`` (the environment the CLI read), else of ``conf``."""
    return JenkinsClient(load_settings(conf, settings=settings), **kwargs)
