"""A text corpus that every Python install has (the help topics of `pydoc_data`) and a character vocabulary."""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np


def load_text_corpus(max_chars: int | None = None) -> str:
    """CPython's own help texts (`pydoc_data.topics`), joined in sorted topic order.

    About 465 000 characters (Python 3.11) of English prose and code; identical across runs on
    one Python version. max_chars: keep only the first max_chars characters.
    """
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[key].strip() for key in sorted(topics))
    return text if max_chars is None else text[:max_chars]


class CharVocab:
    """A character-level vocabulary: each distinct character of `text` gets an id, in sorted order."""

    def __init__(self, text: str) -> None:
        if not text:
            raise ValueError("CharVocab needs a non-empty text to collect its characters from")
        self.chars: list[str] = sorted(set(text))
        self.index = {char: i for i, char in enumerate(self.chars)}

    @property
    def size(self) -> int:
        """The number of distinct characters (the `C` of a one-hot encoding)."""
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """(len(text),) int64 ids. Raises ValueError naming any character not in the vocabulary."""
        unknown = sorted(set(text) - self.index.keys())
        if unknown:
            raise ValueError(
                f"characters not in the vocabulary: {''.join(unknown)!r} "
                f"(first at position {min(text.index(c) for c in unknown)}); "
                "build the CharVocab from a text that contains them"
            )
        return np.fromiter((self.index[char] for char in text), dtype=np.int64, count=len(text))

    def decode(self, ids: Iterable[Any]) -> str:
        """The text of a sequence of ids (list, (T,) numpy array or torch tensor)."""
        ids = np.asarray(ids.tolist() if hasattr(ids, "tolist") else list(ids), dtype=np.int64).ravel()
        bad = ids[(ids < 0) | (ids >= self.size)]
        if bad.size:
            raise ValueError(f"ids out of range 0..{self.size - 1}: {bad[:5].tolist()}")
        return "".join(self.chars[i] for i in ids)

    def __repr__(self) -> str:
        return f"CharVocab(size={self.size})"
