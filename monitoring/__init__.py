"""The pipeline's monitoring as files: Prometheus alert rules (prometheus/rules), their unit tests
(prometheus/tests), Grafana dashboards and provisioning (grafana/). The Python here reads them."""
