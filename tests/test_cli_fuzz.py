"""A few hundred generated bad inputs across the command line (issue 10, item 8): each must end in exactly one
`error CODE: … (suggestion: …)` line with the code its kind of mistake calls for, a non-zero exit, no traceback, and
no change to any row of the database. Most run in-process through `cli.run` (the entry point `dawsos` calls) for
speed; a sample also runs through the installed `dawsos` executable."""

import json
import random
import re
import string

import pytest

from dawsos_assets import cli
from dawsos_assets.database import connection
from dawsos_assets.database.seed import reference as ref
from dawsos_assets.patterns.loader import PATTERNS_DIR, load_all

from .conftest import run_cli

ONE_LINE = re.compile(r"^error ([A-Z_]+): .+ \(suggestion: .+\)$")
NEVER = {"INTERNAL_ERROR", "DB_SERVER_ERROR"}  # a bug, or a bad input that reached the server unchecked
HUGE = "x" * 100_000
chance = random.Random(20261128)


def junk(length: int) -> str:
    return "".join(chance.choice(string.ascii_letters + string.digits + "./_-%?&=:@ é☃") for _ in range(length))


def bad_urls(base: str) -> list[tuple[str, ...]]:
    """Corruptions of a working URL that must never reach a server that accepts them."""
    head, _, query = base.partition("?")
    cases = []
    for _ in range(12):
        cut = chance.randrange(len(head))
        cases.append(head[:cut] + chance.choice([" ", "\t", "  "]) + head[cut:] + "?" + query)
        cases.append(f"{base}&x_{''.join(chance.choices(string.ascii_lowercase, k=6))}=1")
        cases.append(chance.choice(["mysql", "http", "postgres+nothing", "sqlite", ""]) + "://" + head.split("://")[1])
        cases.append(
            head.rsplit(":", 1)[0] + ":" + chance.choice(["port", "99999", "-1", "6543a"]) + "/dawsos?" + query
        )
    cases += [HUGE, junk(200), "postgresql://", "postgresql:///", f"{head}%zz?{query}", "\u2603://\u2603"]
    commands = [
        ("seed",),
        ("check",),
        ("patterns", "run", "portfolio_overview", "--portfolio", ref.ALPHA_PORTFOLIO_ID),
        ("db", "status"),
        ("migrate", "status"),
    ]
    return [(url, *chance.choice(commands)) for url in cases]


def bad_pattern_names() -> list[str]:
    real = chance.choice(sorted(load_all()))
    names = [
        f"../definitions/{real}",
        str(PATTERNS_DIR / real),
        f"{real}.json",
        f"./{real}",
        f"{real}/",
        real.upper(),
        f" {real}",
        "",
        "/etc/passwd",
        "..",
        "p" * 256,
        "é" * 200,
        HUGE,
        f"{real}\x00",
        "portfolio overview",
    ]
    return names + [junk(chance.randint(1, 300)) for _ in range(25)]


def bad_values(spec: dict) -> list:
    kind = spec["type"]
    if kind in ("integer", "number"):
        low, high = spec["minimum"], spec["maximum"]
        values = [low - 1, high + 1, -(10**30), 10**30, "abc", True, [], {}, "NaN", "Infinity"]
        return values + ([low + 0.5] if kind == "integer" else [])
    return {
        "date": ["notadate", "2025-13-01", "2025-02-30", 20250101, "2025-1-1", HUGE],
        "uuid": ["not-a-uuid", 123, "1234", HUGE, "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"],
        "string": ["s" * (spec.get("maxLength", 1) + 1), HUGE, 123, "nul\u0000inside"],
        "boolean": ["yes", 1, 0, "", []],
        "array": [{}, 1, "x"],
        "object": [[], 1, "x"],
    }[kind]


def bad_pattern_inputs() -> list[tuple[str, ...]]:
    """(pattern, --input …, [--portfolio …]) with one value against its declaration, or a malformed --input."""
    cases = []
    for pattern in load_all().values():
        portfolio = ["--portfolio", ref.ALPHA_PORTFOLIO_ID] if "portfolio_id" in pattern.inputs else []
        for name, spec in pattern.inputs.items():
            if name == "portfolio_id":
                continue
            for value in bad_values(spec):
                cases.append(("patterns", "run", pattern.id, "--input", f"{name}={json.dumps(value)}", *portfolio))
        cases.append(("patterns", "run", pattern.id, "--input", f"x_{junk(5)}=1", *portfolio))
    cases += [
        ("patterns", "run", "portfolio_overview", "--portfolio", value)
        for value in ["not-a-uuid", "", HUGE, "12345678-1234-1234-1234-1234567890ab'--"]
    ]
    cases += [("patterns", "run", "portfolio_overview", "--input", raw) for raw in ["lookback_days", "=5", "", HUGE]]
    return cases


def bad_seed_arguments() -> list[tuple[str, ...]]:
    numbers = {
        "--seed": [-1, -(10**30), 2**32, 10**40],
        "--lots": [0, -1, 10_000_001, 10**20],
        "--portfolios": [0, -5, 10_001, 10**12],
    }
    cases = [("seed", option, str(value)) for option, values in numbers.items() for value in values]
    return cases + [("seed", option, word) for option in numbers for word in ("abc", "1.5", "", HUGE)]


