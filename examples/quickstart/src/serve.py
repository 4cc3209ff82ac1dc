"""Serve a trained churn model over HTTP.

    python3 serve.py --model PATH --port N [--host 127.0.0.1]

GET  /health   -> {"status": "ok", "model": "<sha256 of model.json, 12 hex>"}
POST /predict  {"instances": [{feature: value, ...}, ...]}
               -> {"predictions": [{"churn_probability": 0.12, "churn": false}, ...]}
"""
import argparse
import hashlib
import json
import math
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from common import fail, predict_proba


class BadRequest(Exception):
    pass


def parse_instances(body, features):
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"invalid JSON: {e}")
    instances = payload.get("instances") if isinstance(payload, dict) else None
    if not isinstance(instances, list) or not instances:
        raise BadRequest('body must be {"instances": [ {...}, ... ]}')
    rows = []
    for i, inst in enumerate(instances):
        if not isinstance(inst, dict):
            raise BadRequest(f"instance {i} is not an object")
        row = []
        for name in features:
            v = inst.get(name)
            if v is None:
                raise BadRequest(f"instance {i}: missing feature {name!r}")
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                raise BadRequest(f"instance {i}: feature {name!r} must be a number")
            row.append(float(v))
        rows.append(row)
    return np.array(rows)


class Server(ThreadingHTTPServer):
    daemon_threads = True       # don't wait for open connections at exit
    allow_reuse_address = True  # allow a quick restart on the same port


def make_handler(model, model_id):
    class Handler(BaseHTTPRequestHandler):
        def send_json(self, code, obj):
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/health":
                self.send_json(200, {"status": "ok", "model": model_id})
            else:
                self.send_json(404, {"error": f"not found: {self.path}"})

        def do_POST(self):
            if self.path != "/predict":
                self.send_json(404, {"error": f"not found: {self.path}"})
                return
            try:
                length = max(0, int(self.headers.get("Content-Length", 0)))
                X = parse_instances(self.rfile.read(length), model["features"])
            except (BadRequest, ValueError) as e:
                self.send_json(400, {"error": str(e)})
                return
            probs = predict_proba(model, X)
            self.send_json(200, {"predictions": [
                {"churn_probability": round(float(p), 6), "churn": bool(p >= 0.5)} for p in probs]})

        def log_message(self, fmt, *args):
            # one short line per request, e.g. "POST /predict HTTP/1.1" 200 -
            sys.stderr.write(fmt % args + "\n")

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="model.json, or a directory containing it")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()

    path = args.model
    if os.path.isdir(path):
        path = os.path.join(path, "model.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
        model = json.loads(raw)
    except (OSError, ValueError) as e:
        fail(f"{path}: {e}")
    model_id = hashlib.sha256(raw).hexdigest()[:12]  # identifies the exact artifact

    server = Server((args.host, args.port), make_handler(model, model_id))

    # shutdown() blocks until serve_forever() returns, and the handler runs on the
    # thread that is inside serve_forever(), so call it from a separate thread.
    def stop(signum, frame):
        threading.Thread(target=server.shutdown).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    print(f"serving model {model_id} on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()
    server.server_close()
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
