import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NODE_FLAGS } from '../src/node-flags.js';

/** The V8 flags of src/node-flags.ts are the ones the bin and the image start node with. */

const root = (path: string): string => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

describe('node flags', () => {
  it('are in the bin’s shebang', () => {
    expect(root('src/cli.ts').split('\n')[0]).toBe(`#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
  });

  it('are in the image’s ENTRYPOINT', () => {
    const entrypoint = root('Dockerfile')
      .split('\n')
      .find((line) => line.startsWith('ENTRYPOINT '));
    expect(JSON.parse((entrypoint as string).slice('ENTRYPOINT '.length))).toEqual(['node', ...NODE_FLAGS, '/app/dist/cli.js']);
  });
});
