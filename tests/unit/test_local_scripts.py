"""The local stack script defines every command it dispatches (a missing one is only
found when someone runs `make up`)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

STACK = Path(__file__).resolve().parents[2] / "deploy" / "local" / "stack.sh"


def test_every_command_of_stack_sh_has_its_function() -> None:
    text = STACK.read_text()
    dispatch = text[text.rindex("case ") :]
    called = set(re.findall(r"^\s+[a-z-]+\) ([a-z_]+) ;;", dispatch, flags=re.MULTILINE))
    assert {"up", "down", "status", "demo", "apps_up", "apps_down"} <= called
    # The script without its dispatch, then ask bash which functions exist.
    body = text[: text.rindex("case ")]
    probe = f"{body}\ndeclare -F | awk '{{print $3}}'"
    defined = subprocess.run(
        ["bash", "-c", probe, str(STACK)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.split()
    assert called - set(defined) == set()
    for helper in ("wait_ready", "local_token", "dashboard_url", "write_conf"):
        assert helper in defined
