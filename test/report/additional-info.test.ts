import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ADDITIONAL_INFO_DEFAULTS,
  additionalInfoProblems,
  type AdditionalInfoContext,
  type AdditionalInfoOptions,
} from '../../src/report/additional-info.js';
import {
  clientRuleFor,
  CURRENT_RULES,
  DISCARD_DOMAINS,
  DROP_REASON_ENDPOINTS,
  KEY_FORMATS,
  V12_RULES,
  V12_STILL_LISTED,
  type HttpMethod,
} from '../../src/report/additional-info-rules.js';

/**
 * additionalInfo rules (pcm-rules.md §4, §8.3, §13 items 5/6/7/9, §15): for every rule a passing and a failing case,
 * with the exact problems expected (field, rule id, message).
 */

const TOKEN = 'c9ng8aKzxNXm'; // §4.5 example
const URN = 'urn:bancoex:C1DD33123'; // PCM-current example
const URN2 = 'urn:bancoex:E9AA00001';

type Ctx = AdditionalInfoContext;
const client = (httpMethod: HttpMethod, endpoint: string, statusCode = 200): Ctx => ({ role: 'CLIENT', httpMethod, endpoint, statusCode, stream: 'private' });
const server = (httpMethod: HttpMethod, endpoint: string, statusCode = 200): Ctx => ({ role: 'SERVER', httpMethod, endpoint, statusCode, stream: 'private' });
const opendata = (endpoint = '/open-banking/channels/v2/branches', statusCode = 200): Ctx => ({
  role: 'SERVER',
  httpMethod: 'GET',
  endpoint,
  statusCode,
  stream: 'opendata',
});

interface Expected {
  field: string;
  rule: string;
  message: string;
}
interface Case {
  name: string;
  context: Ctx;
  info: unknown;
  options?: AdditionalInfoOptions;
  /** [] = passes. */
  expect: Expected[];
}

const missing = (key: string): Expected =>
  key === 'tokenId'
    ? {
        field: 'additionalInfo.tokenId',
        rule: 'additionalInfo.tokenId.missing',
        message:
          "Missing property: additionalInfo.tokenId (§4.5; post the call's accessToken or Authorization with PCM_TOKEN_ID_PEPPER_FILE set, and the sidecar computes it)",
      }
    : { field: `additionalInfo.${key}`, rule: 'additionalInfo.missingKey', message: `Missing property: additionalInfo.${key}` };
const EMPTY: Expected = { field: 'additionalInfo', rule: 'additionalInfo.notEmpty', message: 'additionalInfo should not be empty' };
const typeOf = (key: string, expected: string, received: string): Expected => ({
  field: `additionalInfo.${key}`,
  rule: 'additionalInfo.valueType',
  message: `Invalid type: additionalInfo.${key}: Expected ${expected}, received ${received}`,
});
/** A catalogue domain (§8.3) is a discard ('additionalInfo.enum'); any other documented domain is quality. */
const enumOf = (key: string, allowed: string, received: string): Expected => ({
  field: `additionalInfo.${key}`,
  rule: Object.hasOwn(DISCARD_DOMAINS, key) && DISCARD_DOMAINS[key]!.map((v) => `'${v}'`).join(' | ') === allowed ? 'additionalInfo.enum' : 'additionalInfo.domain',
  message: `Invalid enum value: additionalInfo.${key}: Expected ${allowed}, received '${received}'`,
});
const format = (key: string, detail: string): Expected => ({
  field: `additionalInfo.${key}`,
  rule: 'additionalInfo.format',
  message: `Invalid format: additionalInfo.${key}: ${detail}`,
});
const unknown = (key: string): Expected => ({
  field: `additionalInfo.${key}`,
  rule: 'additionalInfo.unknownKey',
  message: `Invalid format: additionalInfo: Unrecognized key(s) in object: '${key}'`,
});
const TRUE_FALSE = "'TRUE' | 'FALSE'";
const FLOWS = "'HYBRID_FLOW' | 'CIBA_FLOW' | 'FIDO_FLOW'";

const ACCOUNTS = '/open-banking/accounts/v2/accounts/{accountId}';
const CONSENTS = '/open-banking/consents/v3/consents';
const PAY4 = '/open-banking/payments/v4';
const PAY5 = '/open-banking/payments/v5';
const ENR = '/open-banking/enrollments/v2';
const AUTO = '/open-banking/automatic-payments/v2';

function run(c: Case): Expected[] {
  return additionalInfoProblems(c.info, c.context, c.options).map(({ field, rule, message }) => ({ field, rule, message }));
}

function table(cases: Case[]): void {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    expect(run(c)).toEqual(c.expect);
  });
}

describe('CLIENT: additionalInfo itself (§4.1, §13 item 5)', () => {
  table([
    { name: 'an object with the required keys passes', context: client('GET', ACCOUNTS), info: { consentId: URN, tokenId: TOKEN }, expect: [] },
    {
      name: 'missing → Required',
      context: client('GET', ACCOUNTS),
      info: undefined,
      expect: [{ field: 'additionalInfo', rule: 'additionalInfo.required', message: 'Invalid type: additionalInfo: Required' }],
    },
    {
      name: 'an array ("matriz vazia") is refused',
      context: client('GET', ACCOUNTS),
      info: [],
      expect: [{ field: 'additionalInfo', rule: 'additionalInfo.type', message: 'Invalid type: additionalInfo: Expected object, received array' }],
    },
    {
      name: 'null is refused',
      context: client('GET', ACCOUNTS),
      info: null,
      expect: [{ field: 'additionalInfo', rule: 'additionalInfo.type', message: 'Invalid type: additionalInfo: Expected object, received null' }],
    },
    {
      name: 'a string is refused',
      context: client('GET', ACCOUNTS),
      info: '{"consentId":"x"}',
      expect: [{ field: 'additionalInfo', rule: 'additionalInfo.type', message: 'Invalid type: additionalInfo: Expected object, received string' }],
    },
    { name: '{} passes where nothing is required (/register GET)', context: client('GET', '/register'), info: {}, expect: [] },
    { name: '{} is refused where keys are required', context: client('GET', ACCOUNTS), info: {}, expect: [EMPTY, missing('consentId'), missing('tokenId')] },
    { name: 'keys set to undefined count as absent', context: client('GET', ACCOUNTS), info: { consentId: undefined }, expect: [EMPTY, missing('consentId'), missing('tokenId')] },
  ]);
});

describe('CLIENT: value types (§4.1 leaf values are strings)', () => {
  table([
    { name: 'webhookEnable "TRUE" passes', context: client('POST', '/register', 201), info: { webhookEnable: 'TRUE' }, expect: [] },
    {
      name: 'webhookEnable boolean is refused (PCM message)',
      context: client('POST', '/register', 201),
      info: { webhookEnable: true },
      expect: [typeOf('webhookEnable', 'string', 'boolean')],
    },
    {
      name: 'webhookEnable "true" is refused (upper case)',
      context: client('POST', '/register', 201),
      info: { webhookEnable: 'true' },
      expect: [enumOf('webhookEnable', TRUE_FALSE, 'true')],
    },
    {
      name: 'null values are refused (status first item, never null)',
      context: client('GET', `${CONSENTS}/{consentId}`),
      info: { consentId: URN, status: null, tokenId: TOKEN },
      expect: [typeOf('status', 'string', 'null')],
    },
    {
      name: 'a list for status is refused (send the first item)',
      context: client('GET', `${CONSENTS}/{consentId}`),
      info: { consentId: URN, status: ['AUTHORISED'], tokenId: TOKEN },
      expect: [typeOf('status', 'string', 'array')],
    },
    {
      name: 'keys no rule mentions are allowed for CLIENT (open object in PCM-current)',
      context: client('GET', ACCOUNTS),
      info: { consentId: URN, tokenId: TOKEN, someFutureKey: 'X' },
      expect: [],
    },
    {
      name: '… but their values must still be strings',
      context: client('GET', ACCOUNTS),
      info: { consentId: URN, tokenId: TOKEN, someFutureKey: 3 },
      expect: [typeOf('someFutureKey', 'string', 'number')],
    },
    {
      name: 'a key named like an Object.prototype member is an ordinary unknown key',
      context: client('GET', ACCOUNTS),
      info: { consentId: URN, tokenId: TOKEN, constructor: 'X', toString: 1 },
      expect: [typeOf('toString', 'string', 'number')],
    },
  ]);
});

