//! Snapshot calls to the cluster. Lists are label-selected to Wukong's objects of one
//! project; a snapshot is acted on only once [`find`] has checked it is the project's.

use super::kinds::{
    VirtualMachineClone, VirtualMachineRestore, VirtualMachineSnapshot,
    VirtualMachineSnapshotContent,
};
use crate::{
    authz::server::ProjectRow,
    cluster::Cluster,
    quotas::types::Amounts,
    vms::{
        names::{Namespace, SnapshotName},
        server::{body::PROJECT_LABEL, kubevirt::MANAGED_BY_WUKONG},
    },
    AppError,
};
use kube::{
    api::{Api, ListParams, PostParams},
    Resource,
};
use serde::{de::DeserializeOwned, Serialize};
use std::{collections::BTreeMap, fmt::Debug};

const GIB: u64 = 1 << 30;

fn api<K>(cluster: &Cluster, namespace: &str) -> Api<K>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>,
{
    Api::namespaced(cluster.client.clone(), namespace)
}

/// Wukong's objects of kind `K` in the project's namespace, labelled for it.
pub async fn list<K>(
    cluster: &Cluster,
    namespace: &str,
    project_id: &str,
) -> Result<Vec<K>, AppError>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug,
{
    let selector = format!("{MANAGED_BY_WUKONG},{PROJECT_LABEL}={project_id}");
    let what = format!("the {} of namespace {namespace}", K::plural(&()));
    let found = cluster
        .call(
            &what,
            api::<K>(cluster, namespace).list(&ListParams::default().labels(&selector)),
        )
        .await?;
    Ok(found.items)
}

/// The size in bytes of each snapshot content of the namespace, by content name. Contents
/// are made by KubeVirt, not Wukong, so they carry none of its labels.
pub async fn content_sizes(
    cluster: &Cluster,
    namespace: &str,
) -> Result<BTreeMap<String, u64>, AppError> {
    let what = format!("the snapshot contents of namespace {namespace}");
    let contents = api::<VirtualMachineSnapshotContent>(cluster, namespace);
    let found = cluster
        .call(&what, contents.list(&ListParams::default()))
        .await?;
    Ok(found
        .items
        .iter()
        .filter_map(|content| Some((content.metadata.name.clone()?, content.size_bytes())))
        .collect())
}

/// The content of `snapshot`, once KubeVirt made it.
pub async fn content(
    cluster: &Cluster,
    namespace: &str,
    snapshot: &VirtualMachineSnapshot,
) -> Result<Option<VirtualMachineSnapshotContent>, AppError> {
    let Some(name) = snapshot
        .status
        .as_ref()
        .and_then(|status| status.virtual_machine_snapshot_content_name.as_deref())
    else {
        return Ok(None);
    };
    let what = format!(
        "the content of snapshot \"{}\"",
        snapshot.metadata.name.as_deref().unwrap_or_default()
    );
    let contents = api::<VirtualMachineSnapshotContent>(cluster, namespace);
    cluster.call(&what, contents.get_opt(name)).await
}

/// What a snapshot of `size_bytes` holds against the quota: one snapshot and its disks in
/// GiB, rounded up.
pub fn holding(size_bytes: u64) -> Amounts {
    Amounts {
        snapshot_count: 1,
        snapshot_gib: i64::try_from(size_bytes.div_ceil(GIB)).unwrap_or(i64::MAX),
        ..Amounts::default()
    }
}

