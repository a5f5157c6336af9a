/**
 * The help's parts, made from the settings registry: defaults as a person
 * reads them, and lines that fit the width asked for.
 */
import assert from 'node:assert/strict';
import { firstSentence, helpDefault, helpText, versionText } from '../../../src/cli/help.js';
import { SETTING_BY_NAME, type Setting } from '../../../src/config/settings.js';

const setting = (name: string) => SETTING_BY_NAME.get(name) as Setting<unknown>;

describe('cli/help: --help and --version', () => {
  it('shows each default as a person reads it', () => {
    const cases: Array<[string, string]> = [
      ['timeout', '30'],
      ['socketMode', '666'],
      ['umask', '0'],
      ['reload', 'off'],
      ['captureOutput', 'on'],
      ['httpProtocols', 'h1'],
      ['proxyAllowFrom', '127.0.0.1,::1'],
      ['workers', '$WEB_CONCURRENCY, or 1'],
      ['bind', '127.0.0.1:8000, or 0.0.0.0:$PORT when PORT is set'],
      ['forwardedAllowIps', '127.0.0.1,::1, or $FORWARDED_ALLOW_IPS'],
      ['certfile', 'no TLS'],
      ['keyfile', 'none: the key is in --certfile'],
      ['caCerts', 'none'],
      ['ciphers', "none: Node.js's default list"],
      ['pidfile', 'none'],
      ['accessLogformat', `'${setting('accessLogformat').default as string}'`],
    ];
    for (const [name, want] of cases) assert.equal(helpDefault(setting(name)), want, name);
  });

  it('a description is the doc\'s first sentence without Markdown', () => {
    assert.equal(firstSentence('Permissions of `unix:` sockets, in octal (e.g. `660`). More.'), 'Permissions of unix: sockets, in octal (e.g. 660).');
  });

  it('fits the width it is given', () => {
    for (const width of [80, 100]) {
      const long = helpText(width).split('\n').filter((l) => l.length > width);
      assert.deepEqual(long, [], `${width} columns`);
    }
  });

  it('the version line is gunicorn\'s', () => {
    assert.match(versionText(), /^gwserver \(version \d+\.\d+\.\d+\S*\)\n$/);
  });
});
