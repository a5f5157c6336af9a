import assert from 'node:assert/strict';
import { closest } from '../../../src/config/suggest.js';

describe('closest (did you mean)', () => {
  const names = ['workers', 'timeout', 'maxRequests', 'maxRequestsJitter', 'bind', 'backlog', 'preload', 'reload'];
  const cases: Array<[string, string | undefined]> = [
    ['worker', 'workers'],
    ['Workers', 'workers'],
    ['max_requests', 'maxRequests'],
    ['max-requests', 'maxRequests'],
    ['maxRequest', 'maxRequests'],
    ['max_requests_jiter', 'maxRequestsJitter'],
    ['timeuot', 'timeout'],
    ['bnd', 'bind'],
    ['colour', undefined],
    ['x', undefined],
  ];
  for (const [typed, meant] of cases) {
    it(`${typed} -> ${meant ?? 'nothing'}`, () => assert.equal(closest(typed, names), meant));
  }
});