/// What each of the project's snapshots holds, for the quota reconciler: its content's size,
/// `None` while it is being taken (its content is not there yet), nothing but the count
/// once it failed.
pub async fn held(
    cluster: &Cluster,
    namespace: &str,
    project_id: &str,
) -> Result<BTreeMap<String, Option<Amounts>>, AppError> {
    let snapshots: Vec<VirtualMachineSnapshot> = list(cluster, namespace, project_id).await?;
    let sizes = content_sizes(cluster, namespace).await?;
    Ok(snapshots
        .iter()
        .filter_map(|snapshot| {
            let status = snapshot.status.as_ref();
            let content = status.and_then(|s| s.virtual_machine_snapshot_content_name.as_ref());
            let failed = status.and_then(|s| s.phase.as_deref()) == Some("Failed");
            let holds = match content.and_then(|name| sizes.get(name)) {
                Some(size) => Some(holding(*size)),
                None if failed => Some(holding(0)),
                None => None,
            };
            Some((snapshot.metadata.name.clone()?, holds))
        })
        .collect())
}

/// Creates `object`, called `what` in messages, in the project's namespace.
pub async fn create<K>(
    cluster: &Cluster,
    namespace: &Namespace,
    what: &str,
    object: &K,
) -> Result<K, AppError>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + Debug,
{
    let objects = api::<K>(cluster, namespace.as_str());
    cluster
        .call_in(
            Some(namespace.as_str()),
            what,
            objects.create(&PostParams::default(), object),
        )
        .await
}

fn snapshot_not_found(name: &str) -> AppError {
    AppError::NotFound {
        what: format!("Snapshot \"{name}\""),
    }
}

/// The snapshot `name` of the project, read from the cluster, if it is Wukong's snapshot of
/// that project (in its namespace, labelled for it); `NotFound` otherwise, and for a
/// malformed name before any call.
pub async fn find(
    cluster: &Cluster,
    project: &ProjectRow,
    name: &str,
) -> Result<(SnapshotName, VirtualMachineSnapshot), AppError> {
    let name = SnapshotName::parse(name).map_err(|_| AppError::NotFound {
        what: "That snapshot".to_owned(),
    })?;
    let snapshots = api::<VirtualMachineSnapshot>(cluster, &project.namespace);
    let what = format!("Snapshot \"{name}\"");
    let found = cluster
        .call(&what, snapshots.get_opt(name.as_str()))
        .await?;
    let ours = |snapshot: &VirtualMachineSnapshot| {
        let labels = snapshot.metadata.labels.as_ref();
        let label = |key: &str| {
            labels
                .and_then(|labels| labels.get(key))
                .map(String::as_str)
        };
        snapshot.metadata.namespace.as_deref() == Some(project.namespace.as_str())
            && label(crate::vms::server::kubevirt::MANAGED_BY) == Some("wukong")
            && label(PROJECT_LABEL) == Some(project.id.as_str())
    };
    match found {
        Some(snapshot) if ours(&snapshot) => Ok((name, snapshot)),
        _ => Err(snapshot_not_found(name.as_str())),
    }
}

/// Deletes the snapshot that [`find`] checked, by its UID, so that one re-created under the
/// same name meanwhile is never deleted. KubeVirt deletes its content with it.
pub async fn delete(
    cluster: &Cluster,
    namespace: &str,
    snapshot: &VirtualMachineSnapshot,
) -> Result<(), AppError> {
    let name = snapshot.metadata.name.clone().unwrap_or_default();
    let uid = snapshot
        .metadata
        .uid
        .clone()
        .ok_or_else(|| AppError::internal(format!("snapshot {name} came without a UID")))?;
    let params = crate::vms::server::cluster::only_uid(&uid);
    let snapshots = api::<VirtualMachineSnapshot>(cluster, namespace);
    let what = format!("Snapshot \"{name}\"");
    cluster
        .call(&what, snapshots.delete(&name, &params))
        .await
        .map(|_| ())
}

/// The restores and clones of the project, for the list.
pub async fn restores_and_clones(
    cluster: &Cluster,
    namespace: &str,
    project_id: &str,
) -> Result<(Vec<VirtualMachineRestore>, Vec<VirtualMachineClone>), AppError> {
    Ok((
        list(cluster, namespace, project_id).await?,
        list(cluster, namespace, project_id).await?,
    ))
}
