"""The rating web server: the standard library's :class:`http.server.ThreadingHTTPServer` with a
:class:`~http.server.SimpleHTTPRequestHandler` that serves the page, its script and the images as static files.

Routes (anything else, and any unknown or expired token, answers a plain "Not found" page that reveals nothing):

- ``GET /r/<token>/``: the rating page (``static/rate.html``);
- ``GET /r/<token>/api/state``: the rater's sets, in their order, with their own earlier ratings (JSON);
- ``POST /r/<token>/api/sets/<n>``: save the rater's ranking or scores of set ``n`` (one SQLite transaction);
- ``GET /r/<token>/img/<id>.png``: an image, by its opaque id;
- ``GET /static/<file>``: the page's script and style;
- ``GET /admin/<admin token>/results.json`` and ``results.md``: unblinded results, only when the server was started
  with an admin token.

Model names never leave the server: the page, the state and the image URLs only carry random image ids.
"""

from __future__ import annotations

import contextlib
import errno
import hmac
import http.server
import json
import logging
import os
import re
import threading
from collections.abc import Mapping
from http import HTTPStatus
from importlib import resources
from pathlib import Path
from typing import Any

from medtranslate.errors import ConfigError
from medtranslate.rating.results import compute_results, results_markdown
from medtranslate.rating.store import Rater
from medtranslate.rating.study import Study, candidate_order, rank_scores

__all__ = ["RatingServer", "RatingHandler", "rater_state", "parse_submission", "SubmissionError", "STATIC_DIR"]

logger = logging.getLogger(__name__)

#: The page's static files (installed with the package).
STATIC_DIR = Path(str(resources.files("medtranslate.rating").joinpath("static")))
_MAX_BODY = 64 * 1024
_TOKEN = r"[A-Za-z0-9_-]{1,128}"
_RATER = re.compile(rf"^/r/(?P<token>{_TOKEN})(?P<rest>/.*)?$")
_ADMIN = re.compile(rf"^/admin/(?P<token>{_TOKEN})/(?P<file>results\.json|results\.md)$")
_IMAGE = re.compile(r"^/img/(?P<id>[0-9a-f]{16})\.png$")
_SET = re.compile(r"^/api/sets/(?P<n>[0-9]{1,6})$")
_STATIC = {"/static/rate.js", "/static/rate.css"}
_NOT_FOUND = (
    b"<!doctype html><html><head><meta charset='utf-8'><title>Not found</title></head>"
    b"<body><p>Not found</p></body></html>\n"
)
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'",
}


class SubmissionError(ValueError):
    """A submission the server refuses (answered with 400 and this message)."""


def _image(study: Study, image_id: str) -> dict[str, Any]:
    strip = study.strips.get(image_id)
    return {"id": image_id, "src": f"img/{image_id}.png", "strip": None if strip is None else f"img/{strip}.png"}


def rater_state(study: Study, rater: Rater) -> dict[str, Any]:
    """What a rater's page needs: their sets in order, with their own earlier ratings, and no model name.

    Args:
        study: the study.
        rater: the rater.

    Returns:
        A JSON-ready dict: ``title``, ``criteria``, ``instructions``, ``n_reference``, ``next`` (index of the first
        set without a rating, or the number of sets when all are done) and ``sets`` (each with ``kind``, ``input``,
        ``reference``, ``candidates`` in this rater's order, and ``saved``).
    """
    saved = study.store.rater_ratings(rater)
    sets, first_open = [], None
    for k, s in enumerate(study.sets):
        mine = saved.get(s.name)
        if mine is None and first_open is None:
            first_open = k
        sets.append(
            {
                "kind": s.kind,
                "input": _image(study, s.input_id),
                "reference": None if s.reference_id is None else _image(study, s.reference_id),
                "candidates": [_image(study, i) for i in candidate_order(study.seed, rater.name, s)],
                "saved": mine,
            }
        )
    return {
        "title": study.spec.get("name", "rating study"),
        "rater": rater.name,
        "criteria": list(study.spec.get("criteria", [])),
        "instructions": study.spec.get("instructions"),
        "n_reference": sum(s.kind == "reference" for s in study.sets),
        "next": len(sets) if first_open is None else first_open,
        "sets": sets,
    }


