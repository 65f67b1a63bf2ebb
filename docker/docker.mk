# Container verbs, included by the top-level Makefile. See docker/README.md for the table.
#
#   make shell-router      fused shell: ccrelay (scenario routing) + claude in one container
#   make shell-litellm     fused shell with a LiteLLM-style model map
#   make up / down / logs  distributed: router service :3000, model-map service :4000, client
#   make switch-to-router / switch-to-litellm / shell
#   make image / test-container / clean
#
# Docker and Podman both work: CONTAINER=podman make shell-router. Every variable below can be
# set on the command line or in the environment. Nothing here runs unless one of these targets
# is asked for (all variables are expanded lazily), so `make` and `make check` never need an
# engine.

CONTAINER           ?= docker
IMAGE               ?= ccrelay:latest
CLAUDE_CODE_VERSION ?= 2.1.331
# the user's project, mounted as the working directory (/workspace)
PROJECT             ?= $(CURDIR)
# config.json and custom-router.lua, mounted read-only as the container's ~/.ccrelay: edits on
# the host reload inside the container (the whole directory is mounted, so editors that save by
# renaming are seen too)
CCRELAY_HOME        ?= $(HOME)/.ccrelay
# shell-router: a config file to use instead of $(CCRELAY_HOME)/config.json (or the embedded
# default when there is none); its directory is mounted, read-only
CONFIG              ?=
LITELLM_CONFIG      ?= config/litellm_config.example.yaml
# the distributed router service's config (a path inside the container; it must set APIKEY to
# listen beyond loopback: "APIKEY": "$CCRELAY_APIKEY")
ROUTER_CONFIG       ?= /usr/local/share/ccrelay/docker/router.json
# keys passed from the caller's environment (never written into an image)
PASS_ENV            ?= GEMINI_API_KEY OPENROUTER_API_KEY
# an extra CA bundle for apt and npm during the build (TLS-inspecting proxies): the host's own
CA_BUNDLE           ?= $(firstword $(wildcard /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem))
# the container user's uid: the caller's, so files it writes in the project are the caller's
# (a caller who is root runs the containers as root: their files are root's, mode 0700 often)
USER_UID            ?= $(shell u=$$(id -u); [ "$$u" -eq 0 ] && echo 1000 || echo $$u)
RUN_AS              ?= $(shell [ "$$(id -u)" -eq 0 ] && echo 0:0 || echo claude)
# a command to run instead of the interactive shell: make shell-router ARGS='claude -p hi'
ARGS                ?=
BUILD_FLAGS         ?=
RUN_FLAGS           ?=
# extra bind-mount options, e.g. MOUNT_OPTS=z on SELinux hosts
MOUNT_OPTS          ?=
DOCKER_STATE        ?= build/docker
COMPOSE             ?= $(if $(filter podman,$(notdir $(CONTAINER))),$(shell command -v podman-compose >/dev/null 2>&1 && echo podman-compose || echo podman compose),$(CONTAINER) compose)

# Podman: explicit ulimits (its defaults can exceed what an unprivileged or nested host allows)
# and runc where installed; rootless Podman maps the caller's uid to the container user.
_is_podman   = $(filter podman,$(notdir $(CONTAINER)))
_cap         = $(shell bash -c 'n=$$(ulimit -H$(1)); { [ "$$n" = unlimited ] || [ "$$n" -gt $(2) ]; } && n=$(2); echo $$n')
_nofile      = $(call _cap,n,65536)
_nproc       = $(call _cap,u,4096)
_podman_lim  = --ulimit nofile=$(_nofile):$(_nofile) --ulimit nproc=$(_nproc):$(_nproc) $(if $(shell command -v runc 2>/dev/null),--runtime runc)
_podman_run  = $(_podman_lim) $(if $(filter true,$(shell podman info --format '{{.Host.Security.Rootless}}' 2>/dev/null)),--userns=keep-id)
_eng_build   = $(if $(_is_podman),$(_podman_lim))
_eng_run     = $(if $(_is_podman),$(_podman_run))
_tty         = $(shell [ -t 0 ] && [ -t 1 ] && echo -it || echo -i)
_comma      := ,
_ro          = :ro$(if $(MOUNT_OPTS),$(_comma)$(MOUNT_OPTS))
_rw          = $(if $(MOUNT_OPTS),:$(MOUNT_OPTS))
_apikey_file = $(DOCKER_STATE)/apikey
_url_file    = $(DOCKER_STATE)/client-url

# the part of `docker run` both fused shells share
_fused = $(CONTAINER) run --rm $(_tty) $(_eng_run) --user $(RUN_AS) \
	-v '$(abspath $(PROJECT))':/workspace$(_rw) \
	-v '$(abspath $(CCRELAY_HOME))':/home/claude/.ccrelay$(_ro) \
	-v ccrelay-claude:/home/claude/.claude \
	$(foreach v,$(PASS_ENV),-e $(v)) $(RUN_FLAGS)

