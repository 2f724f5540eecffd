"""Synthetic Segment traffic with a known true person per message, for demos, benchmarks and quality checks.

``generate(persons)`` describes a deterministic dataset (``random.Random(seed)``; the same arguments give
the same rows, byte for byte, in any process). Rows are produced lazily, one *unit* of related persons at a
time, so 100,000 persons (≈ 4.5 M messages) stream to CSV without holding the data set in memory.

Tables (columns as in docs/CONTRACT.md, timestamps as ``'YYYY-MM-DD HH:MM:SS.mmm'`` UTC text)::

    tracks      id, anonymous_id, user_id, event, timestamp, received_at, context_user_agent
    pages       id, anonymous_id, user_id, name, path, timestamp, received_at, context_user_agent
    identifies  id, anonymous_id, user_id, email, name, plan, timestamp, received_at
    aliases     id, previous_id, user_id, timestamp, received_at
    truth       source_table, message_id, true_person, evidence_group

Behaviours and proportions
--------------------------
Persons come in *units* that share nothing with other units (except junk values):

* single persons (≈ 95 % of persons): 1 device 55 %, 2 devices 30 %, 3 devices 15 % (desktop or mobile
  browsers, one user agent each); sessions per person log-normal (median 5, long tail, at most 150),
  spread from a first visit (uniform over the first 85 % of the window) to the end; ≈ 5.5 events a
  session (58 % pages, 42 % tracks), 2 s – 10 min apart; sessions on a device ≥ 45 min apart.
* 58 % of single persons sign up (≈ 60 % of all persons are identified, with the forced ones below):
  the sign-up session is early-biased; it emits a sign-up page, an ``identify`` (user_id, e-mail, name,
  plan) and a ``Signed Up`` track, then the device stays logged in (tracks/pages carry the user id).
  Each other device logs in eventually with probability 70 % (per eligible session 60 %); the other
  30 % stay anonymous for ever (not achievable). 20 % of logged-in sessions start with a re-identify;
  8 % of logged-in sessions have a server-side ``Order Completed`` track (user id only, no anonymous id).
* 30 % of identified persons upgrade their plan: a server-side identify (no anonymous id, plan ``pro``)
  and a ``Plan Upgraded`` track.
* cookie clear: 3 % of sessions on a personal device start with a new anonymous id (logged out);
  logout with ``reset()``: 4 % of logged-in sessions end with ``Signed Out`` and a new anonymous id.
  After either, the person logs in again on that device with probability 50 % (else the new id stays
  anonymous: not achievable).
* renames: 4 % of identified persons get a new user id (``alias`` previous_id → user_id); a quarter of
  those are renamed a second time (multi-step chains).
* e-mail tool: 8 % of persons have a subscriber id ``sub_…`` sending 1–2 identifies (anonymous_id
  ``sub_…``, no user id, the person's e-mail) and 0–4 ``Email Opened`` / ``Email Link Clicked`` tracks.
  It bridges to the person's user only through the e-mail (only identified persons).
* upper-case / padded e-mails: 3 % of identified persons send half of their identifies with
  ``First.Last@Gmail.com`` or ``'  first.last@gmail.com '`` (trim + lower-case recovers them).
* households (a unit with probability 1.8 %, ≈ 4 % of persons): 2–3 identified persons sharing one
  desktop anonymous id for ever (no reset, no cookie clear), 2–8 sessions each on it, plus 0–2 own
  devices each. They log in in ≈ 50 % of their shared sessions (at least once each) and sign out at the
  end of such a session without ``reset()``; sessions on the shared id are > 45 min apart.
* kiosks: one per 25,000 persons (at least one from 200 persons): one anonymous id used by 40–80
  identified persons, 1–3 sessions each, 85 % of them with a login (at least one each).
* shared e-mails (a unit with probability 0.4 %, ≈ 0.8 % of persons): two identified persons (two user
  ids) identify with the same family e-mail.
* junk from buggy clients, on client-side messages: 1.0 % carry a junk anonymous_id, 0.6 % of the
  messages with a user id carry a junk user_id instead, and 0.4 % of anonymous messages carry a junk
  user_id; junk values: ``undefined``, ``null``, ``0``, ``[object Object]``, ``''`` and the all-zero
  UUID.
* ``received_at`` = ``timestamp`` + 95 %: 50 ms – a few seconds, 3 %: 1–30 min, 2 %: 1–12 h late
  (server-side messages: 20–500 ms).

Measured at 100,000 persons (seed 42): 4,538,279 messages (45.4 a person; median 31, p90 98, max 860),
60.2 % of persons identified, 1.75 browser anonymous ids a person, 1.5 % of client messages with a junk
id, 1,782 households (4.2 % of persons), 4 kiosks (up to 76 persons), 3,066 aliases (586 second steps),
8,199 subscriber ids, 397 shared e-mails. Evidence groups: 51 % of messages are attributable to their
person, 47 % only to a device (``dev:``), 1.4 % to an anonymous shared-device session, 0.7 % singletons;
best achievable pairwise recall 0.686.

Truth
-----
``true_person`` is ``person_NNNNNN``. ``evidence_group`` is the best partition any stitcher could reach
from the observable rows without ever merging two true persons. It is computed per unit by a union-find
over *identifier nodes*; each message unions the nodes it carries:

* its user id (junk is absent) — aliases union previous_id with user_id;
* its e-mail (``lower(trim(email))``, identifies only), unless that e-mail is used by two persons;
* its anonymous id (junk is absent), unless that id is used by two or more persons (households, kiosks):
  then the node is the *session* of that id (messages of that id ordered by ``timestamp``, a new session
  after a gap > 30 min, numbered from 1), and only if one person appears in that session.

Labels: a component holding a user id is the person (``person_NNNNNN``: every message connected to the
person's user id — login on that anonymous id before or after the message, alias chain, non-shared e-mail
bridge, or a session on a shared id in which that person logged in); otherwise ``dev:<anonymous_id>`` (a
device or subscriber id that never meets a user id: its messages are one person but nobody can say which),
``sess:<anonymous_id>:<n>`` (a session on a shared id in which nobody logged in), ``email:<email>``, and
``msg:<source_table>:<id>`` for a message whose identifiers are all junk (a singleton). Shared ids are
decided on the truth (used by ≥ 2 persons), which matches the evidence here: every household member and
kiosk user logs in on the shared id, so it is always seen with ≥ 2 user ids. The generator checks that
no component holds two persons and that a person has at most one user component.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

TABLES = ("tracks", "pages", "identifies", "aliases", "truth")
COLUMNS: dict[str, tuple[str, ...]] = {
    "tracks": ("id", "anonymous_id", "user_id", "event", "timestamp", "received_at", "context_user_agent"),
    "pages": ("id", "anonymous_id", "user_id", "name", "path", "timestamp", "received_at",
              "context_user_agent"),
    "identifies": ("id", "anonymous_id", "user_id", "email", "name", "plan", "timestamp", "received_at"),
    "aliases": ("id", "previous_id", "user_id", "timestamp", "received_at"),
    "truth": ("source_table", "message_id", "true_person", "evidence_group"),
}
TIMESTAMP_COLUMNS = frozenset({"timestamp", "received_at"})
JUNK_IDS = ("undefined", "null", "0", "[object Object]", "", "00000000-0000-0000-0000-000000000000")
DEFAULT_START = datetime(2026, 1, 1)
SESSION_GAP_MS = 30 * 60 * 1000

# ---------------------------------------------------------------- proportions (see the docstring)
P_HOUSEHOLD_UNIT = 0.018
P_EMAIL_PAIR_UNIT = 0.004
KIOSK_EVERY_PERSONS = 25_000
KIOSK_MIN_PERSONS = 200
KIOSK_USERS = (40, 80)
P_IDENTIFIED = 0.58
DEVICE_COUNT_WEIGHTS = (0.55, 0.30, 0.15)
SESSION_DEVICE_WEIGHTS = (0.6, 0.3, 0.1)
P_OTHER_DEVICE_LOGIN = 0.70
P_LOGIN_PER_SESSION = 0.60
P_COOKIE_CLEAR = 0.03
P_LOGOUT_RESET = 0.04
P_RELOGIN = 0.50
P_REIDENTIFY = 0.20
P_SERVER_TRACK = 0.08
P_RENAME = 0.04
P_SECOND_RENAME = 0.25
P_UPGRADE = 0.30
P_SUBSCRIBER = 0.08
P_EMAIL_VARIANT = 0.03
P_PAGE = 0.58
P_HOUSEHOLD_LOGIN = 0.50
P_KIOSK_LOGIN = 0.85
P_JUNK_ANON = 0.010
P_JUNK_USER = 0.006
P_JUNK_USER_ON_ANON = 0.004
SESSIONS_LOGNORMAL = (1.7, 0.85)
EVENTS_PER_SESSION_MEAN = 5.0
MIN_SESSION_GAP_MS = 45 * 60 * 1000

_FIRST = ("Ada", "Ben", "Cleo", "Dan", "Eva", "Finn", "Gus", "Hana", "Ivo", "Jill", "Kai", "Lena", "Milo",
          "Nora", "Omar", "Pia", "Quinn", "Rosa", "Sven", "Tara", "Uma", "Vic", "Wes", "Xia", "Yann", "Zoe")
_LAST = ("Smith", "Jones", "Garcia", "Müller", "Rossi", "Dubois", "Kowalski", "Nguyen", "Okafor", "Silva",
         "Tanaka", "Larsen", "Novak", "Haddad", "Murphy", "Kim", "Patel", "Cohen", "Berg", "Costa")
_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "proton.me", "example.org", "acme.io", "web.de")
_UA_DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
    "Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36 "
    "Edg/124.0",
)
_UA_MOBILE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0 Mobile "
    "Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
    "Mobile/15E148 Safari/604.1",
)
_PAGES = (
    [("Home", "/")] * 6 + [("Pricing", "/pricing")] * 2 + [("Features", "/features"), ("About", "/about"),
                                                           ("Search", "/search"), ("Cart", "/cart")]
    + [("Product", f"/products/{i}") for i in range(1, 41)]
    + [("Blog Post", f"/blog/post-{i}") for i in range(1, 21)]
    + [("Docs", f"/docs/{s}") for s in ("start", "api", "faq", "billing", "sso")]
)
_EVENTS = (("Product Viewed",) * 5 + ("Button Clicked",) * 3 + ("Added to Cart",) * 2
           + ("Search Performed",) * 2 + ("Video Played", "Checkout Started", "Coupon Applied",
                                          "Form Submitted"))
_EMAIL_EVENTS = ("Email Opened", "Email Opened", "Email Link Clicked")

# internal message record: [table, id, anonymous_id, user_id, a, b, c, ts_ms, received_ms, person, ua]
# tracks: a=event; pages: a=name, b=path; identifies: a=email, b=name, c=plan; aliases: anon=previous_id
_T, _ID, _ANON, _USER, _A, _B, _C, _TS, _RECV, _PERSON, _UA = range(11)
_JUNK = frozenset(JUNK_IDS)
_SECONDS = [f"{s // 1000:02d}.{s % 1000:03d}" for s in range(60_000)]
_DEVICE_COUNT_CUM = [sum(DEVICE_COUNT_WEIGHTS[: i + 1]) for i in range(len(DEVICE_COUNT_WEIGHTS))]


@dataclass(frozen=True)
class Dataset:
    """A deterministic synthetic data set; iterate it for ``(table, row)`` pairs (rows are tuples of
    ``str | None`` in the column order of :data:`COLUMNS`). Iterating again yields the same rows."""

    persons: int
    seed: int = 42
    start: datetime = DEFAULT_START
    days: int = 90

    def __iter__(self) -> Iterator[tuple[str, tuple[str | None, ...]]]:
        return _Generator(self).rows()

    def tables(self) -> dict[str, list[tuple[str | None, ...]]]:
        """All rows in memory, by table (for small data sets and tests)."""
        out: dict[str, list[tuple[str | None, ...]]] = {t: [] for t in TABLES}
        for table, row in self:
            out[table].append(row)
        return out


def generate(persons: int, seed: int = 42, start: datetime = DEFAULT_START, days: int = 90) -> Dataset:
    """Describe a synthetic data set of ``persons`` true persons over ``days`` days from ``start`` (naive
    UTC). Nothing is generated until the data set is iterated or written (:func:`write_csv`)."""
    if isinstance(persons, bool) or not isinstance(persons, int) or persons < 1:
        raise ValueError(f"persons must be a positive integer, got {persons!r}")
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ValueError(f"days must be a positive integer, got {days!r}")
    if not isinstance(start, datetime):
        raise TypeError(f"start must be a datetime, got {start!r}")
    if start.tzinfo is not None:
        start = start.astimezone(timezone.utc).replace(tzinfo=None)
    return Dataset(persons=persons, seed=int(seed), start=start, days=days)


# ================================================================= generation


class _Person:
    __slots__ = ("email", "email_variants", "first_ms", "identified", "label", "name", "signup_ms", "uids",
                 "upgrade_ms")

    def __init__(self, label: str, identified: bool, email: str, name: str) -> None:
        self.label = label
        self.identified = identified
        self.email = email
        self.email_variants: tuple[str, ...] = ()
        self.name = name
        self.uids: list[tuple[int, str]] = []  # (valid from ms, user id), ascending
        self.signup_ms: int | None = None
        self.upgrade_ms: int | None = None
        self.first_ms = 0

    def user_at(self, t: int) -> str:
        uids = self.uids
        if len(uids) == 1:
            return uids[0][1]
        current = uids[0][1]
        for since, uid in uids:
            if since <= t:
                current = uid
        return current


class _Device:
    __slots__ = ("owner", "sessions", "ua")

    def __init__(self, ua: str, owner: _Person | None) -> None:
        self.ua = ua
        self.owner = owner  # None: shared
        # sessions: [planned_ms, person, kind]; kind 0 = ordinary, 1 = sign-up, 2 = planned login (shared)
        self.sessions: list[list[Any]] = []


_SIGNUP, _LOGIN = 1, 2


class _Generator:
    def __init__(self, ds: Dataset) -> None:
        self.ds = ds
        self.rng = random.Random(ds.seed)
        epoch = datetime(1970, 1, 1)
        self.t0 = (ds.start - epoch) // timedelta(milliseconds=1)
        self.t_end = self.t0 + ds.days * 86_400_000
        self.n_persons = 0
        self._minute_cache: dict[int, str] = {}
        self.msgs: list[list[Any]] = []

    # ------------------------------------------------------------- primitives
    def uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"

    def ts(self, ms: int) -> str:
        """``'YYYY-MM-DD HH:MM:SS.mmm'``: a cached minute prefix plus one of 60,000 ``SS.mmm`` suffixes."""
        minute, rem = divmod(ms, 60_000)
        prefix = self._minute_cache.get(minute)
        if prefix is None:
            prefix = (datetime(1970, 1, 1) + timedelta(minutes=minute)).strftime("%Y-%m-%d %H:%M:")
            self._minute_cache[minute] = prefix
        return prefix + _SECONDS[rem]

    def emit(self, table: str, anon: str | None, user: str | None, a: str | None, b: str | None,
             c: str | None, t: int, person: _Person, ua: str | None, client: bool = True) -> None:
        rng = self.rng
        r = rng.random()
        if client:
            if r < P_JUNK_ANON:
                anon = JUNK_IDS[int(rng.random() * 6)]
            elif r < P_JUNK_ANON + (P_JUNK_USER if user is not None else P_JUNK_USER_ON_ANON):
                user = JUNK_IDS[int(rng.random() * 6)]
            r = rng.random()
            if r < 0.95:
                delay = 50 + int(-1500.0 * math.log(1.0 - r / 0.95))
            elif r < 0.98:
                delay = 60_000 + int((r - 0.95) / 0.03 * 1_740_000)
            else:
                delay = 3_600_000 + int((r - 0.98) / 0.02 * 39_600_000)
        else:
            delay = 20 + int(r * 480)
        self.msgs.append([table, self.uuid(), anon, user, a, b, c, t, t + delay, person, ua])

    def gap(self) -> int:
        """Time to the next event of a session: 2 s – 10 min, mostly under a minute."""
        return min(600_000, 2_000 + int(self.rng.expovariate(1 / 35_000)))

    # ------------------------------------------------------------- persons and plans
    def new_person(self, identified: bool, email: str | None = None) -> _Person:
        rng = self.rng
        self.n_persons += 1
        n = self.n_persons
        first, last = _FIRST[int(rng.random() * len(_FIRST))], _LAST[int(rng.random() * len(_LAST))]
        domain = _DOMAINS[int(rng.random() * len(_DOMAINS))]
        if email is None:
            email = f"{first.lower()}.{last.lower()}{n}@{domain}"
        p = _Person(f"person_{n:06d}", identified, email, f"{first} {last}")
        if identified and rng.random() < P_EMAIL_VARIANT:
            local, _, dom = email.partition("@")
            upper = ".".join(s.capitalize() for s in local.split(".")) + "@" + dom.capitalize()
            p.email_variants = (upper, f"  {email} ", upper.upper())
        span = self.t_end - self.t0
        p.first_ms = self.t0 + int(rng.random() * 0.85 * span)
        return p

    def n_sessions(self) -> int:
        mu, sigma = SESSIONS_LOGNORMAL
        return max(1, min(150, int(self.rng.lognormvariate(mu, sigma))))

    def session_times(self, p: _Person, n: int) -> list[int]:
        rng = self.rng
        lo, hi = p.first_ms, self.t_end - 3_600_000
        if hi <= lo:
            lo = hi - 1
        times = [lo + int(rng.random() * (hi - lo)) for _ in range(n)]
        times.sort()
        return times

    def personal_devices(self, p: _Person, n_devices: int, n_sessions: int) -> list[_Device]:
        rng = self.rng
        n_devices = max(0, min(n_devices, n_sessions))
        devices = [_Device((_UA_DESKTOP if rng.random() < 0.55 else _UA_MOBILE)[int(rng.random() * 4)], p)
                   for _ in range(n_devices)]
        if not devices:
            return devices
        weights = SESSION_DEVICE_WEIGHTS[:n_devices]
        cum = [sum(weights[: i + 1]) / sum(weights) for i in range(n_devices)]
        times = self.session_times(p, n_sessions)
        # the first session of each device is guaranteed, the rest are drawn by weight
        order = list(range(n_devices)) + [self._pick(cum) for _ in range(n_sessions - n_devices)]
        rng.shuffle(order)
        for t, d in zip(times, order, strict=True):
            devices[d].sessions.append([t, p, 0])
        return devices

    def _pick(self, cum: list[float]) -> int:
        r = self.rng.random()
        for i, c in enumerate(cum):
            if r < c:
                return i
        return len(cum) - 1

    def device_count(self) -> int:
        return 1 + self._pick(_DEVICE_COUNT_CUM)

    def plan_identity(self, p: _Person, sessions: list[list[Any]], signup: list[Any] | None = None) -> None:
        """Pick the sign-up session (early-biased) unless given; then renames and the plan upgrade."""
        rng = self.rng
        if not p.identified or not sessions:
            p.identified = False
            return
        if signup is None:
            sessions.sort(key=lambda s: s[0])
            signup = sessions[int(len(sessions) * rng.random() ** 2)]
        signup[2] = _SIGNUP
        p.signup_ms = signup[0]
        p.uids = [(signup[0], f"usr_{rng.getrandbits(48):012x}")]
        if rng.random() < P_RENAME:
            t = p.signup_ms + int(rng.random() * (self.t_end - p.signup_ms))
            p.uids.append((t, f"usr_{rng.getrandbits(48):012x}"))
            if rng.random() < P_SECOND_RENAME:
                t = t + int(rng.random() * (self.t_end - t))
                p.uids.append((t, f"usr_{rng.getrandbits(48):012x}"))
        if rng.random() < P_UPGRADE:
            p.upgrade_ms = p.signup_ms + int(rng.random() * (self.t_end - p.signup_ms))

    def identify_email(self, p: _Person) -> str:
        if p.email_variants and self.rng.random() < 0.5:
            return p.email_variants[int(self.rng.random() * len(p.email_variants))]
        return p.email

    def plan_at(self, p: _Person, t: int) -> str:
        return "pro" if p.upgrade_ms is not None and t >= p.upgrade_ms else "free"

    # ------------------------------------------------------------- sessions
    def session(self, p: _Person, anon: str, ua: str, start: int, logged_in: bool, login: str | None,
                shared: bool) -> tuple[int, bool]:
        """Emit one session; returns (end ms, logged in at the end)."""
        rng = self.rng
        emit = self.emit
        t = start
        if logged_in and rng.random() < P_REIDENTIFY:
            emit("identifies", anon, p.user_at(t), self.identify_email(p), p.name, self.plan_at(p, t), t, p, None)
            t += 300 + int(rng.random() * 2000)
        n = 1 + int(rng.expovariate(1 / EVENTS_PER_SESSION_MEAN))
        login_pos = int(rng.random() * n) if login else -1  # the login comes before event login_pos
        for i in range(n):
            if i == login_pos:
                name, path = ("Sign Up", "/signup") if login == "Signed Up" else ("Log In", "/login")
                emit("pages", anon, None, name, path, None, t, p, ua)
                t += self.gap()
                user = p.user_at(t)
                emit("identifies", anon, user, self.identify_email(p), p.name, self.plan_at(p, t), t, p, None)
                t += 200 + int(rng.random() * 1500)
                emit("tracks", anon, user, login, None, None, t, p, ua)
                t += self.gap()
                logged_in = True
            user = p.user_at(t) if logged_in else None
            if rng.random() < P_PAGE:
                name, path = _PAGES[int(rng.random() * len(_PAGES))]
                emit("pages", anon, user, name, path, None, t, p, ua)
            else:
                emit("tracks", anon, user, _EVENTS[int(rng.random() * len(_EVENTS))], None, None, t, p, ua)
            t += self.gap()
        if logged_in and rng.random() < P_SERVER_TRACK:
            emit("tracks", None, p.user_at(t), "Order Completed", None, None, t, p, None, client=False)
        if logged_in and shared:
            emit("tracks", anon, p.user_at(t), "Signed Out", None, None, t, p, ua)  # no reset(): same anon
            logged_in = False
        return t, logged_in

    def run_personal(self, dev: _Device) -> None:
        rng = self.rng
        p = dev.owner
        assert p is not None
        dev.sessions.sort(key=lambda s: s[0])
        anon = self.uuid()
        logged_in = False
        will_login = any(s[2] == _SIGNUP for s in dev.sessions) or rng.random() < P_OTHER_DEVICE_LOGIN
        prev_end = -(10**15)
        for i, (planned, _, kind) in enumerate(dev.sessions):
            start = max(planned, prev_end + MIN_SESSION_GAP_MS + int(rng.random() * 600_000))
            if i and rng.random() < P_COOKIE_CLEAR:
                anon = self.uuid()
                logged_in = False
                will_login = p.identified and rng.random() < P_RELOGIN
            login = None
            if p.identified and not logged_in:
                if kind == _SIGNUP:
                    login = "Signed Up"
                elif (will_login and p.signup_ms is not None and planned > p.signup_ms
                      and rng.random() < P_LOGIN_PER_SESSION):
                    login = "Signed In"
            prev_end, logged_in = self.session(p, anon, dev.ua, start, logged_in, login, shared=False)
            if logged_in and rng.random() < P_LOGOUT_RESET:
                self.emit("tracks", anon, p.user_at(prev_end), "Signed Out", None, None, prev_end, p, dev.ua)
                anon = self.uuid()  # analytics.reset()
                logged_in = False
                will_login = rng.random() < P_RELOGIN

    def run_shared(self, dev: _Device) -> None:
        rng = self.rng
        dev.sessions.sort(key=lambda s: s[0])
        anon = self.uuid()
        prev_end = -(10**15)
        for planned, p, kind in dev.sessions:
            start = max(planned, prev_end + MIN_SESSION_GAP_MS + int(rng.random() * 1_800_000))
            login = "Signed Up" if kind == _SIGNUP else ("Signed In" if kind == _LOGIN else None)
            prev_end, _ = self.session(p, anon, dev.ua, start, False, login, shared=True)

    def extras(self, p: _Person) -> None:
        """Renames (aliases), plan upgrade (server-side), e-mail tool subscriber."""
        rng = self.rng
        for (_, prev), (t, new) in zip(p.uids, p.uids[1:], strict=False):
            self.msgs.append(["aliases", self.uuid(), prev, new, None, None, None, t,
                              t + 20 + int(rng.random() * 480), p, None])
        if p.upgrade_ms is not None:
            t = p.upgrade_ms
            user = p.user_at(t)
            self.emit("identifies", None, user, self.identify_email(p), p.name, "pro", t, p, None, client=False)
            self.emit("tracks", None, user, "Plan Upgraded", None, None, t + 5, p, None, client=False)
        if rng.random() < P_SUBSCRIBER:
            sub = f"sub_{rng.getrandbits(64):016x}"
            lo = p.first_ms
            span = max(1, self.t_end - lo)
            for _ in range(1 + (rng.random() < 0.4)):
                t = lo + int(rng.random() * span)
                name = p.name if rng.random() < 0.5 else None
                self.emit("identifies", sub, None, self.identify_email(p), name, None, t, p, None, client=False)
            for _ in range(int(rng.random() * 5)):
                t = lo + int(rng.random() * span)
                event = _EMAIL_EVENTS[int(rng.random() * 3)]
                self.emit("tracks", sub, None, event, None, None, t, p, None, client=False)

    # ------------------------------------------------------------- units
    def unit_single(self, identified: bool, email: str | None = None) -> _Person:
        p = self.new_person(identified, email)
        devices = self.personal_devices(p, self.device_count(), self.n_sessions())
        self.plan_identity(p, [s for d in devices for s in d.sessions])
        for d in devices:
            self.run_personal(d)
        self.extras(p)
        return p

    def unit_email_pair(self) -> None:
        rng = self.rng
        last = _LAST[int(rng.random() * len(_LAST))].lower()
        email = f"{last}.family{self.n_persons + 1}@{_DOMAINS[int(rng.random() * len(_DOMAINS))]}"
        self.unit_single(True, email)
        self.unit_single(True, email)

    def unit_shared(self, members: int, kiosk: bool) -> None:
        rng = self.rng
        shared = _Device(_UA_DESKTOP[int(rng.random() * len(_UA_DESKTOP))], None)
        persons: list[tuple[_Person, list[_Device], list[list[Any]]]] = []
        for _ in range(members):
            p = self.new_person(True)
            if kiosk:
                n_dev, n_shared = self.device_count(), 1 + int(rng.random() * 3)
            else:
                n_dev, n_shared = self._pick([0.3, 0.8, 1.0]), 2 + int(rng.random() * 7)
            n_personal = self.n_sessions() if n_dev else 0
            devices = self.personal_devices(p, n_dev, n_personal)
            mine = [[t, p, 0] for t in self.session_times(p, n_shared)]
            shared.sessions.extend(mine)
            persons.append((p, devices, mine))
        p_login = P_KIOSK_LOGIN if kiosk else P_HOUSEHOLD_LOGIN
        for p, devices, mine in persons:
            everything = sorted([s for d in devices for s in d.sessions] + mine, key=lambda s: s[0])
            signup = everything[int(len(everything) * rng.random() ** 2)]
            eligible = [s for s in mine if s[0] > signup[0]]
            flagged = [s for s in eligible if rng.random() < p_login]
            if not flagged and not any(s is signup for s in mine):
                if eligible:
                    flagged = [eligible[-1]]
                else:
                    signup = mine[0]  # signs up on the shared computer
            for s in flagged:
                s[2] = _LOGIN
            self.plan_identity(p, everything, signup)
        self.run_shared(shared)
        for p, devices, _ in persons:
            for d in devices:
                self.run_personal(d)
            self.extras(p)

    # ------------------------------------------------------------- driver
    def units(self) -> Iterator[list[str]]:
        """Generate unit after unit; yields each unit's evidence labels (messages in ``self.msgs``)."""
        rng = self.rng
        total = self.ds.persons
        n_kiosks = 0 if total < KIOSK_MIN_PERSONS else max(1, total // KIOSK_EVERY_PERSONS)
        kiosk_at = [int((k + 0.5) * total / n_kiosks) for k in range(n_kiosks)]
        while self.n_persons < total:
            left = total - self.n_persons
            self.msgs = []
            if kiosk_at and self.n_persons >= kiosk_at[0]:
                kiosk_at.pop(0)
                users = KIOSK_USERS[0] + int(rng.random() * (KIOSK_USERS[1] - KIOSK_USERS[0] + 1))
                self.unit_shared(min(left, users), kiosk=True)
            else:
                r = rng.random()
                if r < P_HOUSEHOLD_UNIT and left >= 2:
                    self.unit_shared(min(left, 2 + (rng.random() < 0.35)), kiosk=False)
                elif r < P_HOUSEHOLD_UNIT + P_EMAIL_PAIR_UNIT and left >= 2:
                    self.unit_email_pair()
                else:
                    self.unit_single(rng.random() < P_IDENTIFIED)
            yield _evidence(self.msgs)

    def rows(self) -> Iterator[tuple[str, tuple[str | None, ...]]]:
        ts = self.ts
        for labels in self.units():
            for m, label in zip(self.msgs, labels, strict=True):
                table = m[_T]
                if table == "tracks":
                    row = (m[_ID], m[_ANON], m[_USER], m[_A], ts(m[_TS]), ts(m[_RECV]), m[_UA])
                elif table == "pages":
                    row = (m[_ID], m[_ANON], m[_USER], m[_A], m[_B], ts(m[_TS]), ts(m[_RECV]), m[_UA])
                elif table == "identifies":
                    row = (m[_ID], m[_ANON], m[_USER], m[_A], m[_B], m[_C], ts(m[_TS]), ts(m[_RECV]))
                else:
                    row = (m[_ID], m[_ANON], m[_USER], ts(m[_TS]), ts(m[_RECV]))
                yield table, row
                yield "truth", (table, m[_ID], m[_PERSON].label, label)

    def csv_lines(self) -> Iterator[tuple[str, str, str]]:
        """Same content as :meth:`rows`, already as CSV lines ``(table, line, truth line)``: only the
        fields that can need quoting go through :func:`_csv_field` (ids are hex, names have no commas,
        user agents are quoted once)."""
        ts = self.ts
        q = _csv_field
        ua_cache: dict[str | None, str] = {}
        for labels in self.units():
            for m, label in zip(self.msgs, labels, strict=True):
                table = m[_T]
                mid = m[_ID]
                if table == "tracks" or table == "pages":
                    ua = ua_cache.get(m[_UA])
                    if ua is None:
                        ua = ua_cache[m[_UA]] = q(m[_UA])
                    if table == "tracks":
                        line = ",".join((mid, q(m[_ANON]), q(m[_USER]), m[_A], ts(m[_TS]), ts(m[_RECV]), ua))
                    else:
                        line = ",".join((mid, q(m[_ANON]), q(m[_USER]), m[_A], m[_B], ts(m[_TS]),
                                         ts(m[_RECV]), ua))
                elif table == "identifies":
                    line = ",".join((mid, q(m[_ANON]), q(m[_USER]), q(m[_A]), q(m[_B]), q(m[_C]),
                                     ts(m[_TS]), ts(m[_RECV])))
                else:
                    line = ",".join((mid, m[_ANON], m[_USER], ts(m[_TS]), ts(m[_RECV])))
                yield table, line, f"{table},{mid},{m[_PERSON].label},{label}"


# ================================================================= evidence


def _clean(value: str | None) -> str | None:
    return None if value is None or value in _JUNK else value


def _evidence(msgs: list[list[Any]]) -> list[str]:
    """The evidence group of every message of one unit (see the module docstring)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb

    # which anonymous ids and e-mails are used by several true persons
    anon_persons: dict[str, set[int]] = {}
    email_persons: dict[str, set[int]] = {}
    for m in msgs:
        if m[_T] == "aliases":
            continue
        anon = _clean(m[_ANON])
        if anon is not None:
            anon_persons.setdefault(anon, set()).add(id(m[_PERSON]))
        if m[_T] == "identifies" and m[_A] is not None:
            email_persons.setdefault(m[_A].strip().lower(), set()).add(id(m[_PERSON]))
    shared_anons = {a for a, ps in anon_persons.items() if len(ps) > 1}
    shared_emails = {e for e, ps in email_persons.items() if len(ps) > 1}

    # sessions of shared anonymous ids: node name per message index, None for mixed sessions
    session_node: dict[int, str | None] = {}
    for anon in sorted(shared_anons):
        idx = sorted((i for i, m in enumerate(msgs) if m[_T] != "aliases" and m[_ANON] == anon),
                     key=lambda i: (msgs[i][_TS], i))
        sessions: list[list[int]] = []
        last = None
        for i in idx:
            if last is None or msgs[i][_TS] - last > SESSION_GAP_MS:
                sessions.append([])
            sessions[-1].append(i)
            last = msgs[i][_TS]
        for n, members in enumerate(sessions, 1):
            persons = {id(msgs[i][_PERSON]) for i in members}
            node = f"s:{anon}:{n}" if len(persons) == 1 else None
            for i in members:
                session_node[i] = node

    msg_nodes: list[list[str]] = []
    for i, m in enumerate(msgs):
        nodes: list[str] = []
        if m[_T] == "aliases":
            nodes = ["u:" + m[_ANON], "u:" + m[_USER]]
        else:
            user = _clean(m[_USER])
            if user is not None:
                nodes.append("u:" + user)
            anon = _clean(m[_ANON])
            if anon is not None:
                if anon in shared_anons:
                    node = session_node[i]
                    if node is not None:
                        nodes.append(node)
                else:
                    nodes.append("a:" + anon)
            if m[_T] == "identifies" and m[_A] is not None:
                email = m[_A].strip().lower()
                if email not in shared_emails:
                    nodes.append("e:" + email)
        for node in nodes:
            if node not in parent:
                parent[node] = node
        for node in nodes[1:]:
            union(nodes[0], node)
        msg_nodes.append(nodes)

    # label components; check honesty
    comp_person: dict[str, int] = {}
    comp_nodes: dict[str, list[str]] = {}
    for node in parent:
        comp_nodes.setdefault(find(node), []).append(node)
    for m, nodes in zip(msgs, msg_nodes, strict=True):
        if nodes:
            root = find(nodes[0])
            pid = id(m[_PERSON])
            if comp_person.setdefault(root, pid) != pid:
                raise AssertionError(f"evidence component {root} holds two true persons")
    user_comps_of: dict[int, int] = {}
    for root, nodes in comp_nodes.items():
        if any(n.startswith("u:") for n in nodes) and root in comp_person:
            user_comps_of[comp_person[root]] = user_comps_of.get(comp_person[root], 0) + 1
    label_of: dict[str, str] = {}
    person_label = {id(m[_PERSON]): m[_PERSON].label for m in msgs}
    for root, nodes in comp_nodes.items():
        users = sorted(n for n in nodes if n.startswith("u:"))
        anons = sorted(n for n in nodes if n.startswith("a:"))
        sessions_ = sorted(n for n in nodes if n.startswith("s:"))
        if users:
            pid = comp_person.get(root)
            if pid is not None and user_comps_of.get(pid) == 1:
                label_of[root] = person_label[pid]
            else:
                label_of[root] = "usr:" + users[0][2:]
        elif anons:
            label_of[root] = "dev:" + anons[0][2:]
        elif sessions_:
            label_of[root] = "sess:" + sessions_[0][2:]
        else:
            label_of[root] = "email:" + min(nodes)[2:]
    return [label_of[find(nodes[0])] if nodes else f"msg:{m[_T]}:{m[_ID]}"
            for m, nodes in zip(msgs, msg_nodes, strict=True)]


# ================================================================= CSV and loading

_NEEDS_QUOTES = re.compile(r'[,"\r\n]|^\s|\s$').search


def _csv_field(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        value = value.isoformat(sep=" ") if isinstance(value, datetime) else str(value)
    if value == "":
        return '""'
    if _NEEDS_QUOTES(value):
        return '"' + value.replace('"', '""') + '"'
    return value


def write_csv(data: Dataset | Iterable[tuple[str, tuple[Any, ...]]], out_dir: str | os.PathLike[str]
              ) -> dict[str, int]:
    """Write one ``<table>.csv`` per table (header row; NULL = unquoted empty field, ``''`` = ``""``) from a
    :class:`Dataset` or any iterable of ``(table, row)`` pairs. Returns the row count per table."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = {t: 0 for t in TABLES}
    buffers: dict[str, list[str]] = {t: [] for t in TABLES}
    with contextlib.ExitStack() as stack:
        files = {t: stack.enter_context(open(out / f"{t}.csv", "w", encoding="utf-8", newline=""))
                 for t in TABLES}
        for t in TABLES:
            files[t].write(",".join(COLUMNS[t]) + "\n")

        def flush(table: str) -> None:
            buf = buffers[table]
            files[table].write("\n".join(buf) + "\n")
            counts[table] += len(buf)
            buf.clear()

        truth = buffers["truth"]
        if isinstance(data, Dataset):
            for table, line, truth_line in _Generator(data).csv_lines():
                buf = buffers[table]
                buf.append(line)
                truth.append(truth_line)
                if len(truth) >= 50_000:
                    for t in TABLES:
                        if buffers[t]:
                            flush(t)
        else:
            fmt = _csv_field
            for table, row in data:
                buf = buffers.get(table)
                if buf is None:
                    raise ValueError(f"unknown table {table!r}: expected one of {', '.join(TABLES)}")
                buf.append(",".join([fmt(v) for v in row]))
                if len(buf) >= 20_000:
                    flush(table)
        for t in TABLES:
            if buffers[t]:
                flush(t)
    return counts


def _check_ident(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name or ""):
        raise ValueError(f"invalid schema name {name!r}: use letters, digits and underscores")
    return '"' + name + '"'


def _csv_path(csv_dir: str | os.PathLike[str], table: str) -> Path:
    path = Path(csv_dir) / f"{table}.csv"
    if not path.is_file():
        raise ValueError(f"missing CSV file {path}")
    return path


def _ddl(schema_q: str, table: str) -> str:
    cols = ", ".join(f'"{c}" {"timestamp" if c in TIMESTAMP_COLUMNS else "text"}' for c in COLUMNS[table])
    return f'create table {schema_q}."{table}" ({cols})'


def load_duckdb(db_path: str | os.PathLike[str], schema: str, csv_dir: str | os.PathLike[str]
                ) -> dict[str, int]:
    """(Re)create the five tables in ``schema`` of the DuckDB file and load the CSV files; row counts."""
    import duckdb

    schema_q = _check_ident(schema)
    paths = {t: _csv_path(csv_dir, t) for t in TABLES}
    counts = {}
    con = duckdb.connect(str(db_path))
    try:
        con.execute("set enable_progress_bar = false")
        con.execute(f"create schema if not exists {schema_q}")
        for table in TABLES:
            types = ", ".join(f"'{c}': '{'TIMESTAMP' if c in TIMESTAMP_COLUMNS else 'VARCHAR'}'"
                              for c in COLUMNS[table])
            path = str(paths[table]).replace("'", "''")
            con.execute(f'drop table if exists {schema_q}."{table}"')
            con.execute(_ddl(schema_q, table))
            con.execute(
                f'insert into {schema_q}."{table}" select * from read_csv(\'{path}\', header = true, '
                f"delim = ',', quote = '\"', escape = '\"', allow_quoted_nulls = false, "
                f"columns = {{{types}}})"
            )
            counts[table] = con.execute(f'select count(*) from {schema_q}."{table}"').fetchone()[0]
    finally:
        con.close()
    return counts


def load_postgres(dsn_kwargs: dict[str, Any], schema: str, csv_dir: str | os.PathLike[str]) -> dict[str, int]:
    """(Re)create the five tables in ``schema`` (``drop ... cascade``: views built on them go too) and
    ``COPY`` the CSV files in, in one transaction; ``dsn_kwargs`` go to ``psycopg2.connect``. Row counts."""
    import psycopg2

    schema_q = _check_ident(schema)
    paths = {t: _csv_path(csv_dir, t) for t in TABLES}
    counts = {}
    con = psycopg2.connect(**dsn_kwargs)
    try:
        with con, con.cursor() as cur:
            cur.execute(f"create schema if not exists {schema_q}")
            for table in TABLES:
                cur.execute(f'drop table if exists {schema_q}."{table}" cascade')
                cur.execute(_ddl(schema_q, table))
                cols = ", ".join(f'"{c}"' for c in COLUMNS[table])
                with open(paths[table], encoding="utf-8") as fh:
                    cur.copy_expert(f'copy {schema_q}."{table}" ({cols}) from stdin with (format csv, header true)',
                                    fh)
                counts[table] = cur.rowcount
    finally:
        con.close()
    return counts
