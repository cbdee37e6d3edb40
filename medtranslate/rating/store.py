"""The rating database: one SQLite file in the study folder (stdlib :mod:`sqlite3`, write-ahead log, one transaction
per submission), so a killed server loses no rating it has acknowledged.

Tables: ``meta`` (study seed, format version), ``images`` (opaque image id -> set, role, model: the only place that
links what a rater sees to a model), ``raters`` (name, SHA-256 of the token, expiry), ``ratings`` (the latest score of
each rater for each image), ``submissions`` (every submission as sent, for audit). Tokens are never stored in clear.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medtranslate.errors import ConfigError, InputError

__all__ = ["RatingStore", "Rater", "ImageRow", "DB_NAME", "hash_token"]

#: File name of the database inside a study folder.
DB_NAME = "ratings.sqlite"
_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY, set_name TEXT NOT NULL, role TEXT NOT NULL CHECK (role IN ('input', 'reference', 'output')),
    model TEXT, strip_id TEXT UNIQUE
);
CREATE TABLE IF NOT EXISTS raters (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, token_sha256 TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL, expires_at REAL
);
CREATE TABLE IF NOT EXISTS ratings (
    rater_id INTEGER NOT NULL REFERENCES raters(id), set_name TEXT NOT NULL,
    image_id TEXT NOT NULL REFERENCES images(id),
    score REAL NOT NULL CHECK (score >= 1 AND score <= 100), position INTEGER, method TEXT NOT NULL
    CHECK (method IN ('rank', 'slider')), submitted_at REAL NOT NULL, PRIMARY KEY (rater_id, image_id)
);
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY, rater_id INTEGER NOT NULL REFERENCES raters(id), set_name TEXT NOT NULL,
    method TEXT NOT NULL, payload TEXT NOT NULL, submitted_at REAL NOT NULL
);
"""


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a rater token (what the database keeps).

    Args:
        token: the token from a rater's link.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Rater:
    """A rater.

    Args:
        id: database id.
        name: the name given to ``rate invite``.
        expires_at: UNIX time after which the token stops working, or ``None``.
    """

    id: int
    name: str
    expires_at: float | None = None


@dataclass(frozen=True)
class ImageRow:
    """One image of the study.

    Args:
        id: opaque id (the PNG is ``images/<id>.png``).
        set_name: its set.
        role: ``"input"``, ``"reference"`` or ``"output"``.
        model: the model of an output, else ``None``.
        strip_id: opaque id of the slice strip of a volume, else ``None``.
    """

    id: str
    set_name: str
    role: str
    model: str | None
    strip_id: str | None


