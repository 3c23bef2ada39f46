# Terminal widget bundle (js/ -> loom_jupyter/widgets/static/). Included by the Makefile.
# `pip install -e .` builds it once through hatch-jupyter-builder; these targets rebuild it
# after editing js/src without reinstalling the package.

JS_DIR      := js
JS_STATIC   := loom_jupyter/widgets/static
JS_BUNDLE   := $(JS_STATIC)/terminal.js $(JS_STATIC)/terminal.css
JS_SOURCES  := $(wildcard $(JS_DIR)/src/*) $(JS_DIR)/build.mjs
JS_MODULES  := $(JS_DIR)/node_modules/.package-lock.json

.PHONY: js js-watch js-clean

$(JS_MODULES): $(JS_DIR)/package.json $(JS_DIR)/package-lock.json
	cd $(JS_DIR) && npm ci --no-audit --no-fund

$(JS_BUNDLE) &: $(JS_MODULES) $(JS_SOURCES)
	cd $(JS_DIR) && npm run --silent build

## the terminal widget's JavaScript bundle (xterm.js + esbuild)
js: $(JS_BUNDLE)

## rebuild the bundle on every change under js/src (reload the notebook page to pick it up)
js-watch: $(JS_MODULES)
	cd $(JS_DIR) && npm run watch

js-clean:
	rm -rf $(JS_DIR)/node_modules $(JS_STATIC)