describe('CLIENT: consentId and tokenId (§4.1, §4.3 DC, §4.5)', () => {
  table([
    { name: 'data GET 404: consentId still required, tokenId not', context: client('GET', ACCOUNTS, 404), info: { consentId: URN }, expect: [] },
    { name: 'data GET 404 without consentId', context: client('GET', ACCOUNTS, 404), info: {}, expect: [EMPTY, missing('consentId')] },
    { name: 'data GET 200 without tokenId', context: client('GET', ACCOUNTS), info: { consentId: URN }, expect: [missing('tokenId')] },
    {
      name: 'every data family is covered (treasure-titles, exchanges)',
      context: client('GET', '/open-banking/exchanges/v1/operations/{operationId}/events'),
      info: { tokenId: TOKEN },
      expect: [missing('consentId')],
    },
    {
      name: 'consentId must be a URN',
      context: client('GET', ACCOUNTS),
      info: { consentId: 'uri:bank:123', tokenId: TOKEN },
      expect: [format('consentId', 'must be a URN (urn:<namespace>:<id>)')],
    },
    {
      name: 'consentId at most 256 characters',
      context: client('GET', ACCOUNTS),
      info: { consentId: `urn:bank:${'a'.repeat(250)}`, tokenId: TOKEN },
      expect: [format('consentId', 'must be at most 256 characters, received 259')],
    },
    {
      name: 'tokenId must be 12 base64url characters',
      context: client('GET', ACCOUNTS),
      info: { consentId: URN, tokenId: 'c9ng8aKzxNX=' },
      expect: [format('tokenId', 'must be 12 base64url characters (^[A-Za-z0-9_-]{12}$)')],
    },
    {
      name: 'requireTokenId: false does not require it…',
      context: client('GET', ACCOUNTS),
      info: { consentId: URN },
      options: { ...ADDITIONAL_INFO_DEFAULTS, requireTokenId: false },
      expect: [],
    },
    {
      name: '… but still checks its format',
      context: client('GET', ACCOUNTS),
      info: { consentId: URN, tokenId: 'short' },
      options: { ...ADDITIONAL_INFO_DEFAULTS, requireTokenId: false },
      expect: [format('tokenId', 'must be 12 base64url characters (^[A-Za-z0-9_-]{12}$)')],
    },
    { name: 'admin / discovery (public, no token) need nothing', context: client('GET', '/open-banking/discovery/v2/status'), info: {}, expect: [] },
    {
      name: 'an endpoint no table covers still needs tokenId (§4.5 default)',
      context: client('POST', '/open-banking/credit-portability/v1/portabilities', 201),
      info: {},
      // No key is required whatever the status: `{}` itself is no discard (§8.3), the missing tokenId a remark.
      expect: [missing('tokenId')],
    },
  ]);
});

describe('CLIENT: consents v3 and resources v3 (§4.3 DC)', () => {
  table([
    { name: 'POST 201 complete', context: client('POST', CONSENTS, 201), info: { consentId: URN, personType: 'PF', tokenId: TOKEN }, expect: [] },
    { name: 'POST 201 missing consentId and personType', context: client('POST', CONSENTS, 201), info: { tokenId: TOKEN }, expect: [missing('consentId'), missing('personType')] },
    { name: 'POST 422: no consentId, no tokenId, personType still', context: client('POST', CONSENTS, 422), info: { personType: 'PF' }, expect: [] },
    { name: 'POST 201 PJ without companyProfileInfo', context: client('POST', CONSENTS, 201), info: { consentId: URN, personType: 'PJ', tokenId: TOKEN }, expect: [missing('companyProfileInfo')] },
    {
      name: 'POST 201 PJ with companyProfileInfo',
      context: client('POST', CONSENTS, 201),
      info: { consentId: URN, personType: 'PJ', tokenId: TOKEN, companyProfileInfo: { naturezaJuridica: '2062', porteEmpresa: '03' } },
      expect: [],
    },
    {
      name: 'personType lower case is refused',
      context: client('POST', CONSENTS, 201),
      info: { consentId: URN, personType: 'pf', tokenId: TOKEN },
      expect: [enumOf('personType', "'PF' | 'PJ'", 'pf')],
    },
    {
      name: 'personType PESSOA_NATURAL is refused (§13 item 9)',
      context: client('POST', CONSENTS, 201),
      info: { consentId: URN, personType: 'PESSOA_NATURAL', tokenId: TOKEN },
      expect: [enumOf('personType', "'PF' | 'PJ'", 'PESSOA_NATURAL')],
    },
    {
      name: 'companyProfileInfo (PJ) well formed passes; it is not required',
      context: client('POST', CONSENTS, 201),
      info: { consentId: URN, personType: 'PJ', tokenId: TOKEN, companyProfileInfo: { naturezaJuridica: '2062', porteEmpresa: '03' } },
      expect: [],
    },
    {
      name: 'companyProfileInfo with a bad porte and no naturezaJuridica',
      context: client('POST', CONSENTS, 201),
      info: { consentId: URN, personType: 'PJ', tokenId: TOKEN, companyProfileInfo: { porteEmpresa: '02' } },
      expect: [
        missing('companyProfileInfo.naturezaJuridica'),
        enumOf('companyProfileInfo.porteEmpresa', "'00' | '01' | '03' | '05'", '02'),
      ],
    },
    {
      name: 'companyProfileInfo naturezaJuridica must be 4 digits',
      context: client('POST', CONSENTS, 201),
      info: { consentId: URN, personType: 'PJ', tokenId: TOKEN, companyProfileInfo: { naturezaJuridica: '206-2', porteEmpresa: '05' } },
      expect: [format('companyProfileInfo.naturezaJuridica', 'must be a 4-digit code (^\\d{4}$)')],
    },
    {
      name: 'companyProfileInfo must be an object',
      context: client('POST', CONSENTS, 201),
      info: { consentId: URN, personType: 'PJ', tokenId: TOKEN, companyProfileInfo: '{"porteEmpresa":"03"}' },
      expect: [typeOf('companyProfileInfo', 'object', 'string')],
    },
    {
      name: 'journeyIsLinked must be TRUE/FALSE',
      context: client('POST', CONSENTS, 201),
      info: { consentId: URN, personType: 'PF', tokenId: TOKEN, journeyIsLinked: 'yes' },
      expect: [enumOf('journeyIsLinked', TRUE_FALSE, 'yes')],
    },
    { name: 'GET 200 with status', context: client('GET', `${CONSENTS}/{consentId}`), info: { consentId: URN, status: 'AUTHORISED', tokenId: TOKEN }, expect: [] },
    { name: 'GET 200 without status', context: client('GET', `${CONSENTS}/{consentId}`), info: { consentId: URN, tokenId: TOKEN }, expect: [missing('status')] },
    { name: 'GET 404 without status', context: client('GET', `${CONSENTS}/{consentId}`, 404), info: { consentId: URN }, expect: [] },
    {
      name: 'GET status outside the v3 domain',
      context: client('GET', `${CONSENTS}/{consentId}`),
      info: { consentId: URN, status: 'CONSUMED', tokenId: TOKEN },
      expect: [enumOf('status', "'AWAITING_AUTHORISATION' | 'AUTHORISED' | 'REJECTED'", 'CONSUMED')],
    },
    { name: 'DELETE with consentId', context: client('DELETE', `${CONSENTS}/{consentId}`, 204), info: { consentId: URN, tokenId: TOKEN }, expect: [] },
    { name: 'DELETE without consentId', context: client('DELETE', `${CONSENTS}/{consentId}`, 204), info: { tokenId: TOKEN }, expect: [missing('consentId')] },
    { name: 'POST /extends without consentId', context: client('POST', `${CONSENTS}/{consentId}/extends`, 201), info: { tokenId: TOKEN }, expect: [missing('consentId')] },
    { name: 'GET /extensions without consentId', context: client('GET', `${CONSENTS}/{consentId}/extensions`), info: { tokenId: TOKEN }, expect: [missing('consentId')] },
    {
      name: 'resources 200 with statusSummary',
      context: client('GET', '/open-banking/resources/v3/resources'),
      info: { consentId: URN, tokenId: TOKEN, statusSummary: { available: '1', unavailable: '0', temporarilyUnavailable: '0', pendingAuthorisation: '2' } },
      expect: [],
    },
    { name: 'resources 200 without statusSummary', context: client('GET', '/open-banking/resources/v3/resources'), info: { consentId: URN, tokenId: TOKEN }, expect: [missing('statusSummary')] },
    { name: 'resources 206 without statusSummary (2026C: 200 only)', context: client('GET', '/open-banking/resources/v3/resources', 206), info: { consentId: URN, tokenId: TOKEN }, expect: [] },
    {
      name: 'statusSummary counts must be digit strings',
      context: client('GET', '/open-banking/resources/v3/resources'),
      info: { consentId: URN, tokenId: TOKEN, statusSummary: { available: 1, unavailable: 'two' } },
      // Quality only: since 2025D the sub-items are accepted as strings, numbers were the older form.
      expect: (['available', 'unavailable'] as const).map((key) => ({
        field: `additionalInfo.statusSummary.${key}`,
        rule: 'additionalInfo.statusSummary.count',
        message: `Invalid format: additionalInfo.statusSummary.${key}: must be a count written as a string of digits`,
      })),
    },
    {
      name: 'statusSummary must be an object',
      context: client('GET', '/open-banking/resources/v3/resources'),
      info: { consentId: URN, tokenId: TOKEN, statusSummary: [] },
      expect: [typeOf('statusSummary', 'object', 'array')],
    },
  ]);
});

