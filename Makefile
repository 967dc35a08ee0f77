# chaos-agent — run `make` for the list of targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
IMAGE   ?= ghcr.io/chaos-agent/chaos-agent:$(VERSION)
LDFLAGS := -s -w -X github.com/chaos-agent/chaos-agent/internal/version.version=$(VERSION) \
           -X github.com/chaos-agent/chaos-agent/internal/version.commit=$(COMMIT)

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: demo
demo: ## the main job: the seed tutorial's experiment on a local cluster (1 vs 2 replicas)
	hack/demo.sh

.PHONY: e2e
e2e: ## the seed tutorial end to end on real containers (real node): Argo and native engines, scores 0 and 100, stop
	hack/e2e.sh

.PHONY: test
test: ## everything: static checks, unit tests (-race) and integration tests on a real local cluster
	hack/test.sh

.PHONY: test-unit
test-unit: ## unit tests only (-race); integration tests skip without a cluster
	go test -race -count=1 ./...

.PHONY: test-fast
test-fast: ## the fast tier: go test -short -race, no cluster, no root (about 1 min); integration tests skip
	env -u CHAOS_AGENT_REQUIRE_CLUSTER go test -short -race -count=1 ./...

.PHONY: bench
bench: ## benchmarks on the real local cluster, printing their figures
	hack/bench.sh

.PHONY: build
build: ## build bin/chaos-agent
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/chaos-agent ./cmd/chaos-agent

# golangci-lint is built from the module proxy at this version into a cache outside the repo
# (nothing is vendored; a present binary of the right version is reused).
GOLANGCI_LINT_VERSION := v2.15.0
TOOLS_DIR ?= $(HOME)/.cache/chaos-agent/tools
GOLANGCI_LINT := $(TOOLS_DIR)/golangci-lint

.PHONY: lint
lint: golangci-lint ## gofmt, go vet and golangci-lint (.golangci.yml: layering, context/clock rules, errcheck, staticcheck, revive)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	go vet ./...
	$(GOLANGCI_LINT) run ./...
	# hack/mkimage is a module of its own (go-containerregistry stays out of go.mod): same rules
	cd hack/mkimage && go vet ./... && $(GOLANGCI_LINT) run --config ../../.golangci.yml ./...

.PHONY: golangci-lint
golangci-lint: ## install golangci-lint $(GOLANGCI_LINT_VERSION) into $(TOOLS_DIR) unless it is there
	@if [ "$$($(GOLANGCI_LINT) version --short 2>/dev/null)" != "$(GOLANGCI_LINT_VERSION:v%=%)" ]; then \
		echo "installing golangci-lint $(GOLANGCI_LINT_VERSION) into $(TOOLS_DIR) (from the module proxy; a few minutes)"; \
		GOBIN=$(TOOLS_DIR) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION); \
	fi

.PHONY: fmt
fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

REAL_NODE ?= 0

.PHONY: cluster-build cluster-up cluster-down
cluster-build: ## build the local cluster's binaries (cached outside the repo; REAL_NODE=1: also the real node's)
	ARGO=1 REAL_NODE=$(REAL_NODE) hack/cluster.sh build
cluster-up: ## start the local cluster with Argo in network namespace chaos-agent-dev (REAL_NODE=1: with a real node)
	ARGO=1 REAL_NODE=$(REAL_NODE) NETNS=chaos-agent-dev hack/cluster.sh up
cluster-down: ## stop the local cluster
	NETNS=chaos-agent-dev hack/cluster.sh down

.PHONY: images
images: ## build the image archives without Docker (chaos-agent, e2e app, pause, CoreDNS, Argo, step images) into the cluster cache
	VERSION=$(VERSION) COMMIT=$(COMMIT) CHAOS_AGENT_IMAGE=$(IMAGE) hack/cluster.sh images

.PHONY: image
image: ## build the container image with Docker (needs a Docker engine; `make images` needs none)
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) .

.PHONY: manifests
manifests: ## regenerate the Argo CRD copy and the install examples under manifests/ (hack/update-manifests.sh)
	hack/update-manifests.sh
