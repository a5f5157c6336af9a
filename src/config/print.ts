/**
 * `--print-config`: the resolved configuration as gunicorn prints it, one
 * `name = value` line per setting, sorted, names padded to one column; a
 * setting that a HUP does not apply ends with `# restart`.
 *
 * @module
 */
import { appliesOn, SETTINGS, type Config, type Setting } from './settings.js';

/** Ends the line of a setting only a restart (or USR2) applies. */
export const RESTART_MARK = '  # restart';

/** One value as `--print-config` shows it: hooks as `<function>` or `None`, modes in octal, lists as JSON. */
export function formatValue(s: Setting<unknown>, value: unknown): string {
  if (s.type === 'function') return typeof value === 'function' ? '<function>' : 'None';
  if (s.type === 'octal' && typeof value === 'number') return `0o${value.toString(8).padStart(3, '0')}`;
  if (Array.isArray(value)) return JSON.stringify(value);
  if (value === '') return "''";
  return String(value);
}

/** The text `--print-config` writes: one line per setting, sorted by name, ending with a newline (and `# restart` for what a HUP does not apply). */
export function formatConfig(config: Config): string {
  const all = [...(SETTINGS as readonly Setting<unknown>[])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const width = Math.max(...all.map((s) => s.name.length));
  const values = config as unknown as Record<string, unknown>;
  return all.map((s) => `${s.name.padEnd(width)} = ${formatValue(s, values[s.name])}${appliesOn(s) === 'restart' ? RESTART_MARK : ''}\n`).join('');
}
