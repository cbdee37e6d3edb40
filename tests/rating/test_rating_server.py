"""The rating server over plain HTTP: tokens, isolation, refused submissions, admin pages, a port in use."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest
from rating_helpers import MODELS

from medtranslate.errors import ConfigError
from medtranslate.rating.server import RatingServer


def _get(url: str) -> tuple[int, bytes, dict]:
    try:
        with urllib.request.urlopen(url) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def _post(url: str, body, content_type: str = "application/json") -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, json.loads(raw) if raw.startswith(b"{") else {"raw": raw}


def test_unknown_expired_and_odd_urls_answer_the_same_plain_not_found(server, study):
    expired = study.store.add_rater("old", valid_days=1e-9)
    good = study.store.add_rater("new")
    image = study.sets[0].input_id
    urls = [
        f"/r/{expired}/",
        f"/r/{expired}/api/state",
        f"/r/{expired}/img/{image}.png",
        "/r/wrong-token/",
        f"/r/{good}/img/0123456789abcdef.png",
        f"/r/{good}/../../study.json",
        f"/r/{good}/study.json",
        f"/r/{good}/ratings.sqlite",
        "/static/../study.json",
        "/static/",
        "/",
        "/admin/wrong/results.json",
    ]
    bodies = set()
    for u in urls:
        status, body, _ = _get(server.url + u)
        assert status == 404, u
        bodies.add(body)
    assert len(bodies) == 1 and b"Not found" in bodies.pop()
    assert _get(f"{server.url}/r/{good}/img/{image}.png")[0] == 200


def test_state_is_the_raters_own_and_carries_no_model_name(server, study):
    a, b = study.store.add_rater("alice"), study.store.add_rater("bob")
    state = json.loads(_get(f"{server.url}/r/{a}/api/state")[1])
    ids = [c["id"] for c in state["sets"][0]["candidates"]]
    assert _post(f"{server.url}/r/{a}/api/sets/0", {"method": "rank", "order": ids}) == (200, {"ok": True, "next": 1})
    mine = json.loads(_get(f"{server.url}/r/{a}/api/state")[1])
    assert mine["next"] == 1 and mine["sets"][0]["saved"]["order"] == ids
    theirs = json.loads(_get(f"{server.url}/r/{b}/api/state")[1])
    assert theirs["next"] == 0 and all(s["saved"] is None for s in theirs["sets"])
    blob = json.dumps([state, mine, theirs]).lower()
    assert not any(m.lower() in blob for m in MODELS)
    assert not any(s.name in blob for s in study.sets)
    status, _, headers = _get(f"{server.url}/r/{a}/")
    assert (
        status == 200
        and headers["Referrer-Policy"] == "no-referrer"
        and "default-src 'self'" in headers["Content-Security-Policy"]
    )


@pytest.mark.parametrize(
    "body",
    [
        {"method": "rank", "order": []},
        {"method": "rank"},
        {"method": "slider", "scores": {}},
        {"method": "vote", "order": []},
        [1, 2],
    ],
)
def test_bad_submissions_are_refused_and_store_nothing(server, study, body):
    token = study.store.add_rater("carol")
    status, answer = _post(f"{server.url}/r/{token}/api/sets/0", body)
    assert status == 400 and answer["error"]
    assert study.store.all_ratings() == []


def test_scores_outside_1_to_100_wrong_set_and_content_type(server, study):
    token = study.store.add_rater("dave")
    state = json.loads(_get(f"{server.url}/r/{token}/api/state")[1])
    ids = [c["id"] for c in state["sets"][1]["candidates"]]
    url = f"{server.url}/r/{token}/api/sets/1"
    assert _post(url, {"method": "slider", "scores": dict.fromkeys(ids, 101)})[0] == 400
    assert _post(url, {"method": "slider", "scores": dict.fromkeys(ids, True)})[0] == 400
    assert _post(f"{server.url}/r/{token}/api/sets/0", {"method": "rank", "order": ids})[0] == 400  # set 1's images
    assert _post(f"{server.url}/r/{token}/api/sets/9", {"method": "rank", "order": ids})[0] == 400
    assert _post(url, b"{not json")[0] == 400
    assert _post(url, {"method": "rank", "order": ids}, content_type="text/plain")[0] == 400
    assert _post(f"{server.url}/r/nobody/api/sets/1", {"method": "rank", "order": ids})[0] == 404
    assert study.store.all_ratings() == []
    assert _post(url, {"method": "slider", "scores": dict(zip(ids, (1, 55.5, 100)))})[0] == 200
    assert sorted(r["score"] for r in study.store.all_ratings()) == [1.0, 55.5, 100.0]


def test_admin_results_need_the_admin_token(server, study):
    token = study.store.add_rater("erin")
    state = json.loads(_get(f"{server.url}/r/{token}/api/state")[1])
    _post(
        f"{server.url}/r/{token}/api/sets/0",
        {"method": "rank", "order": [c["id"] for c in state["sets"][0]["candidates"]]},
    )
    status, body, _ = _get(f"{server.url}/admin/admin-secret/results.json")
    results = json.loads(body)
    assert status == 200 and results["models"] == sorted(MODELS) and results["raters"][0]["sets_done"] == 1
    status, body, _ = _get(f"{server.url}/admin/admin-secret/results.md")
    assert status == 200 and body.startswith(b"# Rating results")
    assert _get(f"{server.url}/admin/{token}/results.json")[0] == 404


def test_no_admin_pages_without_an_admin_token(study):
    with RatingServer(study, port=0) as srv:
        assert _get(f"{srv.url}/admin/admin-secret/results.json")[0] == 404


def test_a_port_in_use_is_one_clear_line(study):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        with pytest.raises(ConfigError) as e:
            RatingServer(study, port=port)
    assert str(e.value) == f"port {port} on 127.0.0.1 is already in use: choose another with --port"


def test_the_server_listens_on_localhost_by_default(study):
    srv = RatingServer(study, port=0)
    try:
        assert srv.host == "127.0.0.1"
    finally:
        srv.shutdown()
