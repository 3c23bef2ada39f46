// The front end of loom-jupyter, built into the Python package (never committed). Run by
// hatch-jupyter-builder at package build and by `make js`:
//   1. the notebook terminal widget: src/terminal.js (xterm.js + fit addon) bundled by esbuild
//      into one anywidget ESM module, with xterm's stylesheet (plus our chrome) beside it;
//   2. the JupyterLab 4 extension "Loom panel": lab/ built by @jupyterlab/builder into
//      ../loom_jupyter/labextension (a prebuilt extension; the wheel installs it).
// `--widget` or `--lab` builds one of them; `--watch` rebuilds the widget on every change.
import { build, context } from "esbuild";
import { execFileSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const widgetDir = resolve(here, "../loom_jupyter/widgets/static");
const args = process.argv.slice(2);
const only = args.includes("--widget") ? "widget" : args.includes("--lab") ? "lab" : null;

const widgetOptions = {
  entryPoints: [resolve(here, "src/terminal.js")],
  outfile: resolve(widgetDir, "terminal.js"),
  bundle: true,
  format: "esm",
  target: "es2020",
  minify: true,
  legalComments: "eof",
  logLevel: "info",
};

async function buildWidget() {
  await mkdir(widgetDir, { recursive: true });
  const css = await Promise.all([
    readFile(resolve(here, "node_modules/@xterm/xterm/css/xterm.css"), "utf8"),
    readFile(resolve(here, "src/terminal.css"), "utf8"),
  ]);
  await writeFile(resolve(widgetDir, "terminal.css"), css.join("\n"));
  if (args.includes("--watch")) {
    await (await context({ ...widgetOptions, minify: false })).watch();
  } else {
    await build(widgetOptions);
  }
}

const FIND_STAGING = "import importlib.util, os; " +
  "print(os.path.join(importlib.util.find_spec('jupyterlab').submodule_search_locations[0], 'staging'))";

/** JupyterLab's core package directory (its `staging`), which the builder needs to know
 * which packages Lab shares. From $JUPYTERLAB_CORE_PATH, else the jupyterlab of $PYTHON,
 * python3 or python (the build environment's: the hook depends on jupyterlab). */
function corePath() {
  if (process.env.JUPYTERLAB_CORE_PATH) return process.env.JUPYTERLAB_CORE_PATH;
  const tried = [];
  for (const python of [process.env.PYTHON, "python3", "python"].filter(Boolean)) {
    try {
      return execFileSync(python, ["-c", FIND_STAGING], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
    } catch (exc) {
      tried.push(`${python}: ${String(exc.stderr || exc.message).trim().split("\n").pop()}`);
    }
  }
  throw new Error(`cannot find JupyterLab's core package (pip install jupyterlab, or set ` +
    `JUPYTERLAB_CORE_PATH to its staging directory):\n  ${tried.join("\n  ")}`);
}

/** The labextension builder itself: `jupyter labextension build` would try to fetch
 * @jupyterlab/core-meta from the network; the builder script works offline. */
function buildLab() {
  const builder = join(here, "node_modules/@jupyterlab/builder/lib/build-labextension.js");
  const started = Date.now();
  execFileSync(process.execPath, [builder, "--core-path", corePath(), here], { stdio: "inherit", cwd: here });
  console.log(`labextension: built into loom_jupyter/labextension in ${Date.now() - started} ms`);
}

if (only !== "lab") await buildWidget();
if (only !== "widget" && !args.includes("--watch")) buildLab();
