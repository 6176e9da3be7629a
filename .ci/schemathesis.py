"""Schemathesis against the real dirvaultd: every documented operation, generated requests,
every response checked against docs/openapi.json (status codes, content types, schemas) and for
server errors. The daemon serves an emulated tenant with one snapshot, so that reads find data.

Usage: python .ci/schemathesis.py TARGET_DIR SCHEMATHESIS_BIN [MAX_EXAMPLES]
(TARGET_DIR holds the built dirvaultd and graph-emulator; .ci/run passes target/debug.)
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

ADMIN_KEY = "schemathesis-admin-key-0123456789"


def start_emulator(target):
    proc = subprocess.Popen(
        [f"{target}/graph-emulator", "--listen", "127.0.0.1:0", "--tenant", "contoso:tiny:1",
         "--throttle-scale", "0", "--json"],
        stdout=subprocess.PIPE, text=True)
    info = json.loads(proc.stdout.readline())
    return proc, info


def start_daemon(target, work, emulator):
    url = emulator["url"]
    tenant = emulator["tenants"][0]
    config = os.path.join(work, "config.toml")
    with open(config, "w") as f:
        f.write(f"""[daemon]
tick_seconds = 1
header_timeout_seconds = 5
default_schedule = "0 0 0 1 1 * 2099"

[[daemon.api_endpoints]]
graph_url = "{url}"
login_url = "{url}"

[[daemon.api_keys]]
name = "admin"
env = "SCHEMATHESIS_ADMIN_KEY"

[tenants.contoso]
tenant_id = "{tenant['tenantId']}"
client_id = "{tenant['clientId']}"
graph_url = "{url}"
login_url = "{url}"
schedule = "0 0 0 1 1 * 2099"
[tenants.contoso.secret]
type = "env"
var = "CONTOSO_SECRET"
""")
    # Tenants the fuzzer adds name Microsoft's clouds, and the daemon backs a new tenant up at
    # once: every request that is not for loopback goes to a proxy port on loopback that
    # refuses, so nothing ever leaves the machine.
    env = dict(os.environ, SCHEMATHESIS_ADMIN_KEY=ADMIN_KEY,
               CONTOSO_SECRET=tenant["clientSecret"], DIRVAULT_LOG="warn",
               # The repository is encrypted, as a daemon's is by default.
               DIRVAULT_PASSWORD="schemathesis repository password",
               HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9",
               ALL_PROXY="http://127.0.0.1:9", NO_PROXY="127.0.0.1,localhost")
    log = open(os.path.join(work, "daemon.log"), "w")
    proc = subprocess.Popen(
        [f"{target}/dirvaultd", "--config", config, "--repo", os.path.join(work, "repo"),
         "--listen", "127.0.0.1:0", "run"],
        stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    first = json.loads(proc.stdout.readline())
    return proc, f"http://{first['listening']}"


def call(base, method, path):
    req = urllib.request.Request(base + path, method=method,
                                 headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


def main():
    target, schemathesis = sys.argv[1], sys.argv[2]
    max_examples = sys.argv[3] if len(sys.argv) > 3 else "25"
    work = tempfile.mkdtemp(prefix="dirvault-schemathesis-")
    emulator, info = start_emulator(target)
    daemon = None
    try:
        daemon, base = start_daemon(target, work, info)
        job = call(base, "POST", "/v1/tenants/contoso/backups")
        for _ in range(600):
            job = call(base, "GET", f"/v1/jobs/{job['id']}")
            if job["state"] not in ("queued", "running"):
                break
            time.sleep(0.1)
        assert job["state"] == "complete", job
        result = subprocess.run(
            [schemathesis, "--config-file", os.path.join(os.path.dirname(__file__), "schemathesis.toml"),
             "run", f"{base}/openapi.json",
             "--header", f"Authorization: Bearer {ADMIN_KEY}",
             # The API tests cover removing a tenant; here it would remove the one tenant
             # that every other operation is tested on.
             "--exclude-operation-id", "delete_tenant",
             "--phases", "examples,coverage,fuzzing",
             "--max-examples", max_examples,
             "--generation-deterministic",
             "--workers", "1",
             "--suppress-health-check", "all",
             "--no-color"],
            env=dict(os.environ, SCHEMATHESIS_HOOKS=""))
        if result.returncode != 0:
            with open(os.path.join(work, "daemon.log")) as f:
                tail = f.read()[-4000:]
            print("== dirvaultd log (end)\n" + tail, file=sys.stderr)
        sys.exit(result.returncode)
    finally:
        for p in (daemon, emulator):
            if p is not None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()


if __name__ == "__main__":
    main()
