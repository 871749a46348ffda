// Text that came from outside (a name in trigger metadata, a route key from an interceptor, a line
// of a stream) goes into error messages and logs cut to a bounded length, so a 1 MB name cannot
// make a 1 MB gRPC status header or log line. The cut is marked and says how much was left out.

/** The default bound, in UTF-16 code units: room for any Kubernetes name and then some. */
export const defaultTextBound = 256;

/** `text` itself when short enough, else its start followed by "…(+N more characters)". */
export function boundedText(text: string, max = defaultTextBound): string {
  if (text.length <= max) return text;
  // Never cut a surrogate pair in half: the result must stay well-formed UTF-16.
  let end = max;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}…(+${text.length - end} more characters)`;
}

/** JSON.stringify(value), bounded; for echoing a value someone sent. */
export function boundedJson(value: unknown, max = defaultTextBound): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return boundedText(text, max);
}
