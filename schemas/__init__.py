"""GX Pipeline's contracts: command payloads, envelopes, the command -> chaincode table, SQL migrations.

A library: it imports nothing else of this project, so services in other programs can use it.
"""
