/*
Copyright 2026 The Outrigger Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// chartFiles are the repository's files the chart carries (source: chart path): the
// alerting rules and the dashboard, which templates/monitoring reads with .Files.Get.
var chartFiles = map[string]string{
	"config/prometheus/alerts.yaml": "files/alerts.yaml",
	"config/grafana/outrigger.json": "files/outrigger.json",
}

// edit replaces old by new in a chart file; old must occur exactly once.
type edit struct {
	file, old, new string
	// why the plugin's output needs it.
	why string
}

// wrap puts a whole template under a condition.
type wrap struct {
	file, cond string
}

const (
	valuesFile       = "values.yaml"
	managerTemplate  = "templates/manager/manager.yaml"
	mutatingTemplate = "templates/webhook/mutating-webhook-configuration.yaml"
	rotatorRole      = "templates/rbac/cert-rotator-role.yaml"
	podMetadataOn    = ".Values.policies.podMetadata.enabled"
	selfCerts        = "not .Values.certManager.enabled"
	serviceAccount   = `{{ include "outrigger.serviceAccountName" . }}`
	webhookCert      = `{{ include "outrigger.resourceName" (dict "suffix" "webhook-cert" "context" $) }}`
	servingCert      = `{{ include "outrigger.resourceName" (dict "suffix" "serving-cert" "context" $) }}`
	policyEngine     = `(eq .Values.manager.injectionEngine "AdmissionPolicy")`
	// caInjection has cert-manager's CA injector fill a webhook configuration's caBundle.
	caInjection = "  {{- if .Values.certManager.enabled }}\n  annotations:\n" +
		"    cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/" + servingCert + "\n  {{- end }}\n"
)

var edits = []edit{
	{
		file: valuesFile, old: "  replicas: 1\n",
		new: `  replicas: 2

  ## Go runtime soft memory limit (GOMEMLIMIT, e.g. 200MiB). Empty: the container's memory
  ## limit (resources.limits.memory), as config/default sets it (docs/benchmarks.md).
  ##
  goMemLimit: ""

  ## What injects sidecars into new pods: Webhook (the pod webhook) or AdmissionPolicy
  ## (a MutatingAdmissionPolicy the manager generates from the SidecarSets, so pods get
  ## their sidecars while the operator is down; docs/design/admission-policy.md).
  ##
  injectionEngine: Webhook
`,
		why: "the plugin reads config/manager's replicas: 2 as 1 (its extractor takes only a Go int); the manager's own settings have no plugin values",
	},
	{
		file: valuesFile, old: "    - name: webhook-cert\n      secret:\n        secretName: outrigger-webhook-cert\n",
		new: "",
		why: "the webhook certificate volume names a release-specific Secret: templates/manager adds it",
	},
	{
		file: valuesFile, old: "    - mountPath: /tmp/k8s-webhook-server/serving-certs\n      name: webhook-cert\n      readOnly: true\n",
		new: "",
		why: "the mount of that volume goes with it (templates/manager)",
	},
	{
		file: valuesFile, old: "  helpers:\n    ## Install convenience admin/editor/viewer roles for CRDs\n    ##\n    enabled: false\n",
		new: "  helpers:\n    ## Install convenience admin/editor/viewer roles for CRDs\n    ##\n    enabled: true\n",
		why: "config/default installs the SidecarSet admin, editor and viewer roles",
	},
	{
		file: valuesFile, old: "certManager:\n  enabled: true\n",
		new: `certManager:
  ## false: the manager generates, rotates and injects the webhook certificate itself
  ## (--cert-management=self, as config/default). true: cert-manager issues it (an Issuer
  ## and a Certificate in the release's namespace, as config/certmanager).
  enabled: false
`,
		why: "Outrigger manages its own webhook certificate by default; the plugin assumes cert-manager",
	},
	{
		file: managerTemplate,
		old:  "        - --health-probe-bind-address=:{{ .Values.manager.healthProbe.port }}\n",
		new: "        - --health-probe-bind-address=:{{ .Values.manager.healthProbe.port }}\n" +
			`        - --webhook-configuration-prefix={{ include "outrigger.fullname" . }}-
        - --webhook-cert-secret=` + webhookCert + `
        - --webhook-dns-name={{ include "outrigger.resourceName" (dict "suffix" "webhook-service" "context" $) }}.{{ .Release.Namespace }}.svc
        - --injection-engine={{ .Values.manager.injectionEngine }}
        {{- if .Values.certManager.enabled }}
        - --cert-management=external
        {{- end }}
`,
		why: "the names the manager looks up depend on the release name; engine and certificates are values",
	},
	{
		file: managerTemplate,
		old:  "          {{- toYaml .Values.manager.env | nindent 10 }}\n",
		new: `          {{- range .Values.manager.env }}
          {{- if not (and $.Values.manager.goMemLimit (eq .name "GOMEMLIMIT")) }}
          - {{ toYaml . | nindent 12 | trim }}
          {{- end }}
          {{- end }}
          {{- with .Values.manager.goMemLimit }}
          - name: GOMEMLIMIT
            value: {{ . | quote }}
          {{- end }}
`,
		why: "manager.goMemLimit replaces the GOMEMLIMIT taken from the memory limit",
	},
	{
		file: managerTemplate,
		old:  "          {{- toYaml .Values.manager.extraVolumeMounts | nindent 10 }}\n          {{- else }}\n          []\n          {{- end }}\n",
		new: "          {{- toYaml .Values.manager.extraVolumeMounts | nindent 10 }}\n          {{- end }}\n" +
			`          - mountPath: /tmp/k8s-webhook-server/serving-certs
            name: webhook-cert
            readOnly: true
`,
		why: "the webhook certificate is always mounted (main.go's --webhook-cert-dir)",
	},
	{
		file: managerTemplate,
		old:  "        {{- toYaml .Values.manager.extraVolumes | nindent 8 }}\n        {{- else }}\n        []\n        {{- end }}\n",
		new: "        {{- toYaml .Values.manager.extraVolumes | nindent 8 }}\n        {{- end }}\n" +
			`        - name: webhook-cert
          secret:
            secretName: ` + webhookCert + `
`,
		why: "the certificate Secret's name depends on the release name",
	},
	{
		file: "templates/extras/pod-metadata-writer.yaml",
		old:  "  username: system:serviceaccount:outrigger-system:outrigger-controller-manager\n",
		new:  "  username: system:serviceaccount:{{ .Release.Namespace }}:" + serviceAccount + "\n",
		why:  "kustomize's replacement wrote the install's ServiceAccount into the data; the release's is another",
	},
	{
		file: mutatingTemplate,
		old:  "      - outrigger-system\n",
		new:  "      - {{ .Release.Namespace }}\n      {{- range .Values.excludedNamespaces }}\n      - {{ . | quote }}\n      {{- end }}\n",
		why:  "the pod webhook skips the operator's namespace, the release's here, and the excluded namespaces",
	},
	{
		file: mutatingTemplate,
		old:  "      path: /mutate--v1-pod\n  failurePolicy: Fail\n",
		new:  "      path: /mutate--v1-pod\n  failurePolicy: {{ if " + policyEngine + " }}Ignore{{ else }}Fail{{ end }}\n",
		why:  "with the policy engine the pod webhook fails open (config/admission-policy)",
	},
	{
		file: mutatingTemplate,
		old:  "  reinvocationPolicy: IfNeeded\n",
		new: "  {{- if " + policyEngine + " }}\n  objectSelector:\n    matchExpressions:\n" +
			"    - key: sidecars.outrigger.dev/injected\n      operator: DoesNotExist\n  {{- end }}\n" +
			"  reinvocationPolicy: IfNeeded\n",
		why: "with the policy engine the pod webhook is not called for pods the policy injected (config/admission-policy)",
	},
	{
		file: mutatingTemplate,
		old:  `  name: {{ include "outrigger.resourceName" (dict "suffix" "mutating-webhook-configuration" "context" $) }}` + "\n",
		new: `  name: {{ include "outrigger.resourceName" (dict "suffix" "mutating-webhook-configuration" "context" $) }}` + "\n" +
			caInjection,
		why: "cert-manager's CA injector fills the caBundle (config/certmanager)",
	},
	{
		file: "templates/webhook/validating-webhook-configuration.yaml",
		old:  `  name: {{ include "outrigger.resourceName" (dict "suffix" "validating-webhook-configuration" "context" $) }}` + "\n",
		new: `  name: {{ include "outrigger.resourceName" (dict "suffix" "validating-webhook-configuration" "context" $) }}` + "\n" +
			caInjection,
		why: "cert-manager's CA injector fills the caBundle (config/certmanager)",
	},
	{
		file: rotatorRole,
		old:  "  - outrigger-mutating-webhook-configuration\n",
		new:  `  - {{ include "outrigger.resourceName" (dict "suffix" "mutating-webhook-configuration" "context" $) }}` + "\n",
		why:  "the rotator may update the release's webhook configurations",
	},
	{
		file: rotatorRole,
		old:  "  - outrigger-validating-webhook-configuration\n",
		new:  `  - {{ include "outrigger.resourceName" (dict "suffix" "validating-webhook-configuration" "context" $) }}` + "\n",
		why:  "the rotator may update the release's webhook configurations",
	},
	{
		file: "templates/prometheus/controller-manager-metrics-monitor.yaml",
		old: `      {{- if .Values.certManager.enabled }}
      ca:
        secret:
          name: metrics-server-cert
          key: ca.crt
      cert:
        secret:
          name: metrics-server-cert
          key: tls.crt
      keySecret:
        name: metrics-server-cert
        key: tls.key
      {{- else }}
      insecureSkipVerify: true
      {{- end }}
`,
		new: "      # The manager serves metrics with a self-signed certificate (config/prometheus).\n      insecureSkipVerify: true\n",
		why: "cert-manager issues the webhook certificate only; the metrics certificate is the manager's own",
	},
}

var wraps = []wrap{
	{"templates/extras/pod-metadata-writer.yaml", podMetadataOn},
	// The plugin kept the policies' bindings (restore.go adds the policies).
	{"templates/extras/pod-metadata.sidecars.outrigger.dev.yaml", podMetadataOn},
	{"templates/extras/sidecars-ready.sidecars.outrigger.dev.yaml", ".Values.policies.sidecarsReady.enabled"},
	{"templates/extras/webhook-cert.yaml", selfCerts},
	{rotatorRole, selfCerts},
	{"templates/rbac/cert-rotator-rolebinding.yaml", selfCerts},
}

// added are templates the plugin does not write.
var added = map[string]string{
	"templates/certmanager/certificate.yaml": `{{- if .Values.certManager.enabled }}
# The webhook certificate from cert-manager (config/certmanager).
apiVersion: cert-manager.io/v1
kind: Issuer
metadata:
  name: {{ include "outrigger.resourceName" (dict "suffix" "selfsigned-issuer" "context" $) }}
  namespace: {{ .Release.Namespace }}
spec:
  selfSigned: {}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: ` + servingCert + `
  namespace: {{ .Release.Namespace }}
spec:
  dnsNames:
  - {{ include "outrigger.resourceName" (dict "suffix" "webhook-service" "context" $) }}.{{ .Release.Namespace }}.svc
  - {{ include "outrigger.resourceName" (dict "suffix" "webhook-service" "context" $) }}.{{ .Release.Namespace }}.svc.cluster.local
  issuerRef:
    kind: Issuer
    name: {{ include "outrigger.resourceName" (dict "suffix" "selfsigned-issuer" "context" $) }}
  secretName: ` + webhookCert + `
{{- end }}
`,
	"templates/rbac/admission-policy-role.yaml": `{{- if ` + policyEngine + ` }}
# What the policy engine writes (config/admission-policy/rbac): the generated
# MutatingAdmissionPolicy and its binding, by name. Kept by helm when an upgrade switches
# back to the webhook engine, as kubectl apply of config/default keeps them: the policy
# engine's replicas still run until the new ones replace them; delete both afterwards
# (docs/install.md).
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ include "outrigger.resourceName" (dict "suffix" "admission-policy-role" "context" $) }}
  annotations:
    helm.sh/resource-policy: keep
rules:
- apiGroups: ["admissionregistration.k8s.io"]
  resources: ["mutatingadmissionpolicies", "mutatingadmissionpolicybindings"]
  resourceNames: ["inject.sidecars.outrigger.dev"]
  verbs: ["create", "patch", "update"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ include "outrigger.resourceName" (dict "suffix" "admission-policy-rolebinding" "context" $) }}
  annotations:
    helm.sh/resource-policy: keep
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ include "outrigger.resourceName" (dict "suffix" "admission-policy-role" "context" $) }}
subjects:
- kind: ServiceAccount
  name: ` + serviceAccount + `
  namespace: {{ .Release.Namespace }}
{{- end }}
`,
	"templates/monitoring/prometheusrule.yaml": `{{- if .Values.alerts.enabled }}
# Outrigger's alerting rules (config/prometheus/alerts.yaml; docs/operations.md, "Alerts").
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: {{ include "outrigger.resourceName" (dict "suffix" "alerts" "context" $) }}
  namespace: {{ .Release.Namespace }}
  labels:
    app.kubernetes.io/name: {{ include "outrigger.name" . }}
    app.kubernetes.io/instance: {{ .Release.Name }}
    app.kubernetes.io/managed-by: {{ .Release.Service }}
    {{- with .Values.alerts.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
{{ .Files.Get "files/alerts.yaml" | indent 2 }}
{{- end }}
`,
	"templates/monitoring/dashboard.yaml": `{{- if .Values.dashboard.enabled }}
# Outrigger's Grafana dashboard (config/grafana/outrigger.json), for Grafana's sidecar
# to load from ConfigMaps labelled grafana_dashboard.
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "outrigger.resourceName" (dict "suffix" "dashboard" "context" $) }}
  namespace: {{ .Values.dashboard.namespace | default .Release.Namespace }}
  labels:
    app.kubernetes.io/name: {{ include "outrigger.name" . }}
    app.kubernetes.io/instance: {{ .Release.Name }}
    app.kubernetes.io/managed-by: {{ .Release.Service }}
    {{- with .Values.dashboard.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
data:
  outrigger.json: |-
{{ .Files.Get "files/outrigger.json" | indent 4 }}
{{- end }}
`,
}

// extraValues are the values of what the plugin has no values for, appended.
const extraValues = `
## Namespaces whose pods the pod webhook never sees, besides kube-system,
## kube-node-lease and the release's own namespace (namespaces and pods labelled
## sidecars.outrigger.dev/inject=false are skipped as well).
##
excludedNamespaces: []

## The admission policies of config/policy (docs/injection.md, docs/operations.md).
##
policies:
  ## The ValidatingAdmissionPolicy that lets only the manager change a pod's Outrigger
  ## metadata (injection record, upgrade state).
  podMetadata:
    enabled: true
  ## The MutatingAdmissionPolicy that turns a pod's sidecars-ready gate True without the
  ## operator (API servers 1.36 and later).
  sidecarsReady:
    enabled: true

## Alerting rules (docs/operations.md, "Alerts") as a PrometheusRule for the Prometheus
## Operator; the same rules are config/prometheus/alerts.yaml for a plain Prometheus.
##
alerts:
  enabled: false
  ## Labels the Prometheus Operator's ruleSelector matches.
  ##
  labels: {}

## The Grafana dashboard (config/grafana/outrigger.json) as a ConfigMap, for Grafana's
## dashboard sidecar.
##
dashboard:
  enabled: false
  ## Default: the release's namespace.
  ##
  # namespace: ""
  labels:
    grafana_dashboard: "1"
`

func patch(chart string) error {
	for _, e := range edits {
		p := filepath.Join(chart, e.file)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if n := strings.Count(string(b), e.old); n != 1 {
			return fmt.Errorf("%s: the text to patch (%s) occurs %d times, not once: has kubebuilder's output changed?\n%s",
				e.file, e.why, n, e.old)
		}
		if err := os.WriteFile(p, []byte(strings.Replace(string(b), e.old, e.new, 1)), 0o644); err != nil {
			return err
		}
	}
	for _, w := range wraps {
		p := filepath.Join(chart, w.file)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := "{{- if " + w.cond + " }}\n" + strings.TrimSuffix(string(b), "\n") + "\n{{- end }}\n"
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			return err
		}
	}
	for rel, content := range added {
		if err := write(chart, rel, content); err != nil {
			return err
		}
	}
	values := filepath.Join(chart, valuesFile)
	b, err := os.ReadFile(values)
	if err != nil {
		return err
	}
	return os.WriteFile(values, append(b, extraValues...), 0o644)
}