const payConsentNoDate = { consentId: URN, personType: 'PF', localInstrument: 'DICT', authorisationFlowIntent: 'HYBRID_FLOW', paymentType: 'IMMEDIATE', tokenId: TOKEN };
/** A 201 payment consent carries paymentDate or paymentSchedule (§4.3 SV). */
const payConsent = { ...payConsentNoDate, paymentDate: '2026-09-01' };

describe('CLIENT: payments v4/v5 (§4.3 SV)', () => {
  table([
    { name: 'consents POST 201 complete (v5)', context: client('POST', `${PAY5}/consents`, 201), info: payConsent, expect: [] },
    {
      name: 'consents POST 201: request-derived keys missing',
      context: client('POST', `${PAY4}/consents`, 201),
      info: { consentId: URN, tokenId: TOKEN },
      expect: [
        missing('personType'),
        missing('localInstrument'),
        missing('authorisationFlowIntent'),
        missing('paymentType'),
        { field: 'additionalInfo.paymentDate|paymentSchedule', rule: 'additionalInfo.keyGroup', message: 'Missing property: additionalInfo.paymentDate or additionalInfo.paymentSchedule' },
      ],
    },
    {
      name: 'consents POST 422 with errorCodes (string, default)',
      context: client('POST', `${PAY5}/consents`, 422),
      info: { personType: 'PF', localInstrument: 'DICT', authorisationFlowIntent: 'CIBA_FLOW', paymentType: 'SCHEDULED', errorCodes: 'DETALHE_PAGAMENTO_INVALIDO' },
      expect: [],
    },
    {
      name: 'consents POST 408 with an empty errorCodes string (no code in the answer)',
      context: client('POST', `${PAY5}/consents`, 408),
      info: { personType: 'PF', localInstrument: 'DICT', authorisationFlowIntent: 'CIBA_FLOW', paymentType: 'SCHEDULED', errorCodes: '' },
      expect: [],
    },
    {
      name: 'consents POST 408 without errorCodes (a timeout has no answer to take a code from)',
      context: client('POST', `${PAY5}/consents`, 408),
      info: { personType: 'PF', localInstrument: 'DICT', authorisationFlowIntent: 'CIBA_FLOW', paymentType: 'SCHEDULED' },
      expect: [],
    },
    {
      name: 'consents POST 422 without errorCodes',
      context: client('POST', `${PAY5}/consents`, 422),
      info: { personType: 'PF', localInstrument: 'DICT', authorisationFlowIntent: 'CIBA_FLOW', paymentType: 'SCHEDULED' },
      expect: [missing('errorCodes')],
    },
    {
      name: 'errorCodes as a list is refused by default (§13 item 6)',
      context: client('POST', `${PAY5}/consents`, 422),
      info: { personType: 'PF', localInstrument: 'DICT', authorisationFlowIntent: 'CIBA_FLOW', paymentType: 'SCHEDULED', errorCodes: ['DETALHE_PAGAMENTO_INVALIDO'] },
      expect: [typeOf('errorCodes', 'string', 'array')],
    },
    {
      name: "errorCodesAs: 'array' accepts a one-item list",
      context: client('POST', `${PAY5}/consents`, 422),
      options: { ...ADDITIONAL_INFO_DEFAULTS, errorCodesAs: 'array' },
      info: { personType: 'PF', localInstrument: 'DICT', authorisationFlowIntent: 'CIBA_FLOW', paymentType: 'SCHEDULED', errorCodes: ['DETALHE_PAGAMENTO_INVALIDO'] },
      expect: [],
    },
    {
      name: "errorCodesAs: 'array' accepts the empty list (no code)",
      context: client('POST', `${PAY5}/consents`, 408),
      options: { ...ADDITIONAL_INFO_DEFAULTS, errorCodesAs: 'array' },
      info: { personType: 'PF', localInstrument: 'DICT', authorisationFlowIntent: 'CIBA_FLOW', paymentType: 'SCHEDULED', errorCodes: [] },
      expect: [],
    },
    {
      name: "errorCodesAs: 'array' refuses a string",
      context: client('POST', `${PAY5}/consents`, 422),
      options: { ...ADDITIONAL_INFO_DEFAULTS, errorCodesAs: 'array' },
      info: { personType: 'PF', localInstrument: 'DICT', authorisationFlowIntent: 'CIBA_FLOW', paymentType: 'SCHEDULED', errorCodes: 'X' },
      expect: [typeOf('errorCodes', 'array', 'string')],
    },
    {
      name: "errorCodesAs: 'array' refuses non-strings and more than one code",
      context: client('POST', `${PAY5}/consents`, 422),
      options: { ...ADDITIONAL_INFO_DEFAULTS, errorCodesAs: 'array' },
      info: { personType: 'PF', localInstrument: 'DICT', authorisationFlowIntent: 'CIBA_FLOW', paymentType: 'SCHEDULED', errorCodes: [422, 'B'] },
      expect: [
        typeOf('errorCodes.0', 'string', 'number'),
        {
          field: 'additionalInfo.errorCodes',
          rule: 'additionalInfo.errorCodes.single',
          message: 'Invalid field value: additionalInfo.errorCodes: must hold a single error code, received 2',
        },
      ],
    },
    { name: 'localInstrument APDN is a v5 value', context: client('POST', `${PAY5}/consents`, 201), info: { ...payConsent, localInstrument: 'APDN' }, expect: [] },
    {
      name: 'localInstrument APDN is refused on v4',
      context: client('POST', `${PAY4}/consents`, 201),
      info: { ...payConsent, localInstrument: 'APDN' },
      expect: [enumOf('localInstrument', "'DICT' | 'INIC' | 'MANU' | 'QRDN' | 'QRES' | 'AUTO'", 'APDN')],
    },
    {
      name: 'authorisationFlowIntent must be one of the flows',
      context: client('POST', `${PAY5}/consents`, 201),
      info: { ...payConsent, authorisationFlowIntent: 'FIDO' },
      expect: [enumOf('authorisationFlowIntent', FLOWS, 'FIDO')],
    },
    {
      name: 'paymentType AUTOMATIC, WITHDRAW, CHANGE are accepted (§13 item 7)',
      context: client('POST', `${PAY5}/consents`, 201),
      info: { ...payConsent, paymentType: 'WITHDRAW' },
      expect: [],
    },
    {
      name: 'paymentType outside the domain',
      context: client('POST', `${PAY5}/consents`, 201),
      info: { ...payConsent, paymentType: 'SCHEDULE' },
      expect: [enumOf('paymentType', "'IMMEDIATE' | 'SCHEDULED' | 'RECURRENT' | 'SWEEPING' | 'AUTOMATIC' | 'WITHDRAW' | 'CHANGE'", 'SCHEDULE')],
    },
    { name: 'paymentDate alone passes', context: client('POST', `${PAY5}/consents`, 201), info: { ...payConsentNoDate, paymentDate: '2026-09-01' }, expect: [] },
    { name: 'paymentSchedule alone passes', context: client('POST', `${PAY5}/consents`, 201), info: { ...payConsentNoDate, paymentSchedule: '{"single":{"date":"2026-09-01"}}' }, expect: [] },
    {
      name: 'a 201 consent with neither paymentDate nor paymentSchedule',
      context: client('POST', `${PAY5}/consents`, 201),
      info: payConsentNoDate,
      expect: [{ field: 'additionalInfo.paymentDate|paymentSchedule', rule: 'additionalInfo.keyGroup', message: 'Missing property: additionalInfo.paymentDate or additionalInfo.paymentSchedule' }],
    },
    { name: 'a 422 consent needs neither', context: client('POST', `${PAY5}/consents`, 422), info: { ...payConsentNoDate, consentId: undefined, tokenId: undefined, errorCodes: 'X' }, expect: [] },
    {
      name: 'paymentDate and paymentSchedule together are refused',
      context: client('POST', `${PAY5}/consents`, 201),
      info: { ...payConsent, paymentDate: '2026-09-01', paymentSchedule: '{"single":{"date":"2026-09-01"}}' },
      expect: [
        {
          field: 'additionalInfo.paymentDate|paymentSchedule',
          rule: 'additionalInfo.keyGroup',
          message: 'Invalid field value: additionalInfo: paymentDate and paymentSchedule are mutually exclusive, send only one',
        },
      ],
    },
    {
      name: 'paymentDate must be YYYY-MM-DD',
      context: client('POST', `${PAY5}/consents`, 201),
      info: { ...payConsent, paymentDate: '01/09/2026' },
      expect: [format('paymentDate', 'must be a date YYYY-MM-DD')],
    },
    {
      name: 'paymentSchedule is a JSON string, not an object',
      context: client('POST', `${PAY5}/consents`, 201),
      info: { ...payConsentNoDate, paymentSchedule: { single: { date: '2026-09-01' } } },
      expect: [typeOf('paymentSchedule', 'string', 'object')],
    },
    { name: 'consents GET REJECTED with reasons', context: client('GET', `${PAY4}/consents/{consentId}`), info: { consentId: URN, status: 'REJECTED', rejectionReasonCode: 'TEMPO_EXPIRADO_AUTORIZACAO', rejectionReasonDetail: 'expirou', tokenId: TOKEN }, expect: [] },
    {
      name: 'consents GET REJECTED without reasons',
      context: client('GET', `${PAY4}/consents/{consentId}`),
      info: { consentId: URN, status: 'REJECTED', tokenId: TOKEN },
      expect: [missing('rejectionReasonCode'), missing('rejectionReasonDetail')],
    },
    {
      name: 'rejectionReasonCode is an upper-case code',
      context: client('GET', `${PAY5}/consents/{consentId}`),
      info: { consentId: URN, status: 'REJECTED', rejectionReasonCode: 'tempo expirado', rejectionReasonDetail: 'x', tokenId: TOKEN },
      expect: [format('rejectionReasonCode', 'must be an upper-case code (^[A-Z][A-Z0-9_]*$)')],
    },
    { name: 'webhookInteractionId is optional', context: client('GET', `${PAY5}/consents/{consentId}`), info: { consentId: URN, status: 'AUTHORISED', tokenId: TOKEN }, expect: [] },
    {
      name: 'webhookInteractionId must not be empty',
      context: client('GET', `${PAY5}/consents/{consentId}`),
      info: { consentId: URN, status: 'AUTHORISED', tokenId: TOKEN, webhookInteractionId: '' },
      expect: [{ field: 'additionalInfo.webhookInteractionId', rule: 'additionalInfo.format', message: "Missing property, additionalInfo.webhookInteractionId can't be empty" }],
    },
    {
      name: 'pix/payments POST 201 IMMEDIATE with paymentList',
      context: client('POST', `${PAY5}/pix/payments`, 201),
      info: {
        consentId: URN,
        authorisationFlow: 'HYBRID_FLOW',
        paymentType: 'IMMEDIATE',
        status: 'RCVD',
        tokenId: TOKEN,
        paymentList: [{ paymentId: 'p1', consentId: URN, statusUpdateDateTime: '2026-02-08T19:53:53Z', status: 'RCVD', rejectionReasonCode: '', rejectionReasonDetail: '' }],
      },
      expect: [],
    },
    {
      name: 'pix/payments POST 201 IMMEDIATE without paymentList',
      context: client('POST', `${PAY5}/pix/payments`, 201),
      info: { consentId: URN, authorisationFlow: 'HYBRID_FLOW', paymentType: 'IMMEDIATE', status: 'RCVD', tokenId: TOKEN },
      expect: [missing('paymentList')],
    },
    {
      name: 'pix/payments POST 201 SWEEPING needs no paymentList',
      context: client('POST', `${PAY4}/pix/payments`, 201),
      info: { consentId: URN, authorisationFlow: 'FIDO_FLOW', paymentType: 'SWEEPING', status: 'RCVD', tokenId: TOKEN },
      expect: [],
    },
    {
      name: 'pix/payments POST: authorisationFlow never null',
      context: client('POST', `${PAY4}/pix/payments`, 201),
      info: { consentId: URN, authorisationFlow: null, paymentType: 'SWEEPING', status: 'RCVD', tokenId: TOKEN },
      expect: [typeOf('authorisationFlow', 'string', 'null')],
    },
    {
      name: 'pix/payments POST 422: authorisationFlow and paymentType still, errorCodes',
      context: client('POST', `${PAY4}/pix/payments`, 422),
      info: { consentId: URN },
      expect: [missing('authorisationFlow'), missing('paymentType'), missing('errorCodes')],
    },
    {
      name: 'paymentList: an array of at most 60 objects of strings',
      context: client('POST', `${PAY5}/pix/payments`, 201),
      info: {
        consentId: URN,
        authorisationFlow: 'HYBRID_FLOW',
        paymentType: 'RECURRENT',
        status: 'RCVD',
        tokenId: TOKEN,
        paymentList: [...Array.from({ length: 60 }, () => ({ paymentId: 'p' })), 'p61', { paymentId: 62 }],
      },
      expect: [
        {
          field: 'additionalInfo.paymentList',
          rule: 'additionalInfo.paymentList.maxItems',
          message: 'Invalid field value: additionalInfo.paymentList: at most 60 items, received 62',
        },
        typeOf('paymentList.60', 'object', 'string'),
        typeOf('paymentList.61.paymentId', 'string', 'number'),
      ],
    },
    {
      name: 'paymentList must be an array',
      context: client('POST', `${PAY5}/pix/payments`, 201),
      info: { consentId: URN, authorisationFlow: 'HYBRID_FLOW', paymentType: 'IMMEDIATE', status: 'RCVD', tokenId: TOKEN, paymentList: { paymentId: 'p1' } },
      expect: [typeOf('paymentList', 'array', 'object')],
    },
    {
      name: 'pix/payments GET 200 RJCT complete',
      context: client('GET', `${PAY4}/pix/payments/{paymentId}`),
      info: { consentId: URN, status: 'RJCT', localInstrument: 'MANU', authorisationFlow: 'HYBRID_FLOW', rejectionReasonCode: 'SALDO_INSUFICIENTE', rejectionReasonDetail: 'x', tokenId: TOKEN },
      expect: [],
    },
    {
      name: 'pix/payments GET 200 RJCT without reasons, no localInstrument',
      context: client('GET', `${PAY4}/pix/payments/{paymentId}`),
      info: { consentId: URN, status: 'RJCT', authorisationFlow: 'HYBRID_FLOW', tokenId: TOKEN },
      expect: [missing('localInstrument'), missing('rejectionReasonCode'), missing('rejectionReasonDetail')],
    },
    { name: 'pix/payments GET 404: consentId and errorCodes', context: client('GET', `${PAY5}/pix/payments/{paymentId}`, 404), info: { consentId: URN, errorCodes: 'NAO_ENCONTRADO' }, expect: [] },
    {
      name: 'pix/payments PATCH 200 without paymentType',
      context: client('PATCH', `${PAY5}/pix/payments/{paymentId}`),
      info: { consentId: URN, status: 'CANC', localInstrument: 'MANU', authorisationFlow: 'HYBRID_FLOW', tokenId: TOKEN },
      expect: [missing('paymentType')],
    },
    {
      name: 'pix/payments PATCH 200 complete',
      context: client('PATCH', `${PAY5}/pix/payments/{paymentId}`),
      info: { consentId: URN, status: 'CANC', localInstrument: 'MANU', authorisationFlow: 'HYBRID_FLOW', paymentType: 'SCHEDULED', tokenId: TOKEN },
      expect: [],
    },
    { name: 'per-consent payment list (v4 typo entry) needs tokenId', context: client('PATCH', `${PAY4}//consents/{consentId}/pix/payments`), info: {}, expect: [missing('tokenId')] },
    { name: 'per-consent payment list 422 needs errorCodes', context: client('PATCH', `${PAY4}/pix/payments/consents/{consentId}`, 422), info: {}, expect: [missing('errorCodes')] },
  ]);
});

