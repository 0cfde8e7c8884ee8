# AdvDistill — the two set-up commands on a fresh machine are `make demo` and `make test`.
SHELL := /bin/bash
SWIFT ?= swift
BIN := .build/release/advdistill
DEBIAN_PACKAGES := libopenblas-dev libpng-dev libjpeg-dev zlib1g-dev pkg-config dataset-fashion-mnist libopenmpi-dev openmpi-bin
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: deps data build test bench bench-mpi bench-compare clean demo demo-full demo-teachers report-screenshot fuzz fuzz-build asan \
  interop-venv check-interop onnx-schema tensorboard-schema protoc-swift

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

# AVX2 code generation when, and only when, this machine has it: given the features of a Haswell
# (AVX2, FMA, BMI1/2, F16C, MOVBE, LZCNT), LLVM emits 256-bit code for the Swift kernels (the Winograd
# transforms run eight channels per vector); otherwise the build targets baseline x86-64 as before. The
# results are bit for bit the same either way: Swift does not contract a·b + c into FMA, and the one fused
# multiply-add the kernels ask for (the Winograd SIMD products' `addProduct`) rounds once on every CPU, as one
# instruction here and as a libm `fmaf` call per lane without CPU_FLAGS (slower, same bits). The binary then
# needs such a CPU, so build on the machine that runs it; CPU_FLAGS= (empty) builds for any x86-64.
HASWELL_FEATURES := avx2 fma bmi1 bmi2 f16c movbe abm
CPU_FLAGS ?= $(shell f=$$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null); \
  for x in $(HASWELL_FEATURES); do [[ " $$f " == *" $$x "* ]] || exit 0; done; \
  echo "-Xswiftc -target-cpu -Xswiftc haswell")

## build: release build of the advdistill command (with AVX2 code where the machine has it: CPU_FLAGS).
build: deps
	$(SWIFT) build -c release --product advdistill $(CPU_FLAGS)

## test: the whole test suite (debug build; compute targets are compiled with -O), with the CPU_FLAGS of
## `build`, so that the tests check the code the release binary runs (a plain `swift test` builds without
## them: same results; switching between the two recompiles .build/debug). The MPI tests run
## `mpirun -np 2` over loopback (shared memory), as root with --allow-run-as-root.
test: deps data
	$(SWIFT) test $(CPU_FLAGS)

## The interop checks run our files through the ecosystem's own readers (PyPI onnx, onnxruntime and tensorboard), installed
## into a project-local venv, .venv-interop/, only when missing. Debian's python3 needs python3-venv for it.
INTEROP_VENV := .venv-interop
INTEROP_PY := $(INTEROP_VENV)/bin/python
INTEROP_PACKAGES := onnx onnxruntime numpy tensorboard

interop-venv:
	@if ! $(INTEROP_PY) -c "import onnx, onnxruntime, numpy, tensorboard" 2>/dev/null; then \
	  echo "make interop-venv: installing $(INTEROP_PACKAGES) into $(INTEROP_VENV)/"; \
	  if ! python3 -m venv $(INTEROP_VENV) 2>/dev/null; then \
	    rm -rf $(INTEROP_VENV); \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null || \
	      { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; }; \
	    python3 -m venv $(INTEROP_VENV); \
	  fi; \
	  $(INTEROP_PY) -m pip install -q $(INTEROP_PACKAGES); \
	fi

## check-interop: every architecture exported to ONNX and run by ONNX Runtime against our logits (random
## weights), onnx.checker on each file, and PGD-20 predictions of a trained checkpoint under both
## (Tests/Interop/check_onnx.py); then a tiny B-MTARD run, killed with SIGKILL and resumed, read back by TensorBoard's
## EventAccumulator (Tests/Interop/check_tensorboard.py, about 20 s). A few minutes on 2 cores; .ci/run runs it after
## make test. INTEROP_ARGS=--full adds wrn-34-10 and dm-wrn-28-10 at their published sizes.
check-interop: build interop-venv
	$(INTEROP_PY) Tests/Interop/check_onnx.py --advdistill $(BIN) --work runs/interop $(INTEROP_ARGS)
	$(INTEROP_PY) Tests/Interop/check_tensorboard.py --advdistill $(BIN) --work runs/interop-tensorboard

