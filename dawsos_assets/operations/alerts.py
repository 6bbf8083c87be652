"""Slack alerts for asset checks — what Dagster OSS lacks (dagster#29896: a failed WARN or non-blocking check
never fails the run, so run-failure alerts miss it).

After every run, its check evaluations are turned into messages in an outbox table (one per failing check, none
while the same check keeps failing within the cooldown, one recovery message when it passes again). Delivery is
separate and retried with backoff, one message and one commit at a time: a message is claimed (its attempt counted,
its next try pushed back) and committed before it is sent, and marked delivered in its own commit after Slack
accepted it. A crash or an unreadable reply therefore costs at most one repeat of the message in flight, never the
marks of messages Slack already took. After MAX_ATTEMPTS failed tries a message is dead-lettered: kept, no longer
sent, and reported by the retry sensor. Alerting never fails a pipeline, and secrets never reach logs, metadata
or error text.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

from dawsos_assets import errors
from dawsos_assets.errors import DawsosError

ALERT_TABLES_SQL = """
CREATE SCHEMA IF NOT EXISTS dawsos_meta;
CREATE TABLE IF NOT EXISTS dawsos_meta.alert_state (
    check_key TEXT PRIMARY KEY,
    failing BOOLEAN NOT NULL,
    last_alert_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS dawsos_meta.alert_outbox (
    id BIGSERIAL PRIMARY KEY,
    check_key TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('failure', 'recovery')),
    payload JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    attempts INT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    last_error TEXT,
    delivered_at TIMESTAMPTZ
);
DO $$ BEGIN  -- outboxes created before dead-lettering existed (ADD COLUMN IF NOT EXISTS would lock every call)
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'dawsos_meta'
                   AND table_name = 'alert_outbox' AND column_name = 'dead_at') THEN
        ALTER TABLE dawsos_meta.alert_outbox ADD COLUMN dead_at TIMESTAMPTZ;
    END IF;
END $$;
"""
COOLDOWN_ENV = "DAWSOS_ALERT_COOLDOWN_MINUTES"
MAX_BACKOFF = timedelta(hours=1)
FIRST_BACKOFF = timedelta(seconds=30)
# With the backoff doubling from 30 s, about an hour of trying (7 waits: 30 s … 32 min) before a message is
# dead-lettered.
MAX_ATTEMPTS = 8
WEBHOOK_ENV = "DAWSOS_SLACK_WEBHOOK_URL"


def cooldown() -> timedelta:
    """How long a failing check stays quiet after an alert (DAWSOS_ALERT_COOLDOWN_MINUTES, default 6 hours)."""
    return timedelta(minutes=float(os.environ.get(COOLDOWN_ENV, "360")))


@dataclass(frozen=True)
class CheckEvent:
    """One asset check evaluation, as alerts need it."""

    asset: str
    check: str
    passed: bool
    severity: str
    failing_count: int | None
    sample: list
    run_id: str
    failing_by_rule: dict = field(default_factory=dict)  # rule -> rows breaking it (table checks' details)

    @property
    def key(self) -> str:
        """The check's key, `asset.check`."""
        return f"{self.asset}.{self.check}"


def _sample_rows(sample) -> list:
    """A check's failing-row sample as plain rows: a table (MetadataValue.table) gives its records' values."""
    if sample is None:
        return []
    return [record.data for record in sample.records] if hasattr(sample, "records") else list(sample)


def check_events(instance, run_id: str) -> list[CheckEvent]:
    """The asset-check evaluations of one run (any storage; no deprecated cursor API)."""
    from dagster import DagsterEventType

    events = []
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        data = record.dagster_event.asset_check_evaluation_data
        metadata = {k: getattr(v, "value", v) for k, v in (data.metadata or {}).items()}
        events.append(
            CheckEvent(
                data.asset_key.to_user_string(),
                data.check_name,
                data.passed,
                data.severity.value,
                metadata.get("failing_count"),
                _sample_rows(metadata.get("sample"))[:3],
                run_id,
                (metadata.get("details") or {}).get("failing_by_rule") or {},
            )
        )
    return events


