import assert from 'node:assert/strict';
import { shellWords } from '../../../src/config/shell-words.js';

describe('shellWords (GWSERVER_CMD_ARGS is split as a shell would, like shlex.split)', () => {
  const cases: Array<[string, string[]]> = [
    ['', []],
    ['   ', []],
    ['-w 4', ['-w', '4']],
    ['  -w\t4 \n --preload ', ['-w', '4', '--preload']],
    [`--name 'my app'`, ['--name', 'my app']],
    [`--name "my app"`, ['--name', 'my app']],
    [`--name my\\ app`, ['--name', 'my app']],
    [`-b "[::1]:8000" -b unix:/run/a.sock`, ['-b', '[::1]:8000', '-b', 'unix:/run/a.sock']],
    [`--name 'it''s'`, ['--name', 'its']],
    [`--name "say \\"hi\\""`, ['--name', 'say "hi"']],
    [`--name "a\\b"`, ['--name', 'a\\b']],
    [`--name 'a\\b'`, ['--name', 'a\\b']],
    [`--name ''`, ['--name', '']],
    [`--name=a" b"'c'`, ['--name=a bc']],
  ];
  for (const [text, words] of cases) {
    it(JSON.stringify(text), () => assert.deepEqual(shellWords(text), words));
  }

  it('an unclosed quote or a trailing backslash is an error', () => {
    assert.throws(() => shellWords(`--name 'my app`), /no closing quotation/);
    assert.throws(() => shellWords(`--name "my app`), /no closing quotation/);
    assert.throws(() => shellWords('--name x\\'), /ends with a backslash/);
  });
});
