#!/usr/bin/env python3
"""The two abuse measurements of bench/abuse.sh, against a running keyward (standard library
only).

  abuse.py flood   BASE PID   many failed sign-ins at once, each from one of a set of client
                              addresses (X-Forwarded-For: the server must trust 127.0.0.1), each
                              for an email of its own so no throttle holds any back: what the
                              argon2 work costs. Prints the statuses, how long until all were
                              answered, and the server's peak RSS and thread count.
  abuse.py trickle BASE PID   connections that send a POST head announcing a large body, then
                              one byte every INTERVAL seconds: how long each stays open.

Settings come from the environment: CLIENTS (600), ADDRESSES (60), CONNECTIONS (50),
INTERVAL (2), BODY (61440), CAP (60: the longest a trickling connection is watched, in seconds).
"""

import asyncio
import os
import re
import statistics
import sys
import time
import urllib.parse


def env_int(name, default):
    return int(os.environ.get(name, default))


def proc_status(pid):
    """(VmRSS KiB, VmHWM KiB, threads) of a process."""
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()[0] if value.split() else "0"
    return int(fields["VmRSS"]), int(fields["VmHWM"]), int(fields["Threads"])


class Sampler:
    """Samples the server's RSS and threads every 10 ms while it runs."""

    def __init__(self, pid):
        self.pid = pid
        self.peak_rss = 0
        self.peak_threads = 0
        self.running = True

    async def run(self):
        while self.running:
            rss, _, threads = proc_status(self.pid)
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_threads = max(self.peak_threads, threads)
            await asyncio.sleep(0.01)


async def exchange(host, port, request, timeout=120):
    """Sends one request on a new connection and reads the whole answer (the request asks the
    server to close). Returns (status, headers dict, body)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    return status, headers, body


def request(method, path, host, headers, body=b""):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def sign_in_form(host, port, address):
    """A session cookie and its CSRF token, from the sign-in page."""
    status, headers, body = await exchange(
        host, port, request("GET", "/login", f"{host}:{port}", {"X-Forwarded-For": address})
    )
    if status != 200:
        raise SystemExit(f"GET /login answered {status}: is the owner set up?")
    cookie = headers["set-cookie"][0].split(";")[0]
    token = re.search(rb'name="csrf_token" value="([^"]+)"', body).group(1).decode()
    return cookie, token


async def flood(base, pid):
    clients, addresses = env_int("CLIENTS", 600), env_int("ADDRESSES", 60)
    url = urllib.parse.urlsplit(base)
    host, port = url.hostname, url.port
    address = [f"10.77.{i // 250}.{i % 250 + 1}" for i in range(addresses)]

    # Every client gets its form first, a few at a time, so the sign-ins themselves arrive
    # together.
    forms = []
    gate = asyncio.Semaphore(20)

    async def prepare(i):
        async with gate:
            return await sign_in_form(host, port, address[i % addresses])

    forms = await asyncio.gather(*(prepare(i) for i in range(clients)))
    rss0, _, threads0 = proc_status(pid)

    sampler = Sampler(pid)
    sampling = asyncio.create_task(sampler.run())
    started = time.monotonic()

    async def sign_in(i):
        cookie, token = forms[i]
        body = urllib.parse.urlencode(
            {"csrf_token": token, "email": f"flood{i}@example.com", "password": "not the password 1"}
        ).encode()
        headers = {
            "Cookie": cookie,
            "Origin": f"http://{host}:{port}",
            "X-Forwarded-For": address[i % addresses],
            "Content-Type": "application/x-www-form-urlencoded",
        }
        t = time.monotonic()
        try:
            status, answer_headers, _ = await exchange(host, port, request("POST", "/login", f"{host}:{port}", headers, body))
        except (OSError, asyncio.TimeoutError) as e:
            return f"error ({type(e).__name__})", time.monotonic() - t, False
        return status, time.monotonic() - t, "retry-after" in answer_headers

    answers = await asyncio.gather(*(sign_in(i) for i in range(clients)))
    elapsed = time.monotonic() - started
    await asyncio.sleep(0.2)
    sampler.running = False
    await sampling
    _, hwm, _ = proc_status(pid)

    statuses = {}
    for status, _, _ in answers:
        statuses[status] = statuses.get(status, 0) + 1
    times = sorted(t for _, t, _ in answers)
    with_retry = sum(1 for s, _, r in answers if s == 429 and r)
    print(f"flood: {clients} failed sign-ins at once from {addresses} addresses, one email each")
    print(f"  statuses: {', '.join(f'{s}: {n}' for s, n in sorted(statuses.items(), key=str))}"
          f" (429s with Retry-After: {with_retry})")
    print(f"  all answered after {elapsed:.1f} s; per sign-in p50 {statistics.median(times):.2f} s,"
          f" max {times[-1]:.2f} s")
    print(f"  server before: RSS {rss0 / 1024:.1f} MiB, {threads0} threads")
    print(f"  server peak:   RSS {max(sampler.peak_rss, 0) / 1024:.1f} MiB sampled"
          f" (VmHWM {hwm / 1024:.1f} MiB), {sampler.peak_threads} threads")


async def trickle(base, pid):
    connections, interval = env_int("CONNECTIONS", 50), float(os.environ.get("INTERVAL", "2"))
    body, cap = env_int("BODY", 61440), float(os.environ.get("CAP", "60"))
    url = urllib.parse.urlsplit(base)
    host, port = url.hostname, url.port
    cookie, token = await sign_in_form(host, port, "10.78.0.1")
    head = request(
        "POST",
        "/login",
        f"{host}:{port}",
        {
            "Cookie": cookie,
            "Origin": f"http://{host}:{port}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Content-Length": str(body),
        },
    ).replace(b"Connection: close\r\n", b"")

    sampler = Sampler(pid)
    sampling = asyncio.create_task(sampler.run())

    async def one():
        reader, writer = await asyncio.open_connection(host, port)
        started = time.monotonic()
        writer.write(head)
        await writer.drain()

        async def drip():
            sent = 0
            try:
                while sent < body:
                    await asyncio.sleep(interval)
                    writer.write(b"a")
                    await writer.drain()
                    sent += 1
            except OSError:
                pass

        dripping = asyncio.create_task(drip())
        answer = b""
        try:
            answer = await asyncio.wait_for(reader.read(), cap)
            outcome = "closed"
        except asyncio.TimeoutError:
            outcome = "open at cap"
        except OSError:
            outcome = "reset"
        open_for = time.monotonic() - started
        dripping.cancel()
        writer.close()
        status = answer.split(b"\r\n", 1)[0].decode("latin-1") if answer else "(no answer)"
        return open_for, outcome, status

    results = await asyncio.gather(*(one() for _ in range(connections)))
    sampler.running = False
    await sampling
    times = sorted(t for t, _, _ in results)
    outcomes = {}
    for _, outcome, status in results:
        key = f"{outcome}: {status}"
        outcomes[key] = outcomes.get(key, 0) + 1
    print(f"trickle: {connections} connections, a byte every {interval:g} s toward a {body}-byte body"
          f" (watched for at most {cap:g} s)")
    print(f"  open for: min {times[0]:.1f} s, median {statistics.median(times):.1f} s, max {times[-1]:.1f} s")
    for key, n in sorted(outcomes.items()):
        print(f"  {n} × {key}")
    print(f"  server peak: RSS {sampler.peak_rss / 1024:.1f} MiB, {sampler.peak_threads} threads")


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("flood", "trickle"):
        raise SystemExit(__doc__)
    what, base, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
    asyncio.run(flood(base, pid) if what == "flood" else trickle(base, pid))


if __name__ == "__main__":
    main()
