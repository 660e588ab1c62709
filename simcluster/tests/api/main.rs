//! The simulated cluster's tests, in one binary: its API (`cluster`), checked through kube-rs
//! and kubectl as Wukong and people call it, its VNC and serial consoles (`console`, through
//! `console_client`), the simulated KubeVirt's run strategies, instance status and events
//! (`kubevirt`), disk imports, Secrets and garbage collection (`storage`), snapshots
//! (`snapshots`), restores (`restores`), clones (`clones`)
//! and the webhooks that refuse them (`snapshot_admission`).

mod clones;
mod cluster;
mod console;
mod console_client;
mod kubevirt;
mod restores;
mod snapshot_admission;
mod snapshots;
mod storage;
mod support;
