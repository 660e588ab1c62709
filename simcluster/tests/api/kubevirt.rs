//! The simulated KubeVirt's behaviour, each checked against the upstream code it imitates
//! (named at each test): run strategies and their state change requests, the VMI's status as
//! virt-handler reports it, and the Events the controllers record.

use crate::cluster::{
    lifecycle::{act, act_and_wait, create_vm, instance_uid, instances, sim, wait_for},
    vm,
};
use futures_util::{Stream, StreamExt as _};
use kube::{
    api::{
        Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
        PostParams, WatchEvent, WatchParams,
    },
    Client,
};
use serde_json::{json, Value};
use std::time::Duration;

const VMS: &str = "virtualmachines";
const VMIS: &str = "virtualmachineinstances";

/// Creates `object`, given as JSON, with `api`.
pub(crate) async fn create(api: &Api<DynamicObject>, object: Value) -> DynamicObject {
    let object = serde_json::from_value(object).expect("an object");
    api.create(&PostParams::default(), &object)
        .await
        .expect("create")
}

pub(crate) async fn exists(api: &Api<DynamicObject>, name: &str) -> bool {
    api.get_opt(name).await.expect("get").is_some()
}

pub(crate) fn events(client: &Client) -> Api<DynamicObject> {
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Event"), "events");
    Api::namespaced_with(client.clone(), "team-a", &resource)
}

/// The events the field selector `fields` picks, oldest first.
pub(crate) async fn events_where(client: &Client, fields: &str) -> Vec<Value> {
    let list = events(client)
        .list(&ListParams::default().fields(fields))
        .await
        .expect("events");
    let mut found: Vec<Value> = list
        .items
        .into_iter()
        .map(|event| serde_json::to_value(event).expect("JSON"))
        .collect();
    found.sort_by(|a, b| {
        a["metadata"]["name"]
            .as_str()
            .cmp(&b["metadata"]["name"].as_str())
    });
    found
}

pub(crate) fn reasons(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|event| event["reason"].as_str())
        .collect()
}

/// The versions of `name` that `api` has from now on, as a watch delivers them.
pub(crate) async fn watch_one(
    api: &Api<DynamicObject>,
    name: &str,
) -> impl Stream<Item = Value> + Unpin {
    let params = WatchParams::default().fields(&format!("metadata.name={name}"));
    api.watch(&params, "0")
        .await
        .expect("watch")
        .filter_map(|event| async move {
            match event.expect("watch event") {
                WatchEvent::Added(object) | WatchEvent::Modified(object) => {
                    Some(serde_json::to_value(object).expect("JSON"))
                }
                WatchEvent::Deleted(mut object) => {
                    object.data["deleted"] = json!(true);
                    Some(serde_json::to_value(object).expect("JSON"))
                }
                WatchEvent::Bookmark(_) => None,
                WatchEvent::Error(error) => panic!("watch error {error:?}"),
            }
        })
        .boxed()
}

/// The versions from `versions` up to the first for which `done` holds.
pub(crate) async fn until(
    versions: &mut (impl Stream<Item = Value> + Unpin),
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let version = tokio::time::timeout(Duration::from_secs(20), versions.next())
            .await
            .expect("a change within 20 s")
            .expect("the watch goes on");
        let finished = done(&version);
        seen.push(version);
        if finished {
            return seen;
        }
    }
}

/// The instance `name` ends in `phase`, as virt-handler reports a guest that shut itself
/// down (Succeeded) or crashed (Failed).
async fn guest_reports(client: &Client, name: &str, phase: &str) {
    let ended = Patch::Merge(json!({"status": {"phase": phase}}));
    instances(client)
        .patch(name, &PatchParams::default(), &ended)
        .await
        .expect("the VMI's phase");
}

fn printable(object: &Value) -> &str {
    object["status"]["printableStatus"]
        .as_str()
        .unwrap_or_default()
}

fn with_strategy(name: &str, strategy: &str, image: &str) -> DynamicObject {
    let mut vm = vm(name, json!({}));
    vm.data["spec"]["runStrategy"] = json!(strategy);
    vm.data["spec"]["template"]["spec"]["volumes"][0]["containerDisk"]["image"] = json!(image);
    vm
}

const CIRROS: &str = "quay.io/kubevirt/cirros-container-disk-demo";
const FEDORA: &str = "quay.io/containerdisks/fedora:latest";