_compose = CCRELAY_IMAGE='$(IMAGE)' CCRELAY_APIKEY="$$(cat '$(_apikey_file)' 2>/dev/null)" \
	CCRELAY_URL="$$(cat '$(_url_file)' 2>/dev/null || echo http://router:3000)" \
	PROJECT_DIR='$(abspath $(PROJECT))' CCRELAY_HOME_DIR='$(abspath $(CCRELAY_HOME))' \
	LITELLM_DIR='$(abspath $(dir $(LITELLM_CONFIG)))' LITELLM_FILE='$(notdir $(LITELLM_CONFIG))' \
	ROUTER_CONFIG='$(ROUTER_CONFIG)' CCRELAY_USER='$(RUN_AS)' \
	$(COMPOSE) -f docker/compose.yaml -p ccrelay

.PHONY: image shell-router shell-litellm up down logs shell switch-to-router switch-to-litellm \
	clean test-container _need-engine _need-litellm _apikey

_need-engine:
	@command -v $(CONTAINER) >/dev/null 2>&1 || { echo "no '$(CONTAINER)' here: install Docker or Podman (CONTAINER=podman make ...)" >&2; exit 1; }

_need-litellm:
	@[ -f '$(LITELLM_CONFIG)' ] || { echo "LITELLM_CONFIG=$(LITELLM_CONFIG): no such file (a litellm_config.yaml with a model_list)" >&2; exit 1; }

_apikey:
	@mkdir -p '$(DOCKER_STATE)'
	@[ -s '$(_apikey_file)' ] || (umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > '$(_apikey_file)')

image: _need-engine
	DOCKER_BUILDKIT=1 $(CONTAINER) build -f docker/Dockerfile -t $(IMAGE) \
	  --build-arg CLAUDE_CODE_VERSION=$(CLAUDE_CODE_VERSION) --build-arg USER_UID=$(USER_UID) \
	  $(if $(CA_BUNDLE),--secret id=ca_bundle$(_comma)src=$(CA_BUNDLE)) $(_eng_build) $(BUILD_FLAGS) .

shell-router: image
	@mkdir -p '$(CCRELAY_HOME)'
	$(_fused) $(if $(CONFIG),-v '$(abspath $(dir $(CONFIG)))':/etc/ccrelay/config$(_ro) \
	  -e CCRELAY_CONFIG=/etc/ccrelay/config/$(notdir $(CONFIG))) \
	  $(IMAGE) $(ARGS)

shell-litellm: _need-litellm image
	@mkdir -p '$(CCRELAY_HOME)'
	$(_fused) -e CCRELAY_MODE=litellm \
	  -v '$(abspath $(dir $(LITELLM_CONFIG)))':/etc/ccrelay/litellm$(_ro) \
	  -e CCRELAY_LITELLM_CONFIG=/etc/ccrelay/litellm/$(notdir $(LITELLM_CONFIG)) \
	  $(IMAGE) $(ARGS)

up: _need-litellm image _apikey
	@mkdir -p '$(CCRELAY_HOME)'
	$(_compose) up -d
	@echo "router: http://127.0.0.1:3000, model map: http://127.0.0.1:4000 (token: $(_apikey_file)); client -> $$(cat '$(_url_file)' 2>/dev/null || echo http://router:3000); \`make shell\` enters it"

switch-to-router: _apikey
	@mkdir -p '$(DOCKER_STATE)' && echo http://router:3000 > '$(_url_file)'
	$(_compose) up -d --no-deps --force-recreate client

switch-to-litellm: _apikey
	@mkdir -p '$(DOCKER_STATE)' && echo http://litellm:4000 > '$(_url_file)'
	$(_compose) up -d --no-deps --force-recreate client

shell: _need-engine
	$(_compose) exec $(if $(filter -it,$(_tty)),,-T) client ccrelay-shell $(ARGS)

down: _need-engine
	$(_compose) down

logs: _need-engine
	$(_compose) logs --tail=200 -f

# Containers, volumes and the image of this layout, then the build directories.
clean:
	@if $(CONTAINER) info >/dev/null 2>&1; then \
	  $(_compose) down -v || true; \
	  $(CONTAINER) volume rm -f ccrelay-claude >/dev/null 2>&1 || true; \
	  $(CONTAINER) network rm ccrelay_default >/dev/null 2>&1 || true; \
	  $(CONTAINER) image rm $(IMAGE) >/dev/null 2>&1 || true; \
	else echo "clean: no '$(CONTAINER)' engine answers here; removing the build directories only"; fi
	rm -rf build build-asan ccrelay

# Build the image and run it non-interactively against a mock upstream on 127.0.0.1; skips
# (exit 0, with the reason) when no container engine can run here.
test-container:
	@CONTAINER='$(CONTAINER)' CLAUDE_CODE_VERSION='$(CLAUDE_CODE_VERSION)' CA_BUNDLE='$(CA_BUNDLE)' \
	  bash tests/container/run.sh
