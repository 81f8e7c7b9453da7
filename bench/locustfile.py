"""Locust mix for bench/load.py: partner portal pages, channel-manager pages, API reads and writes.

Not imported by the portal and not a project dependency: bench/load.py runs it with locust from its own
virtualenv. It reads the users, API keys and deal ids that load.py prepared from the JSON file named by
LOADTEST_FIXTURE, and the think time between a user's requests from LOADTEST_WAIT ("1-3" seconds; "0" runs
every user flat out, a throughput test rather than a latency one).

Requests go to gunicorn over plain HTTP with `X-Forwarded-Proto: https`, as from the TLS-terminating proxy
production runs behind (prm.settings.production trusts that header). Django then sets its session and CSRF
cookies Secure, which an HTTP client does not send back over http://, so after the login they are unflagged:
the same cookies travel as they would through the proxy.
"""

import itertools
import json
import os
import random
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from locust import HttpUser, between, constant, events, task

with open(os.environ["LOADTEST_FIXTURE"]) as f:
    FIXTURE = json.load(f)
PROXY = {"X-Forwarded-Proto": "https"}
_low, _, _high = os.environ.get("LOADTEST_WAIT", "1-3").partition("-")
WAIT = between(float(_low), float(_high or _low)) if float(_high or _low) > 0 else constant(0)
_partners = itertools.count()
_keys = itertools.count()
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')

# Warm-up: every browser logs in at the start (PBKDF2, deliberately slow), all at once, which no steady state
# has. The statistics restart once the last of them is in; the logins' own times go to LOADTEST_LOGINS.
_warmup = {"spawned": False, "logins": [], "over": False}


@events.spawning_complete.add_listener
def _on_spawned(user_count, **_kwargs):
    _warmup["spawned"] = True


def _login_done(environment, elapsed_ms: float) -> None:
    _warmup["logins"].append(elapsed_ms)
    counts = environment.runner.user_classes_count
    browsers = counts.get("PartnerStaff", 0) + counts.get("ChannelManager", 0)
    if _warmup["spawned"] and not _warmup["over"] and len(_warmup["logins"]) >= browsers:
        _warmup["over"] = True
        environment.runner.stats.reset_all()
        if path := os.environ.get("LOADTEST_LOGINS"):
            with open(path, "w") as f:
                json.dump(_warmup["logins"], f)


class Browser(HttpUser):
    """A signed-in portal user: logs in through the real login form once, then browses."""

    abstract = True
    wait_time = WAIT

    def login(self, email: str) -> None:
        started = time.perf_counter()
        page = self.client.get("/login/", headers=PROXY, name="login form")
        token = CSRF_INPUT.search(page.text).group(1)
        self._unsecure()
        with self.client.post(
            "/login/",
            data={"login": email, "password": FIXTURE["password"], "csrfmiddlewaretoken": token},
            headers={**PROXY, "Referer": f"https://{self.host.split('://', 1)[1]}/login/"},
            allow_redirects=False,
            name="login",
            catch_response=True,
        ) as response:
            if response.status_code != 302:
                response.failure(f"login of {email} answered {response.status_code}")
        self._unsecure()
        _login_done(self.environment, (time.perf_counter() - started) * 1000)

    def _unsecure(self) -> None:
        for cookie in self.client.cookies:
            cookie.secure = False

    def page(self, path: str, name: str | None = None) -> None:
        with self.client.get(path, headers=PROXY, name=name or path, allow_redirects=False, catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code} (expected 200)")


class PartnerStaff(Browser):
    """A partner admin in the portal: home, offers, deals, a deal, scorecard, statement, courses."""

    weight = 14

    def on_start(self):
        self.me = FIXTURE["partners"][next(_partners) % len(FIXTURE["partners"])]
        self.login(self.me["email"])

    @task(3)
    def home(self):
        self.page("/")

    @task(2)
    def offers(self):
        self.page("/deals/offers/")

    @task(4)
    def deals(self):
        self.page("/deals/")

    @task(4)
    def deal(self):
        self.page(f"/deals/{random.choice(self.me['deal_ids'])}/", name="/deals/[id]/")

    @task(2)
    def scorecard(self):
        self.page("/kpi/scorecard/")

    @task(1)
    def statement(self):
        self.page("/kpi/statement/")

    @task(1)
    def courses(self):
        self.page("/training/")

    @task(1)
    def my_learning(self):
        self.page("/training/my/")


