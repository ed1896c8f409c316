import type { RawInteraction } from '../../report/interaction.js';
import { jsonType, shown, type ReportProblem } from '../../report/problem.js';
import { deeperThan, MAX_ITEM_DEPTH } from '../body.js';

/**
 * Shared by the gateway mappings (kong.ts, envoy.ts): what a mapping returns, and the small readers that turn a
 * gateway's loosely typed log record into the fields of a RawInteraction. Pure: no clock, no configuration.
 */

export type Role = 'CLIENT' | 'SERVER';

/** The PCM's client-side wait (pcm-rules.md §3.3): a client that got no answer within 15 s reports 408. */
export const CLIENT_TIMEOUT_MS = 15_000;

export interface GatewayOptions {
  /** The role when the payload does not say (e.g. `?role=SERVER` on the ingest route). The payload's own value wins. */
  role?: Role;
}

/** A RawInteraction, or every reason the payload could not become one; `field` names the gateway's own field. */
export type MappingResult =
  | { ok: true; interaction: RawInteraction }
  /** `url`, when it could be read, lets a refused record still be recognised as a health check and skipped. */
  | { ok: false; problems: ReportProblem[]; url?: string | undefined };

/** A lookup result that distinguishes "absent" from "present but unusable" (the latter is a problem to report). */
export type Read<T> = { state: 'absent' } | { state: 'ok'; value: T } | { state: 'invalid'; value: unknown };

const ABSENT = { state: 'absent' } as const;