def usage_mistakes() -> list[tuple[str, ...]]:
    cases = [
        (),
        ("db",),
        ("migrate",),
        ("patterns",),
        ("expectations",),
        ("seed", "--betas", "sideways"),
        ("seed", "--shocks", "round"),
        ("seed", "--audit-log", "c"),
        ("migrate", "apply", "--to", "abc"),
        ("migrate", "apply", "--to", "-4"),
        ("migrate", "plan", "--to", "-1"),
        ("migrate", "rollback", "--to", "-3"),
        ("migrate", "apply", "--policy", "shred"),
        ("ui", "--port", "0"),
        ("ui", "--port", "70000"),
        ("ui", "--port", "-1"),
        ("ui", "--port", "abc"),
        ("patterns", "run"),
        ("seed", "--lots"),
    ]
    cases += [(junk(chance.randint(1, 40)),) for _ in range(10)]
    cases += [("seed", f"--{junk(8)}") for _ in range(5)] + [("check", f"--{junk(8)}") for _ in range(5)]
    return cases


def row_hashes(url: str) -> dict[str, str]:
    """md5 of every table's rows in every schema the project uses (order-independent)."""
    with connection.connect(url) as conn:
        tables = conn.execute(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        return {
            t: conn.execute(
                f"SELECT md5(coalesce(string_agg(md5(r::text), '' ORDER BY md5(r::text)), '')) FROM {t} r"
            ).fetchone()[0]
            for (t,) in tables
        }


def run_in_process(capsys, args) -> tuple[int, str]:
    status = cli.run(list(args))
    return status, capsys.readouterr().err


def assert_one_coded_line(args, status: int, stderr: str, allowed: set[str]) -> None:
    shown = f"{[a[:60] for a in args]} →"
    assert status != 0, f"{shown} exit 0"
    assert "Traceback" not in stderr, f"{shown} {stderr[-600:]}"
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) < 1000, f"{shown} {stderr[:600]}"
    match = ONE_LINE.match(lines[0])
    assert match and match.group(1) in allowed - NEVER, f"{shown} {lines[0][:400]}"


def test_hundreds_of_bad_inputs_each_get_one_coded_line_and_change_nothing(seeded_url, databases, monkeypatch, capsys):
    before = row_hashes(seeded_url)
    cases: list[tuple[tuple[str, ...], set[str], str | None]] = []
    cases += [(c[1:], {"DB_URL_INVALID", "DB_UNREACHABLE"}, c[0]) for c in bad_urls(seeded_url)]
    cases += [
        (("patterns", "run", name, "--portfolio", ref.ALPHA_PORTFOLIO_ID), {"PATTERN_NOT_FOUND"}, None)
        for name in bad_pattern_names()
    ]
    cases += [
        (c, {"PATTERN_INPUT_INVALID", "INVALID_PORTFOLIO_ID", "PATTERN_EXECUTION_FAILED"}, None)
        for c in bad_pattern_inputs()
    ]
    cases += [(c, {"SEED_ARGUMENT_INVALID", "USAGE_ERROR"}, None) for c in bad_seed_arguments()]
    cases += [(c, {"USAGE_ERROR"}, None) for c in usage_mistakes()]
    unseeded = databases.empty()
    cases += [
        (c, {"DB_NOT_SEEDED"}, unseeded)
        for c in [
            ("check",),
            ("patterns", "run", "portfolio_overview", "--portfolio", ref.ALPHA_PORTFOLIO_ID),
            ("patterns", "run", "macro_cycles_overview"),
        ]
    ]
    assert len(cases) >= 300

    for args, allowed, url in cases:
        monkeypatch.setenv(connection.URL_ENV, url or seeded_url)
        assert_one_coded_line(args, *run_in_process(capsys, args), allowed)
    assert row_hashes(seeded_url) == before


@pytest.mark.parametrize(
    "args, allowed",
    [
        (("patterns", "run", "../definitions/portfolio_overview"), {"PATTERN_NOT_FOUND"}),
        (
            (
                "patterns",
                "run",
                "portfolio_overview",
                "--input",
                "lookback_days=-5",
                "--portfolio",
                ref.ALPHA_PORTFOLIO_ID,
            ),
            {"PATTERN_INPUT_INVALID"},
        ),
        (("seed", "--seed", "-1"), {"SEED_ARGUMENT_INVALID"}),
        (("seed", "--portfolios", "99999999999"), {"SEED_ARGUMENT_INVALID"}),
        (("seed", "--lots", HUGE), {"USAGE_ERROR"}),
        (("migrate", "rollback", "--to", "-1"), {"USAGE_ERROR"}),
    ],
)
def test_the_installed_command_behaves_the_same(seeded_url, args, allowed):
    result = run_cli(*args)
    assert_one_coded_line(args, result.returncode, result.stderr, allowed)
