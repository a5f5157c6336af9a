/**
 * Validators, preconditions and byte ranges (src/middleware/conditional.ts),
 * case by case against RFC 9110: the order of precedence of the four
 * conditional headers, weak and strong comparison, the three HTTP-date
 * forms, and Range: suffixes, open ends, clamping, unsatisfiable and
 * ignored headers, merging, and the cap on the number of ranges.
 */
import assert from 'node:assert/strict';
import { setupTestingDefaults, type Environ } from '../../../src/index.js';
import {
  evaluatePreconditions,
  fileETag,
  ifRangeHolds,
  parseHttpDate,
  parseRange,
  parseTagList,
  strongMatch,
  weakMatch,
  type Validators,
} from '../../../src/middleware/conditional.js';

const LAST = Date.UTC(2024, 0, 15, 12, 0, 0) / 1000;
const V: Validators = { etag: '"abc"', lastModified: LAST };
const date = (s: number) => new Date(s * 1000).toUTCString();
const env = (headers: Record<string, string>): Environ => setupTestingDefaults(headers as Partial<Environ>);

describe('conditional: validators', function () {
  it('makes a strong ETag from mtime and size, with the coding of a sibling appended', function () {
    assert.equal(fileETag(0x1234 + 0.7, 0x10), '"1234-10"');
    assert.equal(fileETag(0x1234, 0x10, 'br'), '"1234-10-br"');
  });

  it('reads the three HTTP-date forms and refuses other text', function () {
    const t = Date.UTC(1994, 10, 6, 8, 49, 37) / 1000;
    assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), t);
    assert.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT'), t);
    assert.equal(parseHttpDate('Sun Nov  6 08:49:37 1994'), t);
    for (const bad of ['', '0', '1994-11-06', 'yesterday', '"abc"', 'Sun, garbage']) assert.equal(parseHttpDate(bad), undefined, bad);
    assert.equal(parseHttpDate(undefined), undefined);
  });

  it('parses entity-tag lists, "*", and refuses malformed ones', function () {
    assert.deepEqual(parseTagList('"a"'), ['"a"']);
    assert.deepEqual(parseTagList(' "a" , W/"b",, "c,d"'), ['"a"', 'W/"b"', '"c,d"']);
    assert.equal(parseTagList(' * '), '*');
    for (const bad of ['a', '"a', 'W/a', '"a" b', '', ',']) assert.equal(parseTagList(bad), undefined, bad);
  });

  it('compares weakly and strongly as RFC 9110 8.8.3.2 says', function () {
    assert.ok(strongMatch('"1"', '"1"'));
    assert.ok(!strongMatch('W/"1"', '"1"'));
    assert.ok(!strongMatch('W/"1"', 'W/"1"'));
    assert.ok(weakMatch('W/"1"', '"1"'));
    assert.ok(weakMatch('W/"1"', 'W/"1"'));
    assert.ok(!weakMatch('"1"', '"2"'));
  });
});

