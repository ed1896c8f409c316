/**
 * Every rule a report is checked against, with the PCM's own severity and where it comes from (section numbers are
 * pcm-rules.md). The checking code lives in validate.ts and additional-info.ts; each problem it raises names one of
 * these ids, and this table alone decides what happens to it.
 *
 *   discard — the PCM answers DISCARDED (§8): the report is refused here and kept in quarantine.
 *   quality — the PCM ingests the report and may open a data-quality ticket (§8.3, last paragraph): the report is
 *             sent, and the finding is shown to the participant (ingest answer, spool, metrics, `validate`).
 *
 * Where the sources do not say whether the PCM discards, the rule is `quality` and `unclear` says why: sending costs
 * at most a ticket, refusing costs the report (an SLA miss for us and an UNPAIRED for the counterpart).
 */

export type Severity = 'discard' | 'quality';

/** What an operator may make of a rule (PCM_RULE_QUALITY, `rules.overrides` in the config file). */
export type RuleAction = 'refuse' | 'send' | 'ignore';

export interface RuleInfo {
  severity: Severity;
  /** Section of pcm-rules.md and, where it matters, the release or page. */
  source: string;
  /** Why the severity was chosen when the sources do not settle it. */
  unclear?: string;
  /**
   * false for the rules without which there is no well-formed report to send at all (schema shape, the sidecar's own
   * limits): an override may make them stricter, never `send` or `ignore`.
   */
  overridable: boolean;
}

const discard = (source: string, overridable = true): RuleInfo => ({ severity: 'discard', source, overridable });
const quality = (source: string, unclear?: string): RuleInfo => ({ severity: 'quality', source, overridable: true, ...(unclear ? { unclear } : {}) });
const shape = (source: string): RuleInfo => discard(source, false);

