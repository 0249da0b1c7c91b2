# Outrigger Makefile, in the spirit of kubebuilder's scaffold.
#
# Tools are pinned in go.mod (`go tool ...`), so a fresh machine needs nothing else
# than Go. The test control plane (kube-apiserver, etcd, kubectl) comes from
# hack/envtest.sh: setup-envtest's store when it is there, a download when possible,
# otherwise a build from the Go module proxy.

IMG ?= outrigger:dev
# The local cluster's registry (hack/cluster.sh), where make image-push puts the image.
REGISTRY ?= 127.0.0.1:15000
IMAGE_DIR ?= $(LOCALBIN)/image
KUBECTL ?= kubectl
# Which operator the e2e suite tests: host (the manager binary on this machine, webhooks
# by URL, as make run), deployed (config/default from its image, make deploy-local) or
# helm (charts/outrigger from its image, make helm-local).
E2E_OPERATOR ?= host
# Where the Prometheus e2e spec keeps the dashboard panels' data (make panels draws them);
# empty: not kept.
E2E_PANELS_OUT ?=
# The operator version the OLM bundle (make bundle) describes.
VERSION ?= 0.1.0
# make bundle: the CSV this version upgrades (spec.replaces), e.g. outrigger.v0.1.0; and
# where bundle/ and bundle.Dockerfile are written (make bundle-build reads them there).
REPLACES ?=
BUNDLE_ROOT ?= $(shell pwd)
# The OLM release images (make bundle-push, make catalog-push).
BUNDLE_IMG ?= $(REGISTRY)/outrigger-bundle:v$(VERSION)
CATALOG_IMG ?= $(REGISTRY)/outrigger-catalog:v$(VERSION)
# The bundle images make catalog-build puts in channel alpha, oldest first, each
# replacing the one before; empty: the bundle make bundle-push pushed last.
CATALOG_BUNDLES ?=
ENVTEST_K8S_VERSION ?= 1.37.2
LOCALBIN ?= $(shell pwd)/bin

CONTROLLER_GEN ?= go tool controller-gen
KUSTOMIZE ?= go tool kustomize
# crane, pinned with ko in hack/image/go.mod (a module of its own: their dependencies stay
# out of the project's).
CRANE ?= go tool -modfile=$(shell pwd)/hack/image/go.mod crane
# CI logs read better without colour codes.
GINKGO_FLAGS ?= $(if $(CI),-ginkgo.no-color)
TEST_FLAGS ?=
BENCH_FLAGS ?= -count 5

# Setting SHELL to bash allows bash commands to be executed by recipes.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: ## Generate the CRD, RBAC and webhook manifests.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd webhook paths="./..." \
		output:crd:artifacts:config=config/crd/bases \
		output:rbac:artifacts:config=config/rbac \
		output:webhook:artifacts:config=config/webhook

.PHONY: generate
generate: ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: docs
docs: manifests ## Generate docs/reference.md, the API reference, from the CRD.
	go run ./hack/apidocs

.PHONY: monitoring
monitoring: ## Generate the Grafana dashboard (config/grafana, from internal/dashboard) and the PrometheusRule of config/prometheus/alerts.yaml.
	go run ./hack/monitoring

.PHONY: test-alerts
test-alerts: ## Test the alerting rules with Prometheus' promtool (config/prometheus/alerts_test.yaml; promtool built once per machine by hack/prometheus.sh).
	@promtool="$$(hack/prometheus.sh | tail -n 1)/promtool"; \
	"$$promtool" check rules config/prometheus/alerts.yaml && \
	"$$promtool" test rules config/prometheus/alerts_test.yaml

.PHONY: panels
panels: ## Draw a PNG per dashboard panel into docs/images/dashboard from the data a Prometheus e2e run kept (make test-e2e E2E_OPERATOR=deployed E2E_PANELS_OUT=bin/e2e-panels.json).
	cd hack/panels && go run . -in $(LOCALBIN)/e2e-panels.json -out ../../docs/images/dashboard

