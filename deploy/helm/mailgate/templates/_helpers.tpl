{{/* Chart name, truncated to 63 characters (DNS label). */}}
{{- define "mailgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full resource name: <release>-<chart>, or fullnameOverride. */}}
{{- define "mailgate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "mailgate.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "mailgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | trunc 63 | trimSuffix "-" }}
{{ include "mailgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mailgate
{{- end -}}

{{/* Labels that select the pods. */}}
{{- define "mailgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mailgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Name of the TLS Secret mounted at /etc/mailgate/tls. */}}
{{- define "mailgate.tlsSecretName" -}}
{{- if .Values.tls.existingSecret -}}
{{- .Values.tls.existingSecret -}}
{{- else -}}
{{- printf "%s-tls" (include "mailgate.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* Port number from a listen address "host:port" or "[v6]:port". */}}
{{- define "mailgate.port" -}}
{{- regexReplaceAll "^.*:" . "" -}}
{{- end -}}

{{/* Name of the ServiceAccount the pods run as. */}}
{{- define "mailgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mailgate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}