describe('conditional: preconditions in RFC 9110 13.2.2 order', function () {
  it('answers 200 without conditions', function () {
    assert.equal(evaluatePreconditions(env({}), V), 200);
  });

  it('If-None-Match: 304 on a weak match or *, 200 otherwise, and a malformed value never 304', function () {
    assert.equal(evaluatePreconditions(env({ HTTP_IF_NONE_MATCH: '"abc"' }), V), 304);
    assert.equal(evaluatePreconditions(env({ HTTP_IF_NONE_MATCH: 'W/"abc"' }), V), 304);
    assert.equal(evaluatePreconditions(env({ HTTP_IF_NONE_MATCH: '"x", "abc"' }), V), 304);
    assert.equal(evaluatePreconditions(env({ HTTP_IF_NONE_MATCH: '*' }), V), 304);
    assert.equal(evaluatePreconditions(env({ HTTP_IF_NONE_MATCH: '"x"' }), V), 200);
    assert.equal(evaluatePreconditions(env({ HTTP_IF_NONE_MATCH: 'abc' }), V), 200);
  });

  it('If-None-Match takes precedence over If-Modified-Since', function () {
    assert.equal(evaluatePreconditions(env({ HTTP_IF_NONE_MATCH: '"x"', HTTP_IF_MODIFIED_SINCE: date(LAST) }), V), 200);
  });

  it('If-Modified-Since: 304 when not modified since, 200 when modified or unreadable', function () {
    assert.equal(evaluatePreconditions(env({ HTTP_IF_MODIFIED_SINCE: date(LAST) }), V), 304);
    assert.equal(evaluatePreconditions(env({ HTTP_IF_MODIFIED_SINCE: date(LAST + 60) }), V), 304);
    assert.equal(evaluatePreconditions(env({ HTTP_IF_MODIFIED_SINCE: date(LAST - 1) }), V), 200);
    assert.equal(evaluatePreconditions(env({ HTTP_IF_MODIFIED_SINCE: 'not a date' }), V), 200);
    assert.equal(evaluatePreconditions(env({ HTTP_IF_MODIFIED_SINCE: date(LAST) }), { etag: '"abc"', lastModified: undefined }), 200);
  });

  it('If-Match: 412 unless a tag matches strongly (or *); a weak tag never matches', function () {
    assert.equal(evaluatePreconditions(env({ HTTP_IF_MATCH: '"abc"' }), V), 200);
    assert.equal(evaluatePreconditions(env({ HTTP_IF_MATCH: '*' }), V), 200);
    assert.equal(evaluatePreconditions(env({ HTTP_IF_MATCH: '"x"' }), V), 412);
    assert.equal(evaluatePreconditions(env({ HTTP_IF_MATCH: 'W/"abc"' }), V), 412);
    assert.equal(evaluatePreconditions(env({ HTTP_IF_MATCH: 'garbage' }), V), 412);
    assert.equal(evaluatePreconditions(env({ HTTP_IF_MATCH: '"abc"' }), { etag: undefined, lastModified: LAST }), 412);
  });

  it('If-Unmodified-Since: 412 when modified after it; ignored when If-Match is there', function () {
    assert.equal(evaluatePreconditions(env({ HTTP_IF_UNMODIFIED_SINCE: date(LAST - 1) }), V), 412);
    assert.equal(evaluatePreconditions(env({ HTTP_IF_UNMODIFIED_SINCE: date(LAST) }), V), 200);
    assert.equal(evaluatePreconditions(env({ HTTP_IF_MATCH: '"abc"', HTTP_IF_UNMODIFIED_SINCE: date(LAST - 1) }), V), 200);
  });

  it('a failed If-Match wins over a matching If-None-Match', function () {
    assert.equal(evaluatePreconditions(env({ HTTP_IF_MATCH: '"x"', HTTP_IF_NONE_MATCH: '"abc"' }), V), 412);
  });

  it('If-Range: a strong tag must match strongly, a date exactly', function () {
    assert.ok(ifRangeHolds(env({}), V));
    assert.ok(ifRangeHolds(env({ HTTP_IF_RANGE: '"abc"' }), V));
    assert.ok(!ifRangeHolds(env({ HTTP_IF_RANGE: 'W/"abc"' }), V));
    assert.ok(!ifRangeHolds(env({ HTTP_IF_RANGE: '"x"' }), V));
    assert.ok(ifRangeHolds(env({ HTTP_IF_RANGE: date(LAST) }), V));
    assert.ok(!ifRangeHolds(env({ HTTP_IF_RANGE: date(LAST + 1) }), V));
    assert.ok(!ifRangeHolds(env({ HTTP_IF_RANGE: 'nonsense' }), V));
  });
});

describe('conditional: Range', function () {
  const r = (start: number, end: number) => ({ start, end });

  it('reads first-last, first- and -suffix, clamping the end to the size', function () {
    assert.deepEqual(parseRange('bytes=0-0', 100), [r(0, 0)]);
    assert.deepEqual(parseRange('bytes=10-19', 100), [r(10, 19)]);
    assert.deepEqual(parseRange('bytes=90-', 100), [r(90, 99)]);
    assert.deepEqual(parseRange('bytes=90-1000', 100), [r(90, 99)]);
    assert.deepEqual(parseRange('bytes=-1', 100), [r(99, 99)]);
    assert.deepEqual(parseRange('bytes=-1000', 100), [r(0, 99)]);
    assert.deepEqual(parseRange('BYTES = 1-2', 100), [r(1, 2)]);
    assert.deepEqual(parseRange('bytes=99999999999999999999-', 100), 'unsatisfiable');
    assert.deepEqual(parseRange('bytes=0-99999999999999999999', 100), [r(0, 99)]);
  });

  it('says unsatisfiable when no range starts inside, dropping the unsatisfiable ones of a set', function () {
    assert.equal(parseRange('bytes=100-', 100), 'unsatisfiable');
    assert.equal(parseRange('bytes=100-200, 300-', 100), 'unsatisfiable');
    assert.equal(parseRange('bytes=-0', 100), 'unsatisfiable');
    assert.deepEqual(parseRange('bytes=200-300, 0-1', 100), [r(0, 1)]);
  });

  it('ignores (undefined) another unit, bad syntax, last before first, and too many ranges', function () {
    for (const bad of ['items=0-1', 'bytes', 'bytes=', 'bytes=,', 'bytes=a-b', 'bytes=1-0', 'bytes=-', 'bytes=1-2-3', 'bytes=0x1-2', 'bytes=1.5-2', 'bytes= -1 -2']) {
      assert.equal(parseRange(bad, 100), undefined, bad);
    }
    const many = `bytes=${Array.from({ length: 11 }, (_, i) => `${i * 2}-${i * 2}`).join(',')}`;
    assert.equal(parseRange(many, 100, 10), undefined);
    assert.equal((parseRange(many, 100, 11) as unknown[]).length, 11);
  });

  it('sorts, and merges overlapping and adjacent ranges', function () {
    assert.deepEqual(parseRange('bytes=50-59, 0-9', 100), [r(0, 9), r(50, 59)]);
    assert.deepEqual(parseRange('bytes=0-9, 5-19, 20-29', 100), [r(0, 29)]);
    assert.deepEqual(parseRange('bytes=0-0,0-0,0-0,0-0', 100), [r(0, 0)]);
    assert.deepEqual(parseRange('bytes=-10, 0-', 100), [r(0, 99)]);
  });
});
