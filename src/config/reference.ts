import type { z } from 'zod';
import { globalRegistry } from 'zod';
import { ENV_SETTINGS } from './load.js';
import { configSchema } from './schema.js';

/**
 * The configuration reference (docs/configuration.md), rendered from the schema itself: each setting's path, its
 * PCM_* variable (load.ts), type and bounds, default and meaning (`.describe()` / `.meta()` in schema.ts). Run by
 * `npm run docs:config` (scripts/config-doc.js), never by the sidecar; test/config/reference.test.ts fails when the file and this drift apart.
 */

export interface SettingDoc {
  /** Path in the config file; `[]` marks a list's entries (`organisations[].orgId`). */
  path: string;
  /** The PCM_* variable, or null for a setting of the file only. */
  variable: string | null;
  type: string;
  default: string;
  meaning: string;
}

export interface SectionDoc {
  /** The object's path ('' for the top level). */
  path: string;
  description: string | null;
  settings: SettingDoc[];
}

type Schema = z.core.$ZodType;

/** The parts of zod's definitions the reference reads. */
interface Def {
  type: string;
  innerType?: Schema;
  in?: Schema;
  out?: Schema;
  shape?: Record<string, Schema>;
  element?: Schema;
  options?: readonly Schema[];
  entries?: Record<string, string | number>;
  values?: readonly unknown[];
  keyType?: Schema;
  valueType?: Schema;
  format?: string;
  defaultValue?: unknown;
  checks?: readonly { _zod: { def: CheckDef } }[];
}

interface CheckDef {
  check: string;
  format?: string;
  value?: number;
  inclusive?: boolean;
  pattern?: RegExp;
}

interface Meta {
  description?: string;
  /** What an unset setting without a default means. */
  absent?: string;
  /** The type as the reader should see it, where the schema's shape says too little. */
  type?: string;
}

const defOf = (schema: Schema): Def => schema._zod.def as unknown as Def;

function metaOf(schema: Schema): Meta {
  const meta = globalRegistry.get(schema) ?? {};
  const text = (key: string): string | undefined => (typeof meta[key] === 'string' ? (meta[key] as string) : undefined);
  const out: Meta = {};
  for (const key of ['description', 'absent', 'type'] as const) {
    const value = text(key);
    if (value !== undefined) out[key] = value;
  }
  return out;
}

const WRAPPERS = new Set(['optional', 'default', 'prefault', 'nullable', 'readonly']);

/** A schema without its wrappers, with what they said: optional, a default, the meta of every layer (outer wins). */
function unwrap(schema: Schema): { core: Schema; optional: boolean; hasDefault: boolean; defaultValue: unknown; meta: Meta } {
  let core = schema;
  let optional = false;
  let hasDefault = false;
  let defaultValue: unknown;
  const meta: Meta = {};
  for (;;) {
    const found = metaOf(core);
    for (const key of ['description', 'absent', 'type'] as const) if (meta[key] === undefined && found[key] !== undefined) meta[key] = found[key];
    const def = defOf(core);
    if (!WRAPPERS.has(def.type) || !def.innerType) break;
    if (def.type === 'optional') optional = true;
    if (def.type === 'default') {
      hasDefault = true;
      defaultValue = def.defaultValue;
    }
    core = def.innerType;
  }
  return { core, optional, hasDefault, defaultValue, meta };
}

function code(value: unknown): string {
  return `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;
}

function bounds(def: Def, integer: boolean): string {
  const lower = def.checks?.map((c) => c._zod.def).find((c) => c.check === 'greater_than');
  const upper = def.checks?.map((c) => c._zod.def).find((c) => c.check === 'less_than');
  if (lower?.inclusive && upper?.inclusive) return ` ${lower.value}–${upper.value}`;
  const parts: string[] = [];
  if (lower) parts.push(lower.inclusive ? `≥ ${lower.value}` : integer && lower.value === 0 ? '≥ 1' : `> ${lower.value}`);
  if (upper) parts.push(upper.inclusive ? `≤ ${upper.value}` : `< ${upper.value}`);
  return parts.length > 0 ? ` ${parts.join(' and ')}` : '';
}

/** The type and its bounds, from the schema. */
function typeOf(schema: Schema): string {
  const { core, meta } = unwrap(schema);
  if (meta.type) return meta.type;
  const def = defOf(core);
  switch (def.type) {
    case 'string': {
      if (def.format === 'uuid') return 'UUID';
      if (def.format === 'url') return 'URL (`http`, `https`)';
      const regex = def.checks?.map((c) => c._zod.def).find((c) => c.format === 'regex');
      return regex?.pattern ? `text matching \`${regex.pattern.source}\`` : 'text';
    }
    case 'number': {
      const integer = def.checks?.some((c) => c._zod.def.check === 'number_format' && /int/.test(c._zod.def.format ?? '')) ?? false;
      return `${integer ? 'integer' : 'number'}${bounds(def, integer)}`;
    }
    case 'boolean':
      return '`true` | `false`';
    case 'enum':
      return Object.values(def.entries ?? {}).map(code).join(' | ');
    case 'literal':
      return (def.values ?? []).map(code).join(' | ');
    case 'union':
      return [...new Set((def.options ?? []).map(typeOf))].join(' | ');
    case 'pipe':
      // A transform says nothing a reader types: the input does (a URL, a string of booleans).
      return def.out && defOf(def.out).type !== 'transform' ? typeOf(def.out) : def.in ? typeOf(def.in) : 'value';
    case 'record':
      return `object: name → ${def.valueType ? typeOf(def.valueType) : 'value'}`;
    case 'array':
      return `list of ${def.element ? typeOf(def.element) : 'values'}`;
    default:
      return def.type;
  }
}