def parse_submission(study: Study, index: int, body: Any) -> tuple[str, dict[str, float], dict[str, int] | None]:
    """Check a submission for one set and turn it into scores.

    Args:
        study: the study.
        index: the set's index in the rater's sequence.
        body: the parsed JSON: ``{"method": "rank", "order": [ids, best first]}`` or
            ``{"method": "slider", "scores": {id: 1..100}}``.

    Returns:
        ``(method, image id -> score, image id -> position or None)``.

    Raises:
        SubmissionError: for an unknown set, method or image, a missing image, or a score outside 1-100.
    """
    if not 0 <= index < len(study.sets):
        raise SubmissionError("no such set")
    if not isinstance(body, Mapping):
        raise SubmissionError("the body must be a JSON object")
    expected = set(study.sets[index].outputs.values())
    method = body.get("method")
    if method == "rank":
        order = body.get("order")
        if not isinstance(order, list) or len(order) != len(expected) or set(order) != expected:
            raise SubmissionError("order must list every image of the set once")
        return method, rank_scores(order), {i: p for p, i in enumerate(order, 1)}
    if method == "slider":
        scores = body.get("scores")
        if not isinstance(scores, Mapping) or set(scores) != expected:
            raise SubmissionError("scores must give every image of the set a score")
        out = {}
        for i, v in scores.items():
            if isinstance(v, bool) or not isinstance(v, int | float) or not 1 <= v <= 100:
                raise SubmissionError("every score must be a number from 1 to 100")
            out[i] = float(v)
        return method, out, None
    raise SubmissionError("method must be 'rank' or 'slider'")


