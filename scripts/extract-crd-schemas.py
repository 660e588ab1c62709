#!/usr/bin/env python3
"""Extracts the storage-version OpenAPI schemas of the KubeVirt kinds Wukong's simulated
cluster serves from KubeVirt's generated CRDs (../shared/crds/kubevirt-crds.yaml), dropping
descriptions, into server/crds/kubevirt-schemas.json. Run it when the CRDs are updated."""
import json
import pathlib
import sys

import yaml

KINDS = [
    "virtualmachines.kubevirt.io",
    "virtualmachineinstances.kubevirt.io",
    "virtualmachinesnapshots.snapshot.kubevirt.io",
    "virtualmachinerestores.snapshot.kubevirt.io",
]


def strip(node):
    if isinstance(node, dict):
        return {key: strip(value) for key, value in node.items() if key != "description"}
    if isinstance(node, list):
        return [strip(value) for value in node]
    return node


def main():
    root = pathlib.Path(__file__).resolve().parent.parent
    source = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else root.parent / "shared/crds/kubevirt-crds.yaml"
    out = {}
    for crd in yaml.safe_load_all(source.open()):
        if not crd or crd["metadata"]["name"] not in KINDS:
            continue
        for version in crd["spec"]["versions"]:
            if version.get("storage"):
                out[crd["metadata"]["name"]] = {
                    "group": crd["spec"]["group"],
                    "version": version["name"],
                    "kind": crd["spec"]["names"]["kind"],
                    "plural": crd["spec"]["names"]["plural"],
                    "schema": strip(version["schema"]["openAPIV3Schema"]),
                }
    missing = set(KINDS) - set(out)
    if missing:
        sys.exit(f"not found in {source}: {sorted(missing)}")
    target = root / "server/crds/kubevirt-schemas.json"
    target.write_text(json.dumps(out, indent=None, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"wrote {target} ({target.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
