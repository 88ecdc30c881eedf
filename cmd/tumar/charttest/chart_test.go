// Package charttest renders the Helm chart under deploy/helm offline and
// decodes every object strictly into the Kubernetes API types, so that a
// misspelt field or a wrong API version fails here and not in a cluster.
package charttest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/tumarproject/tumar/gateway/config"
)

// Prometheus operator objects: not in k8s.io/api, so checked with the
// fields the chart uses.
type serviceMonitor struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata"`
	Spec       struct {
		Selector  map[string]any `json:"selector"`
		Endpoints []struct {
			Port, Scheme, Path, Interval string
			TLSConfig                    map[string]any `json:"tlsConfig"`
		} `json:"endpoints"`
	} `json:"spec"`
}

type prometheusRule struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata"`
	Spec       struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for,omitempty"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

func render(t *testing.T) map[string][]any {
	t.Helper()
	ch, err := loader.Load(filepath.Join("..", "..", "..", "deploy", "helm", "tumar"))
	if err != nil {
		t.Fatal(err)
	}
	vals, err := chartutil.ToRenderValues(ch, ch.Values, chartutil.ReleaseOptions{Name: "tumar", Namespace: "nrm", IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.Render(ch, vals)
	if err != nil {
		t.Fatal(err)
	}
	objs := map[string][]any{}
	names := make([]string, 0, len(out))
	for n := range out {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		for _, doc := range strings.Split(out[name], "\n---") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			js, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				t.Fatalf("%s: not YAML: %v", name, err)
			}
			var head struct{ APIVersion, Kind string }
			json.Unmarshal(js, &head)
			obj := typed(head.APIVersion, head.Kind)
			if obj == nil {
				t.Fatalf("%s: %s %s is not a kind the chart should make", name, head.APIVersion, head.Kind)
			}
			dec := json.NewDecoder(bytes.NewReader(js))
			dec.DisallowUnknownFields()
			if err := dec.Decode(obj); err != nil {
				t.Fatalf("%s: %s does not decode strictly: %v", name, head.Kind, err)
			}
			objs[head.Kind] = append(objs[head.Kind], obj)
		}
	}
	return objs
}

func typed(apiVersion, kind string) any {
	switch apiVersion + " " + kind {
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}
	case "v1 Service":
		return &corev1.Service{}
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &serviceMonitor{}
	case "monitoring.coreos.com/v1 PrometheusRule":
		return &prometheusRule{}
	}
	return nil
}

func TestChartRendersValidObjects(t *testing.T) {
	objs := render(t)
	for _, kind := range []string{"Deployment", "Service", "ServiceAccount", "ConfigMap", "PodDisruptionBudget", "HorizontalPodAutoscaler",
		"NetworkPolicy", "ServiceMonitor", "PrometheusRule"} {
		if len(objs[kind]) != 1 {
			t.Errorf("the chart makes %d %s, want 1", len(objs[kind]), kind)
		}
	}
	dep := objs["Deployment"][0].(*appsv1.Deployment)
	if *dep.Spec.Replicas < 2 {
		t.Errorf("replicas = %d, want at least 2", *dep.Spec.Replicas)
	}
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	if pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot || !*c.SecurityContext.ReadOnlyRootFilesystem || *c.SecurityContext.AllowPrivilegeEscalation {
		t.Error("the gateway must run as non-root on a read-only root file system")
	}
	if len(c.Env) == 0 || c.Env[0].ValueFrom == nil || c.Env[0].ValueFrom.SecretKeyRef == nil {
		t.Error("the database address must come from a Secret by reference")
	}
	hpa := objs["HorizontalPodAutoscaler"][0].(*autoscalingv2.HorizontalPodAutoscaler)
	if *hpa.Spec.MinReplicas < 2 {
		t.Error("the autoscaler may scale below two replicas")
	}
	if pdb := objs["PodDisruptionBudget"][0].(*policyv1.PodDisruptionBudget); pdb.Spec.MinAvailable.IntValue() < 1 {
		t.Error("the disruption budget allows no replica")
	}
	if np := objs["NetworkPolicy"][0].(*networkingv1.NetworkPolicy); len(np.Spec.PolicyTypes) != 2 {
		t.Error("the network policy must restrict ingress and egress")
	}
	rules := objs["PrometheusRule"][0].(*prometheusRule)
	alerts := map[string]bool{}
	for _, g := range rules.Spec.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
		}
	}
	for _, a := range []string{"TumarKeyStoreUnavailable", "TumarAuditWriteFailures", "TumarTokenReplayAttempts", "TumarQuarantineGrowing"} {
		if !alerts[a] {
			t.Errorf("alert %s missing", a)
		}
	}
	// The gateway's configuration in the ConfigMap is valid, uses Vault's
	// Kubernetes login, and holds no secret.
	cm := objs["ConfigMap"][0].(*corev1.ConfigMap)
	body := cm.Data["config.yaml"]
	if strings.Contains(body, "password") || strings.Contains(body, "token:") {
		t.Error("the ConfigMap holds a secret")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	os.WriteFile(path, []byte(body), 0o600)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("the chart's gateway configuration does not load:\n%v", err)
	}
	if cfg.Keys.Type != "vault" || cfg.Keys.Vault.Auth.Method != "kubernetes" || cfg.Store.Type != "postgres" {
		t.Errorf("keys %s/%s, store %s: want Vault with Kubernetes login and PostgreSQL", cfg.Keys.Type, cfg.Keys.Vault.Auth.Method, cfg.Store.Type)
	}
}
