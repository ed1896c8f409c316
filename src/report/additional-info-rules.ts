/**
 * The additionalInfo rule table: which keys a report must / may carry for one (method, endpoint, statusCode), and
 * the format of each key. Data only; the checking code is in additional-info.ts.
 *
 * Sources (section numbers are pcm-rules.md):
 *   §4.1  general rules (string leaves, "TRUE"/"FALSE", errorCodes, URN ids)
 *   §4.3  the current per-domain pages (DC v1.03, SV v1.06 / Iniciação v1.09, SG v1.01, DA) — the primary table
 *   §4.2  the legacy v12 spreadsheet, used only for endpoints §4.3 does not cover (V12_STILL_LISTED below)
 *   §4.4  dropReason (SERVER), §4.5 tokenId (CLIENT)
 *   PCM-current = OpenAPI `PCM-current.openapi.yaml` (shared/spec/pcm-openapi-current.yaml), key descriptions.
 *
 * How a requirement is read from the sources:
 *   - "(not on 4xx/5xx)" in §4.3, or a key that only exists in the response body (an id created by the call, a
 *     status), is required only when statusCode < 400 (`OK`).
 *   - a key the client takes from its own request (personType, localInstrument, paymentType, grantType,
 *     webhookEnable, …) is required whatever the status.
 *   - a key that is conditional on another additionalInfo key the sidecar can see (rejectionReasonCode when status
 *     is REJECTED, paymentList for IMMEDIATE/SCHEDULED/RECURRENT, …) is required when that key has that value.
 *   - a key that is conditional on data the sidecar cannot see (journeyIsLinked "only in Jornada Otimizada",
 *     webhookInteractionId "after a webhook") is listed in `optional`: its format is checked when present, its
 *     absence is not. companyProfileInfo "PJ only" follows personType, which the report carries.
 *   - every presence rule here is quality-level (rules.ts): a missing key is a finding, the report is still sent.
 *     Only "additionalInfo should not be empty" is a discard, where the call has a key required unconditionally.
 *   - errorCodes is required on 4xx/5xx for every Serviços endpoint (payments, enrollments, automatic-payments):
 *     xlsx v6 "errorCodes for CLIENT in Serviços" (§4.2) and §4.3 SV/JSR/Pix Automático. §4.3 DC and SG do not list it.
 *   - tokenId (§4.5) is required on every private CLIENT report with statusCode < 400 unless the entry says
 *     `tokenId: 'optional'` (the spec's exemptions, see each entry).
 */

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

const ANY_METHOD: readonly HttpMethod[] = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'];

// ───────────────────────────────────────────── value formats ─────────────────────────────────────────────

export type ValueFormat =
  /** A JSON string; optionally one of `enum`, or matching `pattern` (described by `patternText`), at most `maxLength`. */
  | {
      kind: 'string';
      enum?: readonly string[];
      pattern?: RegExp;
      patternText?: string;
      maxLength?: number;
      /** '' refused ("Missing property, <field> can't be empty"). */
      nonEmpty?: boolean;
    }
  /** An IPv4 or IPv6 address (node:net isIP). */
  | { kind: 'ip' }
  /** A single code string, or an array of at most one string, depending on `errorCodesAs` (§13 item 6). */
  | { kind: 'errorCodes' }
  /** `{ naturezaJuridica: ^\d{4}$, porteEmpresa: 00|01|03|05 }` (§4.3 DC). */
  | { kind: 'companyProfileInfo' }
  /** An object of counts written as digit strings (§4.3 DC resources; PCM-current `statusSummary`). */
  | { kind: 'statusSummary' }
  /** An array (≤60) of objects with string values (§4.3 SV; PCM-current `paymentList`). */
  | { kind: 'paymentList' };

const text = (options: Omit<Extract<ValueFormat, { kind: 'string' }>, 'kind'> = {}): ValueFormat => ({ kind: 'string', ...options });
const oneOf = (...values: string[]): ValueFormat => text({ enum: values });

