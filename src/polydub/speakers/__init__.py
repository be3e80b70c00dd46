"""Speaker embeddings, diarization and persistent voice profiles."""

from polydub.speakers.embedding import SpeakerEmbedder, cosine, default_embedder

__all__ = ["SpeakerEmbedder", "cosine", "default_embedder"]
