# xnai-edge: `make demo` and `make test` do all the set-up on a fresh Debian machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages: compilers for llama-cpp-python, PortAudio for sounddevice, sqlite3 CLI for
# poking at the knowledge base, systemd for `systemd-analyze verify` in tests; Mosquitto (a real
# broker started by the MQTT tests), openssl (their TLS CA), Chromium + ChromeDriver (the status
# page in a real headless browser).
APT_PACKAGES := build-essential cmake python3-venv python3-dev libportaudio2 sqlite3 procps systemd \
                mosquitto mosquitto-clients openssl chromium chromium-driver

# The disk image (make image / image-test only; `make test` never installs these).
IMAGE_APT_PACKAGES := mmdebstrap dosfstools mtools fdisk e2fsprogs zstd bmap-tools binutils
IMAGE_TEST_APT_PACKAGES := qemu-system-x86 ovmf fdisk e2fsprogs systemd
IMAGE := build/xnai-edge-amd64.img

.PHONY: help system-deps install demo test test-fast bench lint lock clean image image-test

help:
	@echo "make demo   - set everything up and answer a few questions from the bundled manual"
	@echo "make test   - set everything up and run the whole test suite"
	@echo "make bench  - print retrieval, ingest and answer benchmarks"
	@echo "make lint   - ruff + mypy"
	@echo "make image - build $(IMAGE) (+ .zst, .bmap): the flashable appliance, docs/image.md"
	@echo "make image-test - boot it in QEMU, check READY, /healthz and the first boot"

system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

install: $(STAMP)

# The venv, the pinned packages (llama-cpp-python compiles once, ~8 min on 2 cores; pip caches
# the wheel) and the tiny model set in the models dir (not the venv: a fresh --data-dir works).
$(STAMP): pyproject.toml requirements.lock | system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	$(BIN)/xnai-edge models install --set tiny
	touch $(STAMP)

demo: install
	$(BIN)/xnai-edge demo

test: install
	$(BIN)/pytest -q --durations=15

test-fast: install
	$(BIN)/pytest -q -m "not slow"

bench: install
	$(BIN)/python tools/bench.py

lint: install
	$(BIN)/ruff check xnai_edge tests tools
	$(BIN)/mypy

lock: install
	$(BIN)/pip freeze --exclude-editable | grep -v '^xnai' > requirements.lock.new
	{ head -2 requirements.lock; cat requirements.lock.new; } > requirements.lock.tmp
	mv requirements.lock.tmp requirements.lock; rm -f requirements.lock.new

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache bench

# Debian packages for the image targets, installed only by them.
define apt_ensure
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi
endef

image: install
	$(call apt_ensure,$(IMAGE_APT_PACKAGES))
	$(SUDO) bash image/build.sh

image-test:
	$(call apt_ensure,$(IMAGE_TEST_APT_PACKAGES))
	@[ -f $(IMAGE) ] || $(MAKE) image
	$(SUDO) python3 image/qemu_test.py --image $(IMAGE)
