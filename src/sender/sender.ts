import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { Spool } from '../spool/spool.js';
import { OrgLane, type LaneStatus } from './lane.js';

export const PRIVATE_REPORT_PATH = '/report-api/v1/private/report';

/** Drains the spool to the PCM: one lane per configured organisation, woken by each commit. */
export class Sender {
  private readonly lanes = new Map<string, OrgLane>();
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly config: Config,
    private readonly spool: Spool,
    private readonly log: Logger,
  ) {
    const { sender, token, pcm } = config;
    config.organisations.forEach((organisation, index) => {
      const lane = new OrgLane(
        organisation,
        index,
        spool,
        {
          apiUrl: pcm.apiUrl,
          authUrl: pcm.authUrl,
          caFile: pcm.caFile,
          reportPath: PRIVATE_REPORT_PATH,
          ...sender,
          tokenRequestFormat: token.requestFormat,
          tokenRefreshMarginMs: token.refreshMarginMs,
          tokenTimeoutMs: token.timeoutMs,
          credentialRetryMs: token.credentialRetryMs,
        },
        log.child({ component: 'sender' }),
      );
      this.lanes.set(lane.orgId, lane);
    });
  }

  start(): void {
    this.unsubscribe = this.spool.onCommitted((added) => {
      for (const [orgId, rows] of added) this.lanes.get(orgId)?.notify(rows);
    });
    for (const lane of this.lanes.values()) lane.start();
    const orphaned = this.spool.pendingOrgIds().filter((orgId) => !this.lanes.has(orgId));
    if (orphaned.length > 0) {
      this.log.error({ orgIds: orphaned }, 'the spool holds pending reports for organisations that are not configured; they wait until their credential is configured again');
    }
  }

  status(): LaneStatus[] {
    return [...this.lanes.values()].map((lane) => lane.status());
  }

  /** True when every organisation has a usable credential. */
  ready(): boolean {
    return [...this.lanes.values()].every((lane) => lane.status().ready);
  }

  async stop(graceMs: number): Promise<void> {
    this.unsubscribe?.();
    await Promise.all([...this.lanes.values()].map((lane) => lane.stop(graceMs)));
  }
}
