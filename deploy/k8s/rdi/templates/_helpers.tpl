{{/* Names: <release>-rdi unless the release name already says rdi; fullnameOverride wins. */}}
{{- define "rdi.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else if contains "rdi" .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-rdi" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "rdi.labels" -}}
app.kubernetes.io/name: rdi
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: include "rdi.selector" (list . "processor") */}}
{{- define "rdi.selector" -}}
app.kubernetes.io/name: rdi
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "rdi.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "rdi.secretName" -}}{{ include "rdi.fullname" . }}-secrets{{- end -}}
{{- define "rdi.pipelineConfigMap" -}}
{{- .Values.pipeline.existingConfigMap | default (printf "%s-pipeline" (include "rdi.fullname" .)) -}}
{{- end -}}
{{- define "rdi.processorName" -}}{{ include "rdi.fullname" . }}-processor{{- end -}}
{{- define "rdi.processorHeadless" -}}{{ include "rdi.fullname" . }}-processor-cluster{{- end -}}

{{/* The pipeline comes from the ConfigMap (mounted at /etc/rdi/pipeline) or from the RDI DB (deployed through the API). */}}
{{- define "rdi.pipelineFromConfigMap" -}}
{{- if eq .Values.pipeline.source "configMap" -}}true{{- end -}}
{{- end -}}

{{/* Pod-level security context (non-root, seccomp RuntimeDefault). */}}
{{- define "rdi.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsUser }}
fsGroup: {{ .Values.securityContext.runAsUser }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "rdi.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
Secrets as files: one projected volume with the RDI DB URL, the API's JWT key and the secrets key, each from the
chart's Secret or an existing one. Components read them through the *_FILE variables (never env values).
*/}}
{{- define "rdi.secretVolume" -}}
- name: rdi-secrets
  projected:
    defaultMode: 0440
    sources:
      - secret:
          name: {{ .Values.rdiDatabase.existingSecret | default (include "rdi.secretName" .) }}
          items:
            - key: {{ if .Values.rdiDatabase.existingSecret }}{{ .Values.rdiDatabase.urlKey }}{{ else }}rdi-db-url{{ end }}
              path: rdi-db-url
      - secret:
          name: {{ .Values.api.jwtKey.existingSecret | default (include "rdi.secretName" .) }}
          items:
            - key: {{ if .Values.api.jwtKey.existingSecret }}{{ .Values.api.jwtKey.key }}{{ else }}api-jwt-key{{ end }}
              path: api-jwt-key
      - secret:
          name: {{ .Values.secretsKey.existingSecret | default (include "rdi.secretName" .) }}
          items:
            - key: {{ if .Values.secretsKey.existingSecret }}{{ .Values.secretsKey.key }}{{ else }}secrets-key{{ end }}
              path: secrets-key
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- if .Values.pipeline.secrets.existingSecret }}
- name: pipeline-secrets
  secret:
    secretName: {{ .Values.pipeline.secrets.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- if include "rdi.pipelineFromConfigMap" . }}
- name: pipeline
  configMap:
    name: {{ include "rdi.pipelineConfigMap" . }}
    items:
      - key: config.yaml
        path: config.yaml
      {{- range $name, $_ := .Values.pipeline.jobs }}
      - key: {{ printf "job-%s.yaml" $name }}
        path: {{ printf "jobs/%s.yaml" $name }}
      {{- end }}
{{- end }}
{{- end -}}

{{- define "rdi.secretMounts" -}}
- name: rdi-secrets
  mountPath: /etc/rdi/secrets
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if .Values.pipeline.secrets.existingSecret }}
- name: pipeline-secrets
  mountPath: /etc/rdi/pipeline-secrets
  readOnly: true
{{- end }}
{{- if include "rdi.pipelineFromConfigMap" . }}
- name: pipeline
  mountPath: /etc/rdi/pipeline
  readOnly: true
{{- end }}
{{- end -}}

{{/* Environment every component shares: where the RDI DB URL and the pipeline are. */}}
{{- define "rdi.commonEnv" -}}
- name: RDI_DB_URL_FILE
  value: /etc/rdi/secrets/rdi-db-url
- name: RDI_PIPELINE
  value: {{ .Values.pipeline.name | quote }}
- name: HOME
  value: /tmp
{{- if .Values.pipeline.secrets.existingSecret }}
- name: RDI_SECRETS_DIR
  value: /etc/rdi/pipeline-secrets
{{- end }}
{{- if include "rdi.pipelineFromConfigMap" . }}
- name: RDI_PIPELINE_DIR
  value: /etc/rdi/pipeline
{{- end }}
{{- end -}}

{{- define "rdi.probes" -}}
{{- $port := index . 0 -}}{{- $scheme := index . 1 -}}
livenessProbe:
  httpGet: {path: /healthz, port: {{ $port }}, scheme: {{ $scheme }}}
  initialDelaySeconds: 10
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 6
readinessProbe:
  httpGet: {path: /readyz, port: {{ $port }}, scheme: {{ $scheme }}}
  periodSeconds: 5
  timeoutSeconds: 5
  failureThreshold: 3
{{- end -}}

{{- define "rdi.podExtras" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
