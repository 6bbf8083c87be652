"""Units: the numpy CSV renderer must produce exactly what a row-by-row formatter would."""

import csv
import io

import numpy as np
import pytest

from dawsos_assets.database.seed.columnar_csv import CsvColumns, uuid_strings


def test_render_matches_python_formatting():
    rng = np.random.default_rng(3)
    n = 2_000
    ints = rng.integers(-99_999, 99_999, n)
    cents = rng.integers(-(10**9), 10**9, n)
    words = np.array([b"A", b"BRK.B", b"MSFT", b""], dtype="S8")[rng.integers(0, 4, n)]
    flags = rng.random(n) < 0.5
    null = rng.random(n) < 0.3
    dates = np.array([b"2024-01-02"] * n)
    rendered = (
        CsvColumns(n)
        .integer(ints, 6)
        .decimal(cents, 8)
        .text(words)
        .boolean(flags)
        .text(dates, null=null)
        .constant(b"USD")
        .render()
        .decode()
    )
    expected = []
    for i in range(n):
        sign = "-" if cents[i] < 0 else ""
        decimal = f"{sign}{abs(int(cents[i])) // 100}.{abs(int(cents[i])) % 100:02d}"
        expected.append(
            ",".join(
                [
                    str(int(ints[i])),
                    decimal,
                    words[i].decode(),
                    "t" if flags[i] else "f",
                    "" if null[i] else "2024-01-02",
                    "USD",
                ]
            )
        )
    assert rendered == "\n".join(expected) + "\n"
    assert len(list(csv.reader(io.StringIO(rendered)))) == n


def test_integer_that_does_not_fit_is_refused():
    with pytest.raises(ValueError):
        CsvColumns(1).integer(np.array([123456]), 5)


def test_uuid_strings_are_version_4_and_unique():
    import uuid

    values = uuid_strings(np.random.default_rng(0), 10_000)
    parsed = [uuid.UUID(v.decode()) for v in values]
    assert len(set(parsed)) == 10_000
    assert all(u.version == 4 and u.variant == uuid.RFC_4122 for u in parsed)
