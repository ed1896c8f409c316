import { Agent, request } from 'undici';

export interface HttpAnswer<T = unknown> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | undefined>;
}

export async function postJson<T = unknown>(url: string, body: unknown, headers: Record<string, string> = {}): Promise<HttpAnswer<T>> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: text,
  });
  const raw = await res.body.text();
  return { status: res.statusCode, body: (raw ? JSON.parse(raw) : null) as T, headers: res.headers };
}

export async function getJson<T = unknown>(url: string, ca?: Buffer): Promise<HttpAnswer<T>> {
  const dispatcher = ca ? new Agent({ connect: { ca } }) : undefined;
  try {
    const res = await request(url, { dispatcher });
    const raw = await res.body.text();
    return { status: res.statusCode, body: JSON.parse(raw) as T, headers: res.headers };
  } finally {
    await dispatcher?.close();
  }
}

export async function postTls<T = unknown>(url: string, body: unknown, ca: Buffer, method: 'POST' | 'PUT' = 'POST'): Promise<HttpAnswer<T>> {
  const dispatcher = new Agent({ connect: { ca } });
  try {
    const res = await request(url, {
      method,
      dispatcher,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const raw = await res.body.text();
    return { status: res.statusCode, body: JSON.parse(raw) as T, headers: res.headers };
  } finally {
    await dispatcher.close();
  }
}

/** Polls `check` until it returns a value, at most `timeoutMs`; bounded so a broken pipeline fails the test, not CI. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 60_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
}
