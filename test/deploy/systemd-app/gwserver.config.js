// /etc/gwserver/gwserver.config.js of test/deploy/systemd.test.ts: two
// workers, and an access log in the unit's LogsDirectory= (the one place
// ProtectSystem=strict leaves writable).
export const workers = 2;
export const accessLogfile = '/var/log/gwserver/access.log';