.PHONY: helm
helm: manifests monitoring ## Regenerate the Helm chart charts/outrigger from config/default with kubebuilder's helm plugin (hack/chart); helm lint must pass.
	go run ./hack/chart -out charts/outrigger -helm "$$(hack/helm.sh | tail -n 1)"

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: envtest
envtest: ## Provide kube-apiserver, etcd and kubectl for the tests; prints their directory last.
	@ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) LOCALBIN=$(LOCALBIN) hack/envtest.sh

.PHONY: test
test: manifests generate fmt vet ## Run all unit and integration tests (the integration suites on a real kube-apiserver).
	go test $(TEST_FLAGS) $$(go list ./... | grep -v /test/integration) -coverprofile cover.out
	cd hack/image && go test $(TEST_FLAGS) ./...
	$(MAKE) fuzz
	@assets="$$(ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) LOCALBIN=$(LOCALBIN) hack/envtest.sh | tail -n 1)"; \
	echo "KUBEBUILDER_ASSETS=$$assets"; \
	KUBEBUILDER_ASSETS="$$assets" go test $(TEST_FLAGS) ./test/integration/... -v -args -ginkgo.v $(GINKGO_FLAGS)

# A short pass of every fuzz target (their seeds and corpora also run in plain go test).
FUZZTIME ?= 10s
FUZZ_TARGETS = internal/inject:FuzzInject internal/resources:FuzzCompute internal/validation:FuzzValidateSidecarSet internal/upgrade:FuzzCompute

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 10s).
	@hack/fuzz.sh $(FUZZTIME) $(FUZZ_TARGETS)

.PHONY: test-unit
test-unit: ## Run the unit tests only (no control plane).
	go test $(TEST_FLAGS) $$(go list ./... | grep -v /test/integration)

# INTEGRATION_PROCS > 1 runs the integration specs in that many Ginkgo processes on one
# shared control plane, through the ginkgo CLI (flags in GINKGO_CLI_FLAGS, e.g.
# --randomize-all). Serial by default: on 2 cores it is not faster (docs/testing.md).
INTEGRATION_PROCS ?= 1
GINKGO_CLI_FLAGS ?= $(if $(CI),--no-color)

.PHONY: test-integration
test-integration: ## Run the envtest integration suites only (INTEGRATION_PROCS=2: in parallel).
	@assets="$$(ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) LOCALBIN=$(LOCALBIN) hack/envtest.sh | tail -n 1)"; \
	if [ "$(INTEGRATION_PROCS)" -gt 1 ]; then \
		KUBEBUILDER_ASSETS="$$assets" go tool ginkgo -procs=$(INTEGRATION_PROCS) $(GINKGO_CLI_FLAGS) ./test/integration; \
	else \
		KUBEBUILDER_ASSETS="$$assets" go test $(TEST_FLAGS) ./test/integration/... -v -args -ginkgo.v $(GINKGO_FLAGS); \
	fi

.PHONY: bench
bench: ## Run the Go benchmarks (see docs/benchmarks.md).
	go test -run '^$$' -bench . -benchmem $(BENCH_FLAGS) ./internal/... ./webhooks/...

.PHONY: bench-scale
bench-scale: ## Measure Outrigger at scale on envtest + KWOK (SCALE_PODS, SCALE_SETS, ...; see docs/benchmarks.md). Not part of CI.
	go build -o $(LOCALBIN)/manager .
	@assets="$$(ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) LOCALBIN=$(LOCALBIN) hack/envtest.sh | tail -n 1)"; \
	kwok="$$(LOCALBIN=$(LOCALBIN) hack/kwok.sh | tail -n 1)"; \
	go build -o $(LOCALBIN)/benchscale ./hack/benchscale; \
	$(LOCALBIN)/benchscale --manager $(LOCALBIN)/manager --kwok "$$kwok" --assets "$$assets"

.PHONY: bench-admission
bench-admission: ## Compare the injection engines' admission latency at 100 and 1,000 sets on envtest (docs/benchmarks.md). Not part of CI.
	go build -o $(LOCALBIN)/manager .
	@assets="$$(ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) LOCALBIN=$(LOCALBIN) hack/envtest.sh | tail -n 1)"; \
	go build -o $(LOCALBIN)/benchscale ./hack/benchscale; \
	$(LOCALBIN)/benchscale --phases engines --manager $(LOCALBIN)/manager --assets "$$assets"