describe('CLIENT: enrollments v2 (§4.3 JSR)', () => {
  table([
    { name: 'POST 201', context: client('POST', `${ENR}/enrollments`, 201), info: { enrollmentId: URN, personType: 'PF', tokenId: TOKEN }, expect: [] },
    { name: 'POST 201 without enrollmentId', context: client('POST', `${ENR}/enrollments`, 201), info: { personType: 'PF', tokenId: TOKEN }, expect: [missing('enrollmentId')] },
    {
      name: 'journeyLinkId must be a URN',
      context: client('POST', `${ENR}/enrollments`, 201),
      info: { enrollmentId: URN, personType: 'PF', tokenId: TOKEN, journeyIsLinked: 'TRUE', journeyLinkId: 'link-1' },
      expect: [format('journeyLinkId', 'must be a URN (urn:<namespace>:<id>)')],
    },
    {
      name: 'journeyIsLinked TRUE needs journeyLinkId',
      context: client('POST', `${ENR}/enrollments`, 201),
      info: { enrollmentId: URN, personType: 'PF', tokenId: TOKEN, journeyIsLinked: 'TRUE' },
      expect: [missing('journeyLinkId')],
    },
    { name: 'journeyIsLinked FALSE needs no journeyLinkId', context: client('POST', `${ENR}/enrollments`, 201), info: { enrollmentId: URN, personType: 'PF', tokenId: TOKEN, journeyIsLinked: 'FALSE' }, expect: [] },
    { name: 'GET REVOKED with revocationReasonCode', context: client('GET', `${ENR}/enrollments/{enrollmentId}`), info: { enrollmentId: URN, status: 'REVOKED', revocationReasonCode: 'REVOGADO_MANUALMENTE', tokenId: TOKEN }, expect: [] },
    { name: 'GET REVOKED without revocationReasonCode', context: client('GET', `${ENR}/enrollments/{enrollmentId}`), info: { enrollmentId: URN, status: 'REVOKED', tokenId: TOKEN }, expect: [missing('revocationReasonCode')] },
    { name: 'GET REJECTED without rejectionReasonCode', context: client('GET', `${ENR}/enrollments/{enrollmentId}`), info: { enrollmentId: URN, status: 'REJECTED', tokenId: TOKEN }, expect: [missing('rejectionReasonCode')] },
    {
      name: 'GET status outside the enrollment domain',
      context: client('GET', `${ENR}/enrollments/{enrollmentId}`),
      info: { enrollmentId: URN, status: 'AWAITING_AUTHORISATION', tokenId: TOKEN },
      expect: [
        enumOf(
          'status',
          "'AWAITING_RISK_SIGNALS' | 'AWAITING_ACCOUNT_HOLDER_VALIDATION' | 'AWAITING_ENROLLMENT' | 'AUTHORISED' | 'REVOKED' | 'REJECTED'",
          'AWAITING_AUTHORISATION',
        ),
      ],
    },
    {
      name: 'cancelledFrom INICIADORA/DETENTORA',
      context: client('GET', `${ENR}/enrollments/{enrollmentId}`),
      info: { enrollmentId: URN, status: 'AUTHORISED', tokenId: TOKEN, cancelledFrom: 'REVOKED' },
      expect: [enumOf('cancelledFrom', "'INICIADORA' | 'DETENTORA'", 'REVOKED')],
    },
    { name: 'PATCH needs enrollmentId', context: client('PATCH', `${ENR}/enrollments/{enrollmentId}`, 204), info: { tokenId: TOKEN }, expect: [missing('enrollmentId')] },
    { name: 'risk-signals needs enrollmentId', context: client('POST', `${ENR}/enrollments/{enrollmentId}/risk-signals`, 204), info: { enrollmentId: URN, tokenId: TOKEN }, expect: [] },
    { name: 'fido-registration-options complete', context: client('POST', `${ENR}/enrollments/{enrollmentId}/fido-registration-options`, 201), info: { enrollmentId: URN, rp: 'passkey.app-demo.io', platform: 'ANDROID', tokenId: TOKEN }, expect: [] },
    {
      name: 'fido-registration-options: empty rp, bad platform',
      context: client('POST', `${ENR}/enrollments/{enrollmentId}/fido-registration-options`, 201),
      info: { enrollmentId: URN, rp: '', platform: 'WINDOWS', tokenId: TOKEN },
      expect: [
        { field: 'additionalInfo.rp', rule: 'additionalInfo.format', message: "Missing property, additionalInfo.rp can't be empty" },
        enumOf('platform', "'ANDROID' | 'BROWSER' | 'CROSS_PLATFORM' | 'IOS'", 'WINDOWS'),
      ],
    },
    {
      name: 'fido-registration: authenticatorAttachment "" when absent',
      context: client('POST', `${ENR}/enrollments/{enrollmentId}/fido-registration`, 204),
      info: { enrollmentId: URN, authenticatorAttachment: '', platform: 'IOS', tokenId: TOKEN },
      expect: [],
    },
    {
      name: 'fido-registration: authenticatorAttachment missing / wrong case',
      context: client('POST', `${ENR}/enrollments/{enrollmentId}/fido-registration`, 204),
      info: { enrollmentId: URN, platform: 'IOS', tokenId: TOKEN, nfcPayment: 'TRUE' },
      expect: [missing('authenticatorAttachment')],
    },
    {
      name: 'fido-registration: authenticatorAttachment PLATFORM is refused',
      context: client('POST', `${ENR}/enrollments/{enrollmentId}/fido-registration`, 204),
      info: { enrollmentId: URN, authenticatorAttachment: 'PLATFORM', platform: 'IOS', tokenId: TOKEN },
      expect: [enumOf('authenticatorAttachment', "'platform' | 'cross-platform' | ''", 'PLATFORM')],
    },
    {
      name: 'fido-sign-options with recurringConsentId',
      context: client('POST', `${ENR}/enrollments/{enrollmentId}/fido-sign-options`, 201),
      info: { enrollmentId: URN, recurringConsentId: URN2, rp: 'rp.example', platform: 'BROWSER', tokenId: TOKEN },
      expect: [],
    },
    {
      name: 'fido-sign-options with neither consentId nor recurringConsentId',
      context: client('POST', `${ENR}/enrollments/{enrollmentId}/fido-sign-options`, 201),
      info: { enrollmentId: URN, rp: 'rp.example', platform: 'BROWSER', tokenId: TOKEN },
      expect: [
        {
          field: 'additionalInfo.consentId|recurringConsentId',
          rule: 'additionalInfo.keyGroup',
          message: 'Missing property: additionalInfo.consentId or additionalInfo.recurringConsentId',
        },
      ],
    },
    {
      name: 'fido-sign-options with both',
      context: client('POST', `${ENR}/enrollments/{enrollmentId}/fido-sign-options`, 201),
      info: { enrollmentId: URN, consentId: URN, recurringConsentId: URN2, rp: 'rp.example', platform: 'BROWSER', tokenId: TOKEN },
      expect: [
        {
          field: 'additionalInfo.consentId|recurringConsentId',
          rule: 'additionalInfo.keyGroup',
          message: 'Invalid field value: additionalInfo: consentId and recurringConsentId are mutually exclusive, send only one',
        },
      ],
    },
    { name: 'consents authorise with nfcPayment', context: client('POST', `${ENR}/consents/{consentId}/authorise`, 204), info: { enrollmentId: URN, consentId: URN2, nfcPayment: 'FALSE', tokenId: TOKEN }, expect: [] },
    {
      name: 'consents authorise: nfcPayment boolean',
      context: client('POST', `${ENR}/consents/{consentId}/authorise`, 204),
      info: { enrollmentId: URN, consentId: URN2, nfcPayment: false, tokenId: TOKEN },
      expect: [typeOf('nfcPayment', 'string', 'boolean')],
    },
    { name: 'recurring-consents authorise needs recurringConsentId', context: client('POST', `${ENR}/recurring-consents/{recurringConsentId}/authorise`, 204), info: { enrollmentId: URN, tokenId: TOKEN }, expect: [missing('recurringConsentId')] },
  ]);
});

