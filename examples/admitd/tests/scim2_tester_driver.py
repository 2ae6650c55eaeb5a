#!/usr/bin/env python3
"""Run scim2-tester's default checks against a live SCIM server.

Usage: scim2_tester_driver.py BASE_URL TOKEN CA_PEM

Every check runs (no tags excluded). Each result is printed as one line,
"STATUS title: reason"; the exit status is 1 when any check ended in ERROR or
CRITICAL, 0 otherwise.
"""

import sys

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def main() -> int:
    base_url, token, ca = sys.argv[1:4]
    http = httpx2.Client(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        verify=ca,
        timeout=30,
    )
    client = SyncSCIMClient(http)
    results = check_server(client)
    failed = 0
    for r in results:
        bad = r.status in (Status.ERROR, Status.CRITICAL)
        failed += bad
        reason = (r.reason or "").replace("\n", " | ")
        print(f"{r.status.name} [{r.resource_type or '-'}] {r.title}: {reason}")
    print(f"scim2-tester: {len(results)} checks, {failed} failed")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