.PHONY: bench-gate
bench-gate: ## What the sidecars-ready admission policy costs a kubelet status write, against the operator writing the gate, on envtest (docs/design/ready-without-operator.md). Not part of CI.
	go build -o $(LOCALBIN)/manager .
	@assets="$$(ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) LOCALBIN=$(LOCALBIN) hack/envtest.sh | tail -n 1)"; \
	go build -o $(LOCALBIN)/benchscale ./hack/benchscale; \
	$(LOCALBIN)/benchscale --phases gate --manager $(LOCALBIN)/manager --assets "$$assets" --work $(LOCALBIN)/bench-gate

.PHONY: bench-hostile
bench-hostile: ## Measure what a hostile tenant and callers of the webhook port can make the manager hold, on envtest (docs/benchmarks.md). Not part of CI.
	go build -o $(LOCALBIN)/manager .
	@assets="$$(ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) LOCALBIN=$(LOCALBIN) hack/envtest.sh | tail -n 1)"; \
	go build -o $(LOCALBIN)/benchscale ./hack/benchscale; \
	$(LOCALBIN)/benchscale --phases hostile --manager $(LOCALBIN)/manager --assets "$$assets"

.PHONY: lint
lint: ## Run golangci-lint (kubebuilder's linter set, .golangci.yml; pinned in hack/tools/go.mod).
	go tool -modfile=hack/tools/go.mod golangci-lint run --build-tags e2e ./...
	cd hack/image && go tool -modfile=../tools/go.mod golangci-lint run ./...

.PHONY: verify
verify: ## Regenerate everything and fail on any drift from what is committed.
	$(MAKE) manifests generate bundle docs monitoring helm fmt
	@if [ -n "$$(git status --porcelain -- api config bundle bundle.Dockerfile charts docs controllers webhooks internal main.go go.mod go.sum)" ]; then \
		echo "Generated files are out of date; run 'make manifests generate bundle docs monitoring helm fmt' and commit:"; \
		git status --porcelain -- api config bundle bundle.Dockerfile charts docs controllers webhooks internal main.go go.mod go.sum; \
		git --no-pager diff --stat; \
		exit 1; \
	fi
	go vet ./...
	go mod tidy -diff
	cd hack/image && go vet ./... && go mod tidy -diff
	cd hack/olm && go mod tidy -diff
	cd hack/helm && go mod tidy -diff
	cd hack/kubebuilder && go mod tidy -diff
	cd hack/prometheus && go mod tidy -diff
	cd hack/panels && go vet ./... && go mod tidy -diff
	cd hack/dns && go vet ./... && go mod tidy -diff
	cd hack/krew && go mod tidy -diff

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager binary.
	go build -o $(LOCALBIN)/manager .

# The platforms make plugin-release builds kubectl-outrigger for (os/arch).
PLUGIN_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64

.PHONY: plugin
plugin: ## Build the kubectl plugin kubectl-outrigger into bin/ (put it on PATH: kubectl outrigger ...; docs/cli.md).
	go build -o $(LOCALBIN)/kubectl-outrigger ./cmd/kubectl-outrigger

.PHONY: plugin-release
plugin-release: ## Reproducible kubectl-outrigger archives for PLUGIN_PLATFORMS into bin/plugin, and their krew manifest plugins/outrigger.yaml, checked by krew's validator.
	VERSION=$(VERSION) OUT=$(LOCALBIN)/plugin PLUGIN_PLATFORMS="$(PLUGIN_PLATFORMS)" hack/plugin.sh

.PHONY: run
run: manifests generate fmt vet build ## Run the operator: on the current kubeconfig's cluster, or on an embedded one.
	@assets="$$(ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) LOCALBIN=$(LOCALBIN) hack/envtest.sh | tail -n 1)"; \
	go build -o $(LOCALBIN)/localcluster ./hack/localcluster; \
	exec $(LOCALBIN)/localcluster --manager $(LOCALBIN)/manager --assets "$$assets" --local-dir $(LOCALBIN)/local

