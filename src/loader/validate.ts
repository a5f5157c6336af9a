/**
 * `--validate`: the loaded app, wrapped in the validator (gateway/lint.ts)
 * so that every request checks both sides of the gateway contract, for
 * development. The validator knows the gateway convention only: a node or
 * fetch app is refused at boot, in one line, rather than served unchecked
 * under a flag that says otherwise.
 *
 * @module
 */
import { GatewayError } from '../errors.js';
import type { ServedApp } from '../interop/kinds.js';

/**
 * `served` under the validator when `enabled`; rejects with GW_APP_LOAD for
 * a node or fetch app. The validator is loaded only then: a master or a
 * worker without --validate never carries it.
 */
export async function withValidation(served: ServedApp, enabled: boolean, target: string): Promise<ServedApp> {
  if (!enabled) return served;
  if (served.kind !== 'gateway') {
    throw new GatewayError('GW_APP_LOAD', `--validate applies to gateway apps only: ${target} is served as a ${served.kind} app (${served.why})`);
  }
  const { validator } = await import('../gateway/lint.js');
  return { ...served, app: validator(served.app) };
}
