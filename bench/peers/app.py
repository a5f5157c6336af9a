"""The benchmark's routes as a WSGI application, for gunicorn (the peer).

    /usr/bin/python3 -m gunicorn -b 127.0.0.1:8000 -w 1 -k sync --chdir bench/peers app:application

- GET /hello: "Hello world!" (12 bytes, Content-Length).
- GET /stream: 1 MiB yielded in 64 KiB chunks by a generator (one
  preallocated bytes object), chunked.
- POST /echo: reads the whole body through wsgi.input and answers its length
  in bytes.

The same routes are in bench/servers/raw.mjs (node:http) and
bench/servers/app.mjs (gwserver).
"""

TEXT = ("Content-Type", "text/plain; charset=utf-8")
HELLO = b"Hello world!"
CHUNK = b"x" * (64 * 1024)
STREAM_CHUNKS = 16  # 1 MiB


def stream():
    for _ in range(STREAM_CHUNKS):
        yield CHUNK


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/hello":
        start_response("200 OK", [TEXT, ("Content-Length", "12")])
        return [HELLO]
    if path == "/stream":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return stream()
    if path == "/echo" and environ["REQUEST_METHOD"] == "POST":
        body = environ["wsgi.input"].read()
        text = str(len(body)).encode("ascii")
        start_response("200 OK", [TEXT, ("Content-Length", str(len(text)))])
        return [text]
    start_response("404 Not Found", [TEXT, ("Content-Length", "9")])
    return [b"Not Found"]