const DURATIONS: readonly [number, string, string][] = [
  [86_400_000, 'day', 'days'],
  [3_600_000, 'h', 'h'],
  [60_000, 'min', 'min'],
];

/** A default as written, with its size in words where the raw number is hard to read. */
function defaultText(value: unknown, path: string): string {
  if (typeof value !== 'number') return code(value);
  let words: string | null = null;
  if (/Ms$/.test(path) && value >= 60_000) {
    const unit = DURATIONS.find(([ms]) => value % ms === 0);
    if (unit) words = `${value / unit[0]} ${value === unit[0] ? unit[1] : unit[2]}`;
  } else if (/Bytes$/.test(path) && value >= 1024) {
    if (value % (1024 * 1024) === 0) words = `${value / (1024 * 1024)} MiB`;
    else if (value % 1_000_000 === 0) words = `${value / 1_000_000} MB`;
    else if (value % 1024 === 0) words = `${value / 1024} KiB`;
  }
  return words ? `${code(value)} (${words})` : code(value);
}

/** Every section (an object that holds settings) and its settings, in the schema's order. */
export function settingDocs(): SectionDoc[] {
  const variableOf = new Map(Object.entries(ENV_SETTINGS).map(([name, path]) => [path.replace(/\.0(?=\.|$)/g, '[]'), name]));
  const sections: SectionDoc[] = [];
  const used = new Set<string>();

  const walk = (schema: Schema, path: string, description: string | null): void => {
    const { core } = unwrap(schema);
    const def = defOf(core);
    let section: SectionDoc | null = null;
    for (const [key, child] of Object.entries(def.shape ?? {})) {
      const childPath = path ? `${path}.${key}` : key;
      const inner = unwrap(child);
      const innerDef = defOf(inner.core);
      const element = innerDef.type === 'array' && innerDef.element ? unwrap(innerDef.element) : null;
      if (innerDef.type === 'object') {
        walk(child, childPath, inner.meta.description ?? null);
        continue;
      }
      if (element && defOf(element.core).type === 'object') {
        walk(innerDef.element as Schema, `${childPath}[]`, inner.meta.description ?? null);
        continue;
      }
      if (!section) {
        section = { path, description, settings: [] };
        sections.push(section);
      }
      const variable = variableOf.get(childPath) ?? null;
      if (variable) used.add(variable);
      section.settings.push({
        path: childPath,
        variable,
        type: typeOf(child),
        default: inner.hasDefault ? defaultText(inner.defaultValue, childPath) : (inner.meta.absent ?? (inner.optional ? 'none' : '— (required)')),
        meaning: inner.meta.description ?? '',
      });
    }
  };
  walk(configSchema, '', null);

  const unmapped = Object.keys(ENV_SETTINGS).filter((name) => !used.has(name));
  if (unmapped.length > 0) throw new Error(`variables whose path is no setting of the schema: ${unmapped.join(', ')}`);
  return sections;
}

/** A table cell: one line, its pipes escaped. */
function cell(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|');
}

/** docs/configuration.md. */
export function configurationReference(): string {
  const lines = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/schema.ts by `npm run docs:config`; edit the schema, not this file. -->',
    '',
    'Every setting of `pcm-sidecar run`, from the configuration schema (`src/config/schema.ts`). A setting comes from its',
    '`PCM_*` environment variable or from the JSON file (`--config FILE` or `PCM_CONFIG`) at its config path; the variable',
    'wins. Paths inside the file are relative to the file. Unknown `PCM_*` variables are refused. A setting marked',
    '*file only* has no variable. In lists (`organisations[]`, `alerts.subscriptions[]`) the variables fill the first',
    'entry; more entries go in the file. Settings ending in `Ms` are milliseconds.',
  ];
  for (const section of settingDocs()) {
    lines.push('', `## ${section.path === '' ? 'Top level' : `\`${section.path}\``}`, '');
    if (section.description) lines.push(section.description, '');
    lines.push('| variable | config path | type | default | meaning |', '|---|---|---|---|---|');
    for (const s of section.settings) {
      lines.push(`| ${s.variable ? `\`${s.variable}\`` : '*file only*'} | \`${s.path}\` | ${cell(s.type)} | ${cell(s.default)} | ${cell(s.meaning)} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}
