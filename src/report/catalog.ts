import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SidecarError } from '../errors.js';
import { jsonType } from './problem.js';
import { hasEmptySegment, templateProblem, templateShape } from './template.js';

/**
 * The accepted `endpoint` values, kept as versioned data (data/catalog/endpoints.json) because the PCM's list lives
 * in documentation and changes every release (pcm-rules.md §1.2, §12); an operator can replace the file without a build.
 */

export interface EndpointEntry {
  template: string;
  /** API family as grouped on the "Endpoints aceitos pela PCM" page. */
  api: string;
  /** List version (`v1.03`) or release (`2026B`) the entry comes from. */
  since: string;
  note?: string;
}

export interface EndpointCatalog {
  version: string;
  private: EndpointEntry[];
  opendata: EndpointEntry[];
}

/** src/report and dist/report are both two levels below the package root, where data/ lives. */
export const DEFAULT_CATALOG_FILE = fileURLToPath(new URL('../../data/catalog/endpoints.json', import.meta.url));

/** The catalogue file cannot be used; `file` names it as given. */
export class CatalogError extends SidecarError {
  readonly file: string;
  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super('PCM_CATALOG_INVALID', `endpoint catalogue ${file}: ${message}`, options);
    this.file = file;
  }
}

const SINCE = /^(v\d+\.\d+|\d{4}[A-Z])$/;
const ENTRY_KEYS = new Set(['template', 'api', 'since', 'note']);
const FILE_KEYS = new Set(['version', 'sources', 'private', 'opendata']);

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function nonEmptyString(value: unknown, path: string, out: string[]): value is string {
  if (typeof value !== 'string') out.push(`${path}: expected a string, received ${jsonType(value)}`);
  else if (value === '') out.push(`${path}: must not be empty`);
  else return true;
  return false;
}

function unknownKeys(value: Record<string, unknown>, known: ReadonlySet<string>, path: string, out: string[]): void {
  for (const key of Object.keys(value)) if (!known.has(key)) out.push(`${path}: unrecognized key ${JSON.stringify(key)}`);
}

function listOf(value: unknown, path: string, out: string[], item: (element: unknown, path: string) => void): void {
  if (!Array.isArray(value)) return void out.push(`${path}: expected an array, received ${jsonType(value)}`);
  if (value.length === 0) return void out.push(`${path}: must list at least one entry`);
  value.forEach((element, i) => item(element, `${path}[${i}]`));
}

function entryProblems(entry: unknown, path: string, out: string[]): void {
  if (!isObject(entry)) return void out.push(`${path}: expected an object, received ${jsonType(entry)}`);
  nonEmptyString(entry.template, `${path}.template`, out);
  nonEmptyString(entry.api, `${path}.api`, out);
  if (nonEmptyString(entry.since, `${path}.since`, out) && !SINCE.test(entry.since)) out.push(`${path}.since: expected a list version like v1.03 or a release like 2026B`);
  if (Object.hasOwn(entry, 'note')) nonEmptyString(entry.note, `${path}.note`, out);
  unknownKeys(entry, ENTRY_KEYS, path, out);
}

/**
 * What is wrong with the file's shape, as `path: problem`. Strict: an unknown key is more likely a typo (`"notes"`)
 * than something to ignore. `sources` (where the entries come from) is documentation for people, not used here.
 */
export function catalogFileProblems(json: unknown): string[] {
  const out: string[] = [];
  if (!isObject(json)) return [`(root): expected an object, received ${jsonType(json)}`];
  nonEmptyString(json.version, 'version', out);
  listOf(json.sources, 'sources', out, (source, path) => void nonEmptyString(source, path, out));
  listOf(json.private, 'private', out, (entry, path) => entryProblems(entry, path, out));
  listOf(json.opendata, 'opendata', out, (entry, path) => entryProblems(entry, path, out));
  unknownKeys(json, FILE_KEYS, '(root)', out);
  return out;
}

/** The problems of one list that a schema cannot express: template syntax, duplicates, ambiguous shapes. */
function listProblems(name: 'private' | 'opendata', entries: readonly EndpointEntry[]): string[] {
  const problems: string[] = [];
  const templates = new Map<string, number>();
  const shapes = new Map<string, number>();
  entries.forEach((entry, index) => {
    const where = `${name}[${index}].template "${entry.template}"`;
    const problem = templateProblem(entry.template);
    if (problem !== null) {
      problems.push(`${where}: ${problem}`);
      return;
    }
    // The v1.03 list really has one such entry (§13 item 15); demanding a note keeps new ones from slipping in.
    if (hasEmptySegment(entry.template) && entry.note === undefined) {
      problems.push(`${where}: has an empty segment ('//' or a trailing '/'); keep such an entry only with a "note" saying why`);
    }
    const seen = templates.get(entry.template);
    if (seen !== undefined) {
      problems.push(`${where}: duplicate template (also ${name}[${seen}])`);
      return;
    }
    templates.set(entry.template, index);
    const shape = templateShape(entry.template);
    const sameShape = shapes.get(shape);
    if (sameShape !== undefined) {
      problems.push(`${where}: same path shape as ${name}[${sameShape}] "${entries[sameShape]?.template}" (only placeholder names differ)`);
    } else {
      shapes.set(shape, index);
    }
  });
  return problems;
}

/** Reads and checks the catalogue; throws CatalogError naming the file and what is wrong. */
export function loadCatalog(file: string = DEFAULT_CATALOG_FILE): EndpointCatalog {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CatalogError(file, `cannot read the file (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CatalogError(file, `not valid JSON (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  const shape = catalogFileProblems(json);
  if (shape.length > 0) {
    const more = shape.length > 5 ? `; and ${shape.length - 5} more` : '';
    throw new CatalogError(file, `does not match the catalogue schema: ${shape.slice(0, 5).join('; ')}${more}`);
  }
  const { version, private: privateEntries, opendata } = json as { version: string; private: EndpointEntry[]; opendata: EndpointEntry[] };
  const problems = [...listProblems('private', privateEntries), ...listProblems('opendata', opendata)];
  if (problems.length > 0) throw new CatalogError(file, problems.join('; '));
  return { version, private: privateEntries, opendata };
}
