import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import type { HttpAnswer } from './http.js';

/** The admin API's token in tests (PCM_ADMIN_TOKEN_FILE holds it), and the listener on a free loopback port. */
export const ADMIN_TOKEN = 'admin-test-token-0123456789abcdef';

/** Writes the token file into `dir`; returns its path. */
export function adminTokenFile(dir: string): string {
  const file = join(dir, 'admin-token');
  writeFileSync(file, `${ADMIN_TOKEN}\n`, { mode: 0o600 });
  return file;
}

/** The `admin` section of a test configuration: a free loopback port, the API on with ADMIN_TOKEN. */
export function adminSection(dir: string): { host: string; port: number; tokenFile: string } {
  return { host: '127.0.0.1', port: 0, tokenFile: adminTokenFile(dir) };
}

/** The same as environment variables, for `pcm-sidecar run`. */
export function adminEnv(dir: string): Record<string, string> {
  return { PCM_ADMIN_HOST: '127.0.0.1', PCM_ADMIN_PORT: '0', PCM_ADMIN_TOKEN_FILE: adminTokenFile(dir) };
}

/** A GET (or POST) of the admin API with the test token; the body parsed as JSON when it is. */
export async function adminJson<T = unknown>(url: string, options: { method?: 'GET' | 'POST'; token?: string | null } = {}): Promise<HttpAnswer<T>> {
  const token = options.token === undefined ? ADMIN_TOKEN : options.token;
  const res = await request(url, { method: options.method ?? 'GET', headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  const raw = await res.body.text();
  let body: unknown = raw;
  try {
    body = JSON.parse(raw) as unknown;
  } catch {
    // Text (metrics).
  }
  return { status: res.statusCode, body: body as T, headers: res.headers };
}
