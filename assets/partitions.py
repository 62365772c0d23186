"""Daily partitions on NSE trading days, from the project's calendar.

Dagster's time-window partitions run daily in IST with every non-trading day (weekends, holidays)
excluded explicitly, so special weekend sessions (e.g. Budget Sunday 2026-02-01) stay partitions
while ordinary weekends do not. Partitions end with the year after the calendar's last published
year; that year uses the calendar's fixed-date fallback holidays.
"""

from __future__ import annotations

import warnings
from datetime import date, datetime, time, timedelta

from dagster import TimeWindowPartitionsDefinition

from data_contracts.nse_calendar import NseCalendar, UnpublishedHolidaysWarning
from data_contracts.timeutil import IST

__all__ = ["PARTITIONS_START", "PARTITION_FORMAT", "partition_day", "trading_day_partitions"]

PARTITION_FORMAT = "%Y-%m-%d"
PARTITIONS_START = date(2024, 1, 1)  # the first year the shipped calendar publishes


def trading_day_partitions(
    calendar: NseCalendar, start: date = PARTITIONS_START
) -> TimeWindowPartitionsDefinition:
    """One partition per NSE trading day from ``start`` (keys ``YYYY-MM-DD``, IST)."""
    end = date(max(calendar.published_years) + 1, 12, 31)
    with warnings.catch_warnings():
        # The year after the last published one is covered by design with fallback holidays;
        # the calendar already documents that, so don't warn on every Definitions load.
        warnings.simplefilter("ignore", UnpublishedHolidaysWarning)
        closed = [
            start + timedelta(days=offset)
            for offset in range((end - start).days + 1)
            if not calendar.is_trading_day(start + timedelta(days=offset))
        ]
    return TimeWindowPartitionsDefinition(
        start=start.strftime(PARTITION_FORMAT),
        end=(end + timedelta(days=1)).strftime(PARTITION_FORMAT),
        fmt=PARTITION_FORMAT,
        cron_schedule="0 0 * * *",
        timezone="Asia/Kolkata",
        end_offset=1,  # today's partition exists once the day starts (ingested after the close)
        exclusions=[datetime.combine(day, time(), IST) for day in closed],
    )


def partition_day(partition_key: str) -> date:
    """The trading day a partition key names."""
    return datetime.strptime(partition_key, PARTITION_FORMAT).date()  # noqa: DTZ007 - a date, no time