## onnx-schema: regenerate Sources/Export/onnx.pb.swift from the onnx.proto of the installed PyPI onnx, with
## Debian's protoc and protoc-gen-swift built from the swift-protobuf this package resolves (no build plugin,
## so ordinary builds never run protoc). PROTOC_GEN_SWIFT=path uses an existing plugin binary.
PROTOC_GEN_SWIFT ?= .build-protoc/release/protoc-gen-swift
# protoc-swift: Debian's protoc, and protoc-gen-swift built from the swift-protobuf this package resolves (both
# schema targets use them).
protoc-swift:
	@dpkg-query -W -f='$${Status}' protobuf-compiler 2>/dev/null | grep -q "ok installed" || \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler
	@if [ ! -x $(PROTOC_GEN_SWIFT) ]; then \
	  $(SWIFT) package resolve && \
	  $(SWIFT) build -c release --package-path .build/checkouts/swift-protobuf --build-path .build-protoc --product protoc-gen-swift; \
	fi
ONNX_SWIFT := Sources/Export/onnx.pb.swift
onnx-schema: interop-venv protoc-swift
	@set -e; tmp=$$(mktemp -d); \
	proto=$$($(INTEROP_PY) -c "import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), 'onnx.proto'))"); \
	version=$$($(INTEROP_PY) -c "import onnx; print(onnx.__version__)"); \
	cp $$proto $$tmp/onnx.proto; \
	protoc --plugin=protoc-gen-swift=$(PROTOC_GEN_SWIFT) --swift_opt=Visibility=Internal --swift_out=$$tmp -I $$tmp $$tmp/onnx.proto; \
	{ echo "// The ONNX schema (onnx.proto of PyPI onnx $$version) as Swift types, generated by \`make onnx-schema\`:"; \
	  echo "// $$(protoc --version) with protoc-gen-swift $$($(PROTOC_GEN_SWIFT) --version 2>&1 | head -1 | sed 's/^protoc-gen-swift //')."; \
	  echo "// Do not edit; regenerate with \`make onnx-schema\`."; echo; cat $$tmp/onnx.pb.swift; } > $(ONNX_SWIFT); \
	rm -rf $$tmp; echo "wrote $(ONNX_SWIFT) from $$proto (onnx $$version)"

## tensorboard-schema: regenerate Sources/TensorBoard/event.pb.swift from Sources/TensorBoard/event.proto (the subset of
## TensorBoard's event.proto and summary.proto that scalar event files need, with TensorBoard's names and numbers),
## with the same protoc and protoc-gen-swift as onnx-schema.
TENSORBOARD_SWIFT := Sources/TensorBoard/event.pb.swift
tensorboard-schema: protoc-swift
	@set -e; tmp=$$(mktemp -d); \
	protoc --plugin=protoc-gen-swift=$(PROTOC_GEN_SWIFT) --swift_opt=Visibility=Internal --swift_out=$$tmp \
	  -I Sources/TensorBoard Sources/TensorBoard/event.proto; \
	{ echo "// TensorBoard's Event, Summary and SessionLog (the subset in event.proto) as Swift types, generated by"; \
	  echo "// \`make tensorboard-schema\` with $$(protoc --version) and protoc-gen-swift $$($(PROTOC_GEN_SWIFT) --version 2>&1 | head -1 | sed 's/^protoc-gen-swift //')."; \
	  echo "// Do not edit; regenerate with \`make tensorboard-schema\`."; echo; cat $$tmp/event.pb.swift; } > $(TENSORBOARD_SWIFT); \
	rm -rf $$tmp; echo "wrote $(TENSORBOARD_SWIFT)"

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

## bench-mpi: the data-parallel training step (smallcnn B-MTARD, resnet18 train) as 2 ranks × 1 thread (mpirun over
## loopback) against 1 rank × 2 threads, with the allreduce time per step and alone for each model's gradient size.
## Rows go to runs/bench/dp-1x2.json and runs/bench/dp-2x1.json (README "Several processes" projects them to N machines).
MPIRUN := mpirun --oversubscribe --mca btl self,vader --bind-to none $(if $(filter 0,$(shell id -u)),--allow-run-as-root,)
bench-mpi: build
	@mkdir -p $(BENCH_DIR)
	$(BENCH_ENV) $(BIN) bench --data-parallel --threads 2 --seconds $(BENCH_SECONDS) --json $(BENCH_DIR)/dp-1x2.json
	$(BENCH_ENV) $(MPIRUN) -np 2 $(BIN) bench --data-parallel --threads 1 --seconds $(BENCH_SECONDS) --json $(BENCH_DIR)/dp-2x1.json

## bench-compare: `make bench`, then the same workloads in PyTorch (bench/torch_reference.py, same batch
## sizes and thread count), eager and torch.compile, and the ratio per row (ours / the faster PyTorch mode). Skips the PyTorch side if it is missing.
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
