"""NLP stage: the language of a text, so non-English articles are tagged, not mangled.

The text decides when the identifier is confident; otherwise the language the
page or feed declared is kept.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

SAMPLE_CHARS = 600
MIN_CONFIDENCE = 0.9


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str, declared: str | None = None) -> str | None:
    """ISO 639-1 code of ``text``'s language, falling back to ``declared``."""
    sample = text[:SAMPLE_CHARS]
    if len(sample) >= 40:
        code, confidence = _identifier().classify(sample)
        if confidence >= MIN_CONFIDENCE:
            return str(code)
    return declared.lower() if declared else None
