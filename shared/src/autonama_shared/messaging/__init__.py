"""Kafka: the events on the wire, the topics, the client helpers and the service runner.

Never imports ``db`` (a test enforces it); a database sink passes its own
transaction to the runner.
"""
