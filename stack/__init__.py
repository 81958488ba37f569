"""The docker-free local stack: Postgres, Kafka (KRaft), Kafka Connect + Debezium, and the Fabric
network (orderer, peer, chaincode service) from an installed release; Prometheus on request.

Every process is started in the background with a pid file and a log under one state directory,
and stopped only while its pid is still ours (stack.procs). `gxctl stack ...` is the front end.
"""