.PHONY: image
image: ## Build the manager image without a container engine (ko, linux/amd64 + linux/arm64) into bin/image: OCI layout outrigger/, archive outrigger.tar; prints its digest.
	@mkdir -p $(IMAGE_DIR)
	cd hack/image && go run . -module-root ../.. -out $(IMAGE_DIR)/outrigger -version $(VERSION) -tag outrigger:$(VERSION) > $(IMAGE_DIR)/digest
	@# The archive of the layout, reproducible like the layout: sorted, no times, no owners.
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
		-cf $(IMAGE_DIR)/outrigger.tar -C $(IMAGE_DIR)/outrigger oci-layout index.json blobs
	@cat $(IMAGE_DIR)/digest

.PHONY: image-push
image-push: image ## Push the image to REGISTRY (the local cluster's, 127.0.0.1:15000); prints its reference by digest.
	@$(CRANE) push $(IMAGE_DIR)/outrigger $(REGISTRY)/outrigger:$(VERSION) --image-refs $(IMAGE_DIR)/pushed >/dev/null
	@cat $(IMAGE_DIR)/pushed; echo

.PHONY: docker-build
docker-build: ## Build the manager image with a container engine (the Dockerfile; same layout as make image).
	docker build --build-arg VERSION=$(VERSION) -t $(IMG) .

.PHONY: build-installer
build-installer: manifests generate ## Write dist/install.yaml: every resource needed to install Outrigger.
	mkdir -p dist
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default > dist/install.yaml

##@ Deployment

.PHONY: install
install: manifests ## Install the CRDs into the cluster of the current kubeconfig.
	$(KUSTOMIZE) build config/crd | kubectl apply --server-side -f -

.PHONY: uninstall
uninstall: manifests ## Remove the CRDs from the cluster of the current kubeconfig.
	$(KUSTOMIZE) build config/crd | kubectl delete --ignore-not-found -f -

.PHONY: deploy
deploy: manifests ## Deploy the operator (config/default with image IMG) to the cluster of the current kubeconfig.
	@# Through a throwaway overlay, so that the image set leaves config/ as committed;
	@# config/manager has already renamed the image "controller" to outrigger:dev.
	@mkdir -p $(LOCALBIN); overlay="$$(mktemp -d $(LOCALBIN)/deploy.XXXXXX)"; trap 'rm -rf "$$overlay"' EXIT; \
	printf 'resources:\n- %s\n' "$$(realpath --relative-to="$$overlay" config/default)" >"$$overlay/kustomization.yaml"; \
	(cd "$$overlay" && $(KUSTOMIZE) edit set image outrigger=$(IMG)); \
	$(KUSTOMIZE) build "$$overlay" | $(KUBECTL) apply --server-side -f -

.PHONY: deploy-local
deploy-local: ## On the local cluster (make cluster-up): make image, image-push, deploy; waits for both replicas to be Ready.
	@env="$$(ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) LOCALBIN=$(LOCALBIN) hack/cluster.sh env 2>/dev/null)" || \
		{ echo "deploy-local: the local cluster is not up; start it with make cluster-up (as root)"; exit 1; }; \
	eval "$$env"; start=$$(date +%s); \
	$(MAKE) --no-print-directory image-push REGISTRY="$$OUTRIGGER_E2E_REGISTRY"; \
	KUBECONFIG="$$KUBECONFIG" $(MAKE) --no-print-directory deploy IMG="$$(cat $(IMAGE_DIR)/pushed)" KUBECTL="$$OUTRIGGER_E2E_BIN/kubectl"; \
	"$$OUTRIGGER_E2E_BIN/kubectl" --kubeconfig "$$KUBECONFIG" -n outrigger-system rollout status deployment/outrigger-controller-manager --timeout=5m; \
	"$$OUTRIGGER_E2E_BIN/kubectl" --kubeconfig "$$KUBECONFIG" -n outrigger-system get pods -o wide; \
	echo "deploy-local: $$(( $$(date +%s) - start ))s; export KUBECONFIG=$$KUBECONFIG"

