// Package gxcrdgen pins the Prometheus Operator API whose CRDs (ServiceMonitor, PrometheusRule)
// the Helm chart's custom resources are validated against: controller-gen generates them from
// these Go types, as the operator's own build does (tests/integration/k8s_schemas.py).
package gxcrdgen

import _ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
