# configurable-http-proxy for the JupyterHub suite (tests/hub), at the version pinned in
# tests/hub/package-lock.json. Included by the Makefile; `make test` depends on hub-deps.
# jupyterhub itself comes from PyPI with the `test` extras (pyproject.toml).

HUB_DIR     := tests/hub
HUB_MODULES := $(HUB_DIR)/node_modules/.package-lock.json

.PHONY: hub-deps test-hub hub-clean

$(HUB_MODULES): $(HUB_DIR)/package.json $(HUB_DIR)/package-lock.json
	cd $(HUB_DIR) && npm ci --no-audit --no-fund

## configurable-http-proxy from npm, for the JupyterHub suite
hub-deps: $(HUB_MODULES)

## the JupyterHub suite alone: one real hub, two people, one local Loom (~40 s)
test-hub: venv hub-deps
	$(PY) -m pytest tests/hub

hub-clean:
	rm -rf $(HUB_DIR)/node_modules