class RatingHandler(http.server.SimpleHTTPRequestHandler):
    """Routes requests; files (page, script, style, images) go out through SimpleHTTPRequestHandler."""

    server_version = "medtranslate-rate"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._file: Path | None = None
        super().__init__(*args, directory=str(STATIC_DIR), **kwargs)

    # -------------------------------------------------------------------------------------------- plumbing
    @property
    def study(self) -> Study:
        return self.server.study  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        redacted = re.sub(rf"/(r|admin)/{_TOKEN}", r"/\1/<token>", format % args)
        logger.debug("%s %s", self.address_string(), redacted)

    def end_headers(self) -> None:
        for k, v in _HEADERS.items():
            self.send_header(k, v)
        super().end_headers()

    def translate_path(self, path: str) -> str:
        """The file chosen by the router (never a path taken from the URL)."""
        return str(self._file) if self._file is not None else str(STATIC_DIR / "missing")

    def list_directory(self, path: str | os.PathLike) -> None:
        self.not_found()
        return None

    def not_found(self) -> None:
        """Answer the plain "Not found" page."""
        self.send_response(HTTPStatus.NOT_FOUND)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(_NOT_FOUND)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(_NOT_FOUND)

    def send_json(self, data: Any, status: int = HTTPStatus.OK, content_type: str = "application/json") -> None:
        """Answer a JSON (or, with ``content_type``, text) body."""
        body = data if isinstance(data, bytes) else json.dumps(data).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_file(self, path: Path) -> None:
        """Serve one file through SimpleHTTPRequestHandler (type, length, Last-Modified, HEAD)."""
        if not path.is_file():
            self.not_found()
            return
        self._file = path
        super().do_GET() if self.command == "GET" else super().do_HEAD()

    def _rater(self, token: str) -> Rater | None:
        return self.study.store.rater_for_token(token)

    def _path(self) -> str:
        return self.path.split("?", 1)[0].split("#", 1)[0]

    # -------------------------------------------------------------------------------------------- routes
    def do_HEAD(self) -> None:  # noqa: N802 - the base class's name
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        self._guarded(self._get)

    def do_POST(self) -> None:  # noqa: N802
        self._guarded(self._post)

    def _guarded(self, route: Any) -> None:
        """Run a route; an unexpected error is logged here and answered with a bare 500 (no details leave)."""
        try:
            route()
        except (BrokenPipeError, ConnectionResetError):  # the browser went away
            pass
        except Exception:  # noqa: BLE001 - the last guard of a request
            logger.exception("rating server: request failed")
            with contextlib.suppress(OSError):
                self.send_json({"error": "server error"}, HTTPStatus.INTERNAL_SERVER_ERROR)

    def _get(self) -> None:
        path = self._path()
        if path in _STATIC:
            self.send_file(STATIC_DIR / path.rsplit("/", 1)[1])
            return
        m = _ADMIN.match(path)
        if m is not None:
            self._admin(m["token"], m["file"])
            return
        m = _RATER.match(path)
        rater = None if m is None else self._rater(m["token"])
        if rater is None:
            self.not_found()
            return
        rest = m["rest"] or ""
        if rest == "":
            self.send_response(HTTPStatus.MOVED_PERMANENTLY)
            self.send_header("Location", f"/r/{m['token']}/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif rest == "/":
            self.send_file(STATIC_DIR / "rate.html")
        elif rest == "/api/state":
            self.send_json(rater_state(self.study, rater))
        elif (mi := _IMAGE.match(rest)) is not None and self._is_image(mi["id"]):
            self.send_file(self.study.images_dir / f"{mi['id']}.png")
        else:
            self.not_found()

    def _post(self) -> None:
        path = self._path()
        m = _RATER.match(path)
        rater = None if m is None else self._rater(m["token"])
        ms = None if rater is None else _SET.match(m["rest"] or "")
        if ms is None:
            self.close_connection = True
            self.not_found()
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        ctype = self.headers.get("Content-Type", "").split(";", 1)[0].strip()
        if ctype != "application/json" or not 0 < length <= _MAX_BODY:
            self.close_connection = True  # the body was not read: do not parse it as the next request
            self.send_json({"error": "send one JSON object (Content-Type: application/json)"}, HTTPStatus.BAD_REQUEST)
            return
        try:
            body = json.loads(self.rfile.read(length))
            index = int(ms["n"])
            method, scores, positions = parse_submission(self.study, index, body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            self.send_json({"error": "the body is not valid JSON"}, HTTPStatus.BAD_REQUEST)
            return
        except SubmissionError as e:
            self.send_json({"error": str(e)}, HTTPStatus.BAD_REQUEST)
            return
        self.study.store.save_set(rater, self.study.sets[index].name, method, scores, positions, body)
        state = rater_state(self.study, rater)
        self.send_json({"ok": True, "next": state["next"]})

    def _is_image(self, image_id: str) -> bool:
        ids = self.server.image_ids  # type: ignore[attr-defined]
        return image_id in ids

    def _admin(self, token: str, file: str) -> None:
        admin = self.server.admin_token  # type: ignore[attr-defined]
        if not admin or not hmac.compare_digest(token.encode(), admin.encode()):
            self.not_found()
            return
        results = compute_results(self.study)
        if file == "results.json":
            self.send_json(results)
        else:
            self.send_json(results_markdown(results).encode("utf-8"), content_type="text/markdown")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False  # a port in use must be reported, not shared


class RatingServer:
    """A study's rating server.

    Args:
        study: the opened study.
        host: address to listen on (default ``127.0.0.1``: nothing leaves the machine).
        port: TCP port; 0 picks a free one.
        admin_token: enables ``/admin/<token>/results.json`` and ``results.md`` (unblinded); ``None`` disables them.

    Raises:
        ConfigError: when the port is in use or the address cannot be bound.
    """

    def __init__(self, study: Study, host: str = "127.0.0.1", port: int = 8765, admin_token: str | None = None):
        if admin_token is not None and not re.fullmatch(_TOKEN, admin_token):
            raise ConfigError(None, "--admin-token must be 1-128 letters, digits, '-' or '_'")
        try:
            self.httpd = _Server((host, port), RatingHandler)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise ConfigError(None, f"port {port} on {host} is already in use: choose another with --port") from e
            raise ConfigError(None, f"cannot listen on {host}:{port} ({e.strerror or e})") from e
        self.httpd.study = study  # type: ignore[attr-defined]
        self.httpd.admin_token = admin_token  # type: ignore[attr-defined]
        ids = {r.id for r in study.store.images()} | set(study.strips.values())
        self.httpd.image_ids = frozenset(ids)  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        """The address listened on."""
        return str(self.httpd.server_address[0])

    @property
    def port(self) -> int:
        """The port listened on."""
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8765``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown` (or Ctrl-C in the caller)."""
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> RatingServer:
        """Serve from a background thread (tests, notebooks); returns ``self``."""
        self._thread = threading.Thread(target=self.serve_forever, name="medtranslate-rate", daemon=True)
        self._thread.start()
        return self

    def shutdown(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> RatingServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