const recurringConsent = {
  recurringConsentId: URN,
  personType: 'PF',
  authorisationFlowIntent: 'HYBRID_FLOW',
  paymentType: 'AUTOMATIC',
  amountType: 'FIXO',
  interval: 'MENSAL',
  hasMinimumAmount: 'FALSE',
  isRetryAccepted: 'TRUE',
  referenceStartDate: '2026-09-01',
  isFirstPayment: 'FALSE',
  tokenId: TOKEN,
};
const recurringPayment = {
  recurringConsentId: URN,
  paymentType: 'AUTOMATIC',
  localInstrument: 'AUTO',
  authorisationFlow: 'HYBRID_FLOW',
  recurringPaymentId: 'TXpRMU9UQTROMWhZV2xSU1FUazJSMDl',
  status: 'SCHD',
  recurringPaymentDate: '2026-09-10',
  paymentReference: 'M09-2026',
  tokenId: TOKEN,
};

describe('CLIENT: automatic-payments v2 (§4.3 Pix Automático)', () => {
  table([
    { name: 'recurring-consents POST AUTOMATIC complete', context: client('POST', `${AUTO}/recurring-consents`, 201), info: recurringConsent, expect: [] },
    {
      name: 'recurring-consents POST AUTOMATIC without the automatic keys',
      context: client('POST', `${AUTO}/recurring-consents`, 201),
      info: { recurringConsentId: URN, personType: 'PF', authorisationFlowIntent: 'HYBRID_FLOW', paymentType: 'AUTOMATIC', tokenId: TOKEN },
      expect: [missing('amountType'), missing('interval'), missing('hasMinimumAmount'), missing('isRetryAccepted'), missing('referenceStartDate')],
    },
    {
      name: 'recurring-consents POST SWEEPING needs none of them',
      context: client('POST', `${AUTO}/recurring-consents`, 201),
      info: { recurringConsentId: URN, personType: 'PF', authorisationFlowIntent: 'HYBRID_FLOW', paymentType: 'SWEEPING', tokenId: TOKEN },
      expect: [],
    },
    {
      name: 'interval, amountType and isRetryAccepted formats',
      context: client('POST', `${AUTO}/recurring-consents`, 201),
      info: { ...recurringConsent, interval: 'DIARIO', amountType: 'FIXED', isRetryAccepted: true },
      expect: [
        enumOf('amountType', "'FIXO' | 'VARIAVEL'", 'FIXED'),
        enumOf('interval', "'SEMANAL' | 'MENSAL' | 'TRIMESTRAL' | 'SEMESTRAL' | 'ANUAL'", 'DIARIO'),
        typeOf('isRetryAccepted', 'string', 'boolean'),
      ],
    },
    {
      name: 'recurring-consents POST in Jornada Otimizada without journeyLinkId',
      context: client('POST', `${AUTO}/recurring-consents`, 201),
      info: { ...recurringConsent, journeyIsLinked: 'TRUE' },
      expect: [missing('journeyLinkId')],
    },
    {
      name: 'recurring-consents POST 201 without recurringConsentId (consentId is not a substitute, 2026A)',
      context: client('POST', `${AUTO}/recurring-consents`, 201),
      info: { ...recurringConsent, recurringConsentId: undefined, consentId: URN },
      expect: [missing('recurringConsentId')],
    },
    {
      name: 'recurring-consents GET REJECTED complete',
      context: client('GET', `${AUTO}/recurring-consents/{recurringConsentId}`),
      info: { recurringConsentId: URN, status: 'REJECTED', rejectionReasonCode: 'NAO_INFORMADO', rejectionReasonDetail: 'x', rejectedBy: 'USUARIO', rejectedFrom: 'DETENTORA', tokenId: TOKEN },
      expect: [],
    },
    {
      name: 'recurring-consents GET REVOKED without revocationReasonCode, bad revokedBy',
      context: client('GET', `${AUTO}/recurring-consents/{recurringConsentId}`),
      info: { recurringConsentId: URN, status: 'REVOKED', revokedBy: 'CLIENTE', tokenId: TOKEN },
      expect: [missing('revocationReasonCode'), enumOf('revokedBy', "'INICIADORA' | 'USUARIO' | 'DETENTORA'", 'CLIENTE')],
    },
    { name: 'recurring-payments POST 201 complete', context: client('POST', `${AUTO}/pix/recurring-payments`, 201), info: recurringPayment, expect: [] },
    {
      name: 'recurring-payments POST 201: no date, no reference, bad id, localInstrument QRES',
      context: client('POST', `${AUTO}/pix/recurring-payments`, 201),
      info: { ...recurringPayment, recurringPaymentDate: undefined, paymentReference: undefined, recurringPaymentId: '-abc', localInstrument: 'QRES' },
      expect: [
        missing('recurringPaymentDate'),
        missing('paymentReference'),
        enumOf('localInstrument', "'AUTO' | 'MANU' | 'DICT' | 'INIC'", 'QRES'),
        format('recurringPaymentId', 'must be an id matching ^[a-zA-Z0-9][a-zA-Z0-9-]{0,99}$'),
      ],
    },
    {
      name: 'recurring-payments POST CANC needs cancellationReason and cancelledFrom',
      context: client('POST', `${AUTO}/pix/recurring-payments`, 201),
      info: { ...recurringPayment, status: 'CANC' },
      expect: [missing('cancellationReason'), missing('cancelledFrom')],
    },
    {
      name: 'recurring-payments POST CANC complete; cancelledFrom REJECTED is refused (§13 item 7)',
      context: client('POST', `${AUTO}/pix/recurring-payments`, 201),
      info: { ...recurringPayment, status: 'CANC', cancellationReason: 'CANCELADO_PENDENCIA', cancelledFrom: 'REJECTED' },
      expect: [enumOf('cancelledFrom', "'INICIADORA' | 'DETENTORA'", 'REJECTED')],
    },
    {
      name: 'recurring-payments list GET 200 with paymentList',
      context: client('GET', `${AUTO}/pix/recurring-payments`),
      info: { recurringConsentId: URN, paymentList: [{ paymentId: 'p1', status: 'ACSC' }], tokenId: TOKEN },
      expect: [],
    },
    { name: 'recurring-payments list GET 200 without paymentList', context: client('GET', `${AUTO}/pix/recurring-payments`), info: { recurringConsentId: URN, tokenId: TOKEN }, expect: [missing('paymentList')] },
    {
      name: 'recurring-payment GET RJCT without reasons',
      context: client('GET', `${AUTO}/pix/recurring-payments/{recurringPaymentId}`),
      info: { recurringPaymentId: 'abc', recurringConsentId: URN, status: 'RJCT', tokenId: TOKEN },
      expect: [missing('rejectionReasonCode'), missing('rejectionReasonDetail')],
    },
    {
      name: 'retry POST 201 complete',
      context: client('POST', `${AUTO}/pix/recurring-payments/{originalRecurringPaymentId}/retry`, 201),
      info: { originalRecurringPaymentId: 'orig1', recurringConsentId: URN, recurringPaymentId: 'new1', status: 'RCVD', tokenId: TOKEN },
      expect: [],
    },
    {
      name: 'retry POST 201 without originalRecurringPaymentId',
      context: client('POST', `${AUTO}/pix/recurring-payments/{originalRecurringPaymentId}/retry`, 201),
      info: { recurringConsentId: URN, recurringPaymentId: 'new1', status: 'RCVD', tokenId: TOKEN },
      expect: [missing('originalRecurringPaymentId')],
    },
    {
      name: 'recurring-consents POST 422 needs errorCodes, not the created id',
      context: client('POST', `${AUTO}/recurring-consents`, 422),
      info: { personType: 'PF', authorisationFlowIntent: 'HYBRID_FLOW', paymentType: 'SWEEPING' },
      expect: [missing('errorCodes')],
    },
  ]);
});

