"""GX Pipeline's contracts: command payloads, envelopes, the command -> chaincode table, SQL migrations.

A library, so services in other programs can use it: of this project it imports only the root
exception (gxerrors, which imports nothing).
"""
