"""A real SMTP server for the e-mail tests: aiosmtpd, with STARTTLS and authentication
when asked. Every message it accepts is written to DIR as <n>.eml (the bytes received)
and <n>.json (the envelope), each file complete before it appears.

    server.py --port PORT --dir DIR [--cert C --key K] [--user U --password P]

Prints `ready` once it listens; stops on SIGTERM or when stdin closes.
"""

import argparse
import json
import os
import signal
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Store:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        base = os.path.join(self.directory, f"{n:05d}")
        for suffix, data in (
            (".eml", envelope.original_content or envelope.content),
            (".json", json.dumps({
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "authenticated": session.authenticated,
                "tls": session.ssl is not None,
            }).encode()),
        ):
            with open(base + suffix + ".tmp", "wb") as out:
                out.write(data)
            os.rename(base + suffix + ".tmp", base + suffix)
        return "250 OK"


def main():
    args = argparse.ArgumentParser()
    args.add_argument("--port", type=int, required=True)
    args.add_argument("--dir", required=True)
    args.add_argument("--cert")
    args.add_argument("--key")
    args.add_argument("--user")
    args.add_argument("--password")
    opts = args.parse_args()

    kwargs = {}
    if opts.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(opts.cert, opts.key)
        kwargs.update(tls_context=context, require_starttls=True)
    if opts.user:
        def authenticate(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == opts.user
                and auth_data.password.decode() == opts.password
            )
            return AuthResult(success=ok)
        kwargs.update(authenticator=authenticate, auth_required=True,
                      auth_require_tls=bool(opts.cert))
    controller = Controller(Store(opts.dir), hostname="127.0.0.1", port=opts.port,
                            server_hostname="127.0.0.1", **kwargs)
    controller.start()
    print("ready", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    controller.stop()


if __name__ == "__main__":
    main()
