/**
 * The local base image every deployment test builds FROM (test/deploy/base.sh):
 * built once per machine, it must stand in for the official node image, with
 * Node 20 or newer, npm, and a `node` user of uid 1000.
 */
import assert from 'node:assert/strict';
import { baseImage, ok, podman, requirePodman } from './podman.js';

describe('deploy: the local base image', function () {
  this.timeout(15 * 60_000);

  before(function () {
    requirePodman(this);
  });

  it('has Node >= 20, npm, and the node user (uid 1000)', async () => {
    const image = await baseImage();
    const out = await ok(podman(['run', '--rm', '--network', 'none', image, 'sh', '-c', 'node --version && npm --version && id -u node']), `podman run ${image}`);
    const [node, npm, uid] = out.trim().split('\n');
    assert.ok(Number(/^v(\d+)/.exec(node ?? '')?.[1]) >= 20, `node ${node}`);
    assert.match(npm ?? '', /^\d+\.\d+/);
    assert.equal(uid, '1000');
  });
});
