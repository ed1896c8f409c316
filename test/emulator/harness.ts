import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'undici';
import { EMULATOR_DEFAULTS, PcmEmulator, type EmulatorOptions } from '../../src/emulator/emulator.js';
import { generatePki, type PkiFiles } from '../../src/pki/certs.js';
import { tempDir } from '../helpers/pki.js';

/**
 * Talking straight to an in-process PCM emulator, as a participant would: one client certificate per organisation
 * (OU = organisationId) for the auth host's `/token/`, and a plain CA-trusting agent for the report API, which takes
 * bearer tokens and no client certificate. Not a test file: the conformance, transport and fault suites share it.
 */

/** The four pilot institutions of seed 000 (Manual de Integração, "Exemplos de chamadas"). */
export const BV = '062c5edb-4e83-5002-9981-e2a96c5ad41e';
export const CAIXA = 'c160a6f5-e5df-5067-9e97-ec6fba62fd87';
export const BANRISUL = '2a01e202-e8f0-5f5a-9651-ebc257371e6e';
export const GERENCIANET = 'b43131be-6a7f-5bfb-b436-c3ac5c5c2dac';
export const SEED_ORGS = [BV, CAIXA, BANRISUL, GERENCIANET] as const;

export const PRIVATE = '/report-api/v1/private/report';
export const OPENDATA = '/report-api/v1/opendata/report';

/** Reconciliation only when a test asks for it (`reconcile()`): the background pass never reaches anything. */
export const NO_BACKGROUND_PAIRING_MS = 24 * 60 * 60 * 1000;

export interface Answer<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
}

export interface CallOptions {
  token?: string | undefined;
  contentType?: string;
  headers?: Record<string, string>;
  /** undici's headersTimeout for this request, ms (how long to wait for the answer to start). */
  headersTimeout?: number;
  method?: string;
}

export async function makePki(orgs: readonly string[], prefix = 'conformance'): Promise<PkiFiles> {
  return generatePki(`${await tempDir(prefix)}/pki`, orgs.map((orgId) => ({ orgId, clientId: `ss-${orgId.slice(0, 8)}` })));
}

export class EmulatorHarness {
  private readonly tokens = new Map<string, string>();
  private readonly authAgents = new Map<string, Agent>();

  private constructor(
    readonly emulator: PcmEmulator,
    readonly pki: PkiFiles,
    readonly ca: Buffer,
    /** The report API agent: trusts the CA, presents no client certificate. */
    readonly api: Agent,
  ) {}

  static async start(pki: PkiFiles, overrides: Partial<EmulatorOptions> = {}): Promise<EmulatorHarness> {
    const ca = await readFile(pki.caCert);
    const emulator = new PcmEmulator({
      ...EMULATOR_DEFAULTS,
      // Most suites send far more than 300 requests a second; the rate-limit tests set their own.
      rateLimit: 1_000_000,
      pairingDelayMs: NO_BACKGROUND_PAIRING_MS,
      port: 0,
      authPort: 0,
      cert: await readFile(pki.serverCert),
      key: await readFile(pki.serverKey),
      ca,
      ...overrides,
    });
    await emulator.start();
    return new EmulatorHarness(emulator, pki, ca, new Agent({ connect: { ca } }));
  }

  /** The mTLS agent of `org` (its certificate and key, trusting the CA). */
  async authAgent(org: string): Promise<Agent> {
    let agent = this.authAgents.get(org);
    if (!agent) {
      const files = this.pki.clients[org];
      if (!files) throw new Error(`no client certificate for ${org}`);
      agent = new Agent({ connect: { ca: this.ca, cert: await readFile(files.cert), key: await readFile(files.key) } });
      this.authAgents.set(org, agent);
    }
    return agent;
  }

  /** POST to the auth host with `org`'s certificate (or with `agent`, e.g. one without a certificate). */
  async tokenRequest(org: string | Agent, body: string, contentType = 'application/json', path = '/token/', headersTimeout?: number): Promise<Answer> {
    const dispatcher = typeof org === 'string' ? await this.authAgent(org) : org;
    const res = await request(`${this.emulator.authUrl}${path}`, {
      method: 'POST',
      dispatcher,
      headers: { 'content-type': contentType },
      body,
      ...(headersTimeout !== undefined ? { headersTimeout } : {}),
    });
    return answer(res);
  }

  /** `org`'s bearer token, fetched once over mTLS (client_id = the one its certificate was made for). */
  async token(org: string): Promise<string> {
    const cached = this.tokens.get(org);
    if (cached) return cached;
    const res = await this.tokenRequest(org, JSON.stringify({ client_id: `ss-${org.slice(0, 8)}`, grant_type: 'client_credentials' }));
    if (res.status !== 200) throw new Error(`token for ${org}: ${res.status} ${JSON.stringify(res.body)}`);
    const token = (res.body as { access_token: string }).access_token;
    this.tokens.set(org, token);
    return token;
  }

  forgetTokens(): void {
    this.tokens.clear();
  }

