"""Record what the tests in ``tests/unit/test_wire_compat.py`` hold the code to: the events'
bytes, the topics, the results file's schema and the HTTP API's OpenAPI document.

    python -m tests.support.wire_record tests/unit/recorded

Run it only for a deliberate change of the wire format (and say so in the commit): the
files in the repository were recorded by the code of before issue 25's refactoring.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from autonama_shared.formats.results import generated_schema
from autonama_shared.messaging.events import encode
from autonama_shared.messaging.topics import Topics
from autonama_shared.settings import KafkaSettings
from tests.support.wire_examples import examples


def topics() -> list[dict[str, Any]]:
    return [
        {"name": s.name, "partitions": s.partitions, "config": s.config}
        for s in Topics.of(KafkaSettings(topic_prefix="autonama.")).specs()
    ]


def openapi() -> dict[str, Any]:
    from autonama_alerts_api.app import create_app
    from autonama_alerts_api.settings import Settings

    spec: dict[str, Any] = create_app(Settings()).openapi()
    return spec


def canonical(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True) + "\n"


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "events.jsonl").write_bytes(b"".join(encode(e) + b"\n" for e in examples()))
    (folder / "topics.json").write_text(canonical(topics()))
    (folder / "results-schema.json").write_text(canonical(generated_schema()))
    (folder / "openapi.json").write_text(canonical(openapi()))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
