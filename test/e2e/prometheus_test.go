//go:build e2e

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

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sidecarsv1alpha1 "github.com/outrigger-dev/outrigger/api/v1alpha1"
	"github.com/outrigger-dev/outrigger/internal/dashboard"
	"github.com/outrigger-dev/outrigger/internal/localcluster"
	"github.com/outrigger-dev/outrigger/test/e2e/images"
)

// promAPI is a Prometheus HTTP API on this machine.
type promAPI string

// query is an instant query's vector: each sample's value.
func (p promAPI) query(q string) ([]float64, error) {
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := p.get("/api/v1/query?query="+url.QueryEscape(q), &r); err != nil {
		return nil, err
	}
	var values []float64
	for _, s := range r.Data.Result {
		v, err := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		if err != nil {
			return nil, err
		}
		values = append(values, v)
	}
	return values, nil
}

func (p promAPI) get(path string, into any) error {
	resp, err := http.Get(string(p) + path)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", path, resp.Status, b)
	}
	return json.Unmarshal(b, into)
}

// alertState is the state of an alert for a SidecarSet ("" when it is not active).
func (p promAPI) alertState(name, set string) (string, error) {
	var r struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string
				State  string
			}
		}
	}
	if err := p.get("/api/v1/alerts", &r); err != nil {
		return "", err
	}
	for _, a := range r.Data.Alerts {
		if a.Labels["alertname"] == name && a.Labels["sidecarset"] == set {
			return a.State, nil
		}
	}
	return "", nil
}

// A real Prometheus (E2E_PROMETHEUS, built from the module proxy by hack/prometheus.sh)
// scrapes the deployed operator as config/prometheus says: over HTTPS, with a
// ServiceAccount's token that config/rbac's metrics-reader role is bound to, the
// Service's endpoints found through the API server. It evaluates
// config/prometheus/alerts.yaml as shipped.
// prom is the Prometheus the suite runs beside an in-cluster operator (E2E_PROMETHEUS),
// from BeforeSuite to AfterSuite, so that its data (and the panels drawn from it) cover
// every spec; stopPrometheus ends it.
var (
	prom           promAPI
	stopPrometheus func()
	suiteStart     time.Time
)

// startPrometheus starts Prometheus (E2E_PROMETHEUS, built from the module proxy by
// hack/prometheus.sh) scraping the deployed operator as config/prometheus says: over
// HTTPS, with a ServiceAccount's token that config/rbac's metrics-reader role is bound to,
// the Service's endpoints found through the API server. It evaluates
// config/prometheus/alerts.yaml as shipped.
func startPrometheus(bin string) {
	GinkgoHelper()
	suiteStart = time.Now()
	root, err := localcluster.ModuleRoot()
	Expect(err).NotTo(HaveOccurred())
	dir, err := os.MkdirTemp("", "e2e-prometheus-")
	Expect(err).NotTo(HaveOccurred())
	By("a ServiceAccount for Prometheus, bound to the metrics-reader role, and its token")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "prometheus-", Labels: map[string]string{"metrics": "enabled"}}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "prometheus", Namespace: ns.Name}}
	Expect(k8sClient.Create(ctx, sa)).To(Succeed())
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: ns.Name + "-metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "outrigger-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.Name, Namespace: ns.Name}},
	}
	Expect(k8sClient.Create(ctx, binding)).To(Succeed())
	cs, err := kubernetes.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	tr, err := cs.CoreV1().ServiceAccounts(ns.Name).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	Expect(os.WriteFile(filepath.Join(dir, "token"), []byte(tr.Status.Token), 0o600)).To(Succeed())

	rules, err := os.ReadFile(filepath.Join(root, "config/prometheus/alerts.yaml"))
	Expect(err).NotTo(HaveOccurred())
	Expect(os.WriteFile(filepath.Join(dir, "alerts.yaml"), rules, 0o644)).To(Succeed())
	config := fmt.Sprintf(`global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files: [alerts.yaml]
scrape_configs:
- job_name: outrigger
  scheme: https
  authorization:
    credentials_file: %[1]s/token
  tls_config:
    insecure_skip_verify: true
  kubernetes_sd_configs:
  - role: endpoints
    kubeconfig_file: %[2]s
    namespaces:
      names: [%[3]s]
  relabel_configs:
  - source_labels: [__meta_kubernetes_service_name, __meta_kubernetes_endpoint_port_name]
    regex: outrigger-controller-manager-metrics-service;https
    action: keep
  - source_labels: [__meta_kubernetes_pod_name]
    target_label: pod
`, dir, node.Kubeconfig, operatorNamespace)
	Expect(os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644)).To(Succeed())

	By("starting Prometheus " + bin)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort())
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = GinkgoWriter, GinkgoWriter
	Expect(cmd.Start()).To(Succeed())
	stopPrometheus = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, binding))).To(Succeed())
		Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, ns))).To(Succeed())
	}
	prom = promAPI("http://" + addr)

	By("both replicas scraped over HTTPS with the token")
	Eventually(func(g Gomega) {
		up, err := prom.query(`up{job="outrigger"}`)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(up).To(HaveLen(2))
		g.Expect(up).To(HaveEach(1.0))
	}).WithTimeout(2 * time.Minute).WithPolling(2 * time.Second).Should(Succeed())
}

// stopPrometheusAfterSuite keeps the panels' data when asked (E2E_PANELS_OUT), then
// stops Prometheus.
func stopPrometheusAfterSuite() {
	if stopPrometheus == nil {
		return
	}
	if out := os.Getenv("E2E_PANELS_OUT"); out != "" {
		By("keeping the dashboard panels' data of the whole suite for make panels: " + out)
		Expect(savePanels(prom, suiteStart, out)).To(Succeed())
	}
	stopPrometheus()
}

