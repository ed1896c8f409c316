import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NODE_FLAGS } from '../src/node-flags.js';

/** The V8 flags of src/node-flags.ts are the ones the image starts node with; the bin stays portable. */

const root = (path: string): string => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

describe('node flags', () => {
  it('are not in the bin’s shebang, which BusyBox’s env (no -S) could not run', () => {
    expect(root('src/cli.ts').split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it('are what the README tells npm installs to put in NODE_OPTIONS', () => {
    expect(root('README.md')).toContain(`NODE_OPTIONS=${NODE_FLAGS.join(' ')}`);
  });

  it('are in the image’s ENTRYPOINT', () => {
    const entrypoint = root('Dockerfile')
      .split('\n')
      .find((line) => line.startsWith('ENTRYPOINT '));
    expect(JSON.parse((entrypoint as string).slice('ENTRYPOINT '.length))).toEqual(['node', ...NODE_FLAGS, '/app/dist/cli.js']);
  });
});