export function problem(field: string, rule: string, message: string, value?: unknown): ReportProblem {
  return value === undefined ? { field, rule, message } : { field, rule, message, value };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The JSON type of a value, for messages. */
export const describe = jsonType;

export interface TextOptions {
  /** Envoy writes `-` for an operator with no value (REQ of an absent header, a missing duration, ...). */
  dashIsAbsent?: boolean;
}

/**
 * A non-empty string (trimmed); undefined/null/'' (and '-' when asked) are absent. An array stands for a repeated
 * header (Kong logs `{"x-h": ["a", "b"]}`): its first usable element is taken. Numbers are accepted as text.
 */
export function readText(value: unknown, options: TextOptions = {}): Read<string> {
  if (Array.isArray(value)) {
    for (const item of value) {
      const read = readText(item, options);
      if (read.state === 'ok') return read;
    }
    return value.length === 0 ? ABSENT : { state: 'invalid', value };
  }
  if (value === undefined || value === null) return ABSENT;
  if (typeof value === 'number' && Number.isFinite(value)) return { state: 'ok', value: String(value) };
  if (typeof value !== 'string') return { state: 'invalid', value };
  const text = value.trim();
  if (text === '' || (options.dashIsAbsent === true && text === '-')) return ABSENT;
  return { state: 'ok', value: text };
}

/** A finite number, or a string holding one (Envoy's `json_format` renders numbers as strings in older versions). */
export function readNumber(value: unknown, options: TextOptions = {}): Read<number> {
  if (typeof value === 'number') return Number.isFinite(value) ? { state: 'ok', value } : { state: 'invalid', value };
  const text = readText(value, options);
  if (text.state !== 'ok') return text;
  if (!/^-?\d+(\.\d+)?$/.test(text.value)) return { state: 'invalid', value };
  return { state: 'ok', value: Number(text.value) };
}

/**
 * A header by case-insensitive name from a header map (string or string[] values). When several spellings are present
 * (`x-h` and `X-H`), the first usable one in a fixed order — the lower-case name as Kong writes it, then the others
 * sorted — so the answer never depends on the order of the keys in the JSON.
 */
export function headerValue(headers: unknown, name: string): Read<string> {
  if (!isRecord(headers)) return ABSENT;
  const wanted = name.toLowerCase();
  const keys = Object.keys(headers)
    .filter((key) => key.toLowerCase() === wanted)
    .sort((a, b) => (a === wanted ? -1 : b === wanted ? 1 : a < b ? -1 : a > b ? 1 : 0));
  const reads = keys.map((key) => readText(headers[key]));
  return reads.find((read) => read.state === 'ok') ?? reads.find((read) => read.state === 'invalid') ?? ABSENT;
}

/** 'CLIENT' / 'SERVER' in any case. */
export function readRole(value: unknown, options: TextOptions = {}): Read<Role> {
  const text = readText(value, options);
  if (text.state !== 'ok') return text;
  const role = text.value.toUpperCase();
  return role === 'CLIENT' || role === 'SERVER' ? { state: 'ok', value: role } : { state: 'invalid', value };
}

/**
 * additionalInfo inputs: a JSON object, or a string holding one (the x-pcm-additional-info header both deploy samples
 * use). Empty counts as absent, `{}` and `[]` alike: a Lua custom field returning an empty table may be written as
 * either by cjson, and an absent additionalInfo is `{}` on a CLIENT report anyway while a SERVER report is better
 * without an empty one.
 */
export function readObject(value: unknown, options: TextOptions = {}): Read<Record<string, unknown>> {
  if (isRecord(value)) return Object.keys(value).length === 0 ? ABSENT : { state: 'ok', value };
  if (Array.isArray(value) && value.length === 0) return ABSENT;
  if (typeof value === 'string') {
    const text = readText(value, options);
    if (text.state !== 'ok') return text;
    try {
      const parsed: unknown = JSON.parse(text.value);
      // The body parser's depth limit holds for JSON inside a string too: nothing after it may meet a deeper value.
      if (isRecord(parsed) && !deeperThan(parsed, MAX_ITEM_DEPTH)) return Object.keys(parsed).length === 0 ? ABSENT : { state: 'ok', value: parsed };
    } catch {
      // not JSON: reported below as invalid
    }
  }
  return value === undefined || value === null ? ABSENT : { state: 'invalid', value };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** Splits `text` at `separator` where it is not escaped with a backslash (RFC 4514 §2.4). */
function splitUnescaped(text: string, separators: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === '\\' && i + 1 < text.length) {
      current += ch + (text[i + 1] as string);
      i++;
    } else if (separators.includes(ch)) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

/** RFC 4514 value unescaping: `\,` → `,` and `\C3\A3` → `ã` (hex pairs are UTF-8 bytes). */
function unescapeDnValue(value: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] as string;
    if (ch === '\\' && /^[0-9a-fA-F]{2}$/.test(value.slice(i + 1, i + 3))) {
      bytes.push(parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (ch === '\\' && i + 1 < value.length) {
      bytes.push(...Buffer.from(value[i + 1] as string, 'utf8'));
      i++;
    } else {
      bytes.push(...Buffer.from(ch, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

const OU_TYPES = new Set(['ou', 'organizationalunitname', '2.5.4.11', 'oid.2.5.4.11']);

/**
 * The organisationId in a certificate subject: Open Finance Brasil transport certificates carry the participant's
 * Directory organisationId as OU (the emulator reads it from the same place). Accepts RFC 2253/4514 strings as
 * Envoy's %DOWNSTREAM_PEER_SUBJECT% and nginx's $ssl_client_s_dn print them (`CN=x,OU=uuid,O=y`), OpenSSL's
 * `C = BR, O = y` and the legacy slash form (`/C=BR/OU=uuid`). Only an OU that is a UUID counts, so a subject
 * without one (an Istio workload certificate, a plain TLS server certificate) yields undefined, never a wrong id.
 */
export function orgIdFromSubject(subject: string): string | undefined {
  const rdns = subject.startsWith('/') ? subject.slice(1).split('/') : splitUnescaped(subject, ',;');
  for (const rdn of rdns) {
    for (const ava of splitUnescaped(rdn, '+')) {
      const at = ava.indexOf('=');
      if (at < 0) continue;
      const type = ava.slice(0, at).trim().toLowerCase();
      const raw = ava.slice(at + 1).trim();
      if (!OU_TYPES.has(type) || raw.startsWith('#')) continue;
      const value = unescapeDnValue(raw.replace(/^"(.*)"$/, '$1')).trim();
      if (isUuid(value)) return value;
    }
  }
  return undefined;
}

/** Collects problems while a mapping reads fields; `need` returns the value or records why it is missing/bad. */
export class Problems {
  readonly list: ReportProblem[] = [];

  add(p: ReportProblem): void {
    this.list.push(p);
  }

  need<T>(read: Read<T>, field: string, what: string, expected: string): T | undefined {
    if (read.state === 'ok') return read.value;
    if (read.state === 'absent') {
      this.add(problem(field, 'required', `Missing fields: ${field} (${what})`));
    } else {
      this.add(problem(field, 'type', `Field type mismatch: ${field}: expected ${expected}, received ${describe(read.value)}`, read.value));
    }
    return undefined;
  }

  /** An optional field: its value, undefined when absent, a problem when present but unusable. */
  optional<T>(read: Read<T>, field: string, expected: string): T | undefined {
    if (read.state === 'ok') return read.value;
    if (read.state === 'invalid') {
      this.add(problem(field, 'type', `Field type mismatch: ${field}: expected ${expected}, received ${describe(read.value)}`, read.value));
    }
    return undefined;
  }
}

/** The role from the payload, else the option; a bad payload value is a problem even when an option is given. */
export function resolveRole(read: Read<Role>, fallback: Role | undefined, field: string, how: string, problems: Problems): Role | undefined {
  if (read.state === 'ok') return read.value;
  if (read.state === 'invalid') {
    problems.add(problem(field, 'enum', `Invalid enum value. Expected 'SERVER' | 'CLIENT', received '${shown(read.value)}'`, read.value));
    return undefined;
  }
  if (fallback !== undefined) return fallback;
  problems.add(problem(field, 'required', `Missing fields: ${field} (${how})`));
  return undefined;
}

/** What a mapping read from a gateway's record; a field is undefined when it was absent or bad (a problem says so). */
export interface MappedFields {
  role: Role | undefined;
  method: string | undefined;
  url: string | undefined;
  status: number | undefined;
  timedOut: boolean;
  startTime: string | number | undefined;
  durationMs: number | undefined;
  fapiInteractionId: string | undefined;
  counterpartyOrgId: string | undefined;
  orgId?: string | undefined;
  clientSSId?: string | undefined;
  correlationId?: string | undefined;
  additionalInfo?: Record<string, unknown> | undefined;
  /** CLIENT: the call's access token or Authorization value; build.ts turns it into tokenId and drops it. */
  accessToken?: string | undefined;
}

/** The interaction, when every required field was read and nothing was wrong; otherwise the problems found. */
export function assemble(problems: Problems, f: MappedFields): MappingResult {
  const { role, method, url, startTime, durationMs, fapiInteractionId, counterpartyOrgId } = f;
  if (
    problems.list.length > 0 ||
    role === undefined ||
    method === undefined ||
    url === undefined ||
    startTime === undefined ||
    durationMs === undefined ||
    fapiInteractionId === undefined ||
    counterpartyOrgId === undefined
  ) {
    return { ok: false, problems: problems.list, url };
  }
  const interaction: RawInteraction = { role, method, url, timedOut: f.timedOut, startTime, durationMs, fapiInteractionId, counterpartyOrgId };
  if (f.status !== undefined) interaction.status = f.status;
  if (f.orgId !== undefined) interaction.orgId = f.orgId;
  if (f.clientSSId !== undefined) interaction.clientSSId = f.clientSSId;
  if (f.correlationId !== undefined) interaction.correlationId = f.correlationId;
  if (f.additionalInfo !== undefined) interaction.additionalInfo = f.additionalInfo;
  if (f.accessToken !== undefined) interaction.accessToken = f.accessToken;
  return { ok: true, interaction };
}
