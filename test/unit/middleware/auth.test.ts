import assert from 'node:assert/strict';
import { parseBasic, safeEqual, verifyUsers } from '../../../src/middleware/auth.js';
import type { Environ } from '../../../src/gateway/types.js';

const header = (h: string) => parseBasic({ HTTP_AUTHORIZATION: h } as unknown as Environ);
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

describe('parseBasic', function () {
  it('reads user and password, the password may hold colons', function () {
    assert.deepEqual(header(`Basic ${b64('ada:se:cret')}`), { user: 'ada', password: 'se:cret' });
    assert.deepEqual(header(`basic   ${b64('ada:')}`), { user: 'ada', password: '' });
    assert.deepEqual(header(`Basic ${b64('zoë:pässwörd')}`), { user: 'zoë', password: 'pässwörd' });
  });

  it('refuses what a well-meaning client never sends', function () {
    assert.equal(parseBasic({} as unknown as Environ), undefined);
    assert.equal(header(`Bearer ${b64('ada:x')}`), undefined);
    assert.equal(header('Basic'), undefined);
    assert.equal(header('Basic !!!!'), undefined, 'not base64');
    assert.equal(header('Basic YWRhOng'), undefined, 'unpadded');
    assert.equal(header(`Basic ${b64('ada:x')}=`), undefined, 'bad padding');
    assert.equal(header(`Basic ${b64('adax')}`), undefined, 'no colon');
    assert.equal(header(`Basic ${b64(Buffer.from([0x61, 0x3a, 0xff, 0xfe]))}`), undefined, 'not UTF-8');
    assert.equal(header(`Basic ${b64('ada:x\ny')}`), undefined, 'control character');
  });
});

describe('safeEqual and verifyUsers', function () {
  it('compares strings of any length', function () {
    assert.equal(safeEqual('abc', 'abc'), true);
    assert.equal(safeEqual('abc', 'abd'), false);
    assert.equal(safeEqual('abc', 'abcd'), false);
    assert.equal(safeEqual('', ''), true);
  });

  it('accepts the right password only, and no unknown user', function () {
    const verify = verifyUsers({ ada: 'pw', empty: '' });
    const env = {} as Environ;
    assert.equal(verify('ada', 'pw', env), true);
    assert.equal(verify('ada', 'PW', env), false);
    assert.equal(verify('empty', '', env), true);
    assert.equal(verify('nobody', '\0not a password\0', env), false);
    assert.equal(verify('constructor', '', env), false);
  });
});
