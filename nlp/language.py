"""NLP stage: the language of a text, so non-English articles are tagged, not mangled.

The text decides when the identifier is confident; otherwise the language the
page or feed declared is kept.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

# A short sample decides almost always (measured on real pages: 300 characters agree with
# 2,000 on every page); a longer one is read only when the short one is unsure.
SAMPLES = (300, 2000)
MIN_CONFIDENCE = 0.9


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str, declared: str | None = None) -> str | None:
    """ISO 639-1 code of ``text``'s language, falling back to ``declared``."""
    for size in SAMPLES:
        sample = text[:size]
        if len(sample) < 40:
            break
        code, confidence = _identifier().classify(sample)
        if confidence >= MIN_CONFIDENCE:
            return str(code)
        if len(text) <= size:
            break
    return declared.lower() if declared else None
