/**
 * Authorization headers HTTP Basic must refuse for the user `ada` whose
 * password is `correct horse` (undefined: no header): missing, wrong,
 * malformed, not base64, not UTF-8, with a control character. The same
 * list for testClient (test/unit/middleware/test-client.test.ts) and a
 * real `gwserver -w 2` (test/integration/auth.test.ts).
 */

export const b64 = (s: string | Buffer): string => Buffer.from(s).toString('base64');

export const BAD_CREDENTIALS: ReadonlyArray<string | undefined> = [
  undefined,
  `Basic ${b64('ada:wrong')}`,
  `Basic ${b64('ada:correct horse ')}`,
  `Basic ${b64('nobody:correct horse')}`,
  `Basic ${b64('ADA:correct horse')}`,
  `Basic ${b64('ada:')}`,
  `Basic ${b64(':correct horse')}`,
  `Bearer ${b64('ada:correct horse')}`,
  'Basic',
  'Basic ',
  'Basic %%%%',
  `Basic ${b64('ada:correct horse')}x`,
  `Basic ${b64('ada:correct horse').replace(/=+$/, '')}`,
  `Basic ${b64('adacorrect horse')}`,
  `Basic ${b64(Buffer.from([0x7a, 0x6f, 0xeb, 0x3a, 0x70]))}`,
  `Basic ${b64('ada:correct\0horse')}`,
  `Basic ${b64('ada\n:correct horse')}`,
];
