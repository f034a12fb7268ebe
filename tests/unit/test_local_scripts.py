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


def test_the_stack_env_written_by_up_is_read_back_and_the_environment_wins(
    tmp_path: Path,
) -> None:
    """`make up` on other ports, then `make status` / the CLI without them: same ports."""
    text = STACK.read_text()
    body = text[: text.rindex("case ")]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AUTONAMA_LOCAL_DIR": str(tmp_path)}
    write = f"{body}\nKAFKA_PORT=9192 PG_PORT=5544 write_stack_env"
    subprocess.run(
        ["bash", "-c", write, str(STACK)], env=env, check=True, timeout=30, cwd=STACK.parent
    )
    written = (tmp_path / "stack.env").read_text()
    assert "KAFKA_PORT=9192\n" in written
    assert "AUTONAMA_POSTGRES__PORT=5544\n" in written
    assert f"AUTONAMA_INGESTOR_DROP_FOLDER={tmp_path}/drop\n" in written
    common = STACK.parent / "common.sh"
    read = f'source "{common}"; echo "$KAFKA_PORT $PG_PORT $API_PORT"'
    got = subprocess.run(
        ["bash", "-c", read], env=env, capture_output=True, text=True, check=True, timeout=30
    ).stdout.split()
    assert got == ["9192", "5544", "8000"]
    overridden = subprocess.run(
        ["bash", "-c", read],
        env=env | {"PG_PORT": "6000"},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.split()
    assert overridden == ["9192", "6000", "8000"]

    from autonama_cli.__main__ import stack_environment

    cli_env = {"AUTONAMA_LOCAL_DIR": str(tmp_path), "AUTONAMA_POSTGRES__HOST": "db.example"}
    assert stack_environment(cli_env) == tmp_path / "stack.env"
    assert cli_env["AUTONAMA_KAFKA__BOOTSTRAP_SERVERS"] == "127.0.0.1:9192"
    assert cli_env["AUTONAMA_POSTGRES__PORT"] == "5544"
    assert cli_env["AUTONAMA_POSTGRES__HOST"] == "db.example"  # the environment wins
    assert "KAFKA_PORT" not in cli_env  # only the CLI's own settings
    assert stack_environment({"AUTONAMA_LOCAL_DIR": str(tmp_path / "none")}) is None


def test_the_replicas_asked_for_are_the_programs_supervised(tmp_path: Path) -> None:
    """`make up ANALYZERS=4 INGESTORS=3`: four analyzers, three ingestors (writers' login,
    the first alone watching the drop folder); the defaults keep one "ingestor"."""
    text = STACK.read_text()
    body = text[: text.rindex("case ")]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AUTONAMA_LOCAL_DIR": str(tmp_path)}

    def programs(**replicas: str) -> dict[str, str]:
        subprocess.run(
            ["bash", "-c", f"{body}\nwrite_conf", str(STACK)],
            env=env | replicas,
            check=True,
            timeout=30,
            cwd=STACK.parent,
        )
        conf = (tmp_path / "supervisord.conf").read_text()
        sections = re.split(r"^\[program:([a-z0-9-]+)\]$", conf, flags=re.MULTILINE)[1:]
        return dict(zip(sections[::2], sections[1::2], strict=True))

    default = programs()
    assert sorted(default) == sorted(
        ["ingestor", "analyzer-1", "analyzer-2", "fetcher", "notifier", "alerts-api"]
    )
    assert "WATCH_FILES" not in default["ingestor"]
    scaled = programs(ANALYZERS="4", INGESTORS="3")
    ingestors = [name for name in scaled if name.startswith("ingestor")]
    analyzers = [name for name in scaled if name.startswith("analyzer")]
    assert ingestors == ["ingestor-1", "ingestor-2", "ingestor-3"]
    assert analyzers == ["analyzer-1", "analyzer-2", "analyzer-3", "analyzer-4"]
    for name in ingestors:
        assert "-m autonama_ingestor\n" in scaled[name]
        assert 'AUTONAMA_POSTGRES__USER="autonama_writer"' in scaled[name]
    watching = [n for n in ingestors if 'AUTONAMA_INGESTOR_WATCH_FILES="false"' not in scaled[n]]
    assert watching == ["ingestor-1"]
    refused = subprocess.run(
        ["bash", "-c", f"{body}\nwrite_conf", str(STACK)],
        env=env | {"INGESTORS": "0"},
        capture_output=True,
        text=True,
        timeout=30,
        cwd=STACK.parent,
    )
    assert refused.returncode != 0
    assert "INGESTORS=0" in refused.stderr
