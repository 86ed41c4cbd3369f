"""Sending what the watcher noticed: route, rate-limit, scrub, store in the outbox, deliver through Apprise.

For each :class:`~checks.core.alerts.Transition`: the words come from :mod:`checks.presentation.notify_text`,
then pass the one scrubbing point (:class:`checks.core.redact.Scrubber`, which also knows every channel URL read
from the environment) *before* they are sent or stored; the channels from ``[notify]``'s routes; a channel that
was sent ``rate_limit`` messages in the last ``rate_window_s`` gets the message stored as ``suppressed``. A
channel's URL is read from its ``url_env`` at send time and never written anywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from checks.core.alerts import Transition
from checks.core.clock import Clock
from checks.core.manifest import Manifest
from checks.core.redact import Scrubber
from checks.presentation.notify_text import compose
from checks.storage.notifications import Notification, WatchBook

__all__ = ["Notifier"]

log = logging.getLogger("readiness.watch")


class Notifier:
    def __init__(
        self,
        manifest: Manifest,
        book: WatchBook,
        *,
        environ: Mapping[str, str],
        clock: Clock,
        scrubber: Scrubber | None = None,
    ) -> None:
        self.manifest, self.book, self.environ, self.clock = manifest, book, environ, clock
        self.scrubber = scrubber or Scrubber()
        for channel in manifest.notify.channels.values():
            self.scrubber.add(environ.get(channel.url_env) or None)
        for var in manifest.env:  # the manifest's secrets, even before a sweep has read them
            if var.is_secret:
                self.scrubber.add(environ.get(var.name) or None)

    def __repr__(self) -> str:
        return f"Notifier(channels={sorted(self.manifest.notify.channels)})"

    def warm(self) -> None:
        """Load Apprise and its plugins now (about a second), not when the first message is due."""
        import apprise

        apprise.Apprise().add("json://127.0.0.1/")  # parsing a URL loads the plugins; nothing is sent

    def prepare(self, changes: list[Transition], *, run_id: str | None, holder: str | None) -> list[Notification]:
        """The messages for ``changes``, one per routed channel, scrubbed: ``pending``, or ``unrouted`` (no route
        matched) or ``suppressed`` (the channel's rate limit), for :meth:`WatchBook.enqueue`."""
        spec = self.manifest.notify
        now = self.clock.now()
        window = now - timedelta(seconds=spec.rate_window_s)
        budget = {c: spec.rate_limit - self.book.attempted_since(c, window) for c in spec.channels}
        notes: list[Notification] = []
        for change in changes:
            title, body = compose(change, self.manifest, run_id=run_id)
            title, body = self.scrubber.scrub(title), self.scrubber.scrub(body)
            a = change.alert
            base: dict[str, Any] = {
                "at": now,
                "event": a.event,
                "key": a.key,
                "transition": change.kind,
                "title": title,
                "body": body,
                "area": a.area,
                "contact": a.contact,
                "run_id": run_id,
                "holder": holder,
            }
            channels = spec.channels_for(a.event, a.area, a.contact)
            if not channels:
                notes.append(Notification(channel=None, status="unrouted", **base))
            for channel in channels:
                budget[channel] -= 1
                if budget[channel] < 0:
                    limit = f"rate limit: {spec.rate_limit} per {spec.rate_window_s:g} s"
                    notes.append(Notification(channel=channel, status="suppressed", error=limit, **base))
                else:
                    notes.append(Notification(channel=channel, status="pending", **base))
        return notes

    def deliver_pending(self) -> int:
        """Send every message still ``pending`` or ``sending`` (a dead leader's too), marking each as it goes;
        how many were sent."""
        sent = 0
        for note in self.book.undelivered():
            assert note.id is not None and note.channel is not None
            self.book.mark(note.id, "sending")
            status, error = self._deliver(note.channel, note.title, note.body)
            self.book.mark(note.id, status, error)
            sent += status == "sent"
        return sent

    def _deliver(self, channel: str, title: str, body: str) -> tuple[str, str | None]:
        spec = self.manifest.notify
        if channel not in spec.channels:
            return "failed", f"channel {channel!r} is no longer in the manifest's [notify]"
        env = spec.channels[channel].url_env
        url = (self.environ.get(env) or "").strip()
        if not url:
            return "failed", f"{env} is not set: set it to the channel's Apprise URL"
        import apprise  # only when a message goes out

        sender = apprise.Apprise()
        if not sender.add(url):
            return "failed", f"{env} is not an Apprise URL it can use (value not shown)"
        try:
            ok = sender.notify(title=title, body=body)
        except Exception as exc:  # a plugin's bug must not stop the watcher
            return "failed", self.scrubber.clip(f"{type(exc).__name__}: {exc}", 300)
        return ("sent", None) if bool(ok) else ("failed", f"the channel refused or could not be reached ({env})")
