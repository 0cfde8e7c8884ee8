# AdvDistill — the two set-up commands on a fresh machine are `make demo` and `make test`.
SHELL := /bin/bash
SWIFT ?= swift
BIN := .build/release/advdistill
DEBIAN_PACKAGES := libopenblas-dev libpng-dev libjpeg-dev zlib1g-dev pkg-config dataset-fashion-mnist
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: deps data build test bench bench-compare clean demo demo-full demo-teachers report-screenshot fuzz fuzz-build asan

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

## demo-teachers: train the two shipped smallcnn teachers (hours on 2 cores) and refresh Configs/demo/teachers/.
## Resumable: a teacher whose run has a checkpoint continues from it (--resume; a finished one is not retrained),
## so stopping and starting again many times loses at most one batch; to retrain from scratch, move runs/fmnist-teacher-*
## away first. TEACHER_THREADS sets the kernel threads.
TEACHER_THREADS ?= $(shell nproc)
demo-teachers: build data
	@for t in natural pgdat; do \
	  run=runs/fmnist-teacher-$$t; resume=""; \
	  if [ -f $$run/checkpoint.safetensors ]; then resume=--resume; echo "demo-teachers: continuing $$run"; fi; \
	  $(BIN) train --config Configs/fmnist-teacher-$$t.json --threads $(TEACHER_THREADS) $$resume || exit $$?; \
	done
	for t in natural pgdat; do \
	  mkdir -p Configs/demo/teachers/teacher-$$t; \
	  for f in best.safetensors config.json metrics.jsonl; do cp runs/fmnist-teacher-$$t/$$f Configs/demo/teachers/teacher-$$t/; done; \
	  $(BIN) eval --checkpoint runs/fmnist-teacher-$$t/best.safetensors --data Data/fashion-mnist --eps 0.1 \
	    --attacks fgsm,pgd20,cw30,aa --limit 1000 --eps-sweep 0,0.025,0.05,0.075,0.1,0.125,0.15 \
	    --json Configs/demo/teachers/teacher-$$t/eval.json --overwrite; \
	done

FUZZ_TARGETS ?= safetensors idx cifar png jpeg config
FUZZ_SECONDS ?= 60
FUZZ_DIR := runs/fuzz
FUZZ_CORPUS := Tests/Fixtures/fuzz
FUZZ_BIN := .build-fuzz/release/advdistill-fuzz
# libFuzzer and AddressSanitizer for the Swift code, coverage and ASan for the C target (CImageCodecs);
# lld links it (gold fails on the sanitizer runtimes). The system libpng, libjpeg and zlib are not
# rebuilt, so they are neither instrumented nor checked by ASan: our glue around them is.
FUZZ_FLAGS := -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xcc -fsanitize=fuzzer-no-link,address \
  -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld
# A hang (one input over 10 s), more than 2 GB resident, or a leak fails a target.
FUZZ_OPTIONS := -timeout=10 -rss_limit_mb=2048 -detect_leaks=1 -print_final_stats=1
# Swift's own crash reporter would hold the process after libFuzzer's report; libFuzzer reports crashes.
FUZZ_ENV := SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=1:max_allocation_size_mb=2048

## fuzz-build: the libFuzzer + AddressSanitizer build of advdistill-fuzz, in .build-fuzz.
fuzz-build: deps
	$(SWIFT) build -c release --build-path .build-fuzz --product advdistill-fuzz $(FUZZ_FLAGS)

## fuzz: libFuzzer on every parser (FUZZ_TARGETS) for FUZZ_SECONDS each (default 60), one after another,
## from a scratch copy of the seed corpus Tests/Fixtures/fuzz/<target>/ in runs/fuzz/<target>/. Prints the
## inputs executed per target; a crash, hang, OOM or leak fails it and keeps the input in runs/fuzz/<target>/.
fuzz: fuzz-build
	@failed=""; summary=""; \
	for t in $(FUZZ_TARGETS); do \
	  dir=$(FUZZ_DIR)/$$t; rm -rf $$dir; mkdir -p $$dir/corpus; \
	  find $(FUZZ_CORPUS)/$$t -type f -exec cp {} $$dir/corpus/ \; ; \
	  echo "fuzz $$t: $(FUZZ_SECONDS) s from $$(ls $$dir/corpus | wc -l) seed files (log: $$dir/fuzz.log)"; \
	  $(FUZZ_ENV) $(FUZZ_BIN) $$t $$dir/corpus -max_total_time=$(FUZZ_SECONDS) $(FUZZ_OPTIONS) \
	    -artifact_prefix=$$dir/ > $$dir/fuzz.log 2>&1; rc=$$?; \
	  runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$dir/fuzz.log); \
	  rate=$$(sed -n 's/^stat::average_exec_per_sec: *//p' $$dir/fuzz.log); \
	  artifacts=$$(find $$dir -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \)); \
	  if [ $$rc -eq 0 ] && [ -z "$$artifacts" ]; then verdict=passed; else verdict="FAILED (exit $$rc) $$artifacts"; failed="$$failed $$t"; \
	    grep -m1 -E '^==[0-9]+== ?ERROR|^ERROR: libFuzzer|deadly signal|Fatal error' $$dir/fuzz.log; fi; \
	  line=$$(printf '%-12s %10s inputs  %7s/s  %s' $$t "$${runs:-?}" "$${rate:-?}" "$$verdict"); \
	  echo "  $$line"; summary="$$summary$$line\n"; \
	done; \
	echo; echo "make fuzz: $(FUZZ_SECONDS) s per target"; printf "$$summary"; \
	if [ -n "$$failed" ]; then echo "make fuzz: failed:$$failed"; exit 1; fi

## asan: the replay driver built with AddressSanitizer (.build-asan) over the committed corpus and, if
## `make fuzz` has run, the corpus it grew in runs/fuzz/: every decoder and parser, C glue included.
asan: deps
	$(SWIFT) build --build-path .build-asan --product advdistill-fuzz --sanitize=address
	@for t in $(FUZZ_TARGETS); do \
	  dirs=$(FUZZ_CORPUS)/$$t; [ -d $(FUZZ_DIR)/$$t/corpus ] && dirs="$$dirs $(FUZZ_DIR)/$$t/corpus"; \
	  $(FUZZ_ENV) .build-asan/debug/advdistill-fuzz $$t $$dirs > .build-asan/replay-$$t.log 2>&1 \
	    || { cat .build-asan/replay-$$t.log | tail -40; echo "make asan: $$t FAILED"; exit 1; }; \
	  tail -1 .build-asan/replay-$$t.log; \
	done

clean:
	rm -rf .build .build-fuzz .build-asan runs

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