/// What virt-handler reports of the guest (`InfoSourceDomainAndGA`,
/// pkg/network/vmispec/infosource.go; `updateGuestAgentConditions`, pkg/virt-handler/vm.go):
/// a Fedora guest's agent connects after the VMI runs, and names the interface inside
/// the guest; CirrOS has no agent, so only the domain's view is ever reported.
#[tokio::test]
async fn running_instances_report_interfaces_and_the_guest_agent_its_os() {
    let (_sim, client, vms) = sim().await;
    let mut fedora = watch_one(&instances(&client), "fedora").await;
    let mut tiny = watch_one(&instances(&client), "tiny").await;
    for (name, image) in [("fedora", FEDORA), ("tiny", CIRROS)] {
        create_vm(&vms, &with_strategy(name, "Always", image)).await;
    }
    let seen = until(&mut fedora, |vmi| {
        vmi["status"]["conditions"]
            .as_array()
            .is_some_and(|all| all.iter().any(|c| c["type"] == "AgentConnected"))
    })
    .await;
    let running = seen
        .iter()
        .find(|vmi| vmi["status"]["phase"] == "Running")
        .expect("Running before the agent connects");
    let first = &running["status"]["interfaces"][0];
    assert_eq!(first["name"], "default");
    assert_eq!(first["infoSource"], "domain");
    assert!(first["ipAddress"]
        .as_str()
        .is_some_and(|ip| ip.starts_with("10.244.")));
    assert_eq!(first["ipAddresses"], json!([first["ipAddress"]]));
    assert!(first["mac"]
        .as_str()
        .is_some_and(|mac| mac.starts_with("52:54:00:")));
    assert!(first.get("interfaceName").is_none());
    let connected = seen.last().expect("connected");
    let info = &connected["status"]["guestOSInfo"];
    assert_eq!(info["id"], "fedora");
    assert_eq!(info["name"], "Fedora Linux");
    assert_eq!(info["machine"], "x86_64");
    for field in [
        "prettyName",
        "version",
        "versionId",
        "kernelRelease",
        "kernelVersion",
    ] {
        assert!(
            info[field].as_str().is_some_and(|text| !text.is_empty()),
            "{field}: {info}"
        );
    }
    let interface = &connected["status"]["interfaces"][0];
    assert_eq!(interface["interfaceName"], "eth0");
    assert_eq!(interface["infoSource"], "domain, guest-agent");
    assert_eq!(interface["ipAddress"], first["ipAddress"]);
    // The VM copies the instance's conditions.
    let vm = vms.get("fedora").await.expect("VM");
    assert!(vm.data["status"]["conditions"]
        .to_string()
        .contains("AgentConnected"));

    // CirrOS, from its start until it is gone (a graceful stop takes as long as an agent
    // takes to connect), never reports an agent.
    until(&mut tiny, |vmi| vmi["status"]["phase"] == "Running").await;
    act(&client, VMS, "tiny", "stop", json!({}))
        .await
        .expect("stop");
    let life = until(&mut tiny, |vmi| vmi["deleted"] == true).await;
    // It goes as it ended: shut down, as the VMI controller lets go of it at once.
    let gone = life.last().expect("deleted");
    assert_eq!(gone["status"]["phase"], "Succeeded");
    for vmi in life {
        let status = vmi["status"].to_string();
        assert!(!status.contains("AgentConnected"), "{status}");
        assert!(!status.contains("guest-agent"), "{status}");
    }
}

