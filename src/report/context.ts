import type { Config } from '../config/schema.js';
import type { BuildContext } from './build.js';
import type { EndpointCatalog } from './catalog.js';
import { EndpointTemplates } from './template.js';
import type { RuleOptions, ValidationContext } from './validate.js';

/** Everything validation needs except the clock, built once from the configuration and the catalogue. */
export interface ReportRules {
  validation(now?: number): ValidationContext;
  build: BuildContext;
  catalog: EndpointCatalog;
}

export interface RulesInput {
  /** null: no organisations known (offline validation), so the reporter-org rule is skipped. */
  organisations: readonly { orgId: string; clientSSId?: string | undefined }[] | null;
  opendataOrgId: string | null;
  rules: RuleOptions;
  /** Read from PCM_TOKEN_ID_PEPPER_FILE at start; null when not configured. */
  tokenIdPepper?: Uint8Array | null;
}

export function reportRules(input: RulesInput, catalog: EndpointCatalog): ReportRules {
  const privateTemplates = new EndpointTemplates(catalog.private);
  const opendataTemplates = new EndpointTemplates(catalog.opendata);
  const organisations = input.organisations ?? [];
  const reporterOrgIds = input.organisations === null ? null : new Set(organisations.map((o) => o.orgId.toLowerCase()));
  const { opendataOrgId, rules } = input;
  return {
    catalog,
    // A literal of one shape per request (a spread of a fixed object showed in the single-report profile).
    validation: (now = Date.now()) => ({ reporterOrgIds, opendataOrgId, privateTemplates, opendataTemplates, rules, now }),
    build: {
      organisations: new Map(organisations.map((o) => [o.orgId.toLowerCase(), { clientSSId: o.clientSSId }])),
      privateTemplates,
      tokenIdPepper: input.tokenIdPepper ?? null,
    },
  };
}

export function rulesInputOf(config: Config, opendataOrgId: string | null, tokenIdPepper: Uint8Array | null = null): RulesInput {
  return { organisations: config.organisations, opendataOrgId, rules: config.rules, tokenIdPepper };
}