describe('CLIENT: Segurança (§4.3 SG, §4.1 /token note, §4.5)', () => {
  table([
    { name: '/token AUTHORIZATION_CODE 200 with consentId', context: client('POST', '/token'), info: { grantType: 'AUTHORIZATION_CODE', consentId: URN, tokenId: TOKEN }, expect: [] },
    { name: '/token REFRESH_TOKEN 200 with enrollmentId', context: client('POST', '/token'), info: { grantType: 'REFRESH_TOKEN', enrollmentId: URN, tokenId: TOKEN }, expect: [] },
    { name: '/token CLIENT_CREDENTIALS 200', context: client('POST', '/token'), info: { grantType: 'CLIENT_CREDENTIALS', tokenId: TOKEN }, expect: [] },
    { name: '/token without grantType', context: client('POST', '/token'), info: { tokenId: TOKEN }, expect: [missing('grantType')] },
    {
      name: '/token grantType in OAuth lower case',
      context: client('POST', '/token'),
      info: { grantType: 'client_credentials', tokenId: TOKEN },
      expect: [enumOf('grantType', "'AUTHORIZATION_CODE' | 'REFRESH_TOKEN' | 'CLIENT_CREDENTIALS'", 'client_credentials')],
    },
    {
      name: '/token AUTHORIZATION_CODE 200 without consentId or enrollmentId',
      context: client('POST', '/token'),
      info: { grantType: 'AUTHORIZATION_CODE', tokenId: TOKEN },
      expect: [
        {
          field: 'additionalInfo.consentId|enrollmentId',
          rule: 'additionalInfo.keyGroup',
          message: 'Missing property: additionalInfo.consentId or additionalInfo.enrollmentId',
        },
      ],
    },
    { name: '/token AUTHORIZATION_CODE 400: no consentId needed, no tokenId', context: client('POST', '/token', 400), info: { grantType: 'AUTHORIZATION_CODE' }, expect: [] },
    {
      name: '/token CLIENT_CREDENTIALS with consentId and enrollmentId',
      context: client('POST', '/token'),
      info: { grantType: 'CLIENT_CREDENTIALS', consentId: URN, enrollmentId: URN2, tokenId: TOKEN },
      expect: ['consentId', 'enrollmentId'].map((key) => ({
        field: `additionalInfo.${key}`,
        rule: 'additionalInfo.forbiddenKey',
        message: `Invalid field value: additionalInfo.${key}: only reported on /token when grantType is AUTHORIZATION_CODE or REFRESH_TOKEN, never with CLIENT_CREDENTIALS`,
      })),
    },
    {
      name: '/token 401 with a tokenId',
      context: client('POST', '/token', 401),
      info: { grantType: 'CLIENT_CREDENTIALS', tokenId: TOKEN },
      expect: [
        {
          field: 'additionalInfo.tokenId',
          rule: 'additionalInfo.forbiddenKey',
          message: 'Invalid field value: additionalInfo.tokenId: must be omitted when /token answered 4xx/5xx: no token was issued (§4.5)',
        },
      ],
    },
    { name: '/token 200 without tokenId', context: client('POST', '/token'), info: { grantType: 'CLIENT_CREDENTIALS' }, expect: [missing('tokenId')] },
    { name: '/register POST: webhookEnable, no tokenId needed', context: client('POST', '/register', 201), info: { webhookEnable: 'FALSE' }, expect: [] },
    { name: '/register POST without webhookEnable', context: client('POST', '/register', 201), info: {}, expect: [EMPTY, missing('webhookEnable')] },
    { name: '/register PUT without webhookEnable', context: client('PUT', '/register'), info: { tokenId: TOKEN }, expect: [missing('webhookEnable')] },
    { name: '/register/{clientId} PUT with webhookEnable', context: client('PUT', '/register/{clientId}'), info: { webhookEnable: 'TRUE' }, expect: [] },
    {
      name: '/register/{clientId} PUT webhookEnable boolean',
      context: client('PUT', '/register/{clientId}'),
      info: { webhookEnable: false },
      expect: [typeOf('webhookEnable', 'string', 'boolean')],
    },
    { name: '/register 400 still needs webhookEnable (from the request)', context: client('POST', '/register', 400), info: {}, expect: [EMPTY, missing('webhookEnable')] },
  ]);
});

