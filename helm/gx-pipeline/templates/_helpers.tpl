{{- define "gx.name" -}}{{ .Chart.Name }}{{- end -}}

{{- define "gx.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "gx.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ include "gx.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gx-pipeline
{{- end -}}

{{- define "gx.selector" -}}
app.kubernetes.io/name: {{ include "gx.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "gx.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The Secret holding the Postgres password, and its key. */}}
{{- define "gx.pgSecret" -}}{{ .Values.postgres.existingSecret | default (printf "%s-postgres" (include "gx.fullname" .)) }}{{- end -}}
{{- define "gx.pgSecretKey" -}}{{ if .Values.postgres.existingSecret }}{{ .Values.postgres.existingSecretKey }}{{ else }}password{{ end }}{{- end -}}

{{/* The DSN without a password: the processes add it from GX_PG_PASSWORD_FILE, percent-encoded. */}}
{{- define "gx.dsn" -}}
postgresql://{{ .Values.postgres.user | urlquery }}@{{ .Values.postgres.host }}:{{ .Values.postgres.port }}/{{ .Values.postgres.database }}?sslmode={{ .Values.postgres.sslmode }}
{{- end -}}

{{/* Every GX_* setting that is not a secret (the ConfigMap's data, and the hook Jobs' env). */}}
{{- define "gx.settings" -}}
GX_APP_ID: {{ .Values.appId | quote }}
GX_LOG_LEVEL: {{ .Values.logLevel | quote }}
GX_PG_DSN: {{ include "gx.dsn" . | quote }}
GX_PG_PASSWORD_FILE: /var/run/secrets/gx/postgres/password
GX_KAFKA_BOOTSTRAP: {{ .Values.kafka.bootstrap | quote }}
GX_CONNECT_URL: {{ .Values.connect.url | quote }}
GX_WEB_HOST: "0.0.0.0"
GX_WEB_PORT: {{ .Values.web.port | quote }}
GX_DATA_DIR: /tmp/faust
GX_FABRIC_CHANNEL: {{ .Values.fabric.channel | quote }}
GX_TOPIC_PARTITIONS: {{ .Values.topics.partitions | quote }}
GX_TOPIC_COMMANDS: {{ .Values.topics.commands | quote }}
GX_TOPIC_COMMAND_RESULTS: {{ .Values.topics.commandResults | quote }}
GX_TOPIC_COMMANDS_DLQ: {{ .Values.topics.commandsDlq | quote }}
GX_TOPIC_FABRIC_EVENTS: {{ .Values.topics.fabricEvents | quote }}
GX_TOPIC_PROJECTIONS_DLQ: {{ .Values.topics.projectionsDlq | quote }}
GX_TOPIC_FABRIC_BLOCKS: {{ .Values.topics.fabricBlocks | quote }}
{{- end -}}

{{- define "gx.fabricSettings" -}}
GX_FABRIC_GATEWAY: {{ .Values.fabric.gateway | quote }}
GX_FABRIC_CHANNEL: {{ .Values.fabric.channel | quote }}
GX_FABRIC_CHAINCODE: {{ .Values.fabric.chaincode | quote }}
GX_FABRIC_MSP_ID: {{ .Values.fabric.mspId | quote }}
GX_FABRIC_CERT: /var/run/secrets/gx/fabric/cert.pem
GX_FABRIC_KEY: /var/run/secrets/gx/fabric/key.pem
GX_FABRIC_TLS_ROOT: /var/run/secrets/gx/fabric/tls-root.pem
{{- with .Values.fabric.tlsServerName }}
GX_FABRIC_TLS_SERVER_NAME: {{ . | quote }}
{{- end }}
{{- end -}}

{{- define "gx.pgVolume" -}}
- name: postgres
  secret:
    secretName: {{ include "gx.pgSecret" . }}
    defaultMode: 0400
    items: [{key: {{ include "gx.pgSecretKey" . }}, path: password}]
{{- end -}}

{{- define "gx.pgMount" -}}
- {name: postgres, mountPath: /var/run/secrets/gx/postgres, readOnly: true}
{{- end -}}