  /** A request on the report API host. `body` that is not a string is sent as JSON. */
  async call<T = unknown>(path: string, body?: unknown, options: CallOptions = {}): Promise<Answer<T>> {
    const method = options.method ?? (body === undefined ? 'GET' : 'POST');
    const headers: Record<string, string> = { ...options.headers };
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    if (body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
    const res = await request(`${this.emulator.url}${path}`, {
      method,
      dispatcher: this.api,
      headers,
      ...(body !== undefined ? { body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body) } : {}),
      ...(options.headersTimeout !== undefined ? { headersTimeout: options.headersTimeout } : {}),
    });
    return answer<T>(res);
  }

  /** POSTs `items` as `org` (with its token) to the private or opendata report API. */
  async send<T = ReportResult[]>(org: string, items: unknown, path = PRIVATE, options: CallOptions = {}): Promise<Answer<T>> {
    return this.call<T>(path, items, { token: await this.token(org), ...options });
  }

  /** GET /report-api/v1/private/report/{fapiInteractionId} as `org`. */
  async byId(org: string, fapiInteractionId: string): Promise<Answer<ReportModel>> {
    return this.call<ReportModel>(`${PRIVATE}/${fapiInteractionId}`, undefined, { token: await this.token(org) });
  }

  async reports(query: Record<string, string | number> = {}): Promise<ReportList> {
    const qs = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)])).toString();
    const res = await this.call<ReportList>(`/emulator/reports${qs ? `?${qs}` : ''}`);
    if (res.status !== 200) throw new Error(`/emulator/reports: ${res.status}`);
    return res.body;
  }

  async close(): Promise<void> {
    await Promise.all([this.api.close(), ...[...this.authAgents.values()].map((a) => a.close())]);
    await this.emulator.stop();
  }
}

export interface ReportResult {
  reportId: string;
  status: 'ACCEPTED' | 'DISCARDED';
  correlationId?: string;
  message?: string;
}

/** ReportModel of pcm-openapi-current.yaml, plus the DISCARDED / inconsistency message the emulator adds. */
export interface ReportModel {
  reportId: string;
  pairedReportId: string | null;
  status: string;
  createdAt: string;
  updatedAt: string;
  message?: string;
}

export interface StoredReportView {
  reportId: string;
  stream: 'private' | 'opendata';
  status: string;
  message: string | null;
  senderOrgId: string | null;
  pairedReportId: string | null;
  receivedAt: string;
  updatedAt: string;
  report: Record<string, unknown>;
}

export interface ReportList {
  data: StoredReportView[];
  meta: { totalRecords: number; offset: number; limit: number };
}

async function answer<T>(res: Awaited<ReturnType<typeof request>>): Promise<Answer<T>> {
  const text = await res.body.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.statusCode, headers: res.headers, body: body as T };
}

/** A UTC timestamp in the PCM's format, `offsetMs` from now. */
export function ts(offsetMs = -1000): string {
  return new Date(Date.now() + offsetMs).toISOString();
}

/** A valid CLIENT report from `client` to `server` (fresh fapiInteractionId and timestamp). */
export function clientReport(client: string, server: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    role: 'CLIENT',
    timestamp: ts(-2000),
    fapiInteractionId: randomUUID(),
    endpoint: '/open-banking/accounts/v2/accounts',
    additionalInfo: { consentId: `urn:bank:${randomUUID()}`, tokenId: 'c9ng8aKzxNXm' },
    statusCode: 200,
    httpMethod: 'GET',
    clientOrgId: client,
    serverOrgId: server,
    processTimespan: 120,
    clientSSId: 'b0a1d2c3-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
    endpointUriPrefix: 'https://openbanking.instituicao.com.br/namespace',
    ...over,
  };
}

/** The SERVER side of `client` (same fapiInteractionId, endpoint, method and status unless overridden). */
export function serverReport(client: Record<string, unknown>, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    role: 'SERVER',
    timestamp: ts(-1500),
    fapiInteractionId: client.fapiInteractionId,
    endpoint: client.endpoint,
    statusCode: client.statusCode,
    httpMethod: client.httpMethod,
    clientOrgId: client.clientOrgId,
    serverOrgId: client.serverOrgId,
    processTimespan: 90,
    ...over,
  };
}

/** A valid opendata report. */
export function opendataReport(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    endpoint: '/open-banking/channels/v2/electronic-channels',
    statusCode: 200,
    httpMethod: 'GET',
    timestamp: ts(),
    processTimespan: 120,
    additionalInfo: { clientIp: '192.168.10.11' },
    ...over,
  };
}

/** Settles a request expected to fail at the transport level; returns the error (or throws if it got an answer). */
export async function transportError(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    const got = await promise;
    throw Object.assign(new Error(`expected the request to fail, got an answer: ${JSON.stringify(got)}`), { answered: true });
  } catch (err) {
    if ((err as { answered?: boolean }).answered) throw err;
    return err as Error & { code?: string };
  }
}
