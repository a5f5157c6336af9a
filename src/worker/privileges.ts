/**
 * `--umask`, `--group` and `--user`: what a worker applies before it loads
 * the app (the master binds the sockets first, and may keep root for that).
 * `--check-config` applies them too, in its own process, before it loads the
 * app as a worker would: a user or group that does not exist, or a change
 * only root may make, fails the check with the line a real start prints.
 *
 * @module
 */
import type { Config } from '../config/settings.js';

/** The POSIX credential calls (absent on Windows, where gwserver's workers do not run). */
interface Posix {
  setgid(id: string | number): void;
  setuid(id: string | number): void;
  getuid(): number;
  getgid(): number;
  initgroups(user: string | number, extraGroup: string | number): void;
  setgroups(groups: Array<string | number>): void;
}

/**
 * Applies --umask, --group and --user, in that order (a process that gave up
 * root cannot change its group).
 *
 * @throws Error with the one-line message a start prints (`cannot switch the
 *   workers to user nobody-x (--user): User identifier does not exist: nobody-x`).
 */
export function dropPrivileges(config: Pick<Config, 'umask' | 'user' | 'group'>): void {
  const posix = process as unknown as Posix;
  if (config.umask) process.umask(config.umask);
  const { user, group } = config;
  if (group !== '' && group !== undefined) {
    try {
      posix.setgid(group);
    } catch (err) {
      throw new Error(`cannot switch the workers to group ${group} (--group): ${(err as NodeJS.ErrnoException).code === 'EPERM' ? 'only root can change groups' : (err as Error).message}`);
    }
  }
  if (user !== '' && user !== undefined) {
    try {
      // The user's supplementary groups, as login would give them (gunicorn's initgroups).
      if (posix.getuid() === 0) supplementaryGroups(posix, user, group !== '' && group !== undefined ? group : posix.getgid());
      posix.setuid(user);
    } catch (err) {
      throw new Error(`cannot switch the workers to user ${user} (--user): ${(err as NodeJS.ErrnoException).code === 'EPERM' ? 'only root can change users' : (err as Error).message}`);
    }
  }
}

/**
 * The groups of `user` from the group database; for a numeric uid that has
 * no entry there (a container's `--user 1000` without an /etc/passwd line),
 * only `group`: there are none to look up, and root's must not be kept.
 */
function supplementaryGroups(posix: Posix, user: string | number, group: string | number): void {
  try {
    posix.initgroups(user, group);
  } catch (err) {
    if (typeof user !== 'number' || !/does not exist/.test((err as Error).message)) throw err;
    posix.setgroups([group]);
  }
}
