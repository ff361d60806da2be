"""The clock: read in one place, truncated to the second; moved only by `simulated`."""

from __future__ import annotations

from datetime import UTC, datetime

from freezegun import freeze_time

from retention import clock


def test_the_clock_reads_utc_to_the_second_and_a_simulated_one_ticks_on() -> None:
    with freeze_time("2026-12-02T07:00:00.750000+00:00") as frozen:
        assert clock.utcnow() == datetime(2026, 12, 2, 7, 0, tzinfo=UTC)
        with clock.simulated(datetime(2026, 11, 4, 6, 0, tzinfo=UTC)):
            assert clock.utcnow() == datetime(2026, 11, 4, 6, 0, tzinfo=UTC)
            frozen.tick(90)
            assert clock.utcnow() == datetime(2026, 11, 4, 6, 1, 30, tzinfo=UTC)
        assert clock.utcnow() == datetime(2026, 12, 2, 7, 1, 30, tzinfo=UTC)
