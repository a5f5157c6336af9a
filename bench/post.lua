-- wrk script for the /echo route: POST a 64 KiB body on every request.
-- Static settings only, so wrk formats the request once (its fast path);
-- wrk adds Content-Length for the body.
wrk.method = "POST"
wrk.body = string.rep("x", 65536)
wrk.headers["Content-Type"] = "application/octet-stream"
