"""Slack delivery under faults (issue 10, item 6): a stand-in Slack on 127.0.0.1 that records every message it takes
and then answers badly, a deliverer killed mid-send, and a Slack that never accepts."""

import json
import random
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from dawsos_assets.database import connection
from dawsos_assets.database.resource import PortfolioDatabase
from dawsos_assets.operations.alerts import ALERT_TABLES_SQL, MAX_ATTEMPTS, SlackChannel, deliver
from dawsos_assets.operations.sensors import SlackAlerts, slack_alert_retries

ALERTS = 40
MALFORMED_RATE = 0.10  # the fault mix: one reply in ten is not HTTP, after Slack took the message
SECRET = "XSECRETX"


class FaultySlack:
    """Takes every POST (records it, as Slack would have posted it), then replies 200, or with a line that is not
    HTTP (the client sees BadStatusLine), or not at all until released (`hang_on`-th request)."""

    def __init__(self, malformed_rate: float = 0.0, hang_on: int | None = None, status: int = 200, seed: int = 10):
        self.received: list[str] = []
        self.malformed_replies = 0
        self.hanging, self.release = threading.Event(), threading.Event()
        stand_in, chance = self, random.Random(seed)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                text = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["text"]
                stand_in.received.append(text)
                if len(stand_in.received) == hang_on:
                    stand_in.hanging.set()
                    stand_in.release.wait(30)
                    return
                if chance.random() < malformed_rate:
                    stand_in.malformed_replies += 1
                    self.wfile.write(b"SLACK IS CONFUSED\r\n\r\n")
                    self.close_connection = True
                    return
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T0/B0/{SECRET}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def duplicates(self) -> int:
        return len(self.received) - len(set(self.received))

    def close(self):
        self.release.set()
        self.server.shutdown()


def queue_alerts(url: str, count: int = ALERTS) -> None:
    with connection.connect(url) as conn:
        conn.execute(ALERT_TABLES_SQL)
        for number in range(count):
            conn.execute(
                "INSERT INTO dawsos_meta.alert_outbox (check_key, kind, payload) VALUES (%s, 'failure', %s)",
                (f"lots.check_{number}", json.dumps({"text": f"alert {number}"})),
            )
        conn.commit()


def sensor_ticks(url: str, channel: SlackChannel, ticks: int) -> int:
    """Deliver as the retry sensor would, two hours apart (past any backoff); a tick that raises is just a failed
    tick, as in the daemon. Returns how many ticks raised."""
    raised = 0
    start = datetime.now(UTC)
    for tick in range(ticks):
        try:
            with connection.connect(url) as conn:
                deliver(conn, channel, start + timedelta(hours=2 * tick))
        except Exception:
            raised += 1
    return raised


def undelivered(url: str) -> int:
    with connection.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM dawsos_meta.alert_outbox WHERE delivered_at IS NULL").fetchone()[0]


def test_malformed_replies_cost_one_repeat_each_and_lose_nothing(empty_url):
    queue_alerts(empty_url)
    slack = FaultySlack(malformed_rate=MALFORMED_RATE)
    try:
        raised = sensor_ticks(empty_url, SlackChannel(webhook_url=slack.url), ticks=12)
        lost = ALERTS - len(set(slack.received))
        measured = (
            f"{slack.duplicates()} duplicates, {lost} never delivered, {slack.malformed_replies} malformed replies"
        )
        assert raised == 0, measured
        assert lost == 0 and undelivered(empty_url) == 0, measured
        assert slack.malformed_replies > 0, measured  # the fault mix really happened
        assert slack.duplicates() == slack.malformed_replies, measured  # Slack cannot say it took them: sent again once
    finally:
        slack.close()


def test_a_deliverer_killed_mid_send_repeats_only_the_message_in_flight(empty_url):
    queue_alerts(empty_url)
    slack = FaultySlack(hang_on=5)
    try:
        deliverer = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from dawsos_assets.database import connection; "
                "from dawsos_assets.operations.alerts import SlackChannel, deliver; "
                "deliver(connection.connect(sys.argv[1]), SlackChannel(webhook_url=sys.argv[2]))",
                empty_url,
                slack.url,
            ]
        )
        assert slack.hanging.wait(60), "the deliverer never reached the fifth message"
        deliverer.send_signal(signal.SIGKILL)
        deliverer.wait(30)
        slack.release.set()
        sensor_ticks(empty_url, SlackChannel(webhook_url=slack.url), ticks=2)
        assert len(set(slack.received)) == ALERTS and undelivered(empty_url) == 0
        assert slack.duplicates() == 1, f"{slack.duplicates()} duplicates after one SIGKILL"
    finally:
        slack.close()


def test_a_message_slack_never_takes_is_dead_lettered_and_shown(empty_url):
    queue_alerts(empty_url, count=2)
    with connection.connect(empty_url) as conn:  # the second one's last attempt never reported back (crash)
        conn.execute(
            "UPDATE dawsos_meta.alert_outbox SET attempts = %s WHERE check_key = 'lots.check_1'", (MAX_ATTEMPTS,)
        )
        conn.commit()
    slack = FaultySlack(status=500)
    try:
        sensor_ticks(empty_url, SlackChannel(webhook_url=slack.url), ticks=MAX_ATTEMPTS + 3)
        assert slack.received == ["alert 0"] * MAX_ATTEMPTS  # then never again
        with connection.connect(empty_url) as conn:
            rows = conn.execute(
                "SELECT check_key, attempts, last_error FROM dawsos_meta.alert_outbox "
                "WHERE dead_at IS NOT NULL ORDER BY id"
            ).fetchall()
        assert [(key, attempts) for key, attempts, _ in rows] == [
            ("lots.check_0", MAX_ATTEMPTS),
            ("lots.check_1", MAX_ATTEMPTS),
        ]
        assert "HTTP 500" in rows[0][2]
        with dg.instance_for_test() as instance:
            context = dg.build_sensor_context(
                instance=instance,
                resources={"database": PortfolioDatabase(url=empty_url), "slack": SlackAlerts(webhook_url=slack.url)},
            )
            tick = slack_alert_retries(context)
        assert f"2 message(s) dead-lettered after {MAX_ATTEMPTS} attempts" in tick.skip_message
        assert SECRET not in tick.skip_message
    finally:
        slack.close()


@pytest.mark.parametrize("webhook", [f"notaurl {SECRET}", f"http://127.0.0.1:1/{SECRET}"])
def test_any_send_failure_is_a_retry_that_never_shows_the_url(empty_url, webhook):
    queue_alerts(empty_url, count=1)
    with connection.connect(empty_url) as conn:
        result = deliver(conn, SlackChannel(webhook_url=webhook))
        error = conn.execute("SELECT last_error FROM dawsos_meta.alert_outbox").fetchone()[0]
    assert result["failed"] == 1 and SECRET not in error
