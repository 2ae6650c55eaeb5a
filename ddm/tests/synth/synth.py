#!/usr/bin/env python3
"""Synthetic DDM inputs built from Apple's declarative schema by a tool other than ours.

Reads the YAML with PyYAML (not our generator) and writes, as JSON on stdout:
  {"declarations": [<one declaration of every type, every key filled>],
   "status_report": <a report carrying every status item>}
Values follow each key's schema type (first rangelist value when there is one). Asset
references name the synthetic asset of the first allowed asset type; the activation names
every configuration. Usage: synth.py <apple-device-management-latest folder>.
"""
import json
import os
import sys

import yaml


def value(key, ref_ids):
    t = key.get("type")
    rl = key.get("rangelist")
    if key.get("assettypes"):
        ref = ref_ids[key["assettypes"][0]]
        return [ref] if t == "<array>" else ref
    if rl:
        return rl[0]
    if t == "<string>":
        return "synthetic"
    if t == "<integer>":
        r = key.get("range") or {}
        return r.get("min", 1)
    if t == "<real>":
        return 1.5
    if t == "<boolean>":
        return True
    if t == "<data>":
        return "AAEC"
    if t == "<date>":
        return "2024-01-01T00:00:00Z"
    if t == "<array>":
        subs = key.get("subkeys") or []
        return [value(subs[0], ref_ids)] if subs else ["synthetic"]
    if t == "<dictionary>":
        return dictionary(key.get("subkeys") or [], ref_ids)
    return "synthetic"


def dictionary(keys, ref_ids):
    out = {}
    for k in keys:
        if k["key"].startswith("ANY"):
            out["SyntheticExtraKey"] = value(k, ref_ids)
        else:
            out[k["key"]] = value(k, ref_ids)
    return out


def main():
    root = os.path.join(sys.argv[1], "declarative")
    docs = {}
    for kind in ["activations", "assets", "configurations", "management"]:
        d = os.path.join(root, "declarations", kind)
        for name in sorted(os.listdir(d)):
            if name.endswith(".yaml"):
                with open(os.path.join(d, name)) as f:
                    docs[(kind, name)] = yaml.safe_load(f)
    ref_ids = {}
    for (kind, name), doc in docs.items():
        if kind == "assets":
            t = doc["payload"]["declarationtype"]
            ref_ids[t] = "synth." + t[len("com.apple."):]
    configs = ["synth." + doc["payload"]["declarationtype"][len("com.apple."):]
               for (kind, _), doc in docs.items() if kind == "configurations"]
    decls = []
    for (kind, name), doc in docs.items():
        t = doc["payload"]["declarationtype"]
        payload = dictionary(doc.get("payloadkeys") or [], ref_ids)
        if kind == "activations":
            payload["StandardConfigurations"] = configs
            payload["Predicate"] = "@status(device.model.family) == 'iPad' OR TRUEPREDICATE"
        decls.append({"Type": t, "Identifier": "synth." + t[len("com.apple."):], "Payload": payload})

    items = {}
    sd = os.path.join(root, "status")
    for name in sorted(os.listdir(sd)):
        with open(os.path.join(sd, name)) as f:
            doc = yaml.safe_load(f)
        path = doc["payload"].get("statusitemtype")
        if not path:
            continue  # statusreason.yaml describes reasons, not an item
        key = doc["payloadkeys"][0]
        node = items
        parts = path.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value(key, {})
    report = {"StatusItems": items, "Errors": [], "FullReport": True}
    json.dump({"declarations": decls, "status_report": report, "scopes": scopes(docs)},
              sys.stdout, indent=1)


def scopes(docs):
    """Per declaration type: [system allowed on some OS, user allowed on some OS]. An OS entry
    without allowed-scopes states no restriction; OSes with introduced n/a do not count."""
    out = {}
    for doc in docs.values():
        system = user = False
        for os_entry in (doc["payload"].get("supportedOS") or {}).values():
            if str(os_entry.get("introduced")) == "n/a":
                continue
            found = os_entry.get("allowed-scopes", ["system", "user"])
            found = list(found) + list((os_entry.get("sharedipad") or {}).get("allowed-scopes", []))
            system = system or "system" in found
            user = user or "user" in found
        out[doc["payload"]["declarationtype"]] = [system, user]
    return out


main()