def message(event: CheckEvent, kind: str, webserver_url: str) -> dict:
    """The Slack message for a failure or a recovery, with a link to the run."""
    link = f"{webserver_url.rstrip('/')}/runs/{event.run_id}"
    if kind == "recovery":
        text = f":white_check_mark: Recovered: `{event.asset}` check `{event.check}` passes again. <{link}|Run>"
        return {"text": text}
    icon = ":red_circle:" if event.severity == "ERROR" else ":warning:"
    lines = [
        f"{icon} {event.severity}: `{event.asset}` check `{event.check}` failed"
        + (f" — {event.failing_count:,} failing row(s)" if event.failing_count is not None else ""),
        f"<{link}|Open the run in Dagster>",
    ]
    if event.failing_by_rule:  # a row can break several rules, so these may add up to more than the rows
        lines.append(
            "By rule: " + "; ".join(f"{rule}: {rows:,} row(s)" for rule, rows in event.failing_by_rule.items())
        )
    if event.sample:
        lines.append("Sample: ```" + json.dumps(event.sample, default=str)[:600] + "```")
    return {"text": "\n".join(lines)}


def enqueue(conn: psycopg.Connection, events: list[CheckEvent], webserver_url: str, now: datetime | None = None) -> int:
    """Queue a message per failing check (respecting the cooldown) and per recovery; returns how many."""
    now = now or datetime.now(UTC)
    queued = 0
    with conn.transaction():
        conn.execute(ALERT_TABLES_SQL)
        for event in events:
            row = conn.execute(
                "SELECT failing, last_alert_at FROM dawsos_meta.alert_state WHERE check_key = %s FOR UPDATE",
                (event.key,),
            ).fetchone()
            was_failing, last_alert = (row[0], row[1]) if row else (False, None)
            kind = None
            if not event.passed and (not was_failing or last_alert is None or now - last_alert >= cooldown()):
                kind = "failure"
            elif event.passed and was_failing:
                kind = "recovery"
            if kind:
                conn.execute(
                    "INSERT INTO dawsos_meta.alert_outbox (check_key, kind, payload) VALUES (%s, %s, %s)",
                    (event.key, kind, json.dumps(message(event, kind, webserver_url))),
                )
                queued += 1
            conn.execute(
                """INSERT INTO dawsos_meta.alert_state (check_key, failing, last_alert_at) VALUES (%s, %s, %s)
                            ON CONFLICT (check_key) DO UPDATE SET failing = EXCLUDED.failing,
                                last_alert_at = COALESCE(EXCLUDED.last_alert_at,
                                                         dawsos_meta.alert_state.last_alert_at)""",
                (event.key, not event.passed, now if kind == "failure" else None),
            )
    return queued


class SlackUnavailable(Exception):
    """Slack did not accept a message; the text never contains the webhook URL or a token."""


def validate_webhook_url(url: str) -> None:
    """Refuse a malformed webhook when the definitions load and wherever Slack is used, naming the variable and never
    its value (the URL is the secret). https is required except on loopback, where the test stand-in listens.
    """
    parts = urllib.parse.urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    well_formed = (
        not any(ch.isspace() or not ch.isprintable() for ch in url)
        and bool(parts.hostname)
        and (parts.scheme == "https" or (parts.scheme == "http" and loopback))
    )
    try:
        parts.port  # noqa: B018 — the property raises on a port that is not a number
    except ValueError:
        well_formed = False
    if not well_formed:
        raise DawsosError(
            errors.SLACK_CONFIG_INVALID,
            f"{WEBHOOK_ENV} is not an https:// URL",
            f"set {WEBHOOK_ENV} to the incoming-webhook URL Slack shows (https://hooks.slack.com/services/…), "
            "or unset it",
        )


