#!/usr/bin/env python3
"""Extracts from KubeVirt's and CDI's generated CRDs (../shared/crds/), dropping descriptions:
the storage-version OpenAPI schemas of the KubeVirt and CDI kinds Wukong's simulated cluster
serves (and whether each has a status subresource), into simcluster/crds/kubevirt-schemas.json, and the whole CRDs of the kinds Wukong uses, which the
test control plane installs, into end2end/controlplane/crds.json. Run it when the CRDs are
updated."""
import json
import pathlib
import sys

import yaml

KINDS = [
    "virtualmachines.kubevirt.io",
    "virtualmachineinstances.kubevirt.io",
    "virtualmachinesnapshots.snapshot.kubevirt.io",
    "virtualmachinesnapshotcontents.snapshot.kubevirt.io",
    "virtualmachinerestores.snapshot.kubevirt.io",
    "virtualmachineclones.clone.kubevirt.io",
    "datavolumes.cdi.kubevirt.io",
]

# Installed on the real control plane in tests: what Wukong reads and writes, which the
# stand-in's controllers serve.
CONTROL_PLANE_KINDS = KINDS


def strip(node):
    if isinstance(node, dict):
        return {key: strip(value) for key, value in node.items() if key != "description"}
    if isinstance(node, list):
        return [strip(value) for value in node]
    return node


def main():
    root = pathlib.Path(__file__).resolve().parent.parent
    shared = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else root.parent / "shared/crds"
    crds = [
        crd
        for name in ("kubevirt-crds.yaml", "cdi-crds.yaml")
        for crd in yaml.safe_load_all((shared / name).open())
        if crd
    ]
    out = {}
    for crd in crds:
        if crd["metadata"]["name"] not in KINDS:
            continue
        for version in crd["spec"]["versions"]:
            if version.get("storage"):
                out[crd["metadata"]["name"]] = {
                    "group": crd["spec"]["group"],
                    "version": version["name"],
                    "kind": crd["spec"]["names"]["kind"],
                    "plural": crd["spec"]["names"]["plural"],
                    "singular": crd["spec"]["names"]["singular"],
                    "shortNames": crd["spec"]["names"].get("shortNames", []),
                    "schema": strip(version["schema"]["openAPIV3Schema"]),
                    "statusSubresource": "status" in version.get("subresources", {}),
                }
    missing = set(KINDS) - set(out)
    if missing:
        sys.exit(f"not found in {shared}: {sorted(missing)}")
    write(root / "simcluster/crds/kubevirt-schemas.json", out)

    installed = [
        {
            "apiVersion": crd["apiVersion"],
            "kind": crd["kind"],
            "metadata": {"name": crd["metadata"]["name"]},
            "spec": strip(crd["spec"]),
        }
        for crd in crds
        if crd["metadata"]["name"] in CONTROL_PLANE_KINDS
    ]
    missing = set(CONTROL_PLANE_KINDS) - {crd["metadata"]["name"] for crd in installed}
    if missing:
        sys.exit(f"not found in {shared}: {sorted(missing)}")
    write(root / "end2end/controlplane/crds.json", sorted(installed, key=lambda crd: crd["metadata"]["name"]))


def write(target, value):
    target.write_text(json.dumps(value, indent=None, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"wrote {target} ({target.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
