/**
 * Small named validators. Each accepts what a command line gives (strings)
 * and what a config file gives (numbers, arrays), and throws an Error whose
 * message completes the sentence "invalid value for --flag: ...".
 *
 * @module
 */
import { LOG_LEVELS } from '../logging/logger.js';
import { parseBind } from '../worker/binds.js';

export function str(value: unknown): string {
  if (typeof value !== 'string') throw new Error(`expected a string, got ${JSON.stringify(value)}`);
  return value;
}

function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  throw new Error(`expected a number, got ${JSON.stringify(value)}`);
}

export function intIn(min: number, max: number): (value: unknown) => number {
  return (value) => {
    const n = toNumber(value);
    if (!Number.isInteger(n)) throw new Error(`expected a whole number, got ${JSON.stringify(value)}`);
    if (n < min || n > max) throw new Error(`${n} is out of range (${min} to ${max})`);
    return n;
  };
}

export function numberIn(min: number, max: number): (value: unknown) => number {
  return (value) => {
    const n = toNumber(value);
    if (n < min || n > max) throw new Error(`${n} is out of range (${min} to ${max})`);
    return n;
  };
}

export function fileMode(value: unknown): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0o777) return value;
  if (typeof value === 'string' && /^(0o?)?[0-7]{1,4}$/.test(value)) {
    const n = parseInt(value.replace(/^0o/, ''), 8);
    if (n <= 0o777) return n;
  }
  throw new Error(`expected an octal file mode such as 660 or 0o666, got ${JSON.stringify(value)}`);
}

export function strings(value: unknown): string[] {
  const list = Array.isArray(value) ? value : [value];
  return list.map(str);
}

export function binds(value: unknown): string[] {
  const list = strings(value);
  if (list.length === 0) throw new Error('at least one address is needed');
  for (const b of list) parseBind(b);
  return list;
}

export function addressList(value: unknown): string[] {
  return strings(value).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
}

export function rootPath(value: unknown): string {
  const s = str(value).replace(/\/+$/, '');
  if (s !== '' && !s.startsWith('/')) throw new Error(`must start with "/", got ${JSON.stringify(value)}`);
  return s;
}

export function logLevel(value: unknown): string {
  const s = str(value).toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(s)) {
    throw new Error(`${JSON.stringify(value)} is not a level (use one of: debug, info, warning, error, critical)`);
  }
  return s;
}