@dataclass(frozen=True)
class SlackChannel:
    """Where alerts go: an incoming webhook, or a bot token and channel."""

    webhook_url: str | None = None
    bot_token: str | None = None
    channel: str | None = None

    @property
    def configured(self) -> bool:
        """True when either way of posting is set."""
        return bool(self.webhook_url or (self.bot_token and self.channel))

    def send(self, payload: dict) -> None:
        """Any failure at all — refusal, timeout, reset, a reply that is not HTTP — is SlackUnavailable (retried)."""
        try:
            if self.webhook_url:
                self._post_to_webhook(payload)
            else:
                self._post_with_bot_token(payload)
        except SlackUnavailable:
            raise
        except Exception as exc:  # messages of urllib and slack_sdk may quote the URL or the request: class name only
            raise SlackUnavailable(f"Slack unreachable or unreadable reply ({type(exc).__name__})") from None

    def _post_to_webhook(self, payload: dict) -> None:
        request = urllib.request.Request(  # noqa: S310 — validate_webhook_url admits only https (http on loopback)
            self.webhook_url,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 — validate_webhook_url admits only https (http on loopback)
                if response.status >= 300:
                    raise SlackUnavailable(f"webhook answered HTTP {response.status}")
        except urllib.error.HTTPError as exc:
            raise SlackUnavailable(f"webhook answered HTTP {exc.code}") from None

    def _post_with_bot_token(self, payload: dict) -> None:
        from dagster_slack import SlackResource

        SlackResource(token=self.bot_token).get_client().chat_postMessage(channel=self.channel, **payload)


@dataclass(frozen=True)
class Claimed:
    """An outbox message taken for delivery, with the attempts made so far."""

    id: int
    payload: dict
    attempts: int


def _claim_next(conn: psycopg.Connection, now: datetime) -> Claimed | None:
    """Take the oldest due message and commit before sending it: its attempt is counted and its next try pushed
    back by the backoff, so a crash during the send leaves it to be retried once, later, and a concurrent deliverer
    skips it.
    """
    with conn.transaction():
        row = conn.execute(
            """
            UPDATE dawsos_meta.alert_outbox o
               SET attempts = o.attempts + 1,
                   next_attempt_at = %(now)s + LEAST(%(max_backoff)s, %(first_backoff)s * power(2, o.attempts))
             WHERE o.id = (SELECT id FROM dawsos_meta.alert_outbox
                            WHERE delivered_at IS NULL AND dead_at IS NULL AND next_attempt_at <= %(now)s
                            ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING o.id, o.payload, o.attempts""",
            {"now": now, "max_backoff": MAX_BACKOFF, "first_backoff": FIRST_BACKOFF},
        ).fetchone()
    return Claimed(*row) if row else None


def _record_failure(conn: psycopg.Connection, message: Claimed, error: str, now: datetime) -> bool:
    """Keep the error; dead-letter the message after MAX_ATTEMPTS. Returns whether it was dead-lettered."""
    dead = message.attempts >= MAX_ATTEMPTS
    with conn.transaction():
        conn.execute(
            "UPDATE dawsos_meta.alert_outbox SET last_error = %s, dead_at = %s WHERE id = %s",
            (error, now if dead else None, message.id),
        )
    return dead


def _dead_letter_abandoned(conn: psycopg.Connection, now: datetime) -> int:
    """Messages whose last allowed attempt never reported back (the deliverer died mid-send)."""
    with conn.transaction():
        return conn.execute(
            "UPDATE dawsos_meta.alert_outbox SET dead_at = %s, last_error = COALESCE(last_error, "
            "'no outcome recorded for the last attempt') WHERE delivered_at IS NULL AND dead_at IS NULL "
            "AND attempts >= %s AND next_attempt_at <= %s",
            (now, MAX_ATTEMPTS, now),
        ).rowcount


def deliver(conn: psycopg.Connection, channel: SlackChannel, now: datetime | None = None, limit: int = 50) -> dict:
    """Send due messages one by one, each in its own commits (see the module docstring). `conn` must not be inside
    a transaction: the per-message commits are what make a crash cost at most one repeat.
    """
    now = now or datetime.now(UTC)
    if not channel.configured:
        return {"delivered": 0, "failed": 0, "dead_lettered": 0, "skipped": "no Slack channel configured"}
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise RuntimeError("deliver() needs a connection with no open transaction")
    with conn.transaction():
        conn.execute(ALERT_TABLES_SQL)
    delivered = failed = 0
    dead = _dead_letter_abandoned(conn, now)
    for _ in range(limit):
        message = _claim_next(conn, now)
        if message is None:
            break
        try:
            channel.send(message.payload)
        except SlackUnavailable as exc:
            failed += 1
            dead += _record_failure(conn, message, str(exc), now)
            continue
        with conn.transaction():
            conn.execute("UPDATE dawsos_meta.alert_outbox SET delivered_at = %s WHERE id = %s", (now, message.id))
        delivered += 1
    return {"delivered": delivered, "failed": failed, "dead_lettered": dead}


def dead_letters(conn: psycopg.Connection) -> list[tuple[int, str, int, str | None]]:
    """(id, check key, attempts, last error) of every message given up on, oldest first."""
    with conn.transaction():
        conn.execute(ALERT_TABLES_SQL)
        return conn.execute(
            "SELECT id, check_key, attempts, last_error FROM dawsos_meta.alert_outbox "
            "WHERE dead_at IS NOT NULL ORDER BY id"
        ).fetchall()
