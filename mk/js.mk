# The front end (js/ -> loom_jupyter/widgets/static/ and loom_jupyter/labextension/). Included
# by the Makefile. One `npm run build` makes both: the terminal widget's bundle (esbuild) and
# the JupyterLab extension, the Loom panel (@jupyterlab/builder). `pip install -e .` builds them
# once through hatch-jupyter-builder; these targets rebuild them after editing js/ without
# reinstalling the package (mk/lab.mk links the labextension into .venv).

JS_DIR      := js
JS_STATIC   := loom_jupyter/widgets/static
JS_LABEXT   := loom_jupyter/labextension
JS_BUNDLE   := $(JS_STATIC)/terminal.js $(JS_STATIC)/terminal.css $(JS_LABEXT)/package.json
JS_SOURCES  := $(wildcard $(JS_DIR)/src/* $(JS_DIR)/lab/*.js $(JS_DIR)/lab/*/*) \
               $(JS_DIR)/build.mjs $(JS_DIR)/package.json
JS_MODULES  := $(JS_DIR)/node_modules/.package-lock.json

.PHONY: js js-watch js-clean

$(JS_MODULES): $(JS_DIR)/package.json $(JS_DIR)/package-lock.json
	cd $(JS_DIR) && npm ci --no-audit --no-fund

# The labextension builder asks the venv's jupyterlab for Lab's shared packages.
$(JS_BUNDLE) &: $(JS_MODULES) $(JS_SOURCES) | $(STAMP)
	cd $(JS_DIR) && PYTHON=$(abspath $(PY)) npm run --silent build

## the front end: the terminal widget's bundle and the JupyterLab extension (the Loom panel)
js: $(JS_BUNDLE)

## rebuild the widget bundle on every change under js/src (reload the notebook page to pick it up)
js-watch: $(JS_MODULES)
	cd $(JS_DIR) && npm run watch

js-clean:
	rm -rf $(JS_DIR)/node_modules $(JS_STATIC) $(JS_LABEXT)
