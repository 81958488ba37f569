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

{{/* The config-provider reference Connect resolves to the connector's database password (both
     connector modes): Debezium's role's key of postgres.roles' Secret, else the pipeline's password. */}}
{{- define "gx.connectorPasswordRef" -}}
{{- $v := .Values -}}
{{- if $v.postgres.roles.enabled -}}
{{ printf "${%s:%s/%s:gx_cdc}" $v.connector.configProvider .Release.Namespace $v.postgres.roles.passwordsSecret }}
{{- else -}}
{{ printf "${%s:%s/%s:%s}" $v.connector.configProvider .Release.Namespace (include "gx.pgSecret" .) (include "gx.pgSecretKey" .) }}
{{- end -}}
{{- end -}}

{{/* A DSN without a password (the processes add it from GX_PG_PASSWORD_FILE, percent-encoded) for
     .user: sslmode, and with postgres.caSecret the CA it verifies the server with. */}}
{{- define "gx.dsnFor" -}}
{{- $pg := .root.Values.postgres -}}
postgresql://{{ .user | urlquery }}@{{ $pg.host }}:{{ $pg.port }}/{{ $pg.database }}?sslmode={{ $pg.sslmode }}
{{- if $pg.caSecret }}&sslrootcert=/var/run/secrets/gx/postgres-ca/ca.crt{{ end }}
{{- end -}}
{{- define "gx.dsn" -}}{{ include "gx.dsnFor" (dict "root" . "user" .Values.postgres.user) }}{{- end -}}

{{/* The account every pod runs as. */}}
{{- define "gx.serviceAccount" -}}{{ .Values.serviceAccount.name | default (include "gx.fullname" .) }}{{- end -}}

{{/* What every pod spec says about its identity towards Kubernetes: its account, no API token. */}}
{{- define "gx.podIdentity" -}}
serviceAccountName: {{ include "gx.serviceAccount" . }}
automountServiceAccountToken: false
{{- end -}}

{{/* Every GX_* setting that is not a secret (the ConfigMap's data, and the hook Jobs' env). */}}
{{- define "gx.settings" -}}
GX_APP_ID: {{ .Values.appId | quote }}
GX_LOG_LEVEL: {{ .Values.logLevel | quote }}
GX_PG_DSN: {{ include "gx.dsn" . | quote }}
GX_PG_PASSWORD_FILE: /var/run/secrets/gx/postgres/password
GX_KAFKA_BOOTSTRAP: {{ .Values.kafka.bootstrap | quote }}
GX_CONNECT_URL: {{ .Values.connect.url | quote }}
GX_WEB_PORT: {{ .Values.web.port | quote }}
GX_DATA_DIR: /tmp/faust
GX_FABRIC_CHANNEL: {{ .Values.fabric.channel | quote }}
GX_TOPIC_PARTITIONS: {{ .Values.topics.partitions | quote }}
GX_TOPIC_COMMANDS: {{ .Values.topics.commands | quote }}
GX_TOPIC_COMMANDS_DIRECT: {{ .Values.topics.commandsDirect | quote }}
GX_TOPIC_COMMAND_RESULTS: {{ .Values.topics.commandResults | quote }}
GX_TOPIC_COMMANDS_DLQ: {{ .Values.topics.commandsDlq | quote }}
GX_TOPIC_FABRIC_EVENTS: {{ .Values.topics.fabricEvents | quote }}
GX_TOPIC_PROJECTIONS_DLQ: {{ .Values.topics.projectionsDlq | quote }}
GX_TOPIC_FABRIC_BLOCKS: {{ .Values.topics.fabricBlocks | quote }}
GX_TOPIC_DLQ_REPLAYS: {{ .Values.topics.dlqReplays | quote }}
{{- with .Values.connector.pollIntervalMs }}
GX_CONNECT_POLL_MS: {{ . | quote }}
{{- end }}
{{- end -}}

{{- define "gx.fabricSettings" -}}
{{- /* One gateway endpoint, or a list the clients fail over between (fabric_gateway.failover). */}}
{{- $gw := .Values.fabric.gateway }}
GX_FABRIC_GATEWAY: {{ (kindIs "slice" $gw | ternary (join "," $gw) $gw) | quote }}
GX_FABRIC_CHANNEL: {{ .Values.fabric.channel | quote }}
GX_FABRIC_CHAINCODE: {{ .Values.fabric.chaincode | quote }}
GX_FABRIC_MSP_ID: {{ .Values.fabric.mspId | quote }}
GX_FABRIC_CERT: /var/run/secrets/gx/fabric/cert.pem
GX_FABRIC_KEY: /var/run/secrets/gx/fabric/key.pem
GX_FABRIC_TLS_ROOT: /var/run/secrets/gx/fabric/tls-root.pem
{{- if .Values.fabric.mutualTLS }}
GX_FABRIC_TLS_CERT: /var/run/secrets/gx/fabric/tls-client.pem
GX_FABRIC_TLS_KEY: /var/run/secrets/gx/fabric/tls-client-key.pem
{{- end }}
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

