// /etc/gwserver/INSTANCE.config.js of test/deploy/systemd.test.ts, for the
// template unit gwserver@.service: two workers, access lines to the journal.
export const workers = 2;
export const accessLogfile = '-';