export const RULES = {
  // ── the report itself: the PCM's schema is strict (§8.3 "zod-style messages") ──
  required: shape('§2.2/§2.3 required keys per role; §8.2 "Missing property"; §3.4 fapiInteractionId always'),
  unrecognized_key: shape('§8.3 "Unrecognized key(s) in object"; §15 only documented keys, exact camelCase'),
  not_null: shape('§15 "no null values"; §8.3 "can\'t be empty"'),
  type: shape('§8.2 "Field type mismatch"; §8.3 "Expected number, received …"'),
  enum: shape('§8.3 role \'SERVER\' | \'CLIENT\', httpMethod \'GET\' | \'POST\' | \'PUT\' | \'PATCH\' | \'DELETE\''),
  range: shape('§3.3 statusCode 200–599; §3.2 endpointUriPrefix ≤ 200; §2.1 correlationId ≤ 100; §3.4 UUID 36; §3.6 timestamp ≤ 28'),
  format: shape('§3.4 UUID; §3.6 "Invalid timestamp format" (2025D), a real calendar date; §2.1 / §8.3 "Invalid correlationId format"; §3.2 endpointUriPrefix pattern, not empty'),
  listed_endpoint: discard('§12 accepted lists; §8.2 "Unlisted endpoint"'),
  positive: discard('§3.5 "processTimespan must be greater than zero"'),
  integer: discard('§13 item 4: int16 in v1.0.2/v3.1.0 (only with PCM_RULE_PROCESS_TIMESPAN=integer)'),
  int16: discard('§13 item 4: int16 caps at 32 767 ms (only with PCM_RULE_PROCESS_TIMESPAN=integer)'),
  max_age: discard('§3.6, §8.2 "Report is too old" (7 days)'),
  max_future: discard('§3.6 release 2025D: more than 5 minutes in the future'),
  nil_uuid: discard('§3.4 / §8.3 "fapiInteractionId mismatch … not 0000…"; org ids and clientSSId must exist in the Directory (§2.4, §8.3)'),
  // Not overridable: a report for an organisation without credentials would be spooled in a lane no sender serves.
  reporter_org: shape('§2.4 / §8.3 "Requester id mismatch": the reporter must be an organisation whose certificate obtains the token'),
  opendata_org: shape('§5: opendata reports go out with one organisation\'s token; none is configured (PCM_OPENDATA_ORG_ID)'),
  too_large: shape('§11: a PCM request holds at most 10 MB; a larger report could never be sent'),
  'endpointUriPrefix.shape': quality(
    '§3.2 "https://{host}/{prefixo}"',
    'the schemas only constrain the characters (^[- /:_.\',0-9a-zA-Z]{0,200}$); no discard names the shape',
  ),

  // ── additionalInfo: the discards of §8.3 ──
  'additionalInfo.required': discard('§4.1 / §8.3 "Invalid type: additionalInfo: Required" (CLIENT, opendata)'),
  'additionalInfo.type': discard('§8.3 "Invalid type: additionalInfo: Expected object"'),
  'additionalInfo.notEmpty': discard(
    '§8.3 "additionalInfo should not be empty" where the call has a key that is always required (§4.3); SERVER on the consent-creation POSTs (§4.4)',
  ),
  'additionalInfo.valueType': discard('§4.1 / §8.3 "additionalInfo.<key>: Expected string" (objects for companyProfileInfo/statusSummary, an array for paymentList; errorCodes per §13 item 6)'),
  'additionalInfo.enum': discard(
    '§8.3 enums of the discard catalogue: personType PF|PJ, grantType, dropReason, paymentType, cancelledFrom (the documented values are added, §13 item 7)',
  ),

  // ── additionalInfo: quality (§8.3 last paragraph: "Regras de Validação" / "Regras de Obrigatoriedade") ──
  'additionalInfo.missingKey': quality('§4.3 / §4.2 conditional presence of keys per (method, endpoint, statusCode)'),
  'additionalInfo.tokenId.missing': quality('§4.5 tokenId on private CLIENT reports (2025D), except 4xx/5xx, /register and public APIs'),
  'additionalInfo.keyGroup': quality('§4.3 keys that go together (consentId XOR recurringConsentId, paymentDate XOR paymentSchedule on 201, consentId or enrollmentId on /token)'),
  'additionalInfo.forbiddenKey': quality(
    '§4.1 "consentId only on /token for authorization_code/refresh_token"; §4.5 no tokenId when /token failed',
    'the Reporte note is not in the discard catalogue',
  ),
  'additionalInfo.domain': quality('§4.3 documented value domains of the other keys (localInstrument, status, platform, authorisationFlow, …)'),
  'additionalInfo.format': quality('§4.1 URN pattern for consentId/enrollmentId/recurringConsentId; §4.5 tokenId 12 base64url characters; dates, codes, IP addresses, non-empty strings'),
  'additionalInfo.unknownKey': quality(
    '§2.3 / §4.1 SERVER additionalInfo defines only dropReason; §5 opendata only clientIp',
    'no discard message names an unknown additionalInfo key; the CLIENT additionalInfo is an open object',
  ),
  'additionalInfo.tokenId.opendata': quality('§4.3 DA: tokenId removed from Dados Abertos in 2026B', 'the release note does not say such a report is discarded'),
  'additionalInfo.errorCodes.single': quality('§4.1 "devendo constar apenas um código de erro" (with PCM_RULE_ERROR_CODES=array)'),
  'additionalInfo.paymentList.maxItems': quality('PCM-current paymentList: at most 60 paymentIds per consentId', 'a schema maxItems, not in the discard catalogue'),
  'additionalInfo.statusSummary.count': quality('PCM-current statusSummary: counts; since 2025D sub-items are accepted as strings', 'numbers were the older form'),
  'additionalInfo.dropReason.noCredential': quality('§4.4 NO_CREDENTIAL when the answer is not 201'),
  'additionalInfo.dropReason.outsideCreation': quality('§4.4 dropReason is sent only on the consent-creation POSTs'),
} as const satisfies Record<string, RuleInfo>;

export type RuleId = keyof typeof RULES;

const UNKNOWN: RuleInfo = { severity: 'discard', source: 'not a PCM rule: the item could not become a report', overridable: false };

/** The table entry of a rule id; ids outside the table (gateway mappings, body parsing) refuse: there is no report. */
export function ruleInfo(rule: string): RuleInfo {
  return Object.hasOwn(RULES, rule) ? RULES[rule as RuleId] : UNKNOWN;
}

export interface RulePolicy {
  /** PCM_RULE_QUALITY: what quality findings do by default. */
  quality: 'send' | 'refuse';
  /** Per rule id, from the config file (`rules.overrides`). */
  overrides: Readonly<Record<string, RuleAction>>;
}

export const DEFAULT_POLICY: RulePolicy = Object.freeze({ quality: 'send', overrides: Object.freeze({}) });

/** What happens to a problem of this rule under the policy. */
export function actionOf(rule: string, policy: RulePolicy): RuleAction {
  const info = ruleInfo(rule);
  const overrides = policy.overrides ?? {};
  const override = Object.hasOwn(overrides, rule) ? overrides[rule] : undefined;
  if (override !== undefined && (info.overridable || override === 'refuse')) return override;
  if (info.severity === 'discard') return 'refuse';
  return policy.quality === 'refuse' ? 'refuse' : 'send';
}
