"""Every page of the Russian UI, walked as each demo role, shows no English text the system produced.

The detector knows what the system can say: every message of the catalogue that has a Russian translation (its
English words must not appear on a Russian page), the codes behind labels (audit actions, routing rules) and the
English number, money and date formats."""

import gettext
import re
from collections import deque
from html.parser import HTMLParser
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

from demo.seed import DEMO_LOGINS
from leads.models import ROUTING_RULE_LABELS
from prm.audit_labels import AUDIT_LABELS
from prm.models import User

PAGES_PER_ROLE = 60
SKIP = re.compile(
    r"^/(admin|api|static|media|accounts/logout|i18n|healthz)|/(export|download|csv|xlsx)\b|\.(csv|xlsx)$"
)
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%[sd]|\{\{[^}]*\}\}|\{[a-z_]+\}")
ENGLISH_FORMATS = [
    re.compile(r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\.? \d{1,2}, \d{4}\b"),  # "Dec. 5, 2026"
    re.compile(r"\b\d{1,3}(,\d{3})+(\.\d+)?\b"),  # "5,973,000" (English thousands)
    re.compile(r"\b\d{7,}\.\d{2}\b"),  # "391148734.00" (unformatted money)
    re.compile(r"\b\d{1,2}:\d{2} ?(a\.m\.|p\.m\.|AM|PM)\b"),
]


class _Text(HTMLParser):
    """Visible text and same-site links of a page."""

    def __init__(self):
        super().__init__()
        self.parts, self.links, self._skip = [], [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "textarea", "code", "pre"):
            self._skip += 1
        if tag == "a":
            href = dict(attrs).get("href") or ""
            if href.startswith("/") and not href.startswith("//"):
                self.links.append(href.split("#")[0])

    def handle_endtag(self, tag):
        if tag in ("script", "style", "textarea", "code", "pre") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.parts.append(" ".join(data.split()))


def _fragments() -> set[str]:
    """English fragments the system would print if it forgot to translate: the longest literal piece of every
    translated message with at least three words."""
    with open(Path(settings.BASE_DIR) / "prm/locale/ru/LC_MESSAGES/django.mo", "rb") as f:
        catalogue = gettext.GNUTranslations(f)._catalog
    found = set()
    for key, msgstr in catalogue.items():
        msgid = key[0] if isinstance(key, tuple) else key
        if msgid and msgstr != msgid:
            pieces = [" ".join(p.split()) for p in PLACEHOLDER.split(msgid)]
            best = max(pieces, key=len)
            if len(best.split()) >= 3 and re.search(r"[a-z]{3}", best):
                found.add(best.strip(" .:;,"))
    found |= {str(label) for label in AUDIT_LABELS.values() if len(str(label).split()) >= 2}
    return found


CODES = re.compile(
    r"\b(" + "|".join(re.escape(c) for c in [*AUDIT_LABELS, *ROUTING_RULE_LABELS] if "_" in c or "." in c) + r")\b"
)


def english_on(text: str, fragments: set[str]) -> list[str]:
    hits = [f for f in fragments if f in text]
    hits += [m.group(0) for m in CODES.finditer(text)]
    for pattern in ENGLISH_FORMATS:
        hits += [m.group(0) for m in pattern.finditer(text)]
    return hits


def test_the_detector_finds_english_system_text():
    fragments = _fragments()
    assert english_on("Сделка · deal.stage_changed", fragments)
    assert english_on("Итого 391148734.00", fragments)
    assert english_on("Срок: Dec. 5, 2026", fragments)
    assert english_on("The acceptance deadline passed; the lead went to another partner.", fragments)
    assert not english_on("Срок: 5 декабря 2026 г. · 5 973 000,00 ₽ · ООО «Ромашка» · ERP", fragments)


def test_russian_pages_have_no_english_system_text(db, client):
    """Seeded once, walked as every demo role (breadth-first from the home page, a few pages per URL pattern)."""
    call_command("seed_demo", "--small", verbosity=0)
    call_command("run_nightly", verbosity=0)
    fragments = _fragments()
    problems, walked = {}, {}
    for email, *_rest in DEMO_LOGINS:
        client.force_login(User.objects.get(email=email))
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
        seen, queue = set(), deque(["/"])
        while queue and len(seen) < PAGES_PER_ROLE:
            url = queue.popleft()
            path = url.split("?")[0]
            if url in seen or SKIP.search(path) or sum(1 for s in seen if s.split("?")[0] == path) >= 2:
                continue
            seen.add(url)
            response = client.get(url)
            assert response.status_code < 500, url
            if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
                continue
            parser = _Text()
            parser.feed(response.content.decode())
            if hits := english_on(" · ".join(parser.parts), fragments):
                problems[f"{email} {url}"] = sorted(set(hits))[:5]
            queue.extend(link for link in parser.links if link not in seen)
        walked[email] = len(seen)
        client.logout()
    assert all(n > 5 for n in walked.values()), walked
    assert not problems, "\n".join(f"{k}: {v}" for k, v in problems.items())