/// Events as KubeVirt's controllers record them (pkg/virt-controller/watch/vm/vm.go
/// `startVMI`/`stopVMI`, pkg/virt-controller/watch/vmi/lifecycle.go, pkg/virt-handler/vm.go
/// `recordPhaseChangeEvent`), selected as the API server selects Events
/// (`pkg/registry/core/event/strategy.go`, `ToSelectableFields`).
#[tokio::test]
async fn controllers_record_events_that_field_selectors_find() {
    let (_sim, client, vms) = sim().await;
    let created = create_vm(&vms, &with_strategy("web", "Halted", CIRROS)).await;
    let vm_uid = created.metadata.uid.expect("uid");
    act_and_wait(&client, &vms, (VMS, "web", "start"), "Running").await;
    let vmi_uid = instance_uid(&client, "web").await.expect("a VMI");
    for _ in 0..2 {
        act_and_wait(&client, &vms, (VMIS, "web", "pause"), "Paused").await;
        act_and_wait(&client, &vms, (VMIS, "web", "unpause"), "Running").await;
    }
    act_and_wait(&client, &vms, (VMS, "web", "stop"), "Stopped").await;

    let of_vm = events_where(
        &client,
        "involvedObject.kind=VirtualMachine,involvedObject.name=web",
    )
    .await;
    assert_eq!(reasons(&of_vm), ["SuccessfulCreate", "SuccessfulDelete"]);
    let started = &of_vm[0];
    assert_eq!(started["type"], "Normal");
    assert_eq!(
        started["message"],
        "Started the virtual machine by creating the new virtual machine instance web"
    );
    assert_eq!(
        started["source"],
        json!({"component": "virtualmachine-controller"})
    );
    assert_eq!(started["involvedObject"]["uid"], vm_uid.as_str());
    assert_eq!(started["involvedObject"]["apiVersion"], "kubevirt.io/v1");
    assert_eq!(started["involvedObject"]["namespace"], "team-a");
    assert_eq!(started["count"], 1);
    assert!(started["metadata"]["name"]
        .as_str()
        .is_some_and(|name| name.starts_with("web.")));
    for stamp in ["firstTimestamp", "lastTimestamp"] {
        assert!(
            started[stamp]
                .as_str()
                .is_some_and(|time| time.ends_with('Z')),
            "{stamp}"
        );
    }
    assert_eq!(
        of_vm[1]["message"],
        format!("Stopped the virtual machine by deleting the virtual machine instance {vmi_uid}")
    );

    let of_vmi = events_where(&client, &format!("involvedObject.uid={vmi_uid}")).await;
    assert_eq!(
        reasons(&of_vmi),
        [
            "SuccessfulCreate",
            "Created",
            "Started",
            "Paused",
            "Unpaused",
            "ShuttingDown",
            "Stopped",
            "SuccessfulDelete"
        ]
    );
    let paused = &of_vmi[3];
    // The same event again counts up (client-go's EventCorrelator).
    assert_eq!(paused["count"], 2);
    assert_eq!(paused["message"], "VirtualMachineInstance paused");
    assert_eq!(
        paused["source"],
        json!({"component": "virt-handler", "host": "sim-node-1"})
    );
    assert!(of_vmi[0]["message"].as_str().is_some_and(
        |message| message.starts_with("Created virtual machine pod virt-launcher-web-")
    ));
    assert_eq!(
        of_vmi[6]["message"],
        "The VirtualMachineInstance was shut down."
    );

    // Comma means all of them; a field an Event does not have is refused as the API server
    // refuses it (pkg/apis/core/v1/conversion.go, `AddFieldLabelConversionsForEvent`).
    assert!(
        events_where(&client, "involvedObject.name=web,type=Warning")
            .await
            .is_empty()
    );
    assert_eq!(
        events_where(&client, "involvedObject.name=web,reason=Paused")
            .await
            .len(),
        1
    );
    let refused = events(&client)
        .list(&ListParams::default().fields("involvedObject.color=blue"))
        .await
        .expect_err("refused");
    match refused {
        kube::Error::Api(status) => {
            assert_eq!((status.code, status.reason.as_str()), (400, "BadRequest"));
            assert_eq!(
                status.message,
                "field label not supported: involvedObject.color"
            );
        }
        other => panic!("expected a Status, got {other:?}"),
    }
}

/// `Manual` (pkg/virt-controller/watch/vm/vm.go, `syncRunStrategy`): virt-api leaves the
/// strategy alone and asks through `status.stateChangeRequests`, which the controller acts on
/// and removes (`isTrimFirstChangeRequestNeeded`); a guest that shuts down stays down, and
/// the next start replaces its final instance.
#[tokio::test]
async fn manual_vms_start_and_stop_through_state_change_requests() {
    let (_sim, client, vms) = sim().await;
    create_vm(&vms, &with_strategy("manual", "Manual", CIRROS)).await;
    wait_for(&vms, "manual", "Stopped").await;
    let mut versions = watch_one(&vms, "manual").await;
    act(&client, VMS, "manual", "start", json!({}))
        .await
        .expect("start");
    let seen = until(&mut versions, |vm| printable(vm) == "Running").await;
    assert!(seen.iter().all(|vm| vm["spec"]["runStrategy"] == "Manual"));
    assert!(seen
        .iter()
        .any(|vm| vm["status"]["stateChangeRequests"] == json!([{"action": "Start"}])));
    let running = seen.last().expect("running");
    assert!(
        running["status"].get("stateChangeRequests").is_none(),
        "{running}"
    );
    let first_uid = instance_uid(&client, "manual").await;

    // The guest powers itself off.
    guest_reports(&client, "manual", "Succeeded").await;
    let stopped = until(&mut versions, |vm| printable(vm) == "Stopped").await;
    let stopped = stopped.last().expect("stopped");
    assert_eq!(
        stopped["status"]["created"], true,
        "the final instance stays"
    );
    act(&client, VMS, "manual", "start", json!({}))
        .await
        .expect("start again");
    let restarted = until(&mut versions, |vm| printable(vm) == "Running").await;
    assert!(restarted.iter().any(|vm| {
        vm["status"]["stateChangeRequests"]
            == json!([{"action": "Stop", "uid": first_uid}, {"action": "Start"}])
    }));
    let second_uid = instance_uid(&client, "manual").await;
    assert_ne!(first_uid, second_uid);

    act(&client, VMS, "manual", "stop", json!({}))
        .await
        .expect("stop");
    let stopping = until(&mut versions, |vm| printable(vm) == "Stopped").await;
    assert!(stopping.iter().any(|vm| {
        vm["status"]["stateChangeRequests"] == json!([{"action": "Stop", "uid": second_uid}])
    }));
    assert!(stopping
        .iter()
        .all(|vm| vm["spec"]["runStrategy"] == "Manual"));
}

