{{- define "activeloop.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "activeloop.labels" -}}
app.kubernetes.io/name: activeloop
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "activeloop.serviceAccountName" -}}
{{- default (include "activeloop.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* Namespaces the operator watches (release namespace when none are named). */}}
{{- define "activeloop.namespaces" -}}
{{- if .Values.watchNamespaces -}}{{ join "," .Values.watchNamespaces }}{{- else -}}{{ .Release.Namespace }}{{- end -}}
{{- end -}}

{{- define "activeloop.minioSecret" -}}
{{- if .Values.minio.bundled -}}{{ include "activeloop.fullname" . }}-minio{{- else -}}{{ .Values.minio.existing.secretName }}{{- end -}}
{{- end -}}

{{- define "activeloop.minioEndpoint" -}}
{{- if .Values.minio.bundled -}}{{ include "activeloop.fullname" . }}-minio.{{ .Release.Namespace }}.svc:9000{{- else -}}{{ .Values.minio.existing.endpoint }}{{- end -}}
{{- end -}}

{{/* Images step Jobs may run (comma separated): the chart's values, else the worker repository. */}}
{{- define "activeloop.allowedImages" -}}
{{- if .Values.jobs.allowedImages -}}{{ join "," .Values.jobs.allowedImages }}{{- else -}}{{ .Values.jobs.image.repository }}{{- end -}}
{{- end -}}

{{/* Where each namespace's step pods run (JSON): "*" for every namespace without its own entry. */}}
{{- define "activeloop.placement" -}}
{{- $default := dict "nodeSelector" .Values.jobs.nodeSelector "tolerations" .Values.jobs.tolerations -}}
{{- toJson (merge (dict) .Values.jobs.placement (dict "*" $default)) -}}
{{- end -}}
