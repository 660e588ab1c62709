//! The `vnc` and `console` streams on a real API server, served as the built-in cluster
//! serves them, of the VMIs found there.
//!
//! The API server authorizes `get` on `virtualmachineinstances/vnc` (or `/console`) first.
//! Its aggregator then sends the upgrade request on as it came, with the user's headers
//! added, over a connection of its own, and relays the bytes both ways once the answer is
//! 101; an answer of 400 and up reaches the client as written here
//! (`staging/src/k8s.io/kube-aggregator/pkg/apiserver/handler_proxy.go`;
//! `staging/src/k8s.io/apimachinery/pkg/util/proxy/upgradeaware.go`, `tryUpgrade`).

use super::Remote;
use crate::{
    api::Failure,
    console::{self, Sessions, Target},
};
use axum::{
    extract::ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade},
    http::StatusCode,
    response::Response,
};
use futures_util::StreamExt as _;
use kube::{
    api::{Api, DynamicObject},
    runtime::{watcher, WatchStreamExt as _},
};
use serde_json::Value;
use std::collections::HashMap;

/// `GET …/virtualmachineinstances/{name}/vnc` and `…/console`, proxied by the aggregator.
pub(super) async fn connect(
    remote: &Remote,
    sessions: &Sessions,
    target: Target,
    query: &HashMap<String, String>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Failure> {
    let (namespace, name) = (target.namespace(), target.name());
    let vmis = remote.vmis(namespace);
    let vmi = fetch(&vmis, "vmi", name).await?;
    let vmi = console::admit(&target, vmi.as_ref())?;
    let uid = vmi["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let gone = vmi_gone(vmis, name.to_owned(), uid);
    console::open(sessions, target, query, upgrade, gone)
}

/// The object `name`, if there is one; a failure to read it is virt-api's 500
/// (`FetchVirtualMachineInstance`, `pkg/virt-api/rest/subresource.go`).
async fn fetch(api: &Api<DynamicObject>, what: &str, name: &str) -> Result<Option<Value>, Failure> {
    let unreadable = |error: &dyn std::fmt::Display| {
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("unable to retrieve {what} [{name}]: {error}"),
        )
    };
    let object = api
        .get_opt(name)
        .await
        .map_err(|error| unreadable(&error))?;
    object
        .map(serde_json::to_value)
        .transpose()
        .map_err(|error| unreadable(&error))
}

/// Resolves when the VMI `name` of `uid` is deleted, replaced or leaves the Running phase.
/// The watch begins with a list, so a change made since the check is seen as well.
async fn vmi_gone(vmis: Api<DynamicObject>, name: String, uid: String) {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = Box::pin(watcher(vmis, config).default_backoff());
    // Whether the list under way held the VMI: one that ends without it means it is gone.
    let mut listed = false;
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Init) => listed = false,
            Ok(watcher::Event::InitApply(vmi) | watcher::Event::Apply(vmi)) => {
                listed = true;
                if vmi.metadata.uid.as_deref() != Some(uid.as_str()) || !console::running(&vmi.data)
                {
                    return;
                }
            }
            Ok(watcher::Event::InitDone) if !listed => return,
            Ok(watcher::Event::Delete(_)) => return,
            Ok(watcher::Event::InitDone) => {}
            Err(error) => {
                tracing::warn!(%error, %name, "KubeVirt stand-in: the watch of a streamed VMI failed; it retries");
            }
        }
    }
}
