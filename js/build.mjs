// Bundle src/terminal.js (xterm.js + fit addon) into the Python package as one anywidget ESM
// module, and ship xterm's stylesheet (plus our chrome) beside it. Run by hatch-jupyter-builder at package build.
import { build, context } from "esbuild";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outDir = resolve(here, "../loom_jupyter/widgets/static");

const options = {
  entryPoints: [resolve(here, "src/terminal.js")],
  outfile: resolve(outDir, "terminal.js"),
  bundle: true,
  format: "esm",
  target: "es2020",
  minify: true,
  legalComments: "eof",
  logLevel: "info",
};

await mkdir(outDir, { recursive: true });
const css = await Promise.all([
  readFile(resolve(here, "node_modules/@xterm/xterm/css/xterm.css"), "utf8"),
  readFile(resolve(here, "src/terminal.css"), "utf8"),
]);
await writeFile(resolve(outDir, "terminal.css"), css.join("\n"));
if (process.argv.includes("--watch")) {
  await (await context({ ...options, minify: false })).watch();
} else {
  await build(options);
}