describe('CLIENT: v12 fallback (§4.2) for what §4.3 does not cover', () => {
  table([
    { name: '/register/{clientId} DELETE: {}', context: client('DELETE', '/register/{clientId}', 204), info: {}, expect: [] },
    { name: '/revocation POST: {}', context: client('POST', '/revocation'), info: {}, expect: [] },
    { name: '/introspection GET: {}', context: client('GET', '/introspection'), info: {}, expect: [] },
    { name: '/pushed-authorization-request POST: {}', context: client('POST', '/pushed-authorization-request', 201), info: {}, expect: [] },
    {
      name: 'fallback rows still check formats',
      context: client('POST', '/pushed-authorization-request', 201),
      info: { tokenId: 'not-a-token-id' },
      expect: [format('tokenId', 'must be 12 base64url characters (^[A-Za-z0-9_-]{12}$)')],
    },
  ]);

  it('§4.3 wins where it has a rule; v12 answers only for the security rows it leaves out', () => {
    const reached = V12_STILL_LISTED.filter(([method, endpoint]) => clientRuleFor(method, endpoint)?.from === 'v12').map(([m, e]) => `${m} ${e}`);
    expect(reached).toEqual([
      'GET /register',
      'DELETE /register',
      'GET /register/{clientId}',
      'DELETE /register/{clientId}',
      'POST /revocation',
      'GET /introspection',
      'POST /pushed-authorization-request',
    ]);
    expect(clientRuleFor('GET', ACCOUNTS)?.from).toBe('current');
    expect(clientRuleFor('POST', '/token')?.from).toBe('current');
    expect(clientRuleFor('GET', '/open-banking/consents/v2/consents/{consentId}')).toBeUndefined();
  });

  const csv = new URL('../../data/catalog/sources/additional-info-matrix-v12-private.csv', import.meta.url);
  const opendataCsv = new URL('../../data/catalog/sources/additional-info-matrix-v12-opendata.csv', import.meta.url);
  const catalog = JSON.parse(readFileSync(new URL('../../data/catalog/endpoints.json', import.meta.url), 'utf8')) as {
    private: { template: string }[];
    opendata: { template: string }[];
  };
  const listedPrivate = new Set(catalog.private.map((e) => e.template));

  it('the embedded rows are exactly the v12 CSV rows whose endpoint is still listed', () => {
    const rows = parseCsv(readFileSync(csv, 'utf8')).slice(1);
    const still = rows.filter((r) => listedPrivate.has(r[2] ?? '')).map((r) => [r[1], r[2], r[3]]);
    expect(rows).toHaveLength(71);
    expect(V12_STILL_LISTED.map(([method, endpoint, keys]) => [method, endpoint, keys])).toEqual(still);
  });

  it('no v12 opendata row is still listed (all renamed: opendata-*, channels v2)', () => {
    const listedOpendata = new Set(catalog.opendata.map((e) => e.template));
    const rows = parseCsv(readFileSync(opendataCsv, 'utf8')).filter((r) => r[2]?.startsWith('/open-banking/'));
    expect(rows.length).toBeGreaterThan(25);
    expect(rows.filter((r) => listedOpendata.has(r[2] ?? ''))).toEqual([]);
  });

  it('every private endpoint of the catalogue has a rule (current or v12) for at least one method', () => {
    const methods: HttpMethod[] = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'];
    const uncovered = [...listedPrivate].filter((endpoint) => methods.every((m) => clientRuleFor(m, endpoint) === undefined));
    expect(uncovered).toEqual([]);
  });
});

describe('the rule table itself', () => {
  const all = [...CURRENT_RULES, ...V12_RULES];

  it('no (method, endpoint) appears in two §4.3 entries (the first would hide the second)', () => {
    const seen = new Map<string, string>();
    const duplicates: string[] = [];
    for (const rule of CURRENT_RULES) {
      for (const method of rule.methods) {
        for (const endpoint of rule.endpoints) {
          const key = `${method} ${endpoint}`;
          const other = seen.get(key);
          if (other !== undefined) duplicates.push(`${key}: ${other} / ${rule.name}`);
          seen.set(key, rule.name);
        }
      }
    }
    expect(duplicates).toEqual([]);
  });

  it('every key a rule names has a format (catches typos in the table)', () => {
    const named = all.flatMap((r) => [
      ...(r.required ?? []).map((q) => q.key),
      ...(r.optional ?? []),
      ...(r.groups ?? []).flatMap((g) => g.keys),
      ...(r.forbidden ?? []).flatMap((f) => f.keys),
      ...(r.required ?? []).flatMap((q) => (q.when?.keyIn ? [q.when.keyIn.key] : [])),
    ]);
    expect(named.filter((k) => !Object.hasOwn(KEY_FORMATS, k))).toEqual([]);
  });

  it('every endpoint in the table is in the catalogue', () => {
    const catalog = JSON.parse(readFileSync(new URL('../../data/catalog/endpoints.json', import.meta.url), 'utf8')) as { private: { template: string }[] };
    const listed = new Set(catalog.private.map((e) => e.template));
    expect(all.flatMap((r) => r.endpoints).filter((e) => !listed.has(e))).toEqual([]);
  });
});

