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
      // one scan of the chunk, one slice per event: no copying of the rest per event
      const ends = /\r\n\r\n|\n\n|\r\r/g;
      let start = 0;
      let match;
      while ((match = ends.exec(buffer)) !== null) {
        const event = parseBlock(buffer.slice(start, match.index));
        start = match.index + match[0].length;
        if (event) yield event;
      }
      buffer = buffer.slice(start);
    }
  } finally {
    reader.releaseLock();
  }
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