/// `RerunOnFailure`: a failed instance is replaced, one the guest shut down is not
/// (`syncRunStrategy`); `Always` replaces either.
#[tokio::test]
async fn rerun_on_failure_restarts_failures_but_not_guest_shutdowns() {
    let (_sim, client, vms) = sim().await;
    for (name, strategy) in [("rerun", "RerunOnFailure"), ("always", "Always")] {
        create_vm(&vms, &with_strategy(name, strategy, CIRROS)).await;
        wait_for(&vms, name, "Running").await;
    }

    let crashed = instance_uid(&client, "rerun").await;
    let mut rerun = watch_one(&vms, "rerun").await;
    guest_reports(&client, "rerun", "Failed").await;
    until(&mut rerun, |vm| printable(vm) != "Running").await;
    until(&mut rerun, |vm| {
        printable(vm) == "Running" && vm["status"].get("stateChangeRequests").is_none()
    })
    .await;
    assert_ne!(
        instance_uid(&client, "rerun").await,
        crashed,
        "a new instance"
    );

    guest_reports(&client, "rerun", "Succeeded").await;
    let down = until(&mut rerun, |vm| {
        printable(vm) == "Stopped" && vm["status"]["created"] == false
    })
    .await;
    let down = down.last().expect("down");
    assert_eq!(down["spec"]["runStrategy"], "RerunOnFailure");
    assert_eq!(down["status"]["runStrategy"], "RerunOnFailure");

    let shut = instance_uid(&client, "always").await;
    let mut always = watch_one(&vms, "always").await;
    guest_reports(&client, "always", "Succeeded").await;
    until(&mut always, |vm| {
        printable(vm) == "Stopped" || printable(vm) == "Stopping"
    })
    .await;
    until(&mut always, |vm| printable(vm) == "Running").await;
    assert_ne!(
        instance_uid(&client, "always").await,
        shut,
        "Always starts a new instance"
    );

    // Still down: starting it again is a start request, answered with a new instance.
    act(&client, VMS, "rerun", "start", json!({}))
        .await
        .expect("start");
    until(&mut rerun, |vm| printable(vm) == "Running").await;
}

/// A start while another is pending is refused by virt-api (`getChangeRequestJson`): here
/// the first waits for the VM's disk to be imported.
#[tokio::test]
async fn a_second_start_request_while_one_is_pending_is_refused() {
    let (_sim, client, vms) = sim().await;
    let mut manual = with_strategy("slow", "Manual", CIRROS);
    manual.data["spec"]["dataVolumeTemplates"] = json!([{
        "metadata": {"name": "slow-root"},
        "spec": {"source": {"http": {"url": "https://images.example.test/gone.fail"}},
            "storage": {"resources": {"requests": {"storage": "1Gi"}}}},
    }]);
    manual.data["spec"]["template"]["spec"]["volumes"][0] =
        json!({"name": "rootdisk", "dataVolume": {"name": "slow-root"}});
    create_vm(&vms, &manual).await;
    act(&client, VMS, "slow", "start", json!({}))
        .await
        .expect("start");
    let refused = act(&client, VMS, "slow", "start", json!({}))
        .await
        .expect_err("refused");
    match refused {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 500);
            assert_eq!(
                status.message,
                "Internal error occurred: unable to complete request: stop/start already underway"
            );
        }
        other => panic!("expected a Status, got {other:?}"),
    }
    let vm = wait_for(&vms, "slow", "DataVolumeError").await;
    assert_eq!(
        vm.data["status"]["stateChangeRequests"],
        json!([{"action": "Start"}])
    );
}

/// Events go once their time to live (the API server's `--event-ttl`) has passed since they
/// were last seen.
#[tokio::test]
async fn events_expire_after_their_time_to_live() {
    let options = simcluster::SimOptions {
        event_ttl: Duration::from_secs(1),
        ..simcluster::SimOptions::default()
    };
    let (_sim, client) = crate::cluster::started(options).await;
    let now = jiff::Timestamp::now().to_string();
    let event = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.1"},
        "involvedObject": {"kind": "VirtualMachine", "name": "web", "namespace": "team-a"},
        "reason": "Tested", "message": "expires", "type": "Normal",
        "firstTimestamp": now, "lastTimestamp": now, "count": 1});
    create(&events(&client), event).await;
    for _ in 0..500 {
        if !exists(&events(&client), "web.1").await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the event outlived its time to live");
}