/** Identifiers the PCM wants as URNs (§4.1 quality rule; PCM-current `consentId.pattern`). 256 = SV/HF limit. */
export const URN_PATTERN = /^urn:[a-zA-Z0-9][a-zA-Z0-9-]{0,31}:[a-zA-Z0-9()+,\-.:=@;$_!*'%\/?#]+$/;
const URN = text({ pattern: URN_PATTERN, patternText: 'a URN (urn:<namespace>:<id>)', maxLength: 256 });
/** §4.5: first 9 bytes of SHA-256, base64url → 12 characters. */
export const TOKEN_ID_PATTERN = /^[A-Za-z0-9_-]{12}$/;
/** "Booleans" are the strings TRUE / FALSE (§4.1; 2026B). */
const BOOLEAN_STRING = oneOf('TRUE', 'FALSE');
/** Enum-like values the spec gives no closed list for (status, reason codes): upper-case codes, first list item. */
const UPPER_CODE = text({ pattern: /^[A-Z][A-Z0-9_]*$/, patternText: 'an upper-case code (^[A-Z][A-Z0-9_]*$)' });
const DATE = text({ pattern: /^\d{4}-\d{2}-\d{2}$/, patternText: 'a date YYYY-MM-DD' });
/** PCM-current `recurringPaymentId.pattern`. */
const PAYMENT_ID = text({ pattern: /^[a-zA-Z0-9][a-zA-Z0-9-]{0,99}$/, patternText: 'an id matching ^[a-zA-Z0-9][a-zA-Z0-9-]{0,99}$' });
const FLOW = oneOf('HYBRID_FLOW', 'CIBA_FLOW', 'FIDO_FLOW');

export const DROP_REASONS = ['NONE', 'NO_CREDENTIAL', 'NO_AUTHORITY', 'NO_AUTHORITY_PERSON_MISMATCH', 'CREDENTIAL_UNAVAILABLE'] as const;
export const GRANT_TYPES = ['AUTHORIZATION_CODE', 'REFRESH_TOKEN', 'CLIENT_CREDENTIALS'] as const;
export const PAYMENT_TYPES = ['IMMEDIATE', 'SCHEDULED', 'RECURRENT', 'SWEEPING', 'AUTOMATIC', 'WITHDRAW', 'CHANGE'] as const;

/**
 * The enum domains the discard catalogue names (§8.3), checked at discard level wherever the key appears. Each is
 * the catalogue's list widened by the documented values (§13 item 7): a value the docs allow is never refused here,
 * and a value outside both is what the PCM discards. The documented (narrower or equal) domains in KEY_FORMATS are
 * checked at quality level on top: cancelledFrom 'REJECTED' passes here (the catalogue has it) and is a quality
 * finding there (the tables say INICIADORA/DETENTORA).
 */
export const DISCARD_DOMAINS: Readonly<Record<string, readonly string[]>> = {
  personType: ['PF', 'PJ'],
  grantType: GRANT_TYPES,
  dropReason: DROP_REASONS,
  paymentType: PAYMENT_TYPES,
  cancelledFrom: ['REJECTED', 'REVOKED', 'INICIADORA', 'DETENTORA'],
};

/**
 * The format of every key the sources define, wherever it appears. A key not listed here must still be a string
 * (§4.1: "Campos additionalInfo — Valida se o campo é do tipo string").
 */
export const KEY_FORMATS: Readonly<Record<string, ValueFormat>> = {
  consentId: URN,
  enrollmentId: URN,
  recurringConsentId: URN,
  journeyLinkId: URN,
  tokenId: text({ pattern: TOKEN_ID_PATTERN, patternText: '12 base64url characters (^[A-Za-z0-9_-]{12}$)' }),
  // §13 item 9: PF/PJ only (DC quality rule, SV discard enum); not PESSOA_NATURAL/PESSOA_JURIDICA.
  personType: oneOf('PF', 'PJ'),
  // §4.3 SV: v4 list + APDN/APES with v5 (the v4 entries narrow it).
  localInstrument: oneOf('DICT', 'INIC', 'MANU', 'QRDN', 'QRES', 'AUTO', 'APDN', 'APES'),
  status: UPPER_CODE,
  clientIp: { kind: 'ip' },
  rejectReason: UPPER_CODE,
  errorCodes: { kind: 'errorCodes' },
  webhookEnable: BOOLEAN_STRING,
  webhookInteractionId: text({ nonEmpty: true }),
  // §4.3 JSR: platform / cross-platform, "" when absent (PCM-current: "explicitamente … string vazia").
  authenticatorAttachment: oneOf('platform', 'cross-platform', ''),
  platform: oneOf('ANDROID', 'BROWSER', 'CROSS_PLATFORM', 'IOS'),
  rp: text({ nonEmpty: true }),
  rejectionReasonCode: UPPER_CODE,
  rejectionReasonDetail: text(),
  // §4.3 SV: never null, default HYBRID_FLOW.
  authorisationFlow: FLOW,
  authorisationFlowIntent: FLOW,
  // §13 item 7: the documented domain (SV tables, PCM-current), wider than the SV discard catalogue.
  paymentType: oneOf(...PAYMENT_TYPES),
  dropReason: oneOf(...DROP_REASONS),
  grantType: oneOf(...GRANT_TYPES),
  cancelledFrom: oneOf('INICIADORA', 'DETENTORA'),
  interval: oneOf('SEMANAL', 'MENSAL', 'TRIMESTRAL', 'SEMESTRAL', 'ANUAL'),
  amountType: oneOf('FIXO', 'VARIAVEL'),
  isFirstPayment: BOOLEAN_STRING,
  hasMinimumAmount: BOOLEAN_STRING,
  isRetryAccepted: BOOLEAN_STRING,
  journeyIsLinked: BOOLEAN_STRING,
  nfcPayment: BOOLEAN_STRING,
  recurringPaymentId: PAYMENT_ID,
  originalRecurringPaymentId: PAYMENT_ID,
  paymentReference: text({ nonEmpty: true }),
  cancellationReason: UPPER_CODE,
  revocationReasonCode: UPPER_CODE,
  revocationReasonDetail: text(),
  revokedBy: oneOf('INICIADORA', 'USUARIO', 'DETENTORA'),
  revokedFrom: oneOf('INICIADORA', 'DETENTORA'),
  rejectedBy: oneOf('INICIADORA', 'USUARIO', 'DETENTORA'),
  rejectedFrom: oneOf('INICIADORA', 'DETENTORA'),
  statusSummary: { kind: 'statusSummary' },
  companyProfileInfo: { kind: 'companyProfileInfo' },
  paymentDate: DATE,
  // PCM-current: a string holding data.payment.schedule (JSON text), not an object.
  paymentSchedule: text({ nonEmpty: true }),
  paymentList: { kind: 'paymentList' },
  recurringPaymentDate: DATE,
  referenceStartDate: DATE,
  // v12 PATCH /enrollments/{enrollmentId}: a key the xlsx never defines (§4.2 note).
  reason: text(),
};

// ───────────────────────────────────────────── rule shapes ─────────────────────────────────────────────

/** When a requirement applies; every part given must hold. */
export interface Condition {
  /**
   * 'ok' = statusCode < 400, 'error' = statusCode ≥ 400, 'answered-error' = ≥ 400 but not 408 (a timeout has no
   * response body to take `.errors[].code` from), or exact codes.
   */
  status?: 'ok' | 'error' | 'answered-error' | readonly number[];
  /** Another additionalInfo key holds one of these string values. */
  keyIn?: { key: string; values: readonly string[] };
}

export interface KeyRequirement {
  key: string;
  /** Absent: required whatever the status. */
  when?: Condition;
}

/** Several keys that go together: exactly one / at least one / at most one of them. */
export interface KeyGroup {
  keys: readonly string[];
  mode: 'exactlyOne' | 'atLeastOne' | 'atMostOne';
  when?: Condition;
}

/** Keys that must not be sent in some situation. */
export interface KeyForbidden {
  keys: readonly string[];
  when: Condition;
  reason: string;
}

export interface EndpointRule {
  /** Short name used in tests and logs. */
  name: string;
  /** Where the rule comes from. */
  source: string;
  methods: readonly HttpMethod[];
  endpoints: readonly string[];
  required?: readonly KeyRequirement[];
  /** Documented keys whose presence the sidecar cannot decide: checked for format only (every key is). */
  optional?: readonly string[];
  groups?: readonly KeyGroup[];
  forbidden?: readonly KeyForbidden[];
  /** Narrower formats for this endpoint group (override KEY_FORMATS). */
  formats?: Readonly<Record<string, ValueFormat>>;
  /** Default 'required' (statusCode < 400, §4.5); 'optional' where the sources exempt the endpoint. */
  tokenId?: 'required' | 'optional';
}

const OK: Condition = { status: 'ok' };
const ERROR: Condition = { status: 'error' };
const when = (key: string, ...values: string[]): Condition => ({ keyIn: { key, values } });
const req = (key: string, condition?: Condition): KeyRequirement => (condition ? { key, when: condition } : { key });
/**
 * §4.2 xlsx v6 / §4.3 SV, JSR, Pix Automático: errorCodes on every Serviços call that answered 4xx/5xx — from the
 * answer's `.errors[].code`, so not on a 408 timeout, which had no answer.
 */
const ERROR_CODES = req('errorCodes', { status: 'answered-error' });

// ───────────────────────────────────────────── endpoint lists ─────────────────────────────────────────────

/** §4.3 DC "All data GET endpoints" (endpoint names from the accepted list v1.03, §12.2). */
export const DATA_GET_ENDPOINTS: readonly string[] = [
  '/open-banking/accounts/v2/accounts',
  '/open-banking/accounts/v2/accounts/{accountId}',
  '/open-banking/accounts/v2/accounts/{accountId}/balances',
  '/open-banking/accounts/v2/accounts/{accountId}/overdraft-limits',
  '/open-banking/accounts/v2/accounts/{accountId}/transactions',
  '/open-banking/accounts/v2/accounts/{accountId}/transactions-current',
  '/open-banking/credit-cards-accounts/v2/accounts',
  '/open-banking/credit-cards-accounts/v2/accounts/{creditCardAccountId}',
  '/open-banking/credit-cards-accounts/v2/accounts/{creditCardAccountId}/bills',
  '/open-banking/credit-cards-accounts/v2/accounts/{creditCardAccountId}/bills/{billId}/transactions',
  '/open-banking/credit-cards-accounts/v2/accounts/{creditCardAccountId}/limits',
  '/open-banking/credit-cards-accounts/v2/accounts/{creditCardAccountId}/transactions',
  '/open-banking/credit-cards-accounts/v2/accounts/{creditCardAccountId}/transactions-current',
  '/open-banking/customers/v2/business/financial-relations',
  '/open-banking/customers/v2/business/identifications',
  '/open-banking/customers/v2/business/qualifications',
  '/open-banking/customers/v2/personal/financial-relations',
  '/open-banking/customers/v2/personal/identifications',
  '/open-banking/customers/v2/personal/qualifications',
  ...['loans', 'financings', 'invoice-financings', 'unarranged-accounts-overdraft'].flatMap((api) => [
    `/open-banking/${api}/v2/contracts`,
    `/open-banking/${api}/v2/contracts/{contractId}`,
    `/open-banking/${api}/v2/contracts/{contractId}/payments`,
    `/open-banking/${api}/v2/contracts/{contractId}/scheduled-instalments`,
    `/open-banking/${api}/v2/contracts/{contractId}/warranties`,
  ]),
  ...['funds', 'bank-fixed-incomes', 'credit-fixed-incomes', 'variable-incomes', 'treasure-titles'].flatMap((api) => [
    `/open-banking/${api}/v1/investments`,
    `/open-banking/${api}/v1/investments/{investmentId}`,
    `/open-banking/${api}/v1/investments/{investmentId}/balances`,
    `/open-banking/${api}/v1/investments/{investmentId}/transactions`,
    `/open-banking/${api}/v1/investments/{investmentId}/transactions-current`,
  ]),
  '/open-banking/variable-incomes/v1/broker-notes/{brokerNoteId}',
  '/open-banking/exchanges/v1/operations',
  '/open-banking/exchanges/v1/operations/{operationId}',
  '/open-banking/exchanges/v1/operations/{operationId}/events',
];

const PAYMENTS = ['v4', 'v5'] as const;
const payments = (suffix: string): string[] => PAYMENTS.map((v) => `/open-banking/payments/${v}${suffix}`);
const LOCAL_INSTRUMENT_V4 = oneOf('DICT', 'INIC', 'MANU', 'QRDN', 'QRES', 'AUTO');
const splitV4V5 = (rule: EndpointRule): EndpointRule[] => {
  // payments v4 and v5 share the keys; v4 does not know APDN/APES (§4.3 SV "+ APDN, APES with v5").
  const v4 = rule.endpoints.filter((e) => e.includes('/payments/v4/'));
  const v5 = rule.endpoints.filter((e) => !e.includes('/payments/v4/'));
  return [
    { ...rule, name: `${rule.name} (v4)`, endpoints: v4, formats: { ...rule.formats, localInstrument: LOCAL_INSTRUMENT_V4 } },
    { ...rule, name: `${rule.name} (v5)`, endpoints: v5 },
  ];
};

const ENROLLMENT_STATUS = oneOf(
  'AWAITING_RISK_SIGNALS',
  'AWAITING_ACCOUNT_HOLDER_VALIDATION',
  'AWAITING_ENROLLMENT',
  'AUTHORISED',
  'REVOKED',
  'REJECTED',
);
const AUTOMATIC = '/open-banking/automatic-payments/v2';
const AUTOMATIC_LOCAL_INSTRUMENT = oneOf('AUTO', 'MANU', 'DICT', 'INIC');
/** PCM-current: "Deve ser preenchido quando paymentType for AUTOMATIC" (interval, amountType, hasMinimumAmount, …). */
const ifAutomatic = when('paymentType', 'AUTOMATIC');
/** PCM-current journeyLinkId: "Deve ser enviado se journeyIsLinked for TRUE" (JSR and Pix Automático creation). */
const JOURNEY_LINK = req('journeyLinkId', when('journeyIsLinked', 'TRUE'));
/** §4.3 DC, SV, JSR, Pix Automático: companyProfileInfo on consent creation when the customer is a company. */
const COMPANY_PROFILE = req('companyProfileInfo', when('personType', 'PJ'));

// ───────────────────────────────────────────── §4.3: the current table (CLIENT) ─────────────────────────────────────────────

export const CURRENT_RULES: readonly EndpointRule[] = [
  // ── Dados Cadastrais e Transacionais (DC v1.03) ──
  {
    name: 'DC data GET',
    source: '§4.3 DC: consentId (all status codes) + tokenId',
    methods: ['GET'],
    endpoints: DATA_GET_ENDPOINTS,
    required: [req('consentId')],
  },
  {
    name: 'consents v3 POST',
    source: '§4.3 DC: consentId (not 4xx/5xx), personType, companyProfileInfo (PJ), journeyIsLinked (Jornada Otimizada), tokenId',
    methods: ['POST'],
    endpoints: ['/open-banking/consents/v3/consents'],
    required: [req('consentId', OK), req('personType'), COMPANY_PROFILE],
    optional: ['journeyIsLinked'],
  },
  {
    name: 'consents v3 GET',
    source: '§4.3 DC: consentId, status (not 4xx/5xx), journeyIsLinked',
    methods: ['GET'],
    endpoints: ['/open-banking/consents/v3/consents/{consentId}'],
    required: [req('consentId'), req('status', OK)],
    optional: ['journeyIsLinked'],
    formats: { status: oneOf('AWAITING_AUTHORISATION', 'AUTHORISED', 'REJECTED') },
  },
  {
    name: 'consents v3 DELETE',
    source: '§4.3 DC: DELETE, /extends, /extensions: consentId',
    methods: ['DELETE'],
    endpoints: ['/open-banking/consents/v3/consents/{consentId}'],
    required: [req('consentId')],
  },
  {
    name: 'consents v3 extends POST',
    source: '§4.3 DC: DELETE, /extends, /extensions: consentId',
    methods: ['POST'],
    endpoints: ['/open-banking/consents/v3/consents/{consentId}/extends'],
    required: [req('consentId')],
  },
  {
    name: 'consents v3 extensions GET',
    source: '§4.3 DC: DELETE, /extends, /extensions: consentId',
    methods: ['GET'],
    endpoints: ['/open-banking/consents/v3/consents/{consentId}/extensions'],
    required: [req('consentId')],
  },
  {
    name: 'resources v3 GET',
    source: '§4.3 DC: consentId, statusSummary (2026C: only for statusCode 200)',
    methods: ['GET'],
    endpoints: ['/open-banking/resources/v3/resources'],
    required: [req('consentId'), req('statusSummary', { status: [200] })],
  },

  // ── Iniciação de Pagamentos, payments v4 and v5 (SV v1.06, Iniciação v1.09) ──
  ...splitV4V5({
    name: 'payments consents POST',
    source:
      '§4.3 SV: consentId (not 4xx/5xx), personType, localInstrument, authorisationFlowIntent (always), companyProfileInfo (PJ), ' +
      'paymentDate XOR paymentSchedule (201), paymentType, errorCodes (4xx/5xx), tokenId',
    methods: ['POST'],
    endpoints: payments('/consents'),
    required: [req('consentId', OK), req('personType'), req('localInstrument'), req('authorisationFlowIntent'), req('paymentType'), COMPANY_PROFILE, ERROR_CODES],
    optional: ['paymentDate', 'paymentSchedule'],
    // Together: exactly one of them on a 201, never both.
    groups: [
      { keys: ['paymentDate', 'paymentSchedule'], mode: 'atMostOne' },
      { keys: ['paymentDate', 'paymentSchedule'], mode: 'atLeastOne', when: { status: [201] } },
    ],
  }),
  ...splitV4V5({
    name: 'payments consents GET',
    source: '§4.3 SV: consentId, status, rejectionReasonCode/Detail (when REJECTED), webhookInteractionId (after webhook), tokenId',
    methods: ['GET'],
    endpoints: payments('/consents/{consentId}'),
    required: [
      req('consentId'),
      req('status', OK),
      req('rejectionReasonCode', when('status', 'REJECTED')),
      req('rejectionReasonDetail', when('status', 'REJECTED')),
      ERROR_CODES,
    ],
    optional: ['webhookInteractionId'],
  }),
  ...splitV4V5({
    name: 'pix/payments POST',
    source:
      '§4.3 SV: consentId, authorisationFlow (never null), paymentType, paymentList (201; IMMEDIATE/SCHEDULED/RECURRENT), status, tokenId',
    methods: ['POST'],
    endpoints: payments('/pix/payments'),
    required: [
      req('consentId'),
      req('authorisationFlow'),
      req('paymentType'),
      req('status', OK),
      req('paymentList', { status: [201], keyIn: { key: 'paymentType', values: ['IMMEDIATE', 'SCHEDULED', 'RECURRENT'] } }),
      ERROR_CODES,
    ],
  }),
  ...splitV4V5({
    name: 'pix/payments/{paymentId} GET',
    source: '§4.3 SV: consentId, status, localInstrument, authorisationFlow, rejectionReasonCode/Detail (RJCT), tokenId',
    methods: ['GET'],
    endpoints: payments('/pix/payments/{paymentId}'),
    required: [
      req('consentId'),
      req('status', OK),
      req('localInstrument', OK),
      req('authorisationFlow', OK),
      req('rejectionReasonCode', when('status', 'RJCT')),
      req('rejectionReasonDetail', when('status', 'RJCT')),
      ERROR_CODES,
    ],
    optional: ['webhookInteractionId'],
  }),
  ...splitV4V5({
    name: 'pix/payments/{paymentId} PATCH',
    source: '§4.3 SV: consentId, status, localInstrument, authorisationFlow, paymentType (PATCH), rejectionReasonCode/Detail (RJCT), tokenId',
    methods: ['PATCH'],
    endpoints: payments('/pix/payments/{paymentId}'),
    required: [
      req('consentId'),
      req('status', OK),
      req('localInstrument', OK),
      req('authorisationFlow', OK),
      req('paymentType', OK),
      req('rejectionReasonCode', when('status', 'RJCT')),
      req('rejectionReasonDetail', when('status', 'RJCT')),
      ERROR_CODES,
    ],
  }),
  {
    name: 'payments per-consent payment lists',
    source:
      'Not itemised by §4.3 nor v12; §4.3 SV "tokenId everywhere" and xlsx v6 errorCodes for Serviços apply. ' +
      'The v4 double-slash entry is the v1.03 list typo (§13 item 15), kept because the PCM compares strings.',
    methods: ANY_METHOD,
    endpoints: [
      '/open-banking/payments/v4/pix/payments/consents/{consentId}',
      '/open-banking/payments/v4//consents/{consentId}/pix/payments',
      '/open-banking/payments/v5/consents/{consentId}/pix/payments',
    ],
    required: [ERROR_CODES],
    optional: ['consentId'],
  },

  // ── Jornada sem Redirecionamento, enrollments v2 (SV v1.06; v1 removed in 2026B). §4.3 lists the keys for the API
  //    as a whole; they are placed per endpoint as the v12 rows for enrollments v1 did (§4.2). ──
  {
    name: 'enrollments POST',
    source: '§4.3 JSR: enrollmentId (created, so not 4xx/5xx), personType, companyProfileInfo, journeyIsLinked/LinkId, errorCodes; v12 row',
    methods: ['POST'],
    endpoints: ['/open-banking/enrollments/v2/enrollments'],
    required: [req('enrollmentId', OK), req('personType'), COMPANY_PROFILE, JOURNEY_LINK, ERROR_CODES],
    optional: ['journeyIsLinked'],
  },
  {
    name: 'enrollments GET',
    source: '§4.3 JSR: enrollmentId, status, rejectionReasonCode (REJECTED), revocationReasonCode (REVOKED), cancelledFrom; v12 row',
    methods: ['GET'],
    endpoints: ['/open-banking/enrollments/v2/enrollments/{enrollmentId}'],
    required: [
      req('enrollmentId'),
      req('status', OK),
      req('rejectionReasonCode', when('status', 'REJECTED')),
      req('revocationReasonCode', when('status', 'REVOKED')),
      ERROR_CODES,
    ],
    optional: ['cancelledFrom', 'journeyIsLinked', 'journeyLinkId'],
    formats: { status: ENROLLMENT_STATUS },
  },
  {
    name: 'enrollments PATCH (revocation)',
    source: '§4.3 JSR: enrollmentId, revocationReasonCode; v12 row (enrollmentId, reason)',
    methods: ['PATCH'],
    endpoints: ['/open-banking/enrollments/v2/enrollments/{enrollmentId}'],
    required: [req('enrollmentId'), ERROR_CODES],
    optional: ['revocationReasonCode', 'cancelledFrom', 'reason'],
  },
  {
    name: 'enrollments risk-signals POST',
    source: '§4.3 JSR: enrollmentId',
    methods: ['POST'],
    endpoints: ['/open-banking/enrollments/v2/enrollments/{enrollmentId}/risk-signals'],
    required: [req('enrollmentId'), ERROR_CODES],
  },
  {
    name: 'enrollments fido-registration-options POST',
    source: '§4.3 JSR: rp, platform; v12 row: enrollmentId, rp, platform',
    methods: ['POST'],
    endpoints: ['/open-banking/enrollments/v2/enrollments/{enrollmentId}/fido-registration-options'],
    required: [req('enrollmentId'), req('rp'), req('platform'), ERROR_CODES],
  },
  {
    name: 'enrollments fido-registration POST',
    source: '§4.3 JSR: authenticatorAttachment ("" when absent); v12 row: enrollmentId, authenticatorAttachment, platform',
    methods: ['POST'],
    endpoints: ['/open-banking/enrollments/v2/enrollments/{enrollmentId}/fido-registration'],
    required: [req('enrollmentId'), req('authenticatorAttachment'), req('platform'), ERROR_CODES],
  },
  {
    name: 'enrollments fido-sign-options POST',
    source: '§4.3 JSR: consentId XOR recurringConsentId; v12 row: enrollmentId, consentId, rp, platform',
    methods: ['POST'],
    endpoints: ['/open-banking/enrollments/v2/enrollments/{enrollmentId}/fido-sign-options'],
    required: [req('enrollmentId'), req('rp'), req('platform'), ERROR_CODES],
    groups: [{ keys: ['consentId', 'recurringConsentId'], mode: 'exactlyOne' }],
  },
  {
    name: 'enrollments consents authorise POST',
    source: '§4.3 JSR: nfcPayment (from header x-bcb-nfc) on /consents/{consentId}/authorise; v12 row: enrollmentId, consentId',
    methods: ['POST'],
    endpoints: ['/open-banking/enrollments/v2/consents/{consentId}/authorise'],
    required: [req('enrollmentId'), req('consentId'), ERROR_CODES],
    optional: ['nfcPayment'],
  },
  {
    name: 'enrollments recurring-consents authorise POST',
    source: '§4.3 JSR (2025D endpoint): enrollmentId, recurringConsentId (the recurring counterpart of the row above)',
    methods: ['POST'],
    endpoints: ['/open-banking/enrollments/v2/recurring-consents/{recurringConsentId}/authorise'],
    required: [req('enrollmentId'), req('recurringConsentId'), ERROR_CODES],
    optional: ['nfcPayment'],
  },

  // ── Pix Automático, automatic-payments v2 (SV v1.06; 2026A: recurringConsentId replaces consentId) ──
  {
    name: 'recurring-consents POST',
    source:
      '§4.3 Pix Automático: recurringConsentId (created), personType, authorisationFlowIntent, paymentType, companyProfileInfo, ' +
      'journeyIsLinked/LinkId, isFirstPayment; PCM-current: amountType, interval, hasMinimumAmount, isRetryAccepted, ' +
      'referenceStartDate "quando paymentType for AUTOMATIC"',
    methods: ['POST'],
    endpoints: [`${AUTOMATIC}/recurring-consents`],
    required: [
      req('recurringConsentId', OK),
      req('personType'),
      req('authorisationFlowIntent'),
      req('paymentType'),
      req('amountType', ifAutomatic),
      req('interval', ifAutomatic),
      req('hasMinimumAmount', ifAutomatic),
      req('isRetryAccepted', ifAutomatic),
      req('referenceStartDate', ifAutomatic),
      JOURNEY_LINK,
      COMPANY_PROFILE,
      ERROR_CODES,
    ],
    optional: ['isFirstPayment', 'journeyIsLinked'],
  },
  {
    name: 'recurring-consents GET / PATCH',
    source: '§4.3 Pix Automático: recurringConsentId, status, rejectionReasonCode/Detail + rejectedBy/From (REJECTED), revocationReasonCode/Detail (REVOKED)',
    methods: ['GET', 'PATCH'],
    endpoints: [`${AUTOMATIC}/recurring-consents/{recurringConsentId}`],
    required: [
      req('recurringConsentId'),
      req('status', OK),
      req('rejectionReasonCode', when('status', 'REJECTED')),
      req('rejectionReasonDetail', when('status', 'REJECTED')),
      req('revocationReasonCode', when('status', 'REVOKED')),
      ERROR_CODES,
    ],
    optional: ['rejectedBy', 'rejectedFrom', 'revocationReasonDetail', 'revokedBy', 'revokedFrom', 'journeyIsLinked', 'journeyLinkId'],
  },
  {
    name: 'recurring-payments POST',
    source:
      '§4.3 Pix Automático: recurringConsentId, paymentType, localInstrument, authorisationFlow, recurringPaymentId/status (created), ' +
      'recurringPaymentDate (201), paymentReference (AUTOMATIC), cancellationReason + cancelledFrom (CANC)',
    methods: ['POST'],
    endpoints: [`${AUTOMATIC}/pix/recurring-payments`],
    required: [
      req('recurringConsentId'),
      req('paymentType'),
      req('localInstrument'),
      req('authorisationFlow'),
      req('recurringPaymentId', OK),
      req('status', OK),
      req('recurringPaymentDate', { status: [201] }),
      req('paymentReference', ifAutomatic),
      req('cancellationReason', when('status', 'CANC')),
      req('cancelledFrom', when('status', 'CANC')),
      ERROR_CODES,
    ],
    optional: ['rejectionReasonCode', 'rejectionReasonDetail'],
    formats: { localInstrument: AUTOMATIC_LOCAL_INSTRUMENT },
  },
  {
    name: 'recurring-payments GET (list)',
    source: '§4.3 Pix Automático: recurringConsentId, paymentList (GET 200)',
    methods: ['GET'],
    endpoints: [`${AUTOMATIC}/pix/recurring-payments`],
    required: [req('recurringConsentId'), req('paymentList', { status: [200] }), ERROR_CODES],
  },
  {
    name: 'recurring-payments/{recurringPaymentId} GET / PATCH',
    source: '§4.3 Pix Automático: recurringPaymentId, recurringConsentId, status, rejectionReasonCode/Detail (RJCT), cancellationReason + cancelledFrom (CANC)',
    methods: ['GET', 'PATCH'],
    endpoints: [`${AUTOMATIC}/pix/recurring-payments/{recurringPaymentId}`],
    required: [
      req('recurringPaymentId'),
      req('recurringConsentId'),
      req('status', OK),
      req('rejectionReasonCode', when('status', 'RJCT')),
      req('rejectionReasonDetail', when('status', 'RJCT')),
      req('cancellationReason', when('status', 'CANC')),
      req('cancelledFrom', when('status', 'CANC')),
      ERROR_CODES,
    ],
    optional: ['localInstrument', 'authorisationFlow', 'paymentReference', 'originalRecurringPaymentId'],
    formats: { localInstrument: AUTOMATIC_LOCAL_INSTRUMENT },
  },
  {
    name: 'recurring-payments retry POST',
    source: '§4.3 Pix Automático: originalRecurringPaymentId, recurringConsentId, recurringPaymentId/status (created)',
    methods: ['POST'],
    endpoints: [`${AUTOMATIC}/pix/recurring-payments/{originalRecurringPaymentId}/retry`],
    required: [req('originalRecurringPaymentId'), req('recurringConsentId'), req('recurringPaymentId', OK), req('status', OK), ERROR_CODES],
    optional: ['paymentReference', 'localInstrument', 'authorisationFlow'],
    formats: { localInstrument: AUTOMATIC_LOCAL_INSTRUMENT },
  },

  // ── Segurança (SG v1.01, Campos SG v1.00) ──
  {
    name: '/token POST',
    source:
      '§4.3 SG: grantType; consentId or enrollmentId only for AUTHORIZATION_CODE/REFRESH_TOKEN (not 4xx/5xx), never CLIENT_CREDENTIALS ' +
      '(§4.1 Reporte note); tokenId (200), omitted when /token failed (§4.5)',
    methods: ['POST'],
    endpoints: ['/token'],
    required: [req('grantType')],
    groups: [
      {
        keys: ['consentId', 'enrollmentId'],
        mode: 'atLeastOne',
        when: { status: 'ok', keyIn: { key: 'grantType', values: ['AUTHORIZATION_CODE', 'REFRESH_TOKEN'] } },
      },
    ],
    forbidden: [
      {
        keys: ['consentId', 'enrollmentId'],
        when: when('grantType', 'CLIENT_CREDENTIALS'),
        reason: 'only reported on /token when grantType is AUTHORIZATION_CODE or REFRESH_TOKEN, never with CLIENT_CREDENTIALS',
      },
      {
        keys: ['tokenId'],
        when: ERROR,
        reason: 'must be omitted when /token answered 4xx/5xx: no token was issued (§4.5)',
      },
    ],
  },
  {
    name: '/register POST, PUT',
    source: '§4.3 SG: webhookEnable "TRUE"/"FALSE"; tokenId not mandatory on /register (2026C, §4.5)',
    methods: ['POST', 'PUT'],
    endpoints: ['/register'],
    required: [req('webhookEnable')],
    tokenId: 'optional',
  },
  {
    name: '/register/{clientId} PUT',
    source: '§4.3 SG: webhookEnable on PUT /register/{clientId} (a POST there is not in the table)',
    methods: ['PUT'],
    endpoints: ['/register/{clientId}'],
    required: [req('webhookEnable')],
    tokenId: 'optional',
  },

  // ── APIs Comuns ──
  {
    name: 'admin / discovery',
    source:
      'Neither §4.3 nor the v12 matrix lists them. These common APIs are public (no consent, no access token), so there is ' +
      'no token to derive a tokenId from; nothing is required.',
    methods: ANY_METHOD,
    endpoints: ['/open-banking/admin/v2/metrics', '/open-banking/discovery/v2/outages', '/open-banking/discovery/v2/status'],
    tokenId: 'optional',
  },
];

// ───────────────────────────────────────────── §4.2: the v12 fallback ─────────────────────────────────────────────

/**
 * The rows of additional-info-matrix-v12-private.csv (xlsx v12, 2023-10) whose endpoint is still in today's accepted
 * list (v1.03 + 2026A/B, data/catalog/endpoints.json): 50 of its 71 rows. Dropped: consents v2, resources v2,
 * payments v2/v3 and enrollments v1 (all replaced by newer versions). [method, endpoint, client keys, API family].
 * `*` = conditional (§4.2): errorCodes* on 4xx/5xx, consentId* and enrollmentId* only for authorization_code or
 * refresh_token grants, the others on data the sidecar cannot see.
 *
 * §4.3 has a newer rule for most of them, so only the rows it does not cover are reached: /register GET and
 * DELETE, /register/{clientId} GET and DELETE, /revocation, /introspection, /pushed-authorization-request (no keys).
 * The opendata v12 matrix (products-services v1, channels v1, …) has no row left: every path was renamed
 * (opendata-*, channels v2); §4.3 DA covers all opendata endpoints anyway (clientIp).
 */
export const V12_STILL_LISTED: readonly (readonly [HttpMethod, string, string, string])[] = [
  ['POST', '/register', 'webhookEnable', 'Segurança'],
  ['GET', '/register', '', 'Segurança'],
  ['PUT', '/register', 'webhookEnable', 'Segurança'],
  ['DELETE', '/register', '', 'Segurança'],
  ['GET', '/register/{clientId}', '', 'Segurança'],
  ['PUT', '/register/{clientId}', 'webhookEnable', 'Segurança'],
  ['DELETE', '/register/{clientId}', '', 'Segurança'],
  ['POST', '/token', 'consentId*, enrollmentId*', 'Segurança'],
  ['POST', '/revocation', '', 'Segurança'],
  ['GET', '/introspection', '', 'Segurança'],
  ['POST', '/pushed-authorization-request', '', 'Segurança'],
  ...(
    [
      '/open-banking/customers/v2/personal/identifications',
      '/open-banking/customers/v2/business/identifications',
      '/open-banking/customers/v2/personal/qualifications',
      '/open-banking/customers/v2/business/qualifications',
      '/open-banking/customers/v2/personal/financial-relations',
      '/open-banking/customers/v2/business/financial-relations',
      '/open-banking/credit-cards-accounts/v2/accounts',
      '/open-banking/credit-cards-accounts/v2/accounts/{creditCardAccountId}',
      '/open-banking/credit-cards-accounts/v2/accounts/{creditCardAccountId}/limits',
      '/open-banking/credit-cards-accounts/v2/accounts/{creditCardAccountId}/transactions',
      '/open-banking/credit-cards-accounts/v2/accounts/{creditCardAccountId}/transactions-current',
      '/open-banking/credit-cards-accounts/v2/accounts/{creditCardAccountId}/bills',
      '/open-banking/credit-cards-accounts/v2/accounts/{creditCardAccountId}/bills/{billId}/transactions',
      '/open-banking/accounts/v2/accounts',
      '/open-banking/accounts/v2/accounts/{accountId}',
      '/open-banking/accounts/v2/accounts/{accountId}/balances',
      '/open-banking/accounts/v2/accounts/{accountId}/transactions',
      '/open-banking/accounts/v2/accounts/{accountId}/transactions-current',
      '/open-banking/accounts/v2/accounts/{accountId}/overdraft-limits',
      ...['loans', 'financings', 'unarranged-accounts-overdraft', 'invoice-financings'].flatMap((api) => [
        `/open-banking/${api}/v2/contracts`,
        `/open-banking/${api}/v2/contracts/{contractId}`,
        `/open-banking/${api}/v2/contracts/{contractId}/warranties`,
        `/open-banking/${api}/v2/contracts/{contractId}/payments`,
        `/open-banking/${api}/v2/contracts/{contractId}/scheduled-instalments`,
      ]),
    ] as const
  ).map((endpoint) => ['GET', endpoint, 'consentId', 'Dados Cadastrais e Transacionais'] as const),
];

/** A v12 row as a rule: plain keys required, `errorCodes*` on 4xx/5xx, other `*` keys format-checked only. */
function v12Rule([method, endpoint, keys, family]: readonly [HttpMethod, string, string, string]): EndpointRule {
  const names = keys.split(',').map((k) => k.trim()).filter((k) => k !== '');
  const required = names.filter((k) => !k.endsWith('*')).map((k) => req(k));
  const conditional = names.filter((k) => k.endsWith('*')).map((k) => k.slice(0, -1));
  if (conditional.includes('errorCodes')) required.push(ERROR_CODES);
  return {
    name: `v12 ${method} ${endpoint}`,
    source: `§4.2 xlsx v12 (${family})`,
    methods: [method],
    endpoints: [endpoint],
    required,
    optional: conditional.filter((k) => k !== 'errorCodes'),
    // §4.3 SG lists tokenId for /token only; the security rows left to the fallback have no token of their own.
    ...(family === 'Segurança' ? { tokenId: 'optional' as const } : {}),
  };
}

export const V12_RULES: readonly EndpointRule[] = V12_STILL_LISTED.map(v12Rule);

// ───────────────────────────────────────────── SERVER and opendata ─────────────────────────────────────────────

/** §4.1 / PCM-current ServerReportRequest.additionalInfo: the only key a SERVER report may carry. */
export const SERVER_KEYS: readonly string[] = ['dropReason'];

/** §4.4: consent-creation POSTs on which the SERVER reports dropReason. */
export const DROP_REASON_ENDPOINTS: readonly string[] = [
  '/open-banking/consents/v3/consents',
  '/open-banking/payments/v4/consents',
  '/open-banking/payments/v5/consents',
  '/open-banking/enrollments/v2/enrollments',
  '/open-banking/automatic-payments/v2/recurring-consents',
];

/** §4.3 DA, §5, §15: an opendata additionalInfo is `{ clientIp }`; tokenId was removed in 2026B. */
export const OPENDATA_KEYS: readonly string[] = ['clientIp'];

// ───────────────────────────────────────────── lookup ─────────────────────────────────────────────

export interface RuleMatch {
  rule: EndpointRule;
  from: 'current' | 'v12';
}

/**
 * The rule of every (method, endpoint) the tables name, found once at load: §4.3 first, then the v12 rows still
 * listed, the first matching entry of each in table order.
 */
const RULE_BY_CALL: ReadonlyMap<string, ReadonlyMap<string, RuleMatch>> = (() => {
  const byMethod = new Map<string, Map<string, RuleMatch>>();
  for (const [rules, from] of [
    [CURRENT_RULES, 'current'],
    [V12_RULES, 'v12'],
  ] as const) {
    for (const rule of rules) {
      const match: RuleMatch = { rule, from };
      for (const method of rule.methods) {
        let byEndpoint = byMethod.get(method);
        if (byEndpoint === undefined) byMethod.set(method, (byEndpoint = new Map()));
        for (const endpoint of rule.endpoints) if (!byEndpoint.has(endpoint)) byEndpoint.set(endpoint, match);
      }
    }
  }
  return byMethod;
})();

/** The rule for a private CLIENT call: §4.3 first, then the v12 rows still listed; undefined when neither has one. */
export function clientRuleFor(method: HttpMethod, endpoint: string): RuleMatch | undefined {
  return RULE_BY_CALL.get(method)?.get(endpoint);
}
