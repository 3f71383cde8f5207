"""Normalised company keys: one key for every way people write the same company name.

株式会社 ABC, ㈱ABC, (株)ＡＢＣ and ABC 株式会社 all become ``abc``, so a company that
two teams registered with different spellings is recognised as one.
"""

import re
import unicodedata

# Legal-form markers, written after NFKC normalisation (which turns ㈱ into (株)
# and full-width brackets into ASCII ones).
_LEGAL_FORMS = (
    "株式会社", "(株)", "有限会社", "(有)", "合同会社", "(同)",
    "合資会社", "(資)", "合名会社", "(名)", "一般社団法人", "(社)",
)
_SEPARATORS = re.compile(r"[\s\u3000・･.,、。]+")


def company_key(company_name: str) -> str:
    """Return the normalised key of a company name (never empty for a non-blank name)."""
    text = unicodedata.normalize("NFKC", company_name)
    for form in _LEGAL_FORMS:
        text = text.replace(form, " ")
    key = _SEPARATORS.sub("", text).casefold()
    return key or _SEPARATORS.sub("", unicodedata.normalize("NFKC", company_name)).casefold()
