import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { MappingResult } from '../../src/ingest/gateways/common.js';
import { interactionProblems, type RawInteraction } from '../../src/report/interaction.js';

/** Shared by the gateway mapping tests (Kong, Envoy/Istio, nginx). */

export function interactionOf(result: MappingResult): RawInteraction {
  if (!result.ok) throw new Error(`expected a mapping, got ${JSON.stringify(result.problems)}`);
  // Whatever a mapping produces must be a valid RawInteraction for buildReport.
  expect(interactionProblems(result.interaction)).toBeNull();
  return result.interaction;
}

export function problemsOf(result: MappingResult): { field: string; rule: string }[] {
  if (result.ok) throw new Error(`expected problems, got ${JSON.stringify(result.interaction)}`);
  return result.problems.map(({ field, rule }) => ({ field, rule }));
}

/** A file shipped under deploy/gateways/. */
export function deploy(path: string): string {
  return readFileSync(new URL(`../../deploy/gateways/${path}`, import.meta.url), 'utf8');
}
