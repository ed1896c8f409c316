/** Stored JSON text shown as the value it holds, or as the text itself when it is not JSON (a body refused as such). */
export function parseOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
