"""Customer keys used for conflict detection: pure functions, no database.

Two registrations point at the same customer when their tax ids (digits only), their company domains
(free-mail never counts) or their normalised names agree. Names are compared after removing legal
forms, quotes, case and punctuation and after transliterating Cyrillic to Latin, so «Ромашка» and
"Romashka LLC" become the same key.
"""

import re
from urllib.parse import urlsplit

from unidecode import unidecode

FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yandex.ru",
        "yandex.com",
        "ya.ru",
        "mail.ru",
        "bk.ru",
        "list.ru",
        "inbox.ru",
        "internet.ru",
        "rambler.ru",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "proton.me",
        "protonmail.com",
        "zoho.com",
    }
)

# Legal forms as whole tokens, compared after lower-casing and transliteration and with dots removed
# ("b.v." -> "bv", "s.a." -> "sa"). Multi-word forms are listed as token sequences.
LEGAL_FORMS = frozenset(
    {
        "ooo",
        "oao",
        "zao",
        "ao",
        "pao",
        "ip",
        "nko",
        "ano",
        "fgup",
        "gup",
        "mup",
        "llc",
        "ltd",
        "limited",
        "inc",
        "incorporated",
        "corp",
        "corporation",
        "co",
        "plc",
        "gmbh",
        "ag",
        "kg",
        "bv",
        "nv",
        "sa",
        "sas",
        "sarl",
        "srl",
        "spa",
        "oy",
        "ab",
        "as",
        "llp",
        "lp",
    }
)
LEGAL_FORM_SEQUENCES = (("sp", "z", "o", "o"), ("sp", "z", "oo"), ("sp", "zoo"), ("spolka", "z", "oo"))

_QUOTES = "«»\"'„“”‘’‚`"
_TOKEN = re.compile(r"[a-z0-9]+")


def tax_id_normalize(value: str | None) -> str:
    """Digits only: "7707 083 893", "RU7707083893" and "7707-083-893" are one key."""
    return "".join(ch for ch in (value or "") if ch.isdigit())


def domain_normalize(value: str | None) -> str:
    """The host of a website or e-mail, lower-case, without "www."; empty for free-mail providers."""
    value = (value or "").strip().lower()
    if not value:
        return ""
    if "@" in value and "://" not in value:
        host = value.rsplit("@", 1)[1]
    else:
        host = urlsplit(value if "://" in value else f"//{value}").hostname or ""
    host = host.strip(".")
    if host.startswith("www."):
        host = host[4:]
    if "." not in host or host in FREE_MAIL_DOMAINS:
        return ""
    return host


def domain_from(*, website: str = "", email: str = "") -> str:
    """The company domain: the website if it names one, else the e-mail's (never a free-mail one)."""
    return domain_normalize(website) or domain_normalize(email)


def name_tokens(name: str | None) -> list[str]:
    text = unidecode((name or "").translate({ord(q): " " for q in _QUOTES})).lower()
    # Quotes are gone already; an apostrophe now is a transliterated soft/hard sign ("Альфа" -> "al'fa").
    text = text.replace("'", "")
    # Dots inside abbreviations join them ("b.v." -> "bv"); other punctuation separates words.
    text = re.sub(r"(?<=\b[a-z])\.(?=[a-z]\b)", "", text).replace(".", " ")
    tokens = _TOKEN.findall(text)
    for seq in LEGAL_FORM_SEQUENCES:
        n = len(seq)
        i = 0
        while i + n <= len(tokens):
            if tuple(tokens[i : i + n]) == seq:
                del tokens[i : i + n]
            else:
                i += 1
    # A name that is only a legal form ("ООО") becomes empty: it names no company, forms reject it.
    return [t for t in tokens if t not in LEGAL_FORMS]


def name_normalize(name: str | None) -> str:
    return " ".join(name_tokens(name))


def name_prefix(normalized: str) -> str:
    """The SQL narrowing key for fuzzy matching: the first word of the normalised name."""
    return normalized.split(" ", 1)[0] if normalized else ""
