import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A notification as a webhook receiver gets it (seed 002's shape). */
export interface ReceivedPayload {
  eventoNotificacao: string;
  metadados: { nome: string; valor: string }[];
  transactionId: string;
  timestamp: string;
}

export interface Received {
  headers: IncomingHttpHeaders;
  body: ReceivedPayload;
  /** What the receiver answered. */
  status: number;
}

/** The value of one name in a notification's metadados. */
export function meta(payload: ReceivedPayload, nome: string): string | undefined {
  return payload.metadados.find((m) => m.nome === nome)?.valor;
}

/**
 * A real webhook receiver on 127.0.0.1: records every request with what it answered. `answer` decides the status
 * (201 unless changed), so a test can fail it for a while and then let it succeed.
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  answer: (body: ReceivedPayload, headers: IncomingHttpHeaders) => number = () => 201;
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(path = '/hooks/pcm'): Promise<WebhookReceiver> {
    let receiver: WebhookReceiver | null = null;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ReceivedPayload;
        const status = receiver ? receiver.answer(body, req.headers) : 503;
        receiver?.received.push({ headers: req.headers, body, status });
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: status < 300 }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    receiver = new WebhookReceiver(server, `http://127.0.0.1:${port}${path}`);
    return receiver;
  }

  /** Requests answered with a 2xx. */
  get accepted(): Received[] {
    return this.received.filter((r) => r.status >= 200 && r.status < 300);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