# The Helm release make helm-local installs, and its namespace (config/default's).
HELM_RELEASE ?= outrigger
HELM_NAMESPACE ?= outrigger-system

.PHONY: helm-local
helm-local: ## On the local cluster (make cluster-up): make image, image-push, then helm upgrade --install of charts/outrigger with that image; waits for both replicas to be Ready.
	@env="$$(ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) LOCALBIN=$(LOCALBIN) hack/cluster.sh env 2>/dev/null)" || \
		{ echo "helm-local: the local cluster is not up; start it with make cluster-up (as root)"; exit 1; }; \
	eval "$$env"; start=$$(date +%s); helm="$$(hack/helm.sh | tail -n 1)"; \
	$(MAKE) --no-print-directory image-push REGISTRY="$$OUTRIGGER_E2E_REGISTRY"; \
	kc="$$OUTRIGGER_E2E_BIN/kubectl --kubeconfig $$KUBECONFIG"; \
	$$kc create namespace $(HELM_NAMESPACE) --dry-run=client -o yaml | $$kc apply -f - >/dev/null; \
	$$kc label namespace $(HELM_NAMESPACE) --overwrite pod-security.kubernetes.io/enforce=restricted sidecars.outrigger.dev/inject=false >/dev/null; \
	HELM_CACHE_HOME=$(LOCALBIN)/helm/cache HELM_CONFIG_HOME=$(LOCALBIN)/helm/config HELM_DATA_HOME=$(LOCALBIN)/helm/data \
		"$$helm" --kubeconfig "$$KUBECONFIG" upgrade --install $(HELM_RELEASE) charts/outrigger --namespace $(HELM_NAMESPACE) \
		--set manager.image.repository="$$(cat $(IMAGE_DIR)/pushed)" --wait --timeout 5m; \
	$$kc -n $(HELM_NAMESPACE) get pods -o wide; \
	echo "helm-local: $$(( $$(date +%s) - start ))s; export KUBECONFIG=$$KUBECONFIG"

.PHONY: undeploy
undeploy: ## Remove the operator from the cluster of the current kubeconfig.
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: bundle
bundle: manifests ## Generate the OLM bundle (bundle/, bundle.Dockerfile) into BUNDLE_ROOT (the repository), for VERSION, IMG, REPLACES.
	go run ./hack/bundle --version $(VERSION) --image $(IMG) --output-dir $(BUNDLE_ROOT) $(if $(REPLACES),--replaces $(REPLACES))

.PHONY: bundle-build
bundle-build: ## Build the bundle image from BUNDLE_ROOT's bundle.Dockerfile and bundle/ (no container engine) into bin/image/outrigger-bundle.
	@mkdir -p $(IMAGE_DIR)
	cd hack/image && go run . dockerfile -f $(BUNDLE_ROOT)/bundle.Dockerfile -context $(BUNDLE_ROOT) \
		-out $(IMAGE_DIR)/outrigger-bundle -tag $(BUNDLE_IMG) > $(IMAGE_DIR)/outrigger-bundle.digest
	@cat $(IMAGE_DIR)/outrigger-bundle.digest

.PHONY: bundle-push
bundle-push: bundle-build ## Push the bundle image to BUNDLE_IMG; prints its reference by digest.
	@$(CRANE) push $(IMAGE_DIR)/outrigger-bundle $(BUNDLE_IMG) --image-refs $(IMAGE_DIR)/outrigger-bundle.pushed >/dev/null
	@cat $(IMAGE_DIR)/outrigger-bundle.pushed; echo

