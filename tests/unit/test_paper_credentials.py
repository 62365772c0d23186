"""The paper exchange's generated credentials: a 0600 file in a 0700 folder, reused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from orchestration.paper_credentials import credentials
from orchestration.settings import load_config


def test_credentials_file_is_0600_in_a_0700_folder_even_one_made_0755_before(
    tmp_path: Path,
) -> None:
    config = load_config(
        environ={"KITEPILOT_STORAGE__VAR_DIR": str(tmp_path / "var")}, dotenv_file=None
    )
    previous = os.umask(0o022)
    try:
        first, path = credentials(config)
        made = stat.S_IMODE(path.parent.stat().st_mode)
        path.parent.chmod(0o755)  # as versions before this one left it
        again, _ = credentials(config)
    finally:
        os.umask(previous)

    assert again == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (made, stat.S_IMODE(path.parent.stat().st_mode)) == (0o700, 0o700)
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == 0o755  # only the leaf is private
