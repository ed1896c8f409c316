import type { IncomingMessage } from 'node:http';
import { IngestError } from '../errors.js';
import type { BudgetTicket } from './body-budget.js';

/** One item of an ingest body: parsed JSON, or the text of an NDJSON line that did not parse. */
export type BodyItem = { ok: true; value: unknown } | { ok: false; text: string; error: string };

export type BodyFormat = 'json' | 'ndjson';

/** Chooses the parser from Content-Type; absent means JSON, anything else is 415. */
export function bodyFormatOf(contentType: string | undefined): BodyFormat {
  const mediaType = (contentType ?? 'application/json').split(';')[0]?.trim().toLowerCase() ?? '';
  if (mediaType === 'application/json' || mediaType === '') return 'json';
  if (mediaType === 'application/x-ndjson' || mediaType === 'application/jsonl' || mediaType === 'application/jsonlines') {
    return 'ndjson';
  }
  throw new IngestError(
    'PCM_INGEST_UNSUPPORTED_MEDIA_TYPE',
    415,
    `Unsupported Media Type: ${mediaType}; send application/json or application/x-ndjson`,
  );
}

/**
 * Reads the body, refusing with 413 as soon as it passes `maxBytes` (by Content-Length or by counting). With a
 * ticket, every chunk is charged to the ingest body budget and reading waits while the budget is spent (body-budget.ts).
 */
export async function readBody(req: IncomingMessage, maxBytes: number, ticket?: BudgetTicket): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    throw new IngestError('PCM_INGEST_TOO_LARGE', 413, `Payload Too Large: ${declared} bytes, the limit is ${maxBytes}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  if (ticket) await ticket.turn();
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      throw new IngestError('PCM_INGEST_TOO_LARGE', 413, `Payload Too Large: more than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
    if (ticket) {
      ticket.charge(chunk.length);
      // Not pulling the next chunk while waiting: the stream pauses the socket, and the client's TCP window fills.
      if (!req.complete) await ticket.turn();
    }
  }
  ticket?.doneReading();
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
}

/**
 * Deepest nesting an item may have. PCM reports are 4 levels deep (report → additionalInfo → paymentList → item);
 * gateway records a few more. Checked without recursion, so a hostile `[[[[…]]]]` cannot overflow the stack later.
 */
export const MAX_ITEM_DEPTH = 32;

/**
 * The walk's stack, kept between calls and cleared after each: checking a body allocates nothing per node. A stack
 * that grew past WALK_KEEP (a very wide item) is let go instead of kept.
 */
const walkNodes: (object | undefined)[] = [];
const walkDepths: number[] = [];
const WALK_KEEP = 4096;

/** True when `value` nests arrays/objects deeper than `max` levels. Iterative: safe at any depth. */
export function deeperThan(value: unknown, max: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  let top = 0;
  let high = 0;
  walkNodes[0] = value;
  walkDepths[0] = 1;
  try {
    while (top >= 0) {
      const node = walkNodes[top] as object;
      const depth = walkDepths[top] as number;
      top--;
      if (depth > max) return true;
      if (Array.isArray(node)) {
        for (let i = 0; i < node.length; i++) {
          const child: unknown = node[i];
          if (child !== null && typeof child === 'object') {
            walkNodes[++top] = child;
            walkDepths[top] = depth + 1;
            if (top > high) high = top;
          }
        }
      } else {
        // Own keys only (an own "__proto__" from JSON.parse included); no array of values made per object.
        for (const key in node) {
          if (!Object.hasOwn(node, key)) continue;
          const child: unknown = (node as Record<string, unknown>)[key];
          if (child !== null && typeof child === 'object') {
            walkNodes[++top] = child;
            walkDepths[top] = depth + 1;
            if (top > high) high = top;
          }
        }
      }
    }
    return false;
  } finally {
    // Nothing of this body stays reachable from the module, on every path. The stack is shared: callers pass plain
    // JSON values (no getters or proxies that could walk again from inside a walk).
    if (high >= WALK_KEEP) {
      walkNodes.length = 0;
      walkDepths.length = 0;
    } else {
      for (let i = 0; i <= high; i++) walkNodes[i] = undefined;
    }
  }
}

function item(value: unknown, text: () => string): BodyItem {
  if (!deeperThan(value, MAX_ITEM_DEPTH)) return { ok: true, value };
  return { ok: false, text: text(), error: `item nested deeper than ${MAX_ITEM_DEPTH} levels (MAX_ITEM_DEPTH)` };
}

const TOO_DEEP_TEXT = (): string => '[not kept: nested deeper than the limit]';

/** A JSON object is one item, a JSON array is many; NDJSON is one item per non-empty line. */
export function parseBody(body: Buffer, format: BodyFormat): BodyItem[] {
  const text = body.toString('utf8');
  if (format === 'ndjson') {
    const items: BodyItem[] = [];
    for (const line of text.split('\n')) {
      const trimmed = line.trim();
      if (trimmed === '') continue;
      try {
        items.push(item(JSON.parse(trimmed), () => trimmed.slice(0, 1024)));
      } catch (err) {
        items.push({ ok: false, text: trimmed, error: `invalid JSON${where(err)}` });
      }
    }
    return items;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new IngestError('PCM_INGEST_UNPARSEABLE', 400, `Invalid payload format: body is not JSON${where(err)}`);
  }
  if (Array.isArray(parsed)) return parsed.map((value) => item(value, TOO_DEEP_TEXT));
  if (parsed !== null && typeof parsed === 'object') {
    if (deeperThan(parsed, MAX_ITEM_DEPTH)) {
      throw new IngestError('PCM_INGEST_TOO_DEEP', 400, `Invalid payload format: nested deeper than ${MAX_ITEM_DEPTH} levels (MAX_ITEM_DEPTH)`);
    }
    return [{ ok: true, value: parsed }];
  }
  throw new IngestError('PCM_INGEST_UNPARSEABLE', 400, 'Invalid payload format: send a report object, an array of them, or NDJSON');
}

/**
 * Where JSON.parse stopped, without its own message: V8 quotes a snippet of the input there, and the input may hold
 * a secret that an answer or the quarantine's problems must not repeat.
 */
function where(err: unknown): string {
  const position = /position (\d+)/.exec(err instanceof Error ? err.message : '')?.[1];
  return position === undefined ? '' : ` (at position ${position})`;
}
