"""Names that must be unique "ignoring case" are compared by a key, the same on every database.

SQLite's `lower()` folds ASCII only, so `Été` and `été` (or the same name twice, compared in
Python against SQLite's answer) slipped past the check and hit the unique constraint as a 500.
The key is computed here, in Python, and stored beside the name with its own unique constraint:
Unicode case folding after compatibility normalization (NFKC), so `ÉTÉ`, `été`, `Straße`/`STRASSE`
and full-width `Ｐ` / `P` each count as one name.
"""

from __future__ import annotations

import unicodedata


def name_key(name: str) -> str:
    """NFKC_Casefold, approximated as Unicode recommends: NFKC(casefold(NFKC(name)))."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return unicodedata.normalize("NFKC", folded).strip()