class ChannelManager(Browser):
    """Vendor staff, a few of them: directory, routing queue, registrations to review, KPIs, a partner."""

    weight = 2

    def on_start(self):
        self.login(FIXTURE["channel_manager"])

    @task(2)
    def home(self):
        self.page("/", name="/ (channel manager)")

    @task(2)
    def directory(self):
        self.page("/partners/")

    @task(2)
    def partner(self):
        self.page(f"/partners/{random.choice(FIXTURE['partners'])['partner_id']}/", name="/partners/[id]/")

    @task(2)
    def routing(self):
        self.page("/deals/routing/")

    @task(1)
    def review(self):
        self.page("/deals/registrations/review/")

    @task(1)
    def kpi(self):
        self.page("/kpi/")


class Crm(HttpUser):
    """A partner's CRM syncing through the API with its own key (a key per user: the throttle is per key)."""

    weight = 16
    wait_time = WAIT

    def on_start(self):
        entry = FIXTURE["keys"][next(_keys) % len(FIXTURE["keys"])]
        self.me = next(p for p in FIXTURE["partners"] if p["partner_id"] == entry["partner_id"])
        self.headers = {**PROXY, "Authorization": f"Bearer {entry['key']}"}
        self.next_page = None
        self.feed_cursor = None
        self.upserts = 0

    def api(self, method: str, path: str, name: str, expect=(200,), **kwargs):
        with self.client.request(
            method,
            path,
            headers={**self.headers, **kwargs.pop("headers", {})},
            name=name,
            catch_response=True,
            **kwargs,
        ) as r:
            if r.status_code not in expect:
                r.failure(f"{r.status_code}: {r.text[:200]}")
                return None
            return r.json()

    @task(3)
    def leads_page(self):
        """Walks the lead list with the cursor: the next page, or the first one when the walk ended."""
        if self.next_page:
            body = self.api("GET", self.next_page, "api leads list (cursor)")
        else:
            body = self.api("GET", "/api/v1/leads/?page_size=100", "api leads list")
        # DRF links are absolute and say https (the proxy's scheme): keep path and query only.
        self.next_page = body and body["next"] and "{}?{}".format(*urlsplit(body["next"])[2:4])

    @task(2)
    def leads_updated_since(self):
        since = (datetime.now(UTC) - timedelta(days=random.choice([1, 7, 30]))).isoformat()
        self.api("GET", "/api/v1/leads/", "api leads ?updated_since", params={"updated_since": since})

    @task(3)
    def lead(self):
        self.api("GET", f"/api/v1/leads/{random.choice(self.me['deal_ids'])}/", "api lead detail")

    @task(2)
    def changes(self):
        params = {"limit": 100, **({"since": self.feed_cursor} if self.feed_cursor else {})}
        body = self.api("GET", "/api/v1/changes/", "api changes feed", params=params)
        if body:
            self.feed_cursor = body["next_cursor"] if body["has_more"] else None

    @task(1)
    def bulk_upsert(self):
        """A few items, half of them the same external ids again (updates), with an Idempotency-Key."""
        self.upserts += 1
        keys = [random.randrange(200) for _ in range(5)]
        items = [
            {
                "source_system": "loadtest",
                "external_id": f"{self.me['partner_id']}-{key}",
                "title": f"Load test deal v{self.upserts}",
                # A deal keeps its customer (a registered deal's customer cannot change): one per key.
                "customer": {"name": f"Load test customer {self.me['partner_id']}-{key % 50}"},
                "value": f"{random.randrange(1000, 90000)}.00",
                "currency": "RUB",
            }
            for key in keys
        ]
        items = list({i["external_id"]: i for i in items}.values())  # one item per key and request
        self.api(
            "POST",
            "/api/v1/leads/bulk-upsert/",
            "api leads bulk-upsert",
            json={"items": items},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )

    @task(1)
    def activity(self):
        self.api(
            "POST",
            "/api/v1/activities/",
            "api activity create",
            expect=(201,),
            json={
                "lead": random.choice(self.me["deal_ids"]),
                "kind": "call",
                "occurred_at": datetime.now(UTC).isoformat(),
                "subject": "Load test call",
            },
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )

    @task(1)
    def healthz(self):
        """The floor: one database and one broker round trip through the same gunicorn."""
        self.api("GET", "/healthz", "floor /healthz")
