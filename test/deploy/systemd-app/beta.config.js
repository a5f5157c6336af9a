// /etc/gwserver/beta.config.js of test/deploy/systemd.test.ts, for
// gwserver@beta.service: two workers, an access log in the instance's
// LogsDirectory= (/var/log/gwserver/beta).
export const workers = 2;
export const accessLogfile = '/var/log/gwserver/beta/access.log';
