#!/usr/bin/env python3
"""Write synthetic MDM messages with Python's plistlib, from Apple's schema keys.

Input (stdin): JSON {"commands": {path: doc}, "checkin": {path: doc}}, where each doc is a schema
YAML file converted to JSON unchanged. Output: for every command, a request and an Acknowledged
report; for every check-in, the message; each as XML and binary plist, and each once more with
"drift" (the lenient forms real devices send: integers for reals, base64 strings for data, ISO
strings for dates, 0/1 for booleans). Every key of the schema is filled in, required or not.

Usage: samples.py OUTDIR < docs.json
"""
import base64
import datetime
import json
import os
import plistlib
import sys

UDID = "00008030-001A2B3C4D5E802E"
CMD_UUID = "0C1D2E3F-4A5B-4C6D-8E7F-0123456789AB"
DATE = datetime.datetime(2024, 5, 6, 7, 8, 9)


def sample(k, drift, depth=0):
    t = k.get("type")
    rl = k.get("rangelist") or []
    subs = k.get("subkeys") or []
    if t == "<string>":
        if rl:
            return str(rl[0])
        if subs:
            return subs[0]["key"]
        return "s-" + k["key"]
    if t == "<integer>":
        v = rl[0] if rl and isinstance(rl[0], int) else 7
        return v
    if t == "<real>":
        return 2 if drift else 2.0
    if t == "<boolean>":
        return 1 if drift else True
    if t == "<data>":
        raw = b"\x00\x01schema\xff"
        return base64.b64encode(raw).decode() if drift else raw
    if t == "<date>":
        return "2024-05-06T07:08:09Z" if drift else DATE
    if t == "<any>":
        return "any"
    if t == "<array>":
        if depth > 8:
            return []
        return [sample(s, drift, depth + 1) for s in subs] if subs else []
    if t == "<dictionary>":
        if depth > 8:
            return {}
        out = {}
        for s in subs:
            if s["key"].startswith("ANY"):
                out["dynamic-key"] = sample(s, drift, depth + 1)
            else:
                out[s["key"]] = sample(s, drift, depth + 1)
        return out
    return "unknown-type"


def keys(doc, which, drift):
    return {k["key"]: sample(k, drift) for k in doc.get(which) or [] if not k["key"].startswith("ANY")}


def write(outdir, name, value):
    with open(os.path.join(outdir, name + ".xml"), "wb") as f:
        plistlib.dump(value, f, fmt=plistlib.FMT_XML)
    with open(os.path.join(outdir, name + ".bin"), "wb") as f:
        plistlib.dump(value, f, fmt=plistlib.FMT_BINARY)


def main():
    outdir = sys.argv[1]
    docs = json.load(sys.stdin)
    for path, doc in docs["commands"].items():
        rt = doc["payload"]["requesttype"]
        for drift in (False, True):
            suffix = ".drift" if drift else ""
            cmd = keys(doc, "payloadkeys", drift)
            cmd["RequestType"] = rt
            write(outdir, f"command.{rt}.request{suffix}", {"Command": cmd, "CommandUUID": CMD_UUID})
            rep = keys(doc, "responsekeys", drift)
            rep.update({"Status": "Acknowledged", "CommandUUID": CMD_UUID, "UDID": UDID})
            write(outdir, f"command.{rt}.response{suffix}", rep)
    for path, doc in docs["checkin"].items():
        mt = doc["payload"]["requesttype"]
        for drift in (False, True):
            suffix = ".drift" if drift else ""
            msg = keys(doc, "payloadkeys", drift)
            write(outdir, f"checkin.{mt}{suffix}", msg)


if __name__ == "__main__":
    main()
