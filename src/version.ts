import { readFileSync } from 'node:fs';

/** The version in package.json, found from src/ (tests) and dist/ (the build) alike; 'unknown' when unreadable. */
export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}
