import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { SidecarError } from '../errors.js';
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

const entrySchema = z.strictObject({
  template: z.string().min(1),
  api: z.string().min(1),
  since: z.string().regex(/^(v\d+\.\d+|\d{4}[A-Z])$/, 'expected a list version like v1.03 or a release like 2026B'),
  note: z.string().min(1).optional(),
});

/** Strict: an unknown key is more likely a typo (`"notes"`) than something to ignore. */
export const catalogFileSchema = z.strictObject({
  version: z.string().min(1),
  /** Where the entries come from; documentation for people, not used by the code. */
  sources: z.array(z.string().min(1)).min(1),
  private: z.array(entrySchema).min(1),
  opendata: z.array(entrySchema).min(1),
});

function issuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : `${out === '' ? '' : '.'}${String(key)}`;
  return out === '' ? '(root)' : out;
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
  const parsed = catalogFileSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((issue) => `${issuePath(issue.path)}: ${issue.message}`);
    const more = parsed.error.issues.length > 5 ? `; and ${parsed.error.issues.length - 5} more` : '';
    throw new CatalogError(file, `does not match the catalogue schema: ${issues.join('; ')}${more}`);
  }
  const { version, private: privateEntries, opendata } = parsed.data;
  const problems = [...listProblems('private', privateEntries), ...listProblems('opendata', opendata)];
  if (problems.length > 0) throw new CatalogError(file, problems.join('; '));
  return { version, private: privateEntries, opendata };
}