.PHONY: catalog-build
catalog-build: ## Render the file-based catalog of CATALOG_BUNDLES with opm (channel alpha) and build its image on opm's into bin/image/outrigger-catalog.
	@bundles="$(CATALOG_BUNDLES)"; [ -n "$$bundles" ] || bundles="$$(cat $(IMAGE_DIR)/outrigger-bundle.pushed 2>/dev/null)" || \
		{ echo "catalog-build: no CATALOG_BUNDLES and no bundle pushed (make bundle-push)"; exit 1; }; \
	LOCALBIN=$(LOCALBIN) hack/olm.sh catalog $(LOCALBIN)/catalog $$bundles
	@LOCALBIN=$(LOCALBIN) hack/olm.sh images >/dev/null
	cd hack/image && go run . catalog -base $(LOCALBIN)/olm/images/opm -configs $(LOCALBIN)/catalog -cache $(LOCALBIN)/catalog.cache \
		-out $(IMAGE_DIR)/outrigger-catalog -tag $(CATALOG_IMG) > $(IMAGE_DIR)/outrigger-catalog.digest
	@cat $(IMAGE_DIR)/outrigger-catalog.digest

.PHONY: catalog-push
catalog-push: catalog-build ## Push the catalog image to CATALOG_IMG; prints its reference by digest.
	@$(CRANE) push $(IMAGE_DIR)/outrigger-catalog $(CATALOG_IMG) --image-refs $(IMAGE_DIR)/outrigger-catalog.pushed >/dev/null
	@cat $(IMAGE_DIR)/outrigger-catalog.pushed; echo

##@ E2E

.PHONY: node-binaries
node-binaries: ## Provide the e2e node's binaries (kubelet, containerd, ...; built once per machine); prints their directory last.
	@ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) LOCALBIN=$(LOCALBIN) hack/node-binaries.sh

.PHONY: e2e-images
e2e-images: ## Build the e2e test images (app, sidecar v1/v2, pause) as OCI archives into bin/e2e-images.
	go run ./test/e2e/images/build -out $(LOCALBIN)/e2e-images

.PHONY: cluster-up
cluster-up: ## Start the single-node e2e cluster (as root); prints its kubeconfig path last.
	@ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) LOCALBIN=$(LOCALBIN) hack/cluster.sh up

.PHONY: cluster-down
cluster-down: ## Stop the e2e cluster and remove what it started and created (its logs stay in bin/cluster/logs).
	@ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) LOCALBIN=$(LOCALBIN) hack/cluster.sh down

.PHONY: cluster-status
cluster-status: ## Show the e2e cluster's processes and node.
	@ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) LOCALBIN=$(LOCALBIN) hack/cluster.sh status

.PHONY: olm-up
olm-up: ## On the local cluster (make cluster-up): build OLM from the module proxy (once per version), push its images, install it; waits for it.
	@start=$$(date +%s); LOCALBIN=$(LOCALBIN) hack/olm.sh up; echo "olm-up: $$(( $$(date +%s) - start ))s"

# The versions make test-olm installs, then upgrades to through the channel.
OLM_FROM ?= 0.1.0
OLM_TO ?= 0.2.0

.PHONY: olm-release
olm-release: ## On the local cluster: the release path for OLM_FROM and OLM_TO (image, bundle, bundle image), then a catalog of each; refs in bin/olm/release.
	@env="$$(ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) LOCALBIN=$(LOCALBIN) hack/cluster.sh env 2>/dev/null)" || \
		{ echo "olm-release: the local cluster is not up; start it with make cluster-up (as root)"; exit 1; }; \
	eval "$$env"; start=$$(date +%s); out=$(LOCALBIN)/olm/release; rm -rf "$$out"; mkdir -p "$$out"; bundles=""; replaces=""; \
	for v in $(OLM_FROM) $(OLM_TO); do \
		$(MAKE) --no-print-directory image-push VERSION=$$v REGISTRY="$$OUTRIGGER_E2E_REGISTRY" >/dev/null; \
		$(MAKE) --no-print-directory bundle VERSION=$$v IMG="$$(cat $(IMAGE_DIR)/pushed)" REPLACES=$$replaces BUNDLE_ROOT="$$out/$$v" >/dev/null; \
		$(MAKE) --no-print-directory bundle-push VERSION=$$v REGISTRY="$$OUTRIGGER_E2E_REGISTRY" BUNDLE_ROOT="$$out/$$v" >/dev/null; \
		bundles="$$bundles $$(cat $(IMAGE_DIR)/outrigger-bundle.pushed)"; \
		$(MAKE) --no-print-directory catalog-push VERSION=$$v REGISTRY="$$OUTRIGGER_E2E_REGISTRY" CATALOG_BUNDLES="$$bundles" >/dev/null; \
		cp $(IMAGE_DIR)/outrigger-catalog.pushed "$$out/catalog-$$v"; \
		echo "olm-release: $$v: bundle $$(cat $(IMAGE_DIR)/outrigger-bundle.pushed), catalog $$(cat "$$out/catalog-$$v")"; \
		replaces=outrigger.v$$v; \
	done; \
	echo "olm-release: $$(( $$(date +%s) - start ))s"