{{/* Who a process is. .who: a worker's name, or "admin" for the hook Jobs; .connector: the Job
     that registers the connector through Connect's REST API (it alone needs Connect's credentials,
     and names Debezium's role and where Connect reads its password; it never holds that password). */}}
{{- define "gx.pgRole" -}}
{{- if eq .who "admin" }}{{ .root.Values.postgres.user }}
{{- else if hasPrefix "projector-" .who }}gx_projector_{{ trimPrefix "projector-" .who }}
{{- else if eq .who "results-writer" }}gx_results
{{- else }}gx_monitor{{ end -}}
{{- end -}}
{{- define "gx.kafkaPrincipal" -}}gx-{{ .who }}{{- end -}}

{{/* The process's own identities (env entries, overriding the ConfigMap's): its Postgres role,
     its Kafka principal, and for the hook Jobs Connect's credentials and Debezium's role. */}}
{{- define "gx.identityEnv" -}}
{{- $v := .root.Values -}}
{{- if and $v.postgres.roles.enabled (ne .who "admin") }}
- {name: GX_PG_DSN, value: {{ include "gx.dsnFor" (dict "root" .root "user" (include "gx.pgRole" .)) | quote }}}
{{- end }}
{{- if and $v.postgres.roles.enabled .connector }}
- {name: GX_PG_CDC_DSN, value: {{ include "gx.dsnFor" (dict "root" .root "user" "gx_cdc") | quote }}}
{{- end }}
{{- if .connector }}
{{- if eq $v.connector.passwordFrom "env" }}
- {name: GX_CONNECT_PASSWORD_ENV, value: {{ $v.connector.passwordEnv | quote }}}
{{- else }}
- {name: GX_CONNECT_PASSWORD_REF, value: {{ include "gx.connectorPasswordRef" .root | quote }}}
{{- end }}
{{- end }}
{{- if $v.kafka.sasl.enabled }}
- {name: GX_KAFKA_SECURITY_PROTOCOL, value: SASL_SSL}
- {name: GX_KAFKA_SASL_MECHANISM, value: {{ $v.kafka.sasl.mechanism | quote }}}
- {name: GX_KAFKA_USERNAME, value: {{ include "gx.kafkaPrincipal" . | quote }}}
- {name: GX_KAFKA_PASSWORD_FILE, value: /var/run/secrets/gx/kafka/password}
- {name: GX_KAFKA_CA_FILE, value: /var/run/secrets/gx/kafka-ca/ca.crt}
{{- end }}
{{- if and $v.connect.basicAuth.enabled .connector }}
- {name: GX_CONNECT_USERNAME, value: {{ $v.connect.basicAuth.username | quote }}}
- {name: GX_CONNECT_PASSWORD_FILE, value: /var/run/secrets/gx/connect/password}
{{- end }}
{{- end -}}

{{- define "gx.identityMounts" -}}
- {name: postgres, mountPath: /var/run/secrets/gx/postgres, readOnly: true}
{{- $v := .root.Values }}
{{- if $v.postgres.caSecret }}
- {name: postgres-ca, mountPath: /var/run/secrets/gx/postgres-ca, readOnly: true}
{{- end }}
{{- if $v.kafka.sasl.enabled }}
- {name: kafka, mountPath: /var/run/secrets/gx/kafka, readOnly: true}
- {name: kafka-ca, mountPath: /var/run/secrets/gx/kafka-ca, readOnly: true}
{{- end }}
{{- if and $v.connect.basicAuth.enabled .connector }}
- {name: connect, mountPath: /var/run/secrets/gx/connect, readOnly: true}
{{- end }}
{{- end -}}

{{/* Each Secret volume holds only this process's own key, read-only to it. */}}
{{- define "gx.identityVolumes" -}}
{{- $v := .root.Values -}}
{{- if and $v.postgres.roles.enabled (ne .who "admin") }}
- name: postgres
  secret: {secretName: {{ $v.postgres.roles.passwordsSecret }}, defaultMode: 0400, items: [{key: {{ include "gx.pgRole" . }}, path: password}]}
{{- else }}
{{- include "gx.pgVolume" .root | nindent 0 }}
{{- end }}
{{- if $v.postgres.caSecret }}
- name: postgres-ca
  secret: {secretName: {{ $v.postgres.caSecret }}, defaultMode: 0444, items: [{key: {{ $v.postgres.caKey }}, path: ca.crt}]}
{{- end }}
{{- if $v.kafka.sasl.enabled }}
- name: kafka
  secret: {secretName: {{ $v.kafka.sasl.passwordsSecret }}, defaultMode: 0400, items: [{key: {{ include "gx.kafkaPrincipal" . }}, path: password}]}
- name: kafka-ca
  secret: {secretName: {{ $v.kafka.sasl.caSecret }}, defaultMode: 0444, items: [{key: ca.crt, path: ca.crt}]}
{{- end }}
{{- if and $v.connect.basicAuth.enabled .connector }}
- name: connect
  secret: {secretName: {{ $v.connect.basicAuth.existingSecret }}, defaultMode: 0400, items: [{key: {{ $v.connect.basicAuth.key }}, path: password}]}
{{- end }}
{{- end -}}
