import type { EndpointEntry } from './catalog.js';
import { mulberry32 } from '../random.js';

/**
 * Maps concrete request paths to the PCM's endpoint templates (pcm-rules.md §3.1: the PCM wants
 * `/open-banking/accounts/v2/accounts/{accountId}/balances`, never the path that was called). Pure: no I/O.
 */

const PLACEHOLDER = /^\{[A-Za-z][A-Za-z0-9]*\}$/;

/**
 * Security endpoints live at URLs each participant chooses (found via .well-known), so they are recognised by the
 * last path segment rather than by a full template (§3.1, §3.2).
 */
const SECURITY_BY_LAST_SEGMENT: ReadonlyMap<string, string> = new Map([
  ['token', '/token'],
  ['register', '/register'],
  ['revocation', '/revocation'],
  ['introspection', '/introspection'],
  ['pushed-authorization-request', '/pushed-authorization-request'],
]);
const REGISTER_CLIENT = '/register/{clientId}';
const SECURITY_TEMPLATES = new Set([...SECURITY_BY_LAST_SEGMENT.values(), REGISTER_CLIENT]);

/** Segments of a template as written; `//` gives an empty segment, which no concrete path can produce. */
function templateSegments(template: string): string[] {
  return template.split('/').slice(1);
}

export function isPlaceholder(segment: string): boolean {
  return PLACEHOLDER.test(segment);
}

