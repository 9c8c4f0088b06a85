"""The command line as a user runs it: a subprocess with its own environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def cli(home: Path, *args: str, personas: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "VIBOT_HOME": str(home),
        "VIBOT_PERSONAS_DIR": str(personas or home / "personas"),
        "VIBOT_LOG_LEVEL": "WARNING",
        **env,
    }
    environment.pop("VIBOT_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=home,
        check=False,
        timeout=300,
    )