class RatingStore:
    """Access to a study's ``ratings.sqlite``; each call opens its own connection (safe from server threads).

    Args:
        path: the database file.
        create: create the file and its tables (``rate create``); otherwise it must exist.

    Raises:
        InputError: when the database is missing (and ``create`` is false) or is not a rating database.
    """

    def __init__(self, path: str | os.PathLike, create: bool = False) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise InputError(self.path.parent, f"is not a rating study (no {DB_NAME}): run `medtranslate rate create`")
        if create:
            con = sqlite3.connect(self.path, isolation_level=None)
            try:
                con.execute("PRAGMA journal_mode=WAL")
                con.executescript(_SCHEMA)  # commits on its own: no surrounding transaction
            finally:
                con.close()
            with self._connect() as con:
                con.execute("INSERT OR IGNORE INTO meta VALUES ('version', ?)", (_VERSION,))
        else:
            try:
                with self._connect() as con:
                    con.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            except sqlite3.DatabaseError as e:
                raise InputError(self.path, f"is not a rating database ({e})") from e

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in WAL mode whose ``with`` block is one transaction (committed, or rolled back on error)."""
        con = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=FULL")
            con.execute("PRAGMA foreign_keys=ON")
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    # ------------------------------------------------------------------------------------------------- study
    def set_meta(self, values: Mapping[str, Any]) -> None:
        """Store study values (JSON-encoded).

        Args:
            values: key -> value.
        """
        with self._connect() as con:
            con.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in values.items()]
            )

    def meta(self, key: str, default: Any = None) -> Any:
        """A stored study value.

        Args:
            key: its key.
            default: returned when it is missing.
        """
        with self._connect() as con:
            row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def add_images(self, rows: Sequence[ImageRow]) -> None:
        """Record the study's images.

        Args:
            rows: the images.
        """
        with self._connect() as con:
            con.executemany(
                "INSERT INTO images VALUES (?, ?, ?, ?, ?)",
                [(r.id, r.set_name, r.role, r.model, r.strip_id) for r in rows],
            )

    def images(self) -> list[ImageRow]:
        """All images of the study (model names included: for the server's and the results' eyes only)."""
        with self._connect() as con:
            rows = con.execute("SELECT id, set_name, role, model, strip_id FROM images ORDER BY rowid").fetchall()
        return [ImageRow(*r) for r in rows]

    # ------------------------------------------------------------------------------------------------ raters
    def add_rater(self, name: str, valid_days: float | None = None, replace_token: bool = False) -> str:
        """Create a rater (or give an existing one a new token) and return the token, which is stored only hashed.

        Args:
            name: the rater's name, unique in the study.
            valid_days: days the token works, ``None`` for no expiry.
            replace_token: give an existing rater a new token (the old link stops working); their ratings stay.

        Returns:
            The new token.

        Raises:
            ConfigError: for an empty or duplicate name (without ``replace_token``), or an unknown one (with it).
        """
        name = name.strip()
        if not name:
            raise ConfigError(self.path.parent, "a rater needs a non-empty name")
        token = secrets.token_urlsafe(24)
        now = time.time()
        expires = None if valid_days is None else now + float(valid_days) * 86400.0
        with self._connect() as con:
            exists = con.execute("SELECT id FROM raters WHERE name = ?", (name,)).fetchone()
            if replace_token:
                if exists is None:
                    raise ConfigError(self.path.parent, f"has no rater named {name!r} to give a new link")
                con.execute(
                    "UPDATE raters SET token_sha256 = ?, expires_at = ? WHERE id = ?",
                    (hash_token(token), expires, exists[0]),
                )
            else:
                if exists is not None:
                    raise ConfigError(
                        self.path.parent,
                        f"already has a rater named {name!r}: choose another name, or pass --new-link to replace "
                        "their link",
                    )
                con.execute(
                    "INSERT INTO raters (name, token_sha256, created_at, expires_at) VALUES (?, ?, ?, ?)",
                    (name, hash_token(token), now, expires),
                )
        return token

    def rater_for_token(self, token: str, now: float | None = None) -> Rater | None:
        """The rater a token belongs to, or ``None`` for an unknown or expired token.

        Args:
            token: the token from the link.
            now: the current UNIX time (default: now).
        """
        if not token or len(token) > 128:
            return None
        with self._connect() as con:
            row = con.execute(
                "SELECT id, name, expires_at FROM raters WHERE token_sha256 = ?", (hash_token(token),)
            ).fetchone()
        if row is None:
            return None
        rater = Rater(*row)
        if rater.expires_at is not None and (time.time() if now is None else now) > rater.expires_at:
            return None
        return rater

    def raters(self) -> list[Rater]:
        """Every rater, in the order they were invited."""
        with self._connect() as con:
            rows = con.execute("SELECT id, name, expires_at FROM raters ORDER BY id").fetchall()
        return [Rater(*r) for r in rows]

    # ----------------------------------------------------------------------------------------------- ratings
    def save_set(
        self,
        rater: Rater,
        set_name: str,
        method: str,
        scores: Mapping[str, float],
        positions: Mapping[str, int] | None,
        payload: Mapping[str, Any],
    ) -> None:
        """Store a rater's scores for one set in one transaction (replacing an earlier submission of that set).

        Args:
            rater: the rater.
            set_name: the set.
            method: ``"rank"`` or ``"slider"``.
            scores: image id -> score in [1, 100].
            positions: image id -> 1-based position in the rater's order (``"rank"``), else ``None``.
            payload: the submission as received, kept in ``submissions``.
        """
        now = time.time()
        with self._connect() as con:
            con.execute("DELETE FROM ratings WHERE rater_id = ? AND set_name = ?", (rater.id, set_name))
            con.executemany(
                "INSERT INTO ratings VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (rater.id, set_name, i, float(s), None if positions is None else positions[i], method, now)
                    for i, s in scores.items()
                ],
            )
            con.execute(
                "INSERT INTO submissions (rater_id, set_name, method, payload, submitted_at) VALUES (?, ?, ?, ?, ?)",
                (rater.id, set_name, method, json.dumps(dict(payload), sort_keys=True), now),
            )

    def rater_ratings(self, rater: Rater) -> dict[str, dict[str, Any]]:
        """One rater's stored ratings: set name -> ``{"method", "scores": {image id: score}, "order": [ids]}``.

        Args:
            rater: the rater.
        """
        with self._connect() as con:
            rows = con.execute(
                "SELECT set_name, image_id, score, position, method FROM ratings WHERE rater_id = ? ORDER BY set_name",
                (rater.id,),
            ).fetchall()
        out: dict[str, dict[str, Any]] = {}
        for set_name, image_id, score, position, method in rows:
            entry = out.setdefault(set_name, {"method": method, "scores": {}, "positions": {}})
            entry["scores"][image_id] = score
            if position is not None:
                entry["positions"][image_id] = position
        for entry in out.values():
            positions = entry.pop("positions")
            entry["order"] = sorted(positions, key=positions.get) if positions else None
        return out

    def all_ratings(self) -> list[dict[str, Any]]:
        """Every stored rating joined with its image: rater, set, model, score, method (for the results)."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT raters.name, ratings.set_name, images.model, ratings.score, ratings.method, ratings.position "
                "FROM ratings JOIN raters ON raters.id = ratings.rater_id JOIN images ON images.id = ratings.image_id "
                "ORDER BY raters.id, ratings.set_name, images.model"
            ).fetchall()
        keys = ("rater", "set", "model", "score", "method", "position")
        return [dict(zip(keys, r)) for r in rows]
