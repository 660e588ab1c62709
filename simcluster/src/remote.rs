//! The simulated KubeVirt's objects on a real API server (the stand-in's): read and written
//! through the API, as KubeVirt's controllers write them, and its controllers fed by watches
//! of VMs, VMIs, DataVolumes, snapshots, restores and clones in all namespaces, as KubeVirt's informers feed them.

use super::lifecycle::{self, Kind, Objects, Recorder, Work};
use futures_util::{stream::select_all, StreamExt as _};
use kube::{
    api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams},
    runtime::watcher,
    Client,
};
use serde_json::{json, Value};
use std::{sync::Arc, time::Duration};

fn api_resource(kind: Kind) -> ApiResource {
    ApiResource {
        group: kind.group().to_owned(),
        version: kind.version().to_owned(),
        api_version: kind.api_version(),
        kind: kind.name().to_owned(),
        plural: kind.plural().to_owned(),
    }
}

/// KubeVirt's and CDI's objects on an API server.
#[derive(Clone)]
pub(super) struct Remote {
    pub client: Client,
    pub transition_delay: Duration,
    recorder: Arc<Recorder>,
}

impl Remote {
    pub fn new(client: Client, transition_delay: Duration) -> Self {
        Remote {
            client,
            transition_delay,
            recorder: Arc::default(),
        }
    }

    fn api(&self, kind: Kind, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), namespace, &api_resource(kind))
    }

    pub fn vmis(&self, namespace: &str) -> Api<DynamicObject> {
        self.api(Kind::VirtualMachineInstance, namespace)
    }
}

/// Whether `result` succeeded; a failure is logged, except a 404 of a delete (the object is
/// gone, as asked).
fn logged<T>(what: &str, kind: Kind, name: &str, result: kube::Result<T>) -> bool {
    match result {
        Ok(_) => true,
        Err(kube::Error::Api(status)) if status.code == 404 && what == "delete" => true,
        Err(error) => {
            tracing::warn!(%error, kind = kind.name(), %name, "KubeVirt stand-in: cannot {what}");
            false
        }
    }
}

impl Objects for Remote {
    async fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<Value> {
        let object = self.api(kind, namespace).get_opt(name).await.ok()??;
        serde_json::to_value(object).ok()
    }

    async fn create(&self, kind: Kind, object: Value) -> Result<Value, String> {
        let namespace = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let result = match serde_json::from_value::<DynamicObject>(object) {
            Ok(object) => {
                self.api(kind, &namespace)
                    .create(&PostParams::default(), &object)
                    .await
            }
            Err(error) => Err(kube::Error::SerdeError(error)),
        };
        match result {
            Ok(created) => serde_json::to_value(created).map_err(|error| error.to_string()),
            Err(kube::Error::Api(status)) => {
                tracing::debug!(kind = kind.name(), %name, message = %status.message, "KubeVirt stand-in: create refused");
                Err(status.message)
            }
            Err(error) => {
                let message = error.to_string();
                logged::<()>("create", kind, &name, Err(error));
                Err(message)
            }
        }
    }

    async fn patch(&self, kind: Kind, namespace: &str, name: &str, patch: Value) -> bool {
        let result = self
            .api(kind, namespace)
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await;
        logged("patch", kind, name, result)
    }

    async fn patch_status(&self, kind: Kind, namespace: &str, name: &str, status: Value) -> bool {
        let patch = Patch::Merge(json!({ "status": status }));
        let api = self.api(kind, namespace);
        let result = if kind.has_status_subresource() {
            api.patch_status(name, &PatchParams::default(), &patch)
                .await
        } else {
            api.patch(name, &PatchParams::default(), &patch).await
        };
        logged("write the status of", kind, name, result)
    }

    async fn delete(&self, kind: Kind, namespace: &str, name: &str) {
        let result = self
            .api(kind, namespace)
            .delete(name, &DeleteParams::background())
            .await;
        logged("delete", kind, name, result);
    }

    fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    fn transition_delay(&self) -> Duration {
        self.transition_delay
    }
}

/// Runs the controllers over `remote` until aborted, fed by watches of every VM, VMI,
/// DataVolume, snapshot, snapshot content, restore and clone (a watch that fails starts again, after a pause).
pub(super) async fn control(remote: Remote) {
    let (queue, worker) = lifecycle::start(remote.clone());
    let watches = [
        Kind::VirtualMachine,
        Kind::VirtualMachineInstance,
        Kind::DataVolume,
        Kind::VirtualMachineSnapshot,
        Kind::VirtualMachineSnapshotContent,
        Kind::VirtualMachineRestore,
        Kind::VirtualMachineClone,
    ]
    .map(|kind| {
        let api: Api<DynamicObject> = Api::all_with(remote.client.clone(), &api_resource(kind));
        watcher(api, watcher::Config::default())
            .map(move |event| (kind, event))
            .boxed()
    });
    let mut changes = select_all(watches);
    while let Some((kind, event)) = changes.next().await {
        let object = match event {
            Ok(
                watcher::Event::Apply(object)
                | watcher::Event::InitApply(object)
                | watcher::Event::Delete(object),
            ) => object,
            Ok(_) => continue,
            Err(error) => {
                tracing::warn!(%error, kind = kind.name(), "KubeVirt stand-in: a watch failed; it retries");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let Ok(object) = serde_json::to_value(object) else {
            continue;
        };
        for work in Work::for_change(kind, &object) {
            queue.add(work);
        }
    }
    drop(worker);
}