var _ = Describe("Alerts and dashboard on a real Prometheus", Ordered, func() {
	var (
		selector map[string]string
		set      *sidecarsv1alpha1.SidecarSet
	)
	BeforeAll(func() {
		if stopPrometheus == nil {
			Skip("scrapes the in-cluster operator: run with E2E_OPERATOR=deployed or helm, E2E_PROMETHEUS set (make test-e2e does)")
		}
	})

	It("fires OutriggerRolloutFailing for a broken sidecar image and resolves it on revert; the dashboard's series have data", func() {
		ns2 := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "alerts-"}}
		Expect(k8sClient.Create(ctx, ns2)).To(Succeed())
		selector = map[string]string{"e2e": ns2.Name}
		set = newSidecarSet("alerts-"+ns2.Name, ns2.Name, selector, sidecarsv1alpha1.SidecarModeNative, images.SidecarV1, "1s")
		set.Spec.Containers[0].ImagePullPolicy = corev1.PullIfNotPresent
		set.Spec.UpdateStrategy.MaxUnavailable = new(intstr.FromInt32(1))
		set.Spec.UpdateStrategy.ProgressDeadlineSeconds = ptr.To[int32](20)
		Expect(k8sClient.Create(ctx, set)).To(Succeed())
		DeferCleanup(func() {
			Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, set))).To(Succeed())
			Expect(k8sClient.Delete(ctx, ns2)).To(Succeed())
		})
		Eventually(func(g Gomega) {
			probe := appPod(ns2.Name, selector)
			g.Expect(k8sClient.Create(ctx, probe, client.DryRunAll)).To(Succeed())
			g.Expect(probe.Labels).To(HaveKey(sidecarsv1alpha1.InjectedLabel))
		}).Should(Succeed())
		createReadyDeployment(ns2.Name, selector, 2)
		setImage := func(image string) {
			GinkgoHelper()
			Eventually(func() error {
				if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(set), set); err != nil {
					return err
				}
				set.Spec.Containers[0].Image = image
				return k8sClient.Update(ctx, set)
			}).Should(Succeed())
		}

		By("the injection-latency series has data")
		Eventually(func(g Gomega) {
			v, err := prom.query(`sum(outrigger_injection_duration_seconds_count{job="outrigger"})`)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(v).To(HaveLen(1))
			g.Expect(v[0]).To(BeNumerically(">=", 2))
		}).WithTimeout(time.Minute).WithPolling(2 * time.Second).Should(Succeed())

		By("a sidecar image that cannot be pulled: the upgrade fails at its deadline, the alert fires")
		setImage(missingImage)
		Eventually(func(g Gomega) {
			state, err := prom.alertState("OutriggerRolloutFailing", set.Name)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(state).To(Equal("firing"))
		}).WithTimeout(4 * time.Minute).WithPolling(5 * time.Second).Should(Succeed())

		By("reverting the image: the failed pod is re-driven, the alert resolves")
		setImage(images.SidecarV1)
		Eventually(func(g Gomega) {
			state, err := prom.alertState("OutriggerRolloutFailing", set.Name)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(state).To(BeEmpty())
		}).WithTimeout(4 * time.Minute).WithPolling(5 * time.Second).Should(Succeed())

		By("no leader alert: the leader's gauge is scraped")
		v, err := prom.query(`max(leader_election_master_status{name="outrigger.sidecars.outrigger.dev"})`)
		Expect(err).NotTo(HaveOccurred())
		Expect(v).To(Equal([]float64{1}))

		By("every dashboard query answers on this Prometheus")
		for _, row := range dashboard.Rows {
			for _, p := range row.Panels {
				for _, q := range p.Queries {
					expr := strings.NewReplacer("$sidecarset", ".*", "$__rate_interval", "1m").Replace(q.Expr)
					_, err := prom.query(expr)
					Expect(err).NotTo(HaveOccurred(), "panel %q: %s", p.Title, expr)
				}
			}
		}
	})
})

// savePanels writes every dashboard query's range since start, by panel, as JSON for
// hack/panels to draw (points without a value, as a quantile of no requests, left out).
func savePanels(prom promAPI, start time.Time, out string) error {
	end := time.Now()
	type series struct {
		Legend string       `json:"legend"`
		Points [][2]float64 `json:"points"`
	}
	type panel struct {
		Title  string   `json:"title"`
		Unit   string   `json:"unit"`
		Series []series `json:"series"`
	}
	var panels []panel
	for _, row := range dashboard.Rows {
		for _, p := range row.Panels {
			pp := panel{Title: p.Title, Unit: p.Unit}
			for _, q := range p.Queries {
				expr := strings.NewReplacer("$sidecarset", ".*", "$__rate_interval", "1m").Replace(q.Expr)
				var r struct {
					Data struct {
						Result []struct {
							Metric map[string]string
							Values [][2]any
						}
					}
				}
				path := fmt.Sprintf("/api/v1/query_range?query=%s&start=%d&end=%d&step=15", url.QueryEscape(expr), start.Unix(), end.Unix())
				if err := prom.get(path, &r); err != nil {
					return err
				}
				for _, s := range r.Data.Result {
					legend := q.Legend
					for k, v := range s.Metric {
						legend = strings.ReplaceAll(legend, "{{"+k+"}}", v)
					}
					se := series{Legend: legend}
					for _, v := range s.Values {
						t, _ := v[0].(float64)
						f, err := strconv.ParseFloat(fmt.Sprint(v[1]), 64)
						if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
							continue
						}
						se.Points = append(se.Points, [2]float64{t, f})
					}
					pp.Series = append(pp.Series, se)
				}
			}
			panels = append(panels, pp)
		}
	}
	b, err := json.MarshalIndent(panels, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, b, 0o644)
}
