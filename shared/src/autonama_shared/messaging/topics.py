"""The topics of the pipeline, named under the settings' prefix.

Backtests travel on topics of their own (``backtest-requests``,
``backtest-klines``), read by consumer groups of their own, so a scan is never
queued behind a large backtest: the fetcher and the analyzer run one loop for
each. (Backtest events read from the scan topics, as published before, are
still handled there.)
"""

from __future__ import annotations

from dataclasses import dataclass

from autonama_shared.messaging.kafka import TopicSpec, ensure_topics
from autonama_shared.settings import KafkaSettings

__all__ = ["Topics", "ensure_pipeline_topics"]


@dataclass(frozen=True)
class Topics:
    scan_requests: str
    backtest_requests: str
    scans: str
    klines: str
    backtest_klines: str
    signals: str
    alerts: str
    dead_letters: str
    partitions: int
    max_message_bytes: int
    replicas: int = 1
    min_insync: int = 1

    @classmethod
    def of(cls, kafka: KafkaSettings) -> Topics:
        return cls(
            scan_requests=kafka.topic("scan-requests"),
            backtest_requests=kafka.topic("backtest-requests"),
            scans=kafka.topic("scans"),
            klines=kafka.topic("klines"),
            backtest_klines=kafka.topic("backtest-klines"),
            signals=kafka.topic("signals"),
            alerts=kafka.topic("alerts"),
            dead_letters=kafka.topic("dead-letters"),
            partitions=kafka.partitions,
            max_message_bytes=kafka.max_message_bytes,
            replicas=kafka.replication_factor,
            min_insync=kafka.min_insync,
        )

    def specs(self) -> list[TopicSpec]:
        """Every topic, created at start-up by each service (idempotently), with the
        settings' replicas and ``min.insync.replicas`` (a topic made before with fewer of
        either is refused: ``messaging.kafka.ensure_topics``)."""
        r = self.replicas  # (one broker: the topics as they always were)
        isr = {"min.insync.replicas": str(self.min_insync)} if r > 1 else {}
        big = {"max.message.bytes": str(self.max_message_bytes), **isr}
        return [
            TopicSpec(self.scan_requests, 3, r, isr),
            TopicSpec(self.backtest_requests, 3, r, isr),
            TopicSpec(self.scans, 3, r, isr),
            TopicSpec(self.klines, self.partitions, r, big),  # keyed by symbol
            TopicSpec(self.backtest_klines, self.partitions, r, big),  # keyed by symbol
            TopicSpec(self.signals, self.partitions, r, big),  # keyed by symbol
            TopicSpec(self.alerts, self.partitions, r, isr),  # keyed by the alert's key
            TopicSpec(self.dead_letters, 1, r, big),
        ]


async def ensure_pipeline_topics(kafka: KafkaSettings, who: str) -> None:
    """Create every pipeline topic that is missing; ``TemporaryError`` while Kafka is away."""
    await ensure_topics(
        kafka.bootstrap_servers,
        Topics.of(kafka).specs(),
        client_id=who,
        options=kafka.client_options(),
    )
