"""What other programs read stays byte for byte what it was: the events on the topics, the
topic names, the results file's schema and the HTTP API's OpenAPI document are compared with
recordings made by the code of before issue 25's refactoring (``tests/support/wire_record``).
A deliberate change of the format records them again, in a commit that says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest

from autonama_shared.formats.results import generated_schema
from autonama_shared.messaging.events import Event, decode, encode
from tests.support.wire_examples import examples
from tests.support.wire_record import canonical, openapi, topics

RECORDED = Path(__file__).parent / "recorded"
LINES = (RECORDED / "events.jsonl").read_bytes().splitlines()


def test_every_kind_of_event_is_recorded() -> None:
    kinds = {json.loads(line)["type"] for line in LINES}
    assert len(kinds) == 13
    assert len(LINES) == len(examples())


@pytest.mark.parametrize("index", range(len(LINES)))
def test_an_event_is_encoded_as_recorded(index: int) -> None:
    assert encode(examples()[index]) == LINES[index]


@pytest.mark.parametrize("index", range(len(LINES)))
def test_a_recorded_event_reads_back_to_the_same_bytes(index: int) -> None:
    assert encode(decode(LINES[index], *get_args(Event))) == LINES[index]


def test_the_topics_are_as_recorded() -> None:
    assert canonical(topics()) == (RECORDED / "topics.json").read_text()


def test_the_results_file_schema_is_as_recorded() -> None:
    assert canonical(generated_schema()) == (RECORDED / "results-schema.json").read_text()


def test_the_http_api_is_as_recorded() -> None:
    assert canonical(openapi()) == (RECORDED / "openapi.json").read_text()
