"""A webhook receiver for the integration tests (tests/api/helpers/webhook_receiver.rs).

Verifies each request with the Standard Webhooks reference library (`standardwebhooks` from
PyPI), with the secret read from --secret-file at each request (the test writes it once the
console has shown it), and appends one JSON line per request to --log: the webhook-id, whether
the signature verified (and why not), the event type, the body, when the request began and
ended, and the status it answered.

It answers 500 to the first --fail-first requests, then --status; with --redirect-to it answers
302 to that address; with --sleep it waits that many seconds before answering. It prints
"listening PORT" once it listens on 127.0.0.1.
"""

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

parser = argparse.ArgumentParser()
parser.add_argument("--log", required=True)
parser.add_argument("--secret-file", required=True)
parser.add_argument("--fail-first", type=int, default=0)
parser.add_argument("--status", type=int, default=204)
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--redirect-to", default=None)
args = parser.parse_args()

lock = threading.Lock()
seen = {"count": 0}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        start = time.time()
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode()
        headers = {k.lower(): v for k, v in self.headers.items()}
        verified, error, event_type = False, None, None
        try:
            with open(args.secret_file) as f:
                secret = f.read().strip()
            payload = Webhook(secret).verify(body, headers)
            verified, event_type = True, payload.get("type")
        except Exception as e:  # any failure is recorded, never fatal
            error = "%s: %s" % (type(e).__name__, e)
            try:
                event_type = json.loads(body).get("type")
            except Exception:
                pass
        with lock:
            seen["count"] += 1
            n = seen["count"]
        if args.sleep:
            time.sleep(args.sleep)
        if args.redirect_to:
            status = 302
        elif n <= args.fail_first:
            status = 500
        else:
            status = args.status
        self.send_response(status)
        if args.redirect_to:
            self.send_header("Location", args.redirect_to)
        self.send_header("Content-Length", "0")
        self.end_headers()
        record = {
            "id": headers.get("webhook-id"),
            "timestamp": headers.get("webhook-timestamp"),
            "verified": verified,
            "error": error,
            "type": event_type,
            "body": body,
            "user_agent": headers.get("user-agent"),
            "content_type": headers.get("content-type"),
            "start": start,
            "end": time.time(),
            "status": status,
        }
        with lock:
            with open(args.log, "a") as f:
                f.write(json.dumps(record) + "\n")

    def log_message(self, *a):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("listening %d" % server.server_address[1], flush=True)
server.serve_forever()
