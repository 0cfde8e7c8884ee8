# AdvDistill — the two set-up commands on a fresh machine are `make demo` and `make test`.
SHELL := /bin/bash
SWIFT ?= swift
BIN := .build/release/advdistill
DEBIAN_PACKAGES := libopenblas-dev libpng-dev libjpeg-dev zlib1g-dev pkg-config dataset-fashion-mnist
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: deps data build test bench bench-compare clean demo demo-full demo-teachers report-screenshot

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
test: deps data
	$(SWIFT) test

BENCH_DIR := runs/bench
BENCH_THREADS ?= $(shell nproc)
BENCH_SECONDS ?= 3

# Like the demo, the benchmarks ignore an inherited OPENBLAS_CORETYPE (some machines export one) so
# that OpenBLAS and advdistill choose the kernels for this CPU; BENCH_KEEP_BLAS_ENV=1 keeps it.
BENCH_ENV := $(if $(filter 1,$(BENCH_KEEP_BLAS_ENV)),,$(if $(OPENBLAS_CORETYPE),env -u OPENBLAS_CORETYPE,))

## bench: throughput on this machine: images/s, GFLOP/s, fraction of the measured sgemm peak, peak RSS
## per workload (bench/README.md). Rows also go to runs/bench/advdistill.json.
bench: build
	@mkdir -p $(BENCH_DIR)
	@$(if $(BENCH_ENV),echo "note: ignoring the inherited OPENBLAS_CORETYPE=$(OPENBLAS_CORETYPE) (BENCH_KEEP_BLAS_ENV=1 keeps it)",true)
	$(BENCH_ENV) $(BIN) bench --threads $(BENCH_THREADS) --seconds $(BENCH_SECONDS) --json $(BENCH_DIR)/advdistill.json

## bench-compare: `make bench`, then the same workloads in PyTorch (bench/torch_reference.py, same batch
## sizes and thread count) and the ratio per row (ours / PyTorch). Skips the PyTorch side if it is missing.
bench-compare: bench
	@if python3 -c "import torch" 2>/dev/null; then \
	  python3 bench/torch_reference.py --threads $(BENCH_THREADS) --seconds $(BENCH_SECONDS) --json $(BENCH_DIR)/torch.json \
	    --compare $(BENCH_DIR)/advdistill.json; \
	else \
	  echo "bench-compare: PyTorch is not installed (pip install torch), so only our side ran."; \
	fi

## demo: the whole story on real Fashion-MNIST (shipped teachers, three students, attacks, report).
demo: build data
	Configs/demo/run.sh Configs/demo runs/demo

## demo-full: the same with full data and budget, teachers trained from scratch (hours on 2 cores).
demo-full: build data
	Configs/demo/run.sh Configs/demo-full runs/demo-full

## demo-teachers: retrain the two shipped smallcnn teachers and refresh Configs/demo/teachers/.
demo-teachers: build data
	$(BIN) train --config Configs/fmnist-teacher-natural.json
	$(BIN) train --config Configs/fmnist-teacher-pgdat.json
	for t in natural pgdat; do \
	  mkdir -p Configs/demo/teachers/teacher-$$t; \
	  for f in best.safetensors config.json metrics.jsonl; do cp runs/fmnist-teacher-$$t/$$f Configs/demo/teachers/teacher-$$t/; done; \
	  $(BIN) eval --checkpoint runs/fmnist-teacher-$$t/best.safetensors --data Data/fashion-mnist --eps 0.1 \
	    --attacks fgsm,pgd20,cw30,aa --limit 1000 --eps-sweep 0,0.025,0.05,0.075,0.1,0.125,0.15 \
	    --json Configs/demo/teachers/teacher-$$t/eval.json; \
	done

clean:
	rm -rf .build runs

## report-screenshot: render REPORT (default runs/report/report.html) with headless Chromium: a PNG of the
## page as a reader sees it and a PDF as it prints, beside the report. Installs Debian's chromium if needed.
REPORT ?= runs/report/report.html
SHOT_WIDTH ?= 1200
SHOT_HEIGHT ?= 7000
CHROMIUM_FLAGS := --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --disable-extensions
report-screenshot:
	@test -f "$(REPORT)" || { echo "make report-screenshot: no $(REPORT); run advdistill report first or pass REPORT=path/report.html"; exit 1; }
	@command -v chromium >/dev/null || { echo "make report-screenshot: installing chromium"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	chromium $(CHROMIUM_FLAGS) --window-size=$(SHOT_WIDTH),$(SHOT_HEIGHT) \
	  --screenshot="$(abspath $(basename $(REPORT))).png" "file://$(abspath $(REPORT))" 2>/dev/null
	chromium $(CHROMIUM_FLAGS) --no-pdf-header-footer \
	  --print-to-pdf="$(abspath $(basename $(REPORT))).pdf" "file://$(abspath $(REPORT))" 2>/dev/null
	@echo "wrote $(basename $(REPORT)).png and $(basename $(REPORT)).pdf"
