"""Projections: pure folds of ledger events into read-model rows, batched with offset checkpoints.

The database, not Kafka's committed offset, is the truth: every batch writes its read-model
changes and its checkpoint (topic, partition, offset, lastBlock, lastEventIndex) in one
transaction, and anything at or below a stored checkpoint is skipped.
"""
