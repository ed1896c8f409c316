import { request } from 'undici';

/** Where a sidecar serves /metrics: its admin listener. */
export function metricsUrl(sidecar: { adminUrl: string }): string {
  return `${sidecar.adminUrl}/metrics`;
}

export async function scrape(sidecar: { adminUrl: string }): Promise<string> {
  const res = await request(metricsUrl(sidecar));
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET /metrics answered ${res.statusCode}`);
  return text;
}

export interface ScrapedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ScrapedFamily {
  name: string;
  type: string;
  help: string;
  samples: ScrapedSample[];
}

const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

/** The metric families of a Prometheus text exposition, each with its samples (a histogram's series included). */
export function parseExposition(text: string): Map<string, ScrapedFamily> {
  const families = new Map<string, ScrapedFamily>();
  const family = (name: string): ScrapedFamily => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, type: 'untyped', help: '', samples: [] }));
    return f;
  };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const comment = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (comment) {
      const [, kind, name, rest] = comment;
      if (kind === 'TYPE') family(name!).type = rest!;
      else family(name!).help = rest!.replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!sample) throw new Error(`not an exposition line: ${line}`);
    const [, name, labelText, value] = sample as [string, string, string | undefined, string];
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (labelText ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = raw!.replace(/\\(.)/g, '$1');
    const owner = families.has(name) ? name : (HISTOGRAM_SUFFIXES.map((s) => (name.endsWith(s) ? name.slice(0, -s.length) : '')).find((base) => families.has(base)) ?? name);
    family(owner).samples.push({ name, labels, value: Number(value) });
  }
  return families;
}
