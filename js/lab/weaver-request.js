// The create form's text fields -> a `POST /api/weaver` body, with the SDK's checks and
// messages (loom_jupyter/client/_validation.py, models/tags.py, widgets/_create_form.py):
// a mistake is one line naming the field, and nothing is sent.

export const MAX_LIFETIME_HOURS = 48;
const TAG_KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,126}[A-Za-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const QUANTITY = /^\+?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?$/;
const SHOWN = 64;

export class ValidationError extends Error {
  constructor(field, message) {
    super(`Invalid ${field}: ${message}`);
    this.field = field;
  }
}

const shown = (text) => pyRepr(text.length <= SHOWN ? text : text.slice(0, SHOWN) + "…");

/** Python's repr of a str, as the SDK's messages show it. */
export function pyRepr(text) {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const body = text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t");
  return quote + (quote === "'" ? body.replace(/'/g, "\\'") : body) + quote;
}

function checkTagKey(key) {
  if (!TAG_KEY.test(key)) {
    throw new ValidationError("tags", `tag key ${shown(key)} must be letters, digits, '.', '_', '-' or '/' ` +
      "(starting and ending with a letter or digit)");
  }
}

/** `"team:ds, batch:nightly"` -> {team: "ds", batch: "nightly"} (split at the first `:`). */
export function parseTags(text) {
  const tags = {};
  for (const item of text.split(",")) {
    if (!item.trim()) continue;
    const colon = item.indexOf(":");
    const key = colon < 0 ? "" : item.slice(0, colon).trim();
    const value = colon < 0 ? "" : item.slice(colon + 1).trim();
    if (!key || !value) {
      throw new ValidationError("tags", `tag ${shown(item)} must look like KEY:VALUE, a key:value pair such as team:ds`);
    }
    checkTagKey(key);
    tags[key] = value;
  }
  return tags;
}

/** `K=V` items separated by newlines or commas. */
export function parseEnv(text) {
  const env = {};
  for (const raw of text.split(/[\n,]/)) {
    const item = raw.trim();
    if (!item) continue;
    const eq = item.indexOf("=");
    const key = eq < 0 ? "" : item.slice(0, eq).trim();
    if (eq < 0 || !ENV_NAME.test(key)) throw new ValidationError("env", `${pyRepr(item)} must look like NAME=value.`);
    env[key] = item.slice(eq + 1);
  }
  return env;
}

export function parseLifetime(text) {
  const value = String(text).trim();
  if (!/^[+-]?\d+$/.test(value)) {
    throw new ValidationError("lifetime_hours", `expected a whole number of hours, got ${pyRepr(value)}.`);
  }
  const hours = Number(value);
  if (hours < 1 || hours > MAX_LIFETIME_HOURS) {
    throw new ValidationError("lifetime_hours", `must be between 1 and ${MAX_LIFETIME_HOURS}, got ${hours}.`);
  }
  return hours;
}

function quantity(name, text) {
  const value = text.trim();
  if (!value) return null;
  const number = /^\+?(\d+(\.\d*)?|\.\d+)/.exec(value);
  if (!QUANTITY.test(value) || !number || Number(number[1]) <= 0) {
    throw new ValidationError(`resources.${name}`,
      `${pyRepr(value)} is not a Kubernetes quantity such as '8Gi', '512Mi', '2' or '500m'.`);
  }
  return value;
}

/** A shell-like split: quotes group words, a backslash escapes (shlex.split's rules, POSIX). */
export function splitCommand(text) {
  const words = [];
  let word = null;
  let quote = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === "\\" && i + 1 < text.length && '"\\$`\n'.includes(text[i + 1])) word += text[++i];
      else word += c;
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else {
      word = word ?? "";
      if (c === "'" || c === '"') quote = c;
      else if (c === "\\" && i + 1 < text.length) word += text[++i];
      else word += c;
    }
  }
  if (quote) throw new ValidationError("command", "cannot parse it (No closing quotation).");
  if (word !== null) words.push(word);
  return words;
}

/** The form's fields (strings) -> the request body; ValidationError for the first mistake. */
export function weaverRequest(fields) {
  const image = (fields.image || "").trim();
  if (!image) throw new ValidationError("image", "give one, e.g. python:3.12.");
  const org = (fields.org || "").trim();
  if (!org) throw new ValidationError("org_id", "choose the organization the weaver belongs to.");
  const body = { image, org_id: org, lifetime_hours: parseLifetime(fields.lifetime ?? "4") };
  const tags = parseTags(fields.tags || "");
  if (Object.keys(tags).length) body.tags = tags;
  const env = parseEnv(fields.env || "");
  if (Object.keys(env).length) body.env = env;
  const memory = quantity("memory", fields.memory || "");
  const cpu = quantity("cpu", fields.cpu || "");
  if (memory || cpu) {
    body.resources = {};
    if (memory) body.resources.memory_limit = memory;
    if (cpu) body.resources.cpu_limit = cpu;
  }
  const command = splitCommand(fields.command || "");
  if (command.length) body.command = command;
  return body;
}
