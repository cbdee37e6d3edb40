"""``medtranslate rate``: create, invite, results end to end; bad input is one line on stderr and exit status 2."""

from __future__ import annotations

import json
import re
import socket

import numpy as np
from rating_helpers import MODELS

from medtranslate.cli.main import build_parser, main
from medtranslate.io import save_image
from medtranslate.rating.study import open_study, rank_scores


def _err_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_create_invite_results(study_spec, tmp_path, capsys):
    folder = tmp_path / "study"
    assert main(["rate", "create", "--study", str(folder), "--spec", str(study_spec), "--seed", "3"]) == 0
    assert "1 reference and 2 blind set(s), 3 models, order seed 3" in capsys.readouterr().out
    assert main(["rate", "invite", "--study", str(folder), "--rater", "alice", "--url", "http://127.0.0.1:9"]) == 0
    link = capsys.readouterr().out.strip()
    token = re.fullmatch(r"http://127\.0\.0\.1:9/r/([A-Za-z0-9_-]+)/", link)[1]
    study = open_study(folder)
    rater = study.store.rater_for_token(token)
    s = study.sets[0]
    order = [s.outputs[m] for m in MODELS]
    study.store.save_set(rater, s.name, "rank", rank_scores(order), None, {})
    assert main(["rate", "results", "--study", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "| ModelAlphaSecret | 100.000 | 1 |" in out and "rating results:" in out
    data = json.loads((folder / "results" / "rating_results.json").read_text())
    assert data["mos"][MODELS[2]]["reference"]["mean"] == 1.0


def test_duplicate_rater_is_one_line(study, capsys):
    assert main(["rate", "invite", "--study", str(study.folder), "--rater", "bob"]) == 0
    capsys.readouterr()
    assert main(["rate", "invite", "--study", str(study.folder), "--rater", "bob"]) == 2
    assert "already has a rater named 'bob'" in _err_line(capsys)
    assert main(["rate", "invite", "--study", str(study.folder), "--rater", "bob", "--new-link"]) == 0


def test_mismatched_sets_and_missing_image_are_one_line(study_spec, tmp_path, capsys):
    data = json.loads(study_spec.read_text())
    del data["sets"][2]["outputs"][MODELS[0]]
    data["sets"][0]["input"] = "images/gone.png"
    bad = study_spec.parent / "bad_cli.json"
    bad.write_text(json.dumps(data))
    assert main(["rate", "create", "--study", str(tmp_path / "s"), "--spec", str(bad)]) == 2
    line = _err_line(capsys)
    assert "bad_cli.json: invalid rating study, 2 problems" in line and "image not found" in line
    assert "has 2 models but set 'case0' has 3" in line
    assert not (tmp_path / "s").exists()


def test_create_from_folders(tmp_path, capsys):
    for k in range(2):
        d = tmp_path / f"set{k}"
        d.mkdir()
        for name in ("input", "early", "final"):
            save_image(np.full((1, 8, 8), 10 * k, np.uint8), d / f"{name}.png")
    argv = ["rate", "create", "--study", str(tmp_path / "s"), "--set", f"a={tmp_path / 'set0'}"]
    assert main(argv + ["--set", f"b={tmp_path / 'set1'}", "--name", "two"]) == 0
    assert open_study(tmp_path / "s").models == ["early", "final"]
    capsys.readouterr()
    assert main(["rate", "create", "--study", str(tmp_path / "t"), "--set", "oops"]) == 2
    assert "expected NAME=PATH" in _err_line(capsys)


def test_serve_on_a_port_in_use_and_not_a_study(study, tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        assert main(["rate", "serve", "--study", str(study.folder), "--port", str(port)]) == 2
    assert f"port {port} on 127.0.0.1 is already in use" in _err_line(capsys)
    assert main(["rate", "results", "--study", str(tmp_path)]) == 2
    assert "is not a rating study" in _err_line(capsys)


def test_admin_token_from_the_environment(monkeypatch):
    monkeypatch.setenv("MEDTRANSLATE_RATE_ADMIN_TOKEN", "from-env")
    args = build_parser().parse_args(["rate", "serve", "--study", "s"])
    assert args.admin_token == "from-env" and args.host == "127.0.0.1" and args.port == 8765
    assert build_parser().parse_args(["rate", "serve", "--study", "s", "--admin-token", "x"]).admin_token == "x"
