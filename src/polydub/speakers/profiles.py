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
from sqlalchemy import JSON, DateTime, ForeignKey, Integer, LargeBinary, String, create_engine, select
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


class _EvolvedRow(_Base):
    """A voice evolved for a profile in one language (a Kokoro style tensor and how it was found)."""

    __tablename__ = "evolved_voices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile_id: Mapped[int] = mapped_column(Integer, ForeignKey("profiles.id", ondelete="CASCADE"), index=True)
    language: Mapped[str] = mapped_column(String(16))
    engine: Mapped[str] = mapped_column(String(50))  # what the tensor belongs to, e.g. "kokoro"
    style: Mapped[bytes] = mapped_column(LargeBinary)  # float32, engine-specific shape
    info: Mapped[dict] = mapped_column(JSON, default=dict)  # the search's report (similarities, CER, ...)
    created: Mapped[datetime] = mapped_column(DateTime)


@dataclass
class EvolvedVoice:
    profile: str
    language: str
    engine: str
    style: np.ndarray
    info: dict[str, Any]
    created: datetime

    @property
    def voice_id(self) -> str:
        return evolved_voice_id(self.profile, self.language)


EVOLVED_ENGINE = "kokoro-evolved"


def evolved_voice_id(profile: str, language: str) -> str:
    return f"{EVOLVED_ENGINE}:{profile}@{language}"


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


def check_name(name: str) -> str:
    """Profile names become part of voice ids ("kokoro-evolved:<name>@es"): no id separators."""
    if not name.strip() or any(ch in name for ch in "@~:/\\") or len(name) > 200:
        raise ValueError(f"invalid profile name {name!r}: use letters, digits, spaces, '-', '_' or '.' "
                         "(not '@', '~', ':' or slashes), at most 200 characters")
    return name.strip()


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
                check_name(name)
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
        check_name(new)
        profile = self.get(old)
        if profile is None:
            raise KeyError(f"no voice profile named '{old}'")
        # Evolved voices are named after their profile: the voices they are chosen as follow.
        voices = {lang: evolved_voice_id(new, lang) if vid == evolved_voice_id(old, lang) else vid
                  for lang, vid in profile.voices.items()}
        # Sample files keep their folder: paths are stored, so renaming never moves audio.
        return self._update(old, name=new, voices=voices)

    def remove(self, name: str) -> bool:
        with Session(self._engine) as session:
            row = self._row(session, name)
            if row is None:
                return False
            for rel in row.samples or []:
                (self.samples_dir / rel).unlink(missing_ok=True)
            for evolved in session.scalars(select(_EvolvedRow).where(_EvolvedRow.profile_id == row.id)):
                session.delete(evolved)
            session.delete(row)
            session.commit()
            return True

    # -- evolved voices --------------------------------------------------------------------------
    def set_evolved(self, name: str, language: str, engine: str, style: np.ndarray, info: dict[str, Any]) -> Profile:
        """Store (or replace) the profile's evolved voice for `language` and make it the voice the
        profile speaks that language with."""
        with Session(self._engine) as session:
            row = self._row(session, name)
            if row is None:
                raise KeyError(f"no voice profile named '{name}'")
            old = session.scalars(select(_EvolvedRow).where(
                _EvolvedRow.profile_id == row.id, _EvolvedRow.language == language)).first()
            if old is not None:
                session.delete(old)
            session.add(_EvolvedRow(profile_id=row.id, language=language, engine=engine, info=dict(info),
                                    style=np.asarray(style, dtype=np.float32).tobytes(), created=_now()))
            row.voices = {**(row.voices or {}), language: evolved_voice_id(row.name, language)}
            row.updated = _now()
            session.commit()
            return self._to_profile(row)

    def evolved(self, name: str | None = None, language: str | None = None) -> list[EvolvedVoice]:
        """Evolved voices, of one profile and/or language when given."""
        with Session(self._engine) as session:
            query = select(_EvolvedRow, _ProfileRow.name).join(_ProfileRow, _ProfileRow.id == _EvolvedRow.profile_id)
            if name is not None:
                query = query.where(_ProfileRow.name == name)
            if language is not None:
                query = query.where(_EvolvedRow.language == language)
            out = []
            for evolved, profile in session.execute(query.order_by(_ProfileRow.name, _EvolvedRow.language)):
                out.append(EvolvedVoice(profile=profile, language=evolved.language, engine=evolved.engine,
                                        style=np.frombuffer(evolved.style, dtype=np.float32).copy(),
                                        info=dict(evolved.info or {}), created=evolved.created))
            return out

    def remove_evolved(self, name: str, language: str) -> bool:
        """Delete a profile's evolved voice for `language`; the profile forgets that language's voice."""
        with Session(self._engine) as session:
            row = self._row(session, name)
            if row is None:
                return False
            old = session.scalars(select(_EvolvedRow).where(
                _EvolvedRow.profile_id == row.id, _EvolvedRow.language == language)).first()
            if old is None:
                return False
            session.delete(old)
            if (row.voices or {}).get(language) == evolved_voice_id(row.name, language):
                row.voices = {k: v for k, v in row.voices.items() if k != language}
            row.updated = _now()
            session.commit()
            return True

    def set_voice(self, name: str, language: str, voice_id: str) -> Profile:
        profile = self.get(name)
        if profile is None:
            raise KeyError(f"no voice profile named '{name}'")
        return self._update(name, voices={**profile.voices, language: voice_id})

    def forget_voice(self, name: str, language: str) -> Profile:
        profile = self.get(name)
        if profile is None:
            raise KeyError(f"no voice profile named '{name}'")
        return self._update(name, voices={k: v for k, v in profile.voices.items() if k != language})

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
