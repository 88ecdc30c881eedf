{{- define "tumar.labels" -}}
app.kubernetes.io/name: tumar
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}
{{- define "tumar.selector" -}}
app.kubernetes.io/name: tumar
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
