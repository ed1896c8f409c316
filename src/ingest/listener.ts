import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { DEFAULTS } from '../config/defaults.js';
import type { IngestTls } from './auth.js';

/** An HTTP listener with limits, shared by the ingest and the admin listener (src/admin/server.ts). */

/** The listener's limits: a slow, idle or greedy client cannot hold a connection, a socket or memory for long. */
export interface ListenerLimits {
  /** Request line and headers complete within this, or 408 and close. */
  headersTimeoutMs: number;
  /** The whole request, body included, within this, or 408 and close. */
  requestTimeoutMs: number;
  /** An idle kept-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Largest request line and headers, or 431 and close. */
  maxHeaderBytes: number;
  /** Connections open at once; more are closed on arrival. */
  maxConnections: number;
}

/** What a client that broke a limit or the protocol is told before its connection closes (as Node itself answers). */
const CLIENT_ERROR_ANSWERS: Readonly<Record<string, string>> = {
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: '413 Payload Too Large',
};

/**
 * The HTTP listener with its limits. Node checks the header and request timeouts on a sweep every
 * `connectionsCheckingInterval` (30 s by default, which would stretch a 10 s timeout to 40 s): here a quarter of the
 * headers timeout, between 100 ms and 1 s. A client closed for a limit, a protocol error or its own reset is the
 * client's doing: answered when nothing was answered yet, closed, and logged at debug.
 */
export function createListener(
  who: { name: string; maxConnectionsSetting: string },
  limits: Partial<ListenerLimits>,
  log: Logger,
  tls: IngestTls | null,
  onRequest: (req: IncomingMessage, res: ServerResponse) => void,
): Server | TlsServer {
  const requestTimeout = limits.requestTimeoutMs ?? DEFAULTS.ingest.requestTimeoutMs;
  // Node refuses a headers timeout longer than the request timeout; the request timeout covers the headers too.
  const headersTimeout = Math.min(limits.headersTimeoutMs ?? DEFAULTS.ingest.headersTimeoutMs, requestTimeout);
  const maxConnections = limits.maxConnections ?? DEFAULTS.ingest.maxConnections;
  const http = {
    headersTimeout,
    requestTimeout,
    maxHeaderSize: limits.maxHeaderBytes ?? DEFAULTS.ingest.maxHeaderBytes,
    connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(headersTimeout / 4))),
  };
  // With a client CA the handshake verifies the client's certificate: a client without one signed by that CA does not
  // connect at all (probes use a TCP check, deploy/kubernetes/aggregator). The guard checks again per request.
  const server = tls
    ? createTlsServer({ ...http, cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: tls.ca !== undefined, rejectUnauthorized: true, handshakeTimeout: headersTimeout }, onRequest)
    : createServer(http, onRequest);
  if (tls) server.on('tlsClientError', (err: NodeJS.ErrnoException) => log.debug({ code: err.code, err: err.message }, `${who.name}: TLS handshake failed`));
  server.keepAliveTimeout = limits.keepAliveTimeoutMs ?? DEFAULTS.ingest.keepAliveTimeoutMs;
  server.maxConnections = maxConnections;
  server.on('drop', (data?: { remoteAddress?: string }) => {
    log.debug({ remote: data?.remoteAddress, maxConnections }, `${who.name}: connection closed on arrival (${who.maxConnectionsSetting})`);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket & { _httpMessage?: ServerResponse | null }) => {
    const answer = CLIENT_ERROR_ANSWERS[err.code ?? ''] ?? (err.code === 'ECONNRESET' ? null : '400 Bad Request');
    log.debug({ code: err.code, remote: socket.remoteAddress, answer }, `${who.name}: client connection closed`);
    // Answer only where no response has begun on this connection, or the client would read a corrupt one.
    if (answer && socket.writable && !socket._httpMessage?.headersSent) {
      socket.end(`HTTP/1.1 ${answer}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
      // A client that does not read its answer loses the connection all the same.
      setTimeout(() => socket.destroy(), 1000).unref();
    } else {
      socket.destroy();
    }
  });
  return server;
}

/**
 * Stops accepting and closes idle kept-alive connections now (a scraper's or a gateway's cannot hold the stop open);
 * resolves once every request in flight has been answered, or after `graceMs`, when the rest are closed.
 */
export async function closeListener(server: Server | TlsServer, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), graceMs);
  await closed;
  clearTimeout(timer);
}