/** Why `template` cannot be used as a template, or null. Empty segments (`//`) are not judged here: see hasEmptySegment. */
export function templateProblem(template: string): string | null {
  if (!template.startsWith('/')) return "does not start with '/'";
  if (/[\s?#]/.test(template)) return "contains whitespace, '?' or '#'";
  const names = new Set<string>();
  for (const segment of templateSegments(template)) {
    if (!segment.includes('{') && !segment.includes('}')) continue;
    if (!isPlaceholder(segment)) return `malformed placeholder in segment "${segment}" (expected a whole segment like {accountId})`;
    if (names.has(segment)) return `placeholder ${segment} appears twice`;
    names.add(segment);
  }
  return null;
}

/** True for templates such as the v1.03 typo `/open-banking/payments/v4//consents/...` (or a trailing slash). */
export function hasEmptySegment(template: string): boolean {
  return templateSegments(template).includes('');
}

/** Placeholder names erased: two templates with the same shape would match exactly the same paths. */
export function templateShape(template: string): string {
  return templateSegments(template)
    .map((segment) => (isPlaceholder(segment) ? '{}' : segment))
    .join('/');
}

/**
 * Path segments of a concrete path or URL: scheme and host, query and fragment dropped; repeated and trailing
 * slashes vanish because empty segments are skipped. Segments are not percent-decoded: `%2F` must stay one segment.
 */
export function pathSegments(input: string): string[] {
  let path = input.trim().replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/, '');
  const cut = path.search(/[?#]/);
  if (cut >= 0) path = path.slice(0, cut);
  return path.split('/').filter((segment) => segment !== '');
}

interface TrieNode {
  literals: Map<string, TrieNode>;
  /** One child for any placeholder at this depth: the names differ between templates, the match does not. */
  param: TrieNode | null;
  template: string | null;
}

function newNode(): TrieNode {
  return { literals: new Map(), param: null, template: null };
}

/**
 * Depth-first, literal child before placeholder child: when two templates match one path, the one with a literal
 * at the first position where they differ wins (e.g. `…/pix/payments/consents/{consentId}` over
 * `…/pix/payments/{paymentId}`). If the literal branch dead-ends, the placeholder branch is tried.
 */
function walk(node: TrieNode, segments: readonly string[], index: number): string | null {
  if (index === segments.length) return node.template;
  const segment = segments[index] as string;
  const literal = node.literals.get(segment);
  if (literal !== undefined) {
    const found = walk(literal, segments, index + 1);
    if (found !== null) return found;
  }
  return node.param === null ? null : walk(node.param, segments, index + 1);
}

export class EndpointTemplates {
  /** Every listed template, including unmatchable ones: the PCM compares strings, so they are still valid values. */
  private readonly listed: ReadonlySet<string>;
  private readonly root: TrieNode = newNode();
  private readonly security = new Map<string, string>();
  private readonly registerClient: boolean;

  /** Throws on an invalid template or two templates of the same shape; loadCatalog reports these first, with the file. */
  constructor(entries: readonly EndpointEntry[]) {
    this.listed = new Set(entries.map((entry) => entry.template));
    for (const { template } of entries) {
      const problem = templateProblem(template);
      if (problem !== null) throw new Error(`endpoint template ${template}: ${problem}`);
      // A concrete path has no empty segments after normalisation, so such a template is listed but never matched.
      if (hasEmptySegment(template)) continue;
      if (SECURITY_TEMPLATES.has(template)) {
        if (template !== REGISTER_CLIENT) this.security.set(template.slice(1), template);
        continue;
      }
      this.insert(template);
    }
    this.registerClient = this.listed.has(REGISTER_CLIENT);
  }

  private insert(template: string): void {
    let node = this.root;
    for (const segment of templateSegments(template)) {
      if (isPlaceholder(segment)) {
        node.param ??= newNode();
        node = node.param;
      } else {
        let child = node.literals.get(segment);
        if (child === undefined) {
          child = newNode();
          node.literals.set(segment, child);
        }
        node = child;
      }
    }
    if (node.template !== null && node.template !== template) {
      throw new Error(`endpoint templates ${node.template} and ${template} have the same shape: a path could match either`);
    }
    node.template = template;
  }

  /** Exactly a listed template (string equality, as the PCM checks). */
  has(endpoint: string): boolean {
    return this.listed.has(endpoint);
  }

  /** The template a concrete path or URL was called through, or null when the catalogue does not list it. */
  match(path: string): string | null {
    if (this.listed.has(path)) return path;
    const segments = pathSegments(path);
    if (segments.length === 0) return null;
    // Gateways put their own prefix before /open-banking (`/opbk/open-banking/...`, §3.2); the template starts there.
    const start = segments.indexOf('open-banking');
    // A path under /open-banking is a product API call: it is never read as a security endpoint.
    if (start >= 0) return walk(this.root, segments, start);
    return walk(this.root, segments, 0) ?? this.matchSecurity(segments);
  }

  private matchSecurity(segments: readonly string[]): string | null {
    const last = segments[segments.length - 1] as string;
    // `token.oauth2` counts as `token`: the rules' own example URL is `…/as/token.oauth2` (§3.2).
    const name = /^[^.]+\.[A-Za-z0-9]+$/.test(last) ? last.slice(0, last.indexOf('.')) : last;
    const byName = this.security.get(name);
    if (byName !== undefined) return byName;
    if (this.registerClient && segments.length >= 2 && segments[segments.length - 2] === 'register') return REGISTER_CLIENT;
    return null;
  }
}


function pick(next: () => number, alphabet: string, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(next() * alphabet.length)];
  return out;
}

function uuid(next: () => number): string {
  const hex = '0123456789abcdef';
  return `${pick(next, hex, 8)}-${pick(next, hex, 4)}-4${pick(next, hex, 3)}-${pick(next, '89ab', 1)}${pick(next, hex, 3)}-${pick(next, hex, 12)}`;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A plausible value for a placeholder; the seed also varies the format (UUID, digits, opaque id). */
function exampleValue(name: string, seed: number, next: () => number): string {
  switch (name) {
    case 'consentId':
    case 'recurringConsentId':
    case 'enrollmentId':
      // Consent and enrollment ids are URNs (`urn:<institution>:<id>`).
      return seed % 2 === 0 ? `urn:bancoex:${uuid(next)}` : `urn:bancoex:${pick(next, ALNUM, 10)}`;
    case 'clientId':
      return seed % 2 === 0 ? uuid(next) : pick(next, ALNUM, 22);
    default:
      switch (seed % 3) {
        case 0:
          return uuid(next);
        case 1:
          return pick(next, '123456789', 1) + pick(next, '0123456789', 11);
        default:
          return `${pick(next, ALNUM, 6)}-${pick(next, ALNUM, 10)}`;
      }
  }
}

/** `template` with every `{placeholder}` replaced by a generated value (for tests and corpus generation). */
export function concreteExample(template: string, seed = 1): string {
  const next = mulberry32(seed);
  return template
    .split('/')
    .map((segment) => (isPlaceholder(segment) ? exampleValue(segment.slice(1, -1), seed, next) : segment))
    .join('/');
}
