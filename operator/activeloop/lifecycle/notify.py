"""Telling people what happened: a round's proposals are ready, a round failed, a plate's controls
drifted. Each event goes to the campaign's webhook (JSON with a ``text`` field, which Slack,
Mattermost and Teams' incoming webhooks accept) and/or its e-mail addresses (``spec.notify``).

**At most one message per event**: an event has a stable id (``round-003-proposals``), and its
record (``notifications/<id>.json`` in the campaign's store) is written *before* anything is sent.
A second pass, a restart, a second replica of the operator or a second command sees the record and
sends nothing; a send that fails is written into the record and not tried again (a missed message
is better than a lab receiving the same one twice, and the page shows everything anyway).

Where the messages may go is the installation's choice, not the campaign's: the SMTP server and
the hosts a webhook may reach come from the environment (the chart's ``notifications`` values), so
a Campaign cannot make the operator post to an address inside the cluster.
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

from activeloop.api.campaign import NotifySpec
from activeloop.api.resources import LoopRoundStatus, RoundPhase
from activeloop.store import keys
from activeloop.store.base import ArtifactStore

TIMEOUT = 10.0
"""Seconds a webhook or SMTP server has to answer."""


@dataclass(frozen=True)
class Event:
    """Something to tell the lab: its kind (a ``spec.notify.events`` name), a stable id, and words."""

    kind: str
    id: str
    campaign: str
    text: str
    round: int | None = None
    plate: str | None = None


@dataclass(frozen=True)
class Settings:
    """Where this installation may send messages (from the environment: :func:`from_env`)."""

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_from: str = "activeloop@localhost"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    webhook_hosts: tuple[str, ...] | None = None
    """Hosts a webhook may reach (``None``: any; a workstation's default)."""
    page_url: str | None = None
    """The web interface's address, for links in messages."""


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``ACTIVELOOP_SMTP_*``, ``ACTIVELOOP_WEBHOOK_HOSTS`` and ``ACTIVELOOP_UI_URL``
    (the SMTP password from the file ``ACTIVELOOP_SMTP_PASSWORD_FILE``, never an argument)."""
    env = os.environ if env is None else env
    password = None
    if env.get("ACTIVELOOP_SMTP_PASSWORD_FILE"):
        password = Path(env["ACTIVELOOP_SMTP_PASSWORD_FILE"]).read_text().strip()
    hosts = env.get("ACTIVELOOP_WEBHOOK_HOSTS")
    return Settings(
        smtp_host=env.get("ACTIVELOOP_SMTP_HOST") or None, smtp_port=int(env.get("ACTIVELOOP_SMTP_PORT") or 587),
        smtp_from=env.get("ACTIVELOOP_SMTP_FROM") or "activeloop@localhost",
        smtp_user=env.get("ACTIVELOOP_SMTP_USER") or None, smtp_password=password,
        smtp_starttls=(env.get("ACTIVELOOP_SMTP_STARTTLS") or "true").lower() in ("1", "true", "yes"),
        webhook_hosts=None if hosts is None else tuple(h.strip().lower() for h in hosts.split(",") if h.strip()),
        page_url=(env.get("ACTIVELOOP_UI_URL") or "").rstrip("/") or None)


# ------------------------------------------------------------------------------------ events


def round_events(campaign: str, rounds: Mapping[int, LoopRoundStatus]) -> list[Event]:
    """The events rounds' statuses call for: proposals ready, a round failed (once per attempt)."""
    out = []
    for n, st in sorted(rounds.items()):
        if st.proposals and st.phase in (RoundPhase.WAITING_FOR_ASSAYS, RoundPhase.COMPLETED):
            out.append(Event("proposalsReady", f"round-{n:03d}-proposals", campaign,
                             f"{campaign}: round {n}'s {len(st.proposals)} proposals are ready to assay", round=n))
        if st.phase == RoundPhase.FAILED:
            why = next((c.message for c in st.conditions if c.type == "Failed"), "") or "see the campaign"
            out.append(Event("roundFailed", f"round-{n:03d}-failed-{st.retries}", campaign,
                             f"{campaign}: round {n} failed: {why}", round=n))
    return out


def drift_events(campaign: str, drift: Mapping[str, Iterable[str]]) -> list[Event]:
    """A plate whose controls are out of line (``drift``: plate -> reasons)."""
    return [Event("controlsDrift", f"plate-{plate}-drift", campaign,
                  f"{campaign}: plate {plate}'s controls are out of line: {'; '.join(reasons)}", plate=plate)
            for plate, reasons in sorted(drift.items()) if list(reasons)]


# ---------------------------------------------------------------------------------- delivery


@dataclass
class Notifier:
    """Sends events once each (see the module's docstring)."""

    settings: Settings = field(default_factory=from_env)

    def deliver(self, store: ArtifactStore, spec: NotifySpec, events: Iterable[Event]) -> list[str]:
        """Send each event the spec asks for and that was not sent before; returns the ids sent."""
        if not spec.webhook and not spec.email:
            return []
        sent = []
        for event in events:
            if event.kind not in spec.events:
                continue
            key = keys.notification(event.id)
            if store.exists(key):
                continue
            record = {"event": event.id, "kind": event.kind, "at": datetime.now(timezone.utc).isoformat(),
                      "text": event.text}
            store.put_bytes(key, json.dumps(record).encode())  # claimed first: at most once
            errors = []
            if spec.webhook:
                errors += self._post(spec.webhook, event)
            if spec.email:
                errors += self._mail(spec.email, event)
            if errors:
                store.put_bytes(key, json.dumps({**record, "errors": errors}).encode())
            else:
                sent.append(event.id)
        return sent

    def _link(self, event: Event) -> str | None:
        if not self.settings.page_url:
            return None
        page = f"{self.settings.page_url}/campaigns/{event.campaign}"
        return f"{page}/plates/{event.plate}" if event.plate else page

    def _post(self, url: str, event: Event) -> list[str]:
        host = (urlsplit(url).hostname or "").lower()
        allowed = self.settings.webhook_hosts
        if allowed is not None and host not in allowed:
            return [f"webhook host {host!r} is not one this installation posts to ({', '.join(allowed) or 'none'})"]
        link = self._link(event)
        body = {"text": event.text + (f" <{link}>" if link else ""), "event": event.kind, "id": event.id,
                "campaign": event.campaign, "round": event.round, "plate": event.plate, "url": link}
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "ActiveLoop"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                response.read(1024)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return [f"webhook: {exc}"]
        return []

    def _mail(self, to: list[str], event: Event) -> list[str]:
        s = self.settings
        if not s.smtp_host:
            return ["e-mail: no SMTP server is configured (ACTIVELOOP_SMTP_HOST)"]
        message = EmailMessage()
        message["Subject"] = f"[ActiveLoop] {event.text[:150]}"
        message["From"] = s.smtp_from
        message["To"] = ", ".join(to)
        link = self._link(event)
        message.set_content(event.text + (f"\n\n{link}\n" if link else "\n"))
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=TIMEOUT) as smtp:
                if s.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.smtp_user:
                    smtp.login(s.smtp_user, s.smtp_password or "")
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            return [f"e-mail: {exc}"]
        return []


__all__ = ["Event", "Notifier", "Settings", "drift_events", "from_env", "round_events"]
