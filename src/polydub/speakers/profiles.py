"""Persistent voice profiles: a named speaker, their d-vectors, samples and chosen dub voices.

Stored in SQLite (one row per profile) so that a speaker recognised in one project keeps the same
voice in the next. Sample audio is copied under the store's folder, so deleting the original media
does not break a profile.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import JSON, DateTime, Integer, LargeBinary, String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from polydub.paths import profiles_db
from polydub.speakers.embedding import normalize

DEFAULT_MATCH_THRESHOLD = 0.7  # same speaker ~0.83, different ~0.33 (shared/MODELS.md)


class _Base(DeclarativeBase):
    pass


class _ProfileRow(_Base):
    __tablename__ = "profiles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True, index=True)
    dim: Mapped[int] = mapped_column(Integer)
    # (n, dim) float32 matrix as raw bytes: exact, compact, and no JSON float round-off.
    embeddings: Mapped[bytes] = mapped_column(LargeBinary)
    embedder: Mapped[str] = mapped_column(String(100), default="")
    samples: Mapped[list] = mapped_column(JSON, default=list)  # paths relative to the samples folder
    voices: Mapped[dict] = mapped_column(JSON, default=dict)  # language -> voice id
    adaptation: Mapped[dict] = mapped_column(JSON, default=dict)  # e.g. pitch/formant shifts
    created: Mapped[datetime] = mapped_column(DateTime)
    updated: Mapped[datetime] = mapped_column(DateTime)


@dataclass
class Profile:
    name: str
    embedding: np.ndarray  # unit-norm mean of `embeddings`
    embeddings: np.ndarray  # (n, dim)
    samples: list[Path] = field(default_factory=list)
    voices: dict[str, str] = field(default_factory=dict)
    adaptation: dict[str, Any] = field(default_factory=dict)
    embedder: str = ""
    created: datetime | None = None
    updated: datetime | None = None


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "speaker"


class ProfileStore:
    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else profiles_db()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.samples_dir = self.path.parent / "profile_samples"
        self._engine = create_engine(f"sqlite:///{self.path}")
        _Base.metadata.create_all(self._engine)

    def close(self) -> None:
        self._engine.dispose()

    # -- helpers ---------------------------------------------------------------------------------
    def _row(self, session: Session, name: str) -> _ProfileRow | None:
        return session.scalars(select(_ProfileRow).where(_ProfileRow.name == name)).first()

    def _to_profile(self, row: _ProfileRow) -> Profile:
        mat = np.frombuffer(row.embeddings, dtype=np.float32).reshape(-1, row.dim).copy()
        return Profile(
            name=row.name,
            embedding=normalize(mat.mean(axis=0)),
            embeddings=mat,
            samples=[self.samples_dir / p for p in row.samples or []],
            voices=dict(row.voices or {}),
            adaptation=dict(row.adaptation or {}),
            embedder=row.embedder,
            created=row.created,
            updated=row.updated,
        )

    def _copy_samples(self, name: str, samples: list[str | Path], start: int) -> list[str]:
        folder = self.samples_dir / _slug(name)
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        for k, src in enumerate(samples, start=start):
            src = Path(src)
            if not src.is_file():
                raise FileNotFoundError(f"voice sample not found: {src}")
            dest = folder / f"{k:03d}_{_slug(src.name)}"
            shutil.copy2(src, dest)
            out.append(dest.relative_to(self.samples_dir).as_posix())
        return out

    # -- API -------------------------------------------------------------------------------------
    def add(
        self,
        name: str,
        embeddings: np.ndarray | list[np.ndarray],
        samples: list[str | Path] | None = None,
        embedder: str = "",
    ) -> Profile:
        """Create a profile, or enrol more speech into an existing one of the same name."""
        mat = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        if mat.size == 0:
            raise ValueError("a profile needs at least one embedding")
        # Unit-normalise each row so a long sample does not outweigh the others in the mean.
        mat = np.stack([normalize(v) for v in mat])
        with Session(self._engine) as session:
            row = self._row(session, name)
            if row is None:
                row = _ProfileRow(
                    name=name, dim=mat.shape[1], embeddings=b"", embedder=embedder, samples=[],
                    voices={}, adaptation={}, created=_now(),
                )
                session.add(row)
                old = np.zeros((0, mat.shape[1]), np.float32)
            else:
                if row.dim != mat.shape[1]:
                    raise ValueError(f"profile '{name}' holds {row.dim}-d embeddings, got {mat.shape[1]}-d")
                old = np.frombuffer(row.embeddings, dtype=np.float32).reshape(-1, row.dim)
            row.embeddings = np.concatenate([old, mat]).astype(np.float32).tobytes()
            copied = self._copy_samples(name, list(samples or []), start=len(row.samples or []))
            row.samples = list(row.samples or []) + copied
            row.updated = _now()
            session.commit()
            return self._to_profile(row)

    def get(self, name: str) -> Profile | None:
        with Session(self._engine) as session:
            row = self._row(session, name)
            return self._to_profile(row) if row else None

    def list(self) -> list[Profile]:
        with Session(self._engine) as session:
            rows = session.scalars(select(_ProfileRow).order_by(_ProfileRow.name)).all()
            return [self._to_profile(r) for r in rows]

    def _update(self, profile_name: str, **values: Any) -> Profile:
        with Session(self._engine) as session:
            row = self._row(session, profile_name)
            if row is None:
                raise KeyError(f"no voice profile named '{profile_name}'")
            for key, value in values.items():
                setattr(row, key, value)
            row.updated = _now()
            session.commit()
            return self._to_profile(row)

    def rename(self, old: str, new: str) -> Profile:
        if old != new and self.get(new) is not None:
            raise ValueError(f"a voice profile named '{new}' already exists")
        # Sample files keep their folder: paths are stored, so renaming never moves audio.
        return self._update(old, name=new)

    def remove(self, name: str) -> bool:
        with Session(self._engine) as session:
            row = self._row(session, name)
            if row is None:
                return False
            for rel in row.samples or []:
                (self.samples_dir / rel).unlink(missing_ok=True)
            session.delete(row)
            session.commit()
            return True

    def set_voice(self, name: str, language: str, voice_id: str) -> Profile:
        profile = self.get(name)
        if profile is None:
            raise KeyError(f"no voice profile named '{name}'")
        return self._update(name, voices={**profile.voices, language: voice_id})

    def set_adaptation(self, name: str, adaptation: dict[str, Any]) -> Profile:
        return self._update(name, adaptation=dict(adaptation))

    def match(
        self, embedding: np.ndarray, threshold: float = DEFAULT_MATCH_THRESHOLD
    ) -> tuple[Profile | None, float]:
        """Best profile by cosine; (None, best score) when nothing reaches the threshold."""
        query = normalize(np.asarray(embedding, dtype=np.float32).ravel())
        best: Profile | None = None
        best_score = -1.0
        for profile in self.list():
            if profile.embedding.shape != query.shape:
                continue  # made by a different embedder: scores would be meaningless
            score = float(profile.embedding @ query)
            if score > best_score:
                best, best_score = profile, score
        if best is None:
            return None, 0.0
        return (best, best_score) if best_score >= threshold else (None, best_score)