.PHONY: test-olm
test-olm: ## As root: the node, OLM, the release of two versions, then install, use, upgrade and uninstall through OLM (test/e2e, E2E_OPERATOR=olm); tears it down.
	@start=$$(date +%s); status=0; \
	ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) LOCALBIN=$(LOCALBIN) hack/cluster.sh up >/dev/null || status=$$?; \
	[ $$status -ne 0 ] || $(MAKE) --no-print-directory olm-up || status=$$?; \
	[ $$status -ne 0 ] || $(MAKE) --no-print-directory olm-release || status=$$?; \
	if [ $$status -eq 0 ]; then \
		E2E_OPERATOR=olm E2E_OLM_CATALOG_FROM="$$(cat $(LOCALBIN)/olm/release/catalog-$(OLM_FROM))" \
		E2E_OLM_CATALOG_TO="$$(cat $(LOCALBIN)/olm/release/catalog-$(OLM_TO))" E2E_OLM_FROM=$(OLM_FROM) E2E_OLM_TO=$(OLM_TO) \
			go test -tags e2e ./test/e2e/ -count=1 -timeout 30m -v -args -ginkgo.v $(GINKGO_FLAGS) || status=$$?; \
	fi; \
	ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) LOCALBIN=$(LOCALBIN) hack/cluster.sh down || true; \
	echo "test-olm: $$(( $$(date +%s) - start ))s, exit $$status"; \
	exit $$status

.PHONY: test-e2e
test-e2e: build ## Bring the e2e node up, run test/e2e on it with the operator (E2E_OPERATOR=host|deployed|helm), tear it down (as root); prints its time.
	@case "$(E2E_OPERATOR)" in host|deployed|helm) ;; *) echo "E2E_OPERATOR must be host, deployed or helm"; exit 2 ;; esac; \
	start=$$(date +%s); status=0; \
	ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) LOCALBIN=$(LOCALBIN) hack/cluster.sh up || status=$$?; \
	if [ $$status -eq 0 ] && [ "$(E2E_OPERATOR)" = deployed ]; then \
		$(MAKE) --no-print-directory deploy-local || status=$$?; \
	fi; \
	if [ $$status -eq 0 ] && [ "$(E2E_OPERATOR)" = helm ]; then \
		$(MAKE) --no-print-directory helm-local || status=$$?; \
	fi; \
	if [ $$status -eq 0 ]; then \
		prometheus=""; if [ "$(E2E_OPERATOR)" != host ]; then prometheus="$$(hack/prometheus.sh | tail -n 1)/prometheus"; fi; \
		E2E_PROMETHEUS="$$prometheus" E2E_PANELS_OUT="$(E2E_PANELS_OUT)" \
		E2E_HELM="$$(hack/helm.sh | tail -n 1)" E2E_HELM_CHART=$(shell pwd)/charts/outrigger \
		E2E_OPERATOR=$(E2E_OPERATOR) go test -tags e2e ./test/e2e/ -count=1 -timeout 30m -v -args -ginkgo.v $(GINKGO_FLAGS) || status=$$?; \
	fi; \
	ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) LOCALBIN=$(LOCALBIN) hack/cluster.sh down || true; \
	echo "test-e2e ($(E2E_OPERATOR)): $$(( $$(date +%s) - start ))s, exit $$status"; \
	exit $$status
