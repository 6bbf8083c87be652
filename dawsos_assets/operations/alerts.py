"""Slack alerts for asset checks — what Dagster OSS lacks (dagster#29896: a failed WARN or non-blocking check
never fails the run, so run-failure alerts miss it).

After every run, its check evaluations are turned into messages in an outbox table (one per failing check, none
while the same check keeps failing within the cooldown, one recovery message when it passes again). Delivery is
separate and retried with backoff; the outbox row is marked delivered only after Slack accepted it, so a message
is kept through an outage and sent once. Alerting never fails a pipeline, and secrets never reach logs, metadata
or error text.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import psycopg

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
"""
COOLDOWN_ENV = "DAWSOS_ALERT_COOLDOWN_MINUTES"
MAX_BACKOFF = timedelta(hours=1)


def cooldown() -> timedelta:
    return timedelta(minutes=float(os.environ.get(COOLDOWN_ENV, "360")))


@dataclass(frozen=True)
class CheckEvent:
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
        return f"{self.asset}.{self.check}"


def check_events(instance, run_id: str) -> list[CheckEvent]:
    """The asset-check evaluations of one run (any storage; no deprecated cursor API)."""
    from dagster import DagsterEventType

    events = []
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        data = record.dagster_event.asset_check_evaluation_data
        metadata = {k: getattr(v, "value", v) for k, v in (data.metadata or {}).items()}
        events.append(CheckEvent(data.asset_key.to_user_string(), data.check_name, data.passed, data.severity.value,
                                 metadata.get("failing_count"), (metadata.get("sample") or [])[:3], run_id,
                                 (metadata.get("details") or {}).get("failing_by_rule") or {}))
    return events


def message(event: CheckEvent, kind: str, webserver_url: str) -> dict:
    link = f"{webserver_url.rstrip('/')}/runs/{event.run_id}"
    if kind == "recovery":
        text = f":white_check_mark: Recovered: `{event.asset}` check `{event.check}` passes again. <{link}|Run>"
        return {"text": text}
    icon = ":red_circle:" if event.severity == "ERROR" else ":warning:"
    lines = [f"{icon} {event.severity}: `{event.asset}` check `{event.check}` failed"
             + (f" — {event.failing_count:,} failing row(s)" if event.failing_count is not None else ""),
             f"<{link}|Open the run in Dagster>"]
    if event.failing_by_rule:  # a row can break several rules, so these may add up to more than the rows
        lines.append("By rule: " + "; ".join(f"{rule}: {rows:,} row(s)" for rule, rows in event.failing_by_rule.items()))
    if event.sample:
        lines.append("Sample: ```" + json.dumps(event.sample, default=str)[:600] + "```")
    return {"text": "\n".join(lines)}


def enqueue(conn: psycopg.Connection, events: list[CheckEvent], webserver_url: str, now: datetime | None = None) -> int:
    """Queue a message per failing check (respecting the cooldown) and per recovery; returns how many."""
    now = now or datetime.now(timezone.utc)
    queued = 0
    with conn.transaction():
        conn.execute(ALERT_TABLES_SQL)
        for event in events:
            row = conn.execute("SELECT failing, last_alert_at FROM dawsos_meta.alert_state WHERE check_key = %s FOR UPDATE",
                               (event.key,)).fetchone()
            was_failing, last_alert = (row[0], row[1]) if row else (False, None)
            kind = None
            if not event.passed and (not was_failing or last_alert is None or now - last_alert >= cooldown()):
                kind = "failure"
            elif event.passed and was_failing:
                kind = "recovery"
            if kind:
                conn.execute("INSERT INTO dawsos_meta.alert_outbox (check_key, kind, payload) VALUES (%s, %s, %s)",
                             (event.key, kind, json.dumps(message(event, kind, webserver_url))))
                queued += 1
            conn.execute("""INSERT INTO dawsos_meta.alert_state (check_key, failing, last_alert_at) VALUES (%s, %s, %s)
                            ON CONFLICT (check_key) DO UPDATE SET failing = EXCLUDED.failing,
                                last_alert_at = COALESCE(EXCLUDED.last_alert_at, dawsos_meta.alert_state.last_alert_at)""",
                         (event.key, not event.passed, now if kind == "failure" else None))
    return queued


class SlackUnavailable(Exception):
    """Slack did not accept a message; the text never contains the webhook URL or a token."""


@dataclass(frozen=True)
class SlackChannel:
    webhook_url: str | None = None
    bot_token: str | None = None
    channel: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.webhook_url or (self.bot_token and self.channel))

    def send(self, payload: dict) -> None:
        if self.webhook_url:
            request = urllib.request.Request(self.webhook_url, data=json.dumps(payload).encode(),
                                             headers={"Content-Type": "application/json"}, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    if response.status >= 300:
                        raise SlackUnavailable(f"webhook answered HTTP {response.status}")
            except urllib.error.HTTPError as exc:
                raise SlackUnavailable(f"webhook answered HTTP {exc.code}") from None
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                raise SlackUnavailable(f"webhook unreachable ({type(exc).__name__})") from None
            return
        from dagster_slack import SlackResource

        try:
            SlackResource(token=self.bot_token).get_client().chat_postMessage(channel=self.channel, **payload)
        except Exception as exc:  # slack_sdk errors may echo request details; keep only the class name
            raise SlackUnavailable(f"Slack API call failed ({type(exc).__name__})") from None


def deliver(conn: psycopg.Connection, channel: SlackChannel, now: datetime | None = None, limit: int = 50) -> dict:
    """Send due messages; each is marked delivered only after Slack accepted it, else retried with backoff."""
    now = now or datetime.now(timezone.utc)
    if not channel.configured:
        return {"delivered": 0, "failed": 0, "skipped": "no Slack channel configured"}
    delivered = failed = 0
    with conn.transaction():
        conn.execute(ALERT_TABLES_SQL)
        due = conn.execute("SELECT id, payload, attempts FROM dawsos_meta.alert_outbox WHERE delivered_at IS NULL "
                           "AND next_attempt_at <= %s ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED", (now, limit)).fetchall()
        for message_id, payload, attempts in due:
            try:
                channel.send(payload)
            except SlackUnavailable as exc:
                backoff = min(MAX_BACKOFF, timedelta(seconds=30 * 2 ** attempts))
                conn.execute("UPDATE dawsos_meta.alert_outbox SET attempts = attempts + 1, next_attempt_at = %s, "
                             "last_error = %s WHERE id = %s", (now + backoff, str(exc), message_id))
                failed += 1
                continue
            conn.execute("UPDATE dawsos_meta.alert_outbox SET attempts = attempts + 1, delivered_at = %s WHERE id = %s",
                         (now, message_id))
            delivered += 1
    return {"delivered": delivered, "failed": failed}


def channel_from_environment() -> SlackChannel:
    return SlackChannel(os.environ.get("DAWSOS_SLACK_WEBHOOK_URL") or None, os.environ.get("DAWSOS_SLACK_BOT_TOKEN") or None,
                        os.environ.get("DAWSOS_SLACK_CHANNEL") or None)
