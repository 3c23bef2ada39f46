# The JupyterLab extension (the Loom panel, js/lab/), built by `make js` into
# loom_jupyter/labextension/. Included by the Makefile.
# A wheel installs it as shared-data (share/jupyter/labextensions/loom-jupyter); in this
# checkout .venv gets a link to the built directory instead (what `jupyter labextension
# develop` does), so `make lab` and the browser tests always load the last `make js`.

LABEXT_NAME := loom-jupyter
LABEXT_LINK := $(VENV)/share/jupyter/labextensions/$(LABEXT_NAME)

.PHONY: labext labext-clean

## the Loom panel: build it (with the widget bundle) and link it into .venv for `make lab`
labext: js
	@mkdir -p $(dir $(LABEXT_LINK))
	@if [ "$$(readlink $(LABEXT_LINK))" != "$(abspath $(JS_LABEXT))" ]; then \
		rm -rf $(LABEXT_LINK) && ln -s $(abspath $(JS_LABEXT)) $(LABEXT_LINK) && \
		echo "labextension: $(LABEXT_LINK) -> $(JS_LABEXT)"; fi

lab: labext

labext-clean:
	rm -rf $(JS_LABEXT)
	@if [ -L $(LABEXT_LINK) ]; then rm -f $(LABEXT_LINK); fi

clean: labext-clean