describe('SERVER (§2.3, §4.4)', () => {
  table([
    { name: 'additionalInfo may be omitted', context: server('GET', ACCOUNTS), info: undefined, expect: [] },
    { name: '{} is fine where dropReason is not used', context: server('GET', ACCOUNTS), info: {}, expect: [] },
    {
      name: 'CLIENT keys are refused',
      context: server('GET', ACCOUNTS),
      info: { consentId: URN, tokenId: TOKEN },
      expect: [unknown('consentId'), unknown('tokenId')],
    },
    {
      name: 'an array is refused',
      context: server('GET', ACCOUNTS),
      info: [],
      expect: [{ field: 'additionalInfo', rule: 'additionalInfo.type', message: 'Invalid type: additionalInfo: Expected object, received array' }],
    },
    { name: 'consents v3 POST 201 with NONE', context: server('POST', CONSENTS, 201), info: { dropReason: 'NONE' }, expect: [] },
    { name: 'consents v3 POST 201 CREDENTIAL_UNAVAILABLE (2026C)', context: server('POST', CONSENTS, 201), info: { dropReason: 'CREDENTIAL_UNAVAILABLE' }, expect: [] },
    { name: 'consents v3 POST 201 NO_AUTHORITY_PERSON_MISMATCH (2025B, §13 item 7)', context: server('POST', CONSENTS, 201), info: { dropReason: 'NO_AUTHORITY_PERSON_MISMATCH' }, expect: [] },
    { name: 'consents v3 POST without additionalInfo', context: server('POST', CONSENTS, 201), info: undefined, expect: [missing('dropReason')] },
    { name: 'consents v3 POST with {}', context: server('POST', CONSENTS, 201), info: {}, expect: [EMPTY, missing('dropReason')] },
    {
      name: 'dropReason lower case',
      context: server('POST', CONSENTS, 201),
      info: { dropReason: 'none' },
      expect: [enumOf('dropReason', "'NONE' | 'NO_CREDENTIAL' | 'NO_AUTHORITY' | 'NO_AUTHORITY_PERSON_MISMATCH' | 'CREDENTIAL_UNAVAILABLE'", 'none')],
    },
    {
      name: 'dropReason not a string',
      context: server('POST', CONSENTS, 201),
      info: { dropReason: 0 },
      expect: [typeOf('dropReason', 'string', 'number')],
    },
    { name: 'response ≠ 201 with NO_CREDENTIAL', context: server('POST', CONSENTS, 422), info: { dropReason: 'NO_CREDENTIAL' }, expect: [] },
    {
      name: 'response ≠ 201 with NONE',
      context: server('POST', CONSENTS, 422),
      info: { dropReason: 'NONE' },
      expect: [
        {
          field: 'additionalInfo.dropReason',
          rule: 'additionalInfo.dropReason.noCredential',
          message: "Invalid field value: additionalInfo.dropReason: must be 'NO_CREDENTIAL' when statusCode is not 201, received 'NONE' with statusCode 422",
        },
      ],
    },
    {
      name: 'dropReason outside the consent-creation POSTs is a remark',
      context: server('GET', `${CONSENTS}/{consentId}`),
      info: { dropReason: 'NONE' },
      expect: [
        {
          field: 'additionalInfo.dropReason',
          rule: 'additionalInfo.dropReason.outsideCreation',
          message: `Invalid field value: additionalInfo.dropReason: sent only on POST to ${DROP_REASON_ENDPOINTS.join(', ')}`,
        },
      ],
    },
    {
      name: 'unknown key next to dropReason',
      context: server('POST', `${PAY5}/consents`, 201),
      info: { dropReason: 'NONE', personType: 'PF' },
      expect: [unknown('personType')],
    },
  ]);

  it.each(DROP_REASON_ENDPOINTS)('dropReason is required on POST %s, and on no other method', (endpoint) => {
    expect(run({ name: '', context: server('POST', endpoint, 201), info: {}, expect: [] })).toEqual([EMPTY, missing('dropReason')]);
    expect(run({ name: '', context: server('POST', endpoint, 201), info: { dropReason: 'NO_AUTHORITY' }, expect: [] })).toEqual([]);
    expect(run({ name: '', context: server('GET', endpoint), info: {}, expect: [] })).toEqual([]);
  });

  it('the old consent versions (§4.4 S1 list) are not asked for dropReason', () => {
    expect(run({ name: '', context: server('POST', '/open-banking/consents/v2/consents', 201), info: {}, expect: [] })).toEqual([]);
  });
});

describe('opendata (§4.3 DA, §5)', () => {
  table([
    { name: 'IPv4 clientIp', context: opendata(), info: { clientIp: '10.0.0.1' }, expect: [] },
    { name: 'IPv6 clientIp', context: opendata('/open-banking/opendata-loans/v1/personal-loans'), info: { clientIp: '2001:db8::1' }, expect: [] },
    {
      name: 'missing additionalInfo',
      context: opendata(),
      info: undefined,
      expect: [{ field: 'additionalInfo', rule: 'additionalInfo.required', message: 'Invalid type: additionalInfo: Required' }],
    },
    { name: '{}', context: opendata(), info: {}, expect: [EMPTY, missing('clientIp')] },
    { name: 'clientIp not an address', context: opendata(), info: { clientIp: '999.1.1.1' }, expect: [format('clientIp', 'must be an IPv4 or IPv6 address')] },
    { name: 'clientIp a host name', context: opendata(), info: { clientIp: 'client.example.com' }, expect: [format('clientIp', 'must be an IPv4 or IPv6 address')] },
    { name: 'clientIp a number', context: opendata(), info: { clientIp: 167772161 }, expect: [typeOf('clientIp', 'string', 'number')] },
    {
      name: 'tokenId is refused (removed 2026B)',
      context: opendata(),
      info: { clientIp: '10.0.0.1', tokenId: TOKEN },
      expect: [
        {
          field: 'additionalInfo.tokenId',
          rule: 'additionalInfo.tokenId.opendata',
          message: "Invalid format: additionalInfo: Unrecognized key(s) in object: 'tokenId' (removed from Dados Abertos in 2026B)",
        },
      ],
    },
    { name: 'other keys are refused', context: opendata(), info: { clientIp: '10.0.0.1', consentId: URN }, expect: [unknown('consentId')] },
    {
      name: 'the role given does not matter',
      context: { ...opendata(), role: 'CLIENT' },
      info: { clientIp: '::ffff:10.0.0.1' },
      expect: [],
    },
  ]);
});

describe('problem values', () => {
  it('carries the value received, and none for a missing key', () => {
    const problems = additionalInfoProblems({ webhookEnable: true }, client('POST', '/register', 201));
    expect(problems).toEqual([
      { field: 'additionalInfo.webhookEnable', rule: 'additionalInfo.valueType', message: 'Invalid type: additionalInfo.webhookEnable: Expected string, received boolean', value: true },
    ]);
    expect(additionalInfoProblems({ consentId: URN }, client('GET', ACCOUNTS))).toEqual([missing('tokenId')]);
  });

  it('defaults to errorCodes as a string and tokenId required', () => {
    expect(ADDITIONAL_INFO_DEFAULTS).toEqual({ errorCodesAs: 'string', requireTokenId: true });
    expect(Object.isFrozen(ADDITIONAL_INFO_DEFAULTS)).toBe(true);
  });

  it('does not modify its input', () => {
    const info = Object.freeze({ consentId: 'bad', status: ['X'] });
    expect(() => additionalInfoProblems(info, client('GET', `${CONSENTS}/{consentId}`))).not.toThrow();
  });
});

/** Minimal RFC 4180 reader (quoted fields with commas, "" escapes) for the spec CSVs. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}
