import { createRequire } from 'node:module';
import type { Agent as UndiciAgent, Dispatcher } from 'undici';

/**
 * undici's Agent and request, without the rest of the package. Its index also loads fetch, WebSocket, EventSource,
 * the caches, interceptors and mocks — ~9 MiB of RSS in each process that imports it (issue #8, bench/RESULTS.md) —
 * for code the sidecar never calls. For these two the index does only what `request` below does: turn the URL into
 * the origin and path of the dispatcher's request. The two files are undici's own (its package has no exports map);
 * test/http-client.test.ts holds them to the package's public exports. A version that moves them (package.json
 * allows any 7.x) gets the whole package instead: more memory, the same behaviour.
 */

const require = createRequire(import.meta.url);

type ApiRequest = (this: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

function load(): { Agent: typeof UndiciAgent; apiRequest: ApiRequest } {
  try {
    const agent = require('undici/lib/dispatcher/agent.js') as unknown;
    const apiRequest = require('undici/lib/api/api-request.js') as unknown;
    if (typeof agent === 'function' && typeof apiRequest === 'function') return { Agent: agent as typeof UndiciAgent, apiRequest: apiRequest as ApiRequest };
  } catch {
    // Moved in this version of undici: the whole package, below.
  }
  const undici = require('undici') as typeof import('undici');
  return {
    Agent: undici.Agent,
    apiRequest(this: Dispatcher, options: Dispatcher.RequestOptions) {
      return this.request(options);
    },
  };
}

const loaded = load();
export const Agent = loaded.Agent;
export type Agent = UndiciAgent;
export type { Dispatcher };
const apiRequest = loaded.apiRequest;

/** Options of one request; the dispatcher is always given (no global one: every client owns its Agent). */
export type RequestOptions = Omit<Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> & { method: Dispatcher.HttpMethod; dispatcher: Dispatcher };

/** undici's request(url, options) for an absolute URL and an explicit dispatcher. */
export function request(url: string, options: RequestOptions): Promise<Dispatcher.ResponseData> {
  const { dispatcher, ...rest } = options;
  const target = new URL(url);
  return apiRequest.call(dispatcher, { ...rest, origin: target.origin, path: `${target.pathname}${target.search}` });
}
