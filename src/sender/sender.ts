import type { Logger } from 'pino';
import { rateLimitOf } from '../config/defaults.js';
import type { Config, Organisation } from '../config/schema.js';
import { laneOf, type Spool, type Stream } from '../spool/spool.js';
import { OrgLane, type AcceptedHook, type LaneHooks, type LaneStatus, type TokenSource } from './lane.js';
import { RateBudget, type RateBudgetOptions, type RateBudgetStatus, type RateClock } from './rate-budget.js';

export const REPORT_PATHS: Record<Stream, string> = {
  private: '/report-api/v1/private/report',
  opendata: '/report-api/v1/opendata/report',
};

/** The rate budget the settings describe (PCM_RATE_*, PCM_FLEET_*); the fleet simulation builds its sidecars' from it too. */
export function rateBudgetOptions(config: Pick<Config, 'rate'>, clock?: RateClock, random?: () => number): RateBudgetOptions {
  const { rate } = config;
  return {
    rate: rateLimitOf(rate),
    burst: rate.burst,
    decrease: rate.decrease,
    decreaseHoldMs: rate.decreaseHoldMs,
    increase: rate.increase,
    minRate: rate.min,
    ...(clock ? { clock } : {}),
    ...(random ? { random } : {}),
  };
}

/** Hooks for the floors above the sender, which the sidecar connects (the sender imports none of them). */
/** Listeners of every lane: accepted batches (reconciliation), discarded reports and readiness changes (alerts). */
export interface SenderHooks extends LaneHooks {
  /** Each lane's batches with ACCEPTED reports, once recorded (reconciliation samples them). */
  onAccepted?: AcceptedHook | undefined;
}

/** Drains the spool to the PCM: one lane per configured organisation, woken by each commit, all under one rate budget. */
export class Sender {
  private readonly lanes = new Map<string, OrgLane>();
  private unsubscribe: (() => void) | null = null;
  /** Every call of this process to the PCM, whichever lane or host, spends a permit of this one budget. */
  readonly budget: RateBudget;

  constructor(
    private readonly config: Config,
    private readonly spool: Spool,
    private readonly log: Logger,
    private readonly hooks: SenderHooks = {},
  ) {
    this.budget = new RateBudget(rateBudgetOptions(config));
    const opendataOrgId = opendataOrgOf(config);
    config.organisations.forEach((organisation, index) => {
      const streams: Stream[] = organisation.orgId.toLowerCase() === opendataOrgId ? ['private', 'opendata'] : ['private'];
      for (const stream of streams) this.addLane(organisation, index, stream);
    });
  }

  private addLane(organisation: Organisation, index: number, stream: Stream): OrgLane {
    const { sender, token, pcm, forward } = this.config;
    const lane = new OrgLane(
      organisation,
      index,
      stream,
      this.spool,
      {
        // Absent only on an agent, whose lanes forward instead (the schema asks for them otherwise).
        apiUrl: pcm.apiUrl ?? '',
        authUrl: pcm.authUrl ?? '',
        caFile: pcm.caFile,
        reportPath: REPORT_PATHS[stream],
        ...sender,
        tokenRequestFormat: token.requestFormat,
        tokenRefreshMarginMs: token.refreshMarginMs,
        tokenTimeoutMs: token.timeoutMs,
        credentialRetryMs: token.credentialRetryMs,
        forward: forward.url === undefined ? undefined : { ...forward, url: forward.url },
        onAccepted: this.hooks.onAccepted,
        maxAgeMs: this.config.rules.maxAgeMs,
      },
      this.budget,
      this.log.child({ component: 'sender' }),
      this.hooks,
    );
    this.lanes.set(lane.lane, lane);
    return lane;
  }

  /**
   * Opendata reports of an organisation other than the opendata one arrive with `/v1/reports?orgId=` (an agent's
   * opendata lane, forwarded): their lane starts with its first report, or at start when the spool holds some.
   * Returns whether the lane is new (it reads its backlog from the spool as it starts).
   */
  private opendataLane(name: string): boolean {
    if (this.lanes.has(name)) return false;
    const index = this.config.organisations.findIndex((o) => laneOf('opendata', o.orgId.toLowerCase()) === name);
    const organisation = this.config.organisations[index];
    if (organisation === undefined) return false;
    this.addLane(organisation, index, 'opendata').start();
    return true;
  }

  start(): void {
    this.unsubscribe = this.spool.onCommitted((added) => {
      for (const [lane, rows] of added) if (!this.opendataLane(lane)) this.lanes.get(lane)?.notify(rows);
    });
    const { rate, burst } = this.budget.status();
    this.log.info({ rateLimit: rate, burst, fleetSize: this.config.rate.fleetSize }, 'rate budget: this process makes at most rateLimit PCM calls per second');
    for (const lane of this.lanes.values()) lane.start();
    for (const lane of this.spool.pendingLanes()) this.opendataLane(lane);
    const orphaned = this.spool.pendingLanes().filter((lane) => !this.lanes.has(lane));
    if (orphaned.length > 0) {
      this.log.error({ lanes: orphaned }, 'the spool holds pending reports for organisations that are not configured; they wait until their credential is configured again');
    }
  }

  status(): LaneStatus[] {
    return [...this.lanes.values()].map((lane) => lane.status());
  }

  /** A lane's organisation token, for calls made on its behalf above the sender; undefined for an unknown lane. */
  tokenSource(lane: string): TokenSource | undefined {
    return this.lanes.get(lane);
  }

  /** The shared rate budget: allowed rate now (after 429s), calls, waits. */
  rate(): RateBudgetStatus {
    return this.budget.status();
  }

  async stop(graceMs: number): Promise<void> {
    this.unsubscribe?.();
    await Promise.all([...this.lanes.values()].map((lane) => lane.stop(graceMs)));
  }
}

/** The organisation that sends opendata reports: the configured one, or the only organisation. */
export function opendataOrgOf(config: Config): string | null {
  if (config.opendataOrgId) return config.opendataOrgId.toLowerCase();
  return config.organisations.length === 1 ? (config.organisations[0] as { orgId: string }).orgId.toLowerCase() : null;
}
