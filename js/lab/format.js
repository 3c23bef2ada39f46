// Small display helpers shared by the panel's views.

/** "3m", "2h 5m", "1d 4h" from hours. */
export function duration(hours) {
  if (hours === undefined || hours === null || Number.isNaN(hours)) return "?";
  const minutes = Math.max(0, Math.round(hours * 60));
  if (minutes < 60) return `${minutes}m`;
  const h = Math.floor(minutes / 60);
  if (h < 24) return minutes % 60 ? `${h}h ${minutes % 60}m` : `${h}h`;
  return h % 24 ? `${Math.floor(h / 24)}d ${h % 24}h` : `${Math.floor(h / 24)}d`;
}

/** A weaver's age in hours, from created_at (fresher than the polled age_hours). */
export function ageHours(weaver, now = Date.now()) {
  const created = Date.parse(weaver.created_at);
  return Number.isNaN(created) ? weaver.age_hours : (now - created) / 3.6e6;
}

export function tagText(tags) {
  return Object.entries(tags || {}).map(([k, v]) => `${k}:${v}`).join(", ");
}

export function shortId(id) {
  return String(id || "").slice(0, 8);
}

/** A DOM element with attributes and children, in one call. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}
