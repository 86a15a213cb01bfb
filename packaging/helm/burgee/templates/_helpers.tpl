{{/* The release's base name: NAME-burgee, or fullnameOverride. */}}
{{- define "burgee.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The headless service that gives each pod its stable DNS name for Raft traffic. */}}
{{- define "burgee.peersService" -}}
{{- printf "%s-peers" (include "burgee.fullname" .) -}}
{{- end -}}

{{- define "burgee.selectorLabels" -}}
app.kubernetes.io/name: {{ default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "burgee.labels" -}}
{{ include "burgee.selectorLabels" . }}
app.kubernetes.io/version: {{ default .Chart.AppVersion .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "burgee.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "burgee.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "burgee.clusterSecretName" -}}
{{- default (printf "%s-cluster" (include "burgee.fullname" .)) .Values.cluster.existingSecret -}}
{{- end -}}

{{/* Cluster traffic is https when the cluster has a certificate Secret. */}}
{{- define "burgee.clusterScheme" -}}
{{- if .Values.cluster.tls.existingSecret -}}https{{- else -}}http{{- end -}}
{{- end -}}

{{/* A pod's cluster URL: pod NAME-i through the peers service. */}}
{{- define "burgee.peerUrl" -}}
{{- printf "%s://%s-%d.%s.%s.svc.cluster.local:%d" (include "burgee.clusterScheme" .root) (include "burgee.fullname" .root) (int .ordinal) (include "burgee.peersService" .root) .root.Release.Namespace (int .root.Values.ports.cluster) -}}
{{- end -}}

{{/* --initial-cluster: node ids are pod ordinals plus one (the binary reads its own from the
     pod's hostname). */}}
{{- define "burgee.initialCluster" -}}
{{- $members := list -}}
{{- range $ordinal := until (int .Values.replicaCount) -}}
{{- $members = append $members (printf "%d=%s" (add1 $ordinal) (include "burgee.peerUrl" (dict "root" $ "ordinal" $ordinal))) -}}
{{- end -}}
{{- join "," $members -}}
{{- end -}}
