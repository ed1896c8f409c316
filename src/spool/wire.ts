import { endpointOf } from './endpoint-days.js';
import type { NewReport, RejectedItem, Stream, WriteOutcome, WriteRequest } from './types.js';

/**
 * What a group of write requests looks like on its way to the writer thread. Structured clone of thousands of small
 * report objects costs more than the commit itself; a few long strings and typed arrays cost one copy each.
 */
export interface WireGroup {
  /** Every report's JSON, then every dedup key, back to back; `lengths` cuts them apart. */
  text: string;
  /** Per report: JSON length, dedup key length. */
  lengths: Uint32Array<ArrayBuffer>;
  /** Per report: its timestamp (epoch ms), NaN when not given. */
  times: Float64Array<ArrayBuffer>;
  /** Per report: index into `lanes`. */
  laneIndex: Uint16Array<ArrayBuffer>;
  lanes: [Stream, string][];
  /** Per report: index into `endpoints`, the group's distinct endpoints (endpoint-days.ts). */
  endpointIndex: Uint32Array<ArrayBuffer>;
  endpoints: string[];
  /** Per request: how many reports it holds. */
  counts: Uint32Array;
  /** Repairs and findings, for the few reports that have them: [report index, repairs, findings]. */
  notes: [number, readonly string[], string | null][];
  /** Refused items, per request (rare). */
  rejected: (readonly RejectedItem[])[];
}

export function encodeGroup(requests: readonly WriteRequest[]): WireGroup {
  let total = 0;
  for (const r of requests) total += r.reports.length;
  const lengths = new Uint32Array(total * 2);
  const laneIndex = new Uint16Array(total);
  const endpointIndex = new Uint32Array(total);
  const endpoints: string[] = [];
  const endpointNo = new Map<string, number>();
  const times = new Float64Array(total);
  const counts = new Uint32Array(requests.length);
  const lanes: [Stream, string][] = [];
  const laneNo = new Map<string, number>();
  const notes: WireGroup['notes'] = [];
  const jsons: string[] = new Array(total);
  const keys: string[] = new Array(total);
  let i = 0;
  requests.forEach((request, r) => {
    counts[r] = request.reports.length;
    for (const report of request.reports) {
      const laneKey = `${report.stream}:${report.orgId}`;
      let no = laneNo.get(laneKey);
      if (no === undefined) {
        no = lanes.length;
        laneNo.set(laneKey, no);
        lanes.push([report.stream, report.orgId]);
      }
      laneIndex[i] = no;
      const endpoint = endpointOf(report);
      let e = endpointNo.get(endpoint);
      if (e === undefined) {
        e = endpoints.length;
        endpointNo.set(endpoint, e);
        endpoints.push(endpoint);
      }
      endpointIndex[i] = e;
      times[i] = report.at ?? Number.NaN;
      jsons[i] = report.json;
      keys[i] = report.dedupKey;
      lengths[2 * i] = report.json.length;
      lengths[2 * i + 1] = report.dedupKey.length;
      if (report.repairs.length > 0 || (report.findings !== undefined && report.findings !== null)) notes.push([i, report.repairs, report.findings ?? null]);
      i++;
    }
  });
  return { text: jsons.join('') + keys.join(''), lengths, times, laneIndex, lanes, endpointIndex, endpoints, counts, notes, rejected: requests.map((r) => r.rejected) };
}

export function decodeGroup(group: WireGroup): WriteRequest[] {
  const total = group.laneIndex.length;
  const notes = new Map(group.notes.map(([index, repairs, findings]) => [index, { repairs, findings }]));
  const reports: NewReport[] = new Array(total);
  let jsonAt = 0;
  let keyAt = 0;
  for (let i = 0; i < total; i++) keyAt += group.lengths[2 * i] as number;
  for (let i = 0; i < total; i++) {
    const jsonLength = group.lengths[2 * i] as number;
    const keyLength = group.lengths[2 * i + 1] as number;
    const [stream, orgId] = group.lanes[group.laneIndex[i] as number] as [Stream, string];
    const note = notes.get(i);
    reports[i] = {
      stream,
      orgId,
      json: group.text.slice(jsonAt, jsonAt + jsonLength),
      dedupKey: group.text.slice(keyAt, keyAt + keyLength),
      fapiInteractionId: null,
      endpoint: group.endpoints[group.endpointIndex[i] as number] as string,
      at: Number.isNaN(group.times[i]) ? undefined : group.times[i],
      repairs: note?.repairs ?? [],
      findings: note?.findings ?? null,
    };
    jsonAt += jsonLength;
    keyAt += keyLength;
  }
  const requests: WriteRequest[] = [];
  let at = 0;
  group.counts.forEach((count, r) => {
    requests.push({ reports: reports.slice(at, at + count), rejected: group.rejected[r] ?? [] });
    at += count;
  });
  return requests;
}

/** The answer's outcomes as one byte per report (1: duplicate), in request order. */
export function encodeOutcomes(outcomes: readonly WriteOutcome[]): Uint8Array<ArrayBuffer> {
  let total = 0;
  for (const o of outcomes) total += o.length;
  const flags = new Uint8Array(total);
  let i = 0;
  for (const o of outcomes) for (const x of o) flags[i++] = x === 'duplicate' ? 1 : 0;
  return flags;
}

export function decodeOutcomes(flags: Uint8Array, counts: Uint32Array): WriteOutcome[] {
  const out: WriteOutcome[] = [];
  let i = 0;
  for (const count of counts) {
    const o: WriteOutcome = new Array(count);
    for (let j = 0; j < count; j++) o[j] = flags[i++] === 1 ? 'duplicate' : 'stored';
    out.push(o);
  }
  return out;
}
