"""``kitepilot kill``'s options as the entry point reads them before the CLI loads: exactly the
CLI's spellings, anything else left to the CLI."""

from __future__ import annotations

import pytest

from orchestration.entry import _kill_options


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], {}),
        (["--reason", "fat finger"], {"reason": "fat finger"}),
        (["--reason=fat finger", "--by", "asha"], {"reason": "fat finger", "by": "asha"}),
        (["-c", "my.yaml", "--by=ravi"], {"config": "my.yaml", "by": "ravi"}),
        (["--config", "my.yaml"], {"config": "my.yaml"}),
        (["--help"], None),
        (["--reason"], None),  # no value: the CLI says so
        (["--why", "x"], None),
        (["extra"], None),
    ],
)
def test_kill_options_are_the_clis_or_none(
    args: list[str], expected: dict[str, str] | None
) -> None:
    assert _kill_options(args) == expected
