// /etc/gwserver/alpha.config.js of test/deploy/systemd.test.ts, for
// gwserver@alpha.service: two workers, an access log in the instance's
// LogsDirectory= (/var/log/gwserver/alpha).
export const workers = 2;
export const accessLogfile = '/var/log/gwserver/alpha/access.log';
