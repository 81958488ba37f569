"""The docker-free local stack: Postgres, Kafka (KRaft), Kafka Connect + Debezium, later Fabric.

Every process is started in the background with a pid file and a log under one state directory,
and stopped by that pid only. `gxctl stack ...` is the front end; nothing here prints.
"""
