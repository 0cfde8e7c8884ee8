# AdvDistill — the two set-up commands on a fresh machine are `make demo` and `make test`.
SHELL := /bin/bash
SWIFT ?= swift
BIN := .build/release/advdistill
DEBIAN_PACKAGES := libopenblas-dev libpng-dev libjpeg-dev zlib1g-dev pkg-config dataset-fashion-mnist
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: deps data build test bench bench-compare clean

## deps: install the Debian packages the build and the demo need (only those missing).
deps:
	@missing=""; \
	for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(SUDO) apt-get install -y -qq $$missing >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; }; \
	fi

## data: Fashion-MNIST (the default dataset) from Debian's dataset-fashion-mnist, linked as Data/fashion-mnist.
data: deps
	ln -sfn /usr/share/datasets/fashion-mnist Data/fashion-mnist

## build: release build of the advdistill command.
build: deps
	$(SWIFT) build -c release --product advdistill

## test: the whole test suite (debug build; compute targets are compiled with -O).
test: deps
	$(SWIFT) test

BENCH_DIR := runs/bench
BENCH_THREADS ?= $(shell nproc)
BENCH_SECONDS ?= 3

## bench: throughput on this machine: images/s, GFLOP/s, fraction of the measured sgemm peak, peak RSS
## per workload (bench/README.md). Rows also go to runs/bench/advdistill.json.
bench: build
	@mkdir -p $(BENCH_DIR)
	$(BIN) bench --threads $(BENCH_THREADS) --seconds $(BENCH_SECONDS) --json $(BENCH_DIR)/advdistill.json

## bench-compare: `make bench`, then the same workloads in PyTorch (bench/torch_reference.py, same batch
## sizes and thread count) and the ratio per row (ours / PyTorch). Skips the PyTorch side if it is missing.
bench-compare: bench
	@if python3 -c "import torch" 2>/dev/null; then \
	  python3 bench/torch_reference.py --threads $(BENCH_THREADS) --seconds $(BENCH_SECONDS) --json $(BENCH_DIR)/torch.json \
	    --compare $(BENCH_DIR)/advdistill.json; \
	else \
	  echo "bench-compare: PyTorch is not installed (pip install torch), so only our side ran."; \
	fi

clean:
	rm -rf .build runs
