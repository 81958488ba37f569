"""The Debezium outbox connector: commented YAML, rendering to Kafka Connect JSON, apply and status.

Imports nothing of this project but ``schemas``; callers pass connection facts in.
"""
