// Server-sent events read from a fetch() body (EventSource cannot send headers nor be paused
// by us): yields {event, data, id} per event, joining `data:` fields with "\n" as the spec says.

/** The events of `body` (a ReadableStream of bytes), until it ends or `signal` aborts. */
export async function* sseEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = blockEnd(buffer)) !== null) {
        const event = parseBlock(buffer.slice(0, end.at));
        buffer = buffer.slice(end.at + end.length);
        if (event) yield event;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function blockEnd(text) {
  const match = /\r\n\r\n|\n\n|\r\r/.exec(text);
  return match ? { at: match.index, length: match[0].length } : null;
}

/** One event block; null for a comment-only block (a keep-alive). */
export function parseBlock(block) {
  let event = "message";
  let id = null;
  const data = [];
  for (const line of block.split(/\r\n|\n|\r/)) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data.push(value);
    else if (field === "event") event = value;
    else if (field === "id") id = value;
  }
  return data.length ? { event, data: data.join("\n"), id } : null;
}
