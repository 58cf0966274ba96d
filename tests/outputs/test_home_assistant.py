"""A real Home Assistant core (tools/ha_check.py): our discovery's entities exist, the violation sensor goes on for
an unmasked person and off again, and the camera becomes unavailable after kill -9 of the app.

Skipped when Home Assistant's venv is absent: ``$FACEMASK_HA_VENV``, else ``ha-venv`` next to the repository.
CI installs it once (cached) with ``python -m venv ha-venv && ha-venv/bin/pip install homeassistant==2024.3.3
"josepy<2"``; Home Assistant adds its integrations' requirements at the first start.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO

sys.path.insert(0, str(REPO / "tools"))
from ha_check import default_ha_venv  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (default_ha_venv() / "bin" / "hass").exists(), reason=f"no Home Assistant venv at {default_ha_venv()}"),
    pytest.mark.skipif(not Path(shutil.which("mosquitto") or "/usr/sbin/mosquitto").exists(), reason="needs mosquitto"),
]


def test_home_assistant_sees_entities_violation_on_off_and_unavailable_after_kill(tmp_path, shared_dir):
    r = subprocess.run([sys.executable, str(REPO / "tools" / "ha_check.py"), "--workdir", str(tmp_path)],
                       capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    print(r.stdout)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    out = r.stdout
    assert "all 7 entities exist" in out and "violation is on" in out and "label no_mask" in out
    assert "is off again" in out and "every entity is unavailable" in out and out.strip().endswith("PASS")
