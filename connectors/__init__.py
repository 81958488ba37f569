"""The Debezium outbox connector: commented YAML, rendering to Kafka Connect JSON, apply and status.

Of this project it imports gxerrors and gxcommon's HTTP login and private files; callers pass
connection facts in.
"""
