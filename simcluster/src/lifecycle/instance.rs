//! A VMI's life, as virt-controller's VMI controller (`pkg/virt-controller/watch/vmi/
//! lifecycle.go`) and virt-handler (`pkg/virt-handler/vm.go`) drive it: the launcher pod is
//! created (phase Scheduling); one delay later the pod is scheduled and the domain runs
//! (phase Running, with its interfaces), or the scheduler finds no room (condition
//! PodScheduled False, reason Unschedulable); one delay after that the guest agent connects,
//! if the guest has one (`guest`). A deleted VMI shuts down, gracefully over one delay or at
//! once with `terminationGracePeriodSeconds: 0`, ends Succeeded (Failed if it never ran) and
//! loses the VMI controller's finalizer, which lets it go.

use super::{
    array_at, condition, events::Event, guest, launcher, now, runtime::Context, runtime::Wait,
    runtime::Work, seed, text, vm, Kind, Objects, Part, NODE_CPUS, NODE_MEMORY_BYTES, NODE_NAME,
};
use serde_json::{json, Value};

/// The VMI controller's finalizer (`VirtualMachineInstanceFinalizer`,
/// staging/src/kubevirt.io/api/core/v1/types.go), removed once the VMI is final and its pod
/// gone.
pub(super) const FINALIZER: &str = "kubevirt.io/foregroundDeleteVirtualMachine";
const HANDLER: &str = "virt-handler";

pub(super) fn is_final(vmi: &Value) -> bool {
    matches!(text(vmi, "/status/phase"), "Succeeded" | "Failed")
}

fn is_deleting(vmi: &Value) -> bool {
    vmi.pointer("/metadata/deletionTimestamp").is_some()
}

/// The launcher pod's name: `virt-launcher-<vmi>-<5 random characters>`, here drawn from
/// the VMI's uid so that it stays the same.
fn pod_name(vmi: &Value) -> String {
    const LETTERS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut number = seed(vmi);
    let suffix: String = (0..5)
        .map(|_| {
            let letter = LETTERS[(number % LETTERS.len() as u64) as usize];
            number /= LETTERS.len() as u64;
            char::from(letter)
        })
        .collect();
    format!("virt-launcher-{}-{suffix}", text(vmi, "/metadata/name"))
}

fn transitions(vmi: &Value, phase: &str) -> Value {
    let mut list = array_at(vmi, "/status/phaseTransitionTimestamps");
    list.push(json!({"phase": phase, "phaseTransitionTimestamp": now()}));
    Value::Array(list)
}

fn conditions_of(vmi: &Value) -> Vec<Value> {
    array_at(vmi, "/status/conditions")
}

async fn write<O: Objects>(objects: &O, vmi: &Value, status: Value) -> bool {
    objects
        .patch_of(Kind::VirtualMachineInstance, vmi, Part::Status, status)
        .await
}

async fn record<O: Objects>(objects: &O, event: Event) {
    objects
        .record_event(event.from(HANDLER).on(NODE_NAME))
        .await;
}

pub(super) async fn reconcile<O: Objects>(context: &Context<O>, namespace: &str, name: &str) {
    let objects = &context.objects;
    let Some(vmi) = objects
        .get(Kind::VirtualMachineInstance, namespace, name)
        .await
    else {
        return;
    };
    let work = Work::new(Kind::VirtualMachineInstance, namespace, name);
    let uid = text(&vmi, "/metadata/uid").to_owned();
    if is_deleting(&vmi) {
        return shut_down(context, &vmi, work).await;
    }
    match text(&vmi, "/status/phase") {
        "" | "Pending" => {
            let pod = launcher::pod(&vmi, &pod_name(&vmi));
            match objects.create(Kind::Pod, pod).await {
                Ok(_) => {}
                // Created before, by a sync whose status write did not land.
                Err(message) if message.ends_with("already exists") => {}
                Err(message) => return pod_refused(context, &vmi, &work, &message).await,
            }
            let ready = json!({"type": "Ready", "status": "False", "reason": "GuestNotRunning",
                "message": "Guest VM is not reported as running", "lastProbeTime": null,
                "lastTransitionTime": now()});
            let status = json!({"phase": "Scheduling",
                "phaseTransitionTimestamps": transitions(&vmi, "Scheduling"),
                "conditions": [ready], "guestOSInfo": {}, "qosClass": "Burstable"});
            if write(objects, &vmi, status).await {
                let message = format!("Created virtual machine pod {}", pod_name(&vmi));
                let event = Event::normal(&vmi, "SuccessfulCreate", message);
                objects.record_event(event.from(vm::COMPONENT)).await;
            }
        }
        "Scheduling"
            if condition(&vmi, "PodScheduled").is_none()
                && context.waited(format!("{uid}/schedule"), 1, &work) =>
        {
            schedule(objects, &vmi).await;
        }
        "Running" if condition(&vmi, "AgentConnected").is_none() => {
            let Some(os) = guest_os(objects, &vmi).await else {
                return;
            };
            if context.waited(format!("{uid}/agent"), 1, &work) {
                connect_agent(objects, &vmi, os).await;
            }
        }
        _ => {}
    }
}

/// The launcher pod could not be created (a quota refused it): the VMI stays Pending with
/// the sync error as its `Synchronized` condition and a `FailedCreate` event, and the VMI
/// controller tries again later (`pkg/virt-controller/watch/vmi/lifecycle.go`, where a
/// failed pod create is `Error creating pod: …` in the event and `failed to create virtual
/// machine pod: …` in the condition, reason `FailedCreate`). Both are written only when the
/// message changes, so that the retries do not keep rewriting the VMI.
async fn pod_refused<O: Objects>(context: &Context<O>, vmi: &Value, work: &Work, message: &str) {
    let objects = &context.objects;
    let uid = text(vmi, "/metadata/uid");
    // Only for the timer, which brings the VMI back after one delay: an attempt that finds
    // the last wait over starts the next, so the attempts go on while the quota refuses.
    let token = format!("{uid}/pod");
    if context.wait(token.clone(), 1, work) == Wait::Over {
        context.wait(token, 1, work);
    }
    let reason = format!("failed to create virtual machine pod: {message}");
    let unchanged = condition(vmi, "Synchronized")
        .is_some_and(|synchronized| synchronized["message"] == reason.as_str());
    if unchanged {
        return;
    }
    let mut conditions = conditions_of(vmi);
    conditions.retain(|condition| condition["type"] != "Synchronized");
    conditions.push(
        json!({"type": "Synchronized", "status": "False", "reason": "FailedCreate",
        "message": reason, "lastProbeTime": null, "lastTransitionTime": now()}),
    );
    let mut status = json!({"conditions": conditions});
    if text(vmi, "/status/phase").is_empty() {
        status["phase"] = json!("Pending");
        status["phaseTransitionTimestamps"] = transitions(vmi, "Pending");
    }
    if write(objects, vmi, status).await {
        let event = Event::warning(
            vmi,
            "FailedCreate",
            format!("Error creating pod: {message}"),
        );
        objects.record_event(event.from(vm::COMPONENT)).await;
    }
}

/// vCPUs and memory bytes the VMI asks for.
fn demand(vmi: &Value) -> (u64, u64) {
    let domain = vmi.pointer("/spec/domain").cloned().unwrap_or_default();
    let count = |field: &str| {
        domain
            .pointer(&format!("/cpu/{field}"))
            .and_then(Value::as_u64)
            .unwrap_or(1)
    };
    let cpus = count("sockets") * count("cores") * count("threads");
    let memory = domain
        .pointer("/memory/guest")
        .or_else(|| domain.pointer("/resources/requests/memory"))
        .and_then(Value::as_str)
        .and_then(super::quantity_bytes)
        .unwrap_or(0);
    (cpus, memory)
}

/// The scheduler places the launcher pod on the node, or finds no room: then the pod stays
/// pending with the scheduler's `FailedScheduling` event (`pkg/scheduler/schedule_one.go`),
/// and the VMI controller copies the pod's condition onto the VMI.
async fn schedule<O: Objects>(objects: &O, vmi: &Value) {
    let (cpus, memory) = demand(vmi);
    if cpus <= NODE_CPUS && memory <= NODE_MEMORY_BYTES {
        return run(objects, vmi).await;
    }
    let short = match (cpus > NODE_CPUS, memory > NODE_MEMORY_BYTES) {
        (true, true) => "1 Insufficient cpu, 1 Insufficient memory",
        (true, false) => "1 Insufficient cpu",
        _ => "1 Insufficient memory",
    };
    let message = format!(
        "0/1 nodes are available: {short}. preemption: 0/1 nodes are available: 1 No \
         preemption victims found for incoming pod."
    );
    let scheduled = json!({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": message, "lastProbeTime": null, "lastTransitionTime": now()});
    let mut conditions = conditions_of(vmi);
    conditions.push(scheduled);
    if write(objects, vmi, json!({"conditions": conditions})).await {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": pod_name(vmi), "namespace": vmi["metadata"]["namespace"]}});
        let event = Event::warning(&pod, "FailedScheduling", message);
        objects.record_event(event.from("default-scheduler")).await;
    }
}

/// The interfaces virt-handler reports from the domain, and with `agent` what the guest
/// agent adds (`pkg/network/vmispec/infosource.go` names the sources). The pod network's
/// interface has the pod's address.
fn interfaces(vmi: &Value, agent: bool) -> Value {
    let mut declared: Vec<Value> = array_at(vmi, "/spec/domain/devices/interfaces");
    if declared.is_empty() {
        // `SetDefaultNetworkInterface`: a VMI with none gets the pod network as "default".
        declared.push(json!({"name": "default", "masquerade": {}}));
    }
    let networks: Vec<Value> = vmi
        .pointer("/spec/networks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_else(|| vec![json!({"name": "default", "pod": {}})]);
    let seed = seed(vmi);
    let reported: Vec<Value> = declared
        .iter()
        .enumerate()
        .map(|(index, interface)| {
            let name = text(interface, "/name");
            let on_pod_network = networks
                .iter()
                .any(|network| network["name"] == name && network.get("pod").is_some());
            let byte = |shift: u64| (seed.rotate_right((shift * 8) as u32) & 0xff) as u8;
            let mac = format!(
                "52:54:00:{:02x}:{:02x}:{:02x}",
                byte(0),
                byte(1),
                byte(2).wrapping_add(index as u8)
            );
            let mut reported = json!({
                "name": name, "mac": mac,
                "infoSource": if agent { "domain, guest-agent" } else { "domain" },
                "queueCount": 1,
            });
            if on_pod_network {
                let ip = format!("10.244.{}.{}", (seed / 250) % 250, seed % 250 + 2);
                reported["ipAddress"] = json!(ip);
                reported["ipAddresses"] = json!([ip]);
                reported["podInterfaceName"] = json!("eth0");
            }
            if agent {
                reported["interfaceName"] = json!(format!("eth{index}"));
            }
            reported
        })
        .collect();
    Value::Array(reported)
}

/// virt-handler starts the domain: Running on the node, with its interfaces and Ready.
async fn run<O: Objects>(objects: &O, vmi: &Value) {
    let mut conditions = conditions_of(vmi);
    conditions.retain(|condition| condition["type"] != "Ready");
    conditions.push(
        json!({"type": "Ready", "status": "True", "lastProbeTime": null,
        "lastTransitionTime": now()}),
    );
    let status = json!({
        "phase": "Running",
        "phaseTransitionTimestamps": transitions(vmi, "Running"),
        "nodeName": NODE_NAME,
        "conditions": conditions,
        "interfaces": interfaces(vmi, false),
        "migrationMethod": "BlockMigration",
    });
    if write(objects, vmi, status).await {
        record(
            objects,
            Event::normal(vmi, "Created", "VirtualMachineInstance defined."),
        )
        .await;
        record(
            objects,
            Event::normal(vmi, "Started", "VirtualMachineInstance started."),
        )
        .await;
    }
}

/// The OS the VMI boots, if its guest runs an agent: from its first disk's image, a
/// container disk or a DataVolume's import.
async fn guest_os<O: Objects>(objects: &O, vmi: &Value) -> Option<Value> {
    let volumes = vmi.pointer("/spec/volumes").and_then(Value::as_array)?;
    let first_disk = vmi
        .pointer("/spec/domain/devices/disks")
        .and_then(Value::as_array)
        .and_then(|disks| {
            disks
                .iter()
                .find(|disk| disk["bootOrder"] == 1)
                .or_else(|| disks.first())
        })
        .map(|disk| text(disk, "/name").to_owned());
    let volume = volumes.iter().find(|volume| {
        first_disk
            .as_deref()
            .is_none_or(|disk| volume["name"] == disk)
    })?;
    let image = if let Some(image) = volume.pointer("/containerDisk/image") {
        image.as_str().unwrap_or_default().to_owned()
    } else {
        let name = text(volume, "/dataVolume/name");
        let namespace = text(vmi, "/metadata/namespace");
        let data_volume = objects.get(Kind::DataVolume, namespace, name).await?;
        let source = data_volume.pointer("/spec/source")?;
        ["/http/url", "/registry/url", "/s3/url", "/gcs/url"]
            .iter()
            .find_map(|pointer| source.pointer(pointer).and_then(Value::as_str))?
            .to_owned()
    };
    guest::os_info(&image)
}

/// The guest agent connects (`updateGuestAgentConditions`): the condition, the OS it
/// reports, and the interface names inside the guest.
async fn connect_agent<O: Objects>(objects: &O, vmi: &Value, os: Value) {
    let mut conditions = conditions_of(vmi);
    conditions.push(json!({"type": "AgentConnected", "status": "True",
        "lastProbeTime": null, "lastTransitionTime": now()}));
    let status = json!({"conditions": conditions, "guestOSInfo": os,
        "interfaces": interfaces(vmi, true)});
    write(objects, vmi, status).await;
}

/// The VMI's finalizers, the VMI controller's taken out.
fn other_finalizers(vmi: &Value) -> Vec<Value> {
    array_at(vmi, "/metadata/finalizers")
        .into_iter()
        .filter(|finalizer| *finalizer != FINALIZER)
        .collect()
}

/// A deleted VMI: a running domain is shut down (killed at once with a grace period of 0),
/// one that never ran fails with its pod gone; a final one loses the finalizer. The VMI
/// controller lets go of a VMI that has just ended in the same write (it removes its pod and
/// finalizer as soon as it sees the end), so the VMI is gone as soon as it is final.
async fn shut_down<O: Objects>(context: &Context<O>, vmi: &Value, work: Work) {
    let objects = &context.objects;
    if is_final(vmi) {
        let removed = json!({"metadata": {"finalizers": other_finalizers(vmi)}});
        objects
            .patch_of(Kind::VirtualMachineInstance, vmi, Part::Object, removed)
            .await;
        return;
    }
    let uid = text(vmi, "/metadata/uid");
    let graceful = vmi
        .pointer("/spec/terminationGracePeriodSeconds")
        .and_then(Value::as_i64)
        != Some(0);
    let running = text(vmi, "/status/phase") == "Running";
    if running && graceful {
        match context.wait(format!("{uid}/shutdown"), 1, &work) {
            Wait::Started => {
                let event = Event::normal(vmi, "ShuttingDown", "Signaled Graceful Shutdown");
                return record(objects, event).await;
            }
            Wait::Pending => return,
            Wait::Over => {}
        }
    } else if running {
        record(
            objects,
            Event::normal(vmi, "Deleted", "VirtualMachineInstance stopping"),
        )
        .await;
    }
    let phase = if running { "Succeeded" } else { "Failed" };
    let mut conditions = conditions_of(vmi);
    conditions.retain(|condition| condition["type"] != "Ready" && condition["type"] != "Paused");
    conditions.push(
        json!({"type": "Ready", "status": "False", "reason": "PodTerminating",
        "message": "virt-launcher pod is terminating", "lastProbeTime": null,
        "lastTransitionTime": now()}),
    );
    let ended = json!({
        "metadata": {"finalizers": other_finalizers(vmi)},
        "status": {"phase": phase, "phaseTransitionTimestamps": transitions(vmi, phase),
            "conditions": conditions},
    });
    let written = objects
        .patch_of(Kind::VirtualMachineInstance, vmi, Part::Object, ended)
        .await;
    if written {
        if running {
            let event = Event::normal(vmi, "Stopped", "The VirtualMachineInstance was shut down.");
            record(objects, event).await;
        }
        let namespace = text(vmi, "/metadata/namespace");
        objects.delete(Kind::Pod, namespace, &pod_name(vmi)).await;
        let message = format!("Deleted virtual machine pod {}", pod_name(vmi));
        let event = Event::normal(vmi, "SuccessfulDelete", message);
        objects.record_event(event.from(vm::COMPONENT)).await;
    }
}

/// virt-handler pauses or unpauses the domain (`calculatePausedCondition`) and says so in an
/// event (pkg/virt-handler/rest/lifecycle.go). The launcher pod's readiness gate follows
/// (`syncPausedConditionToPod`), so the pod, and with it the VMI
/// (`syncReadyConditionFromPod`), is not Ready while paused, in the kubelet's words.
pub(super) async fn pause<O: Objects>(objects: &O, vmi: &Value, pausing: bool) {
    let mut conditions = conditions_of(vmi);
    conditions.retain(|condition| condition["type"] != "Paused" && condition["type"] != "Ready");
    if pausing {
        let gate = "the status of pod readiness gate \"kubevirt.io/virtual-machine-unpaused\" \
                    is not \"True\", but False";
        conditions.push(json!({"type": "Ready", "status": "False",
            "reason": "ReadinessGatesNotReady", "message": gate, "lastProbeTime": null,
            "lastTransitionTime": now()}));
        conditions.push(
            json!({"type": "Paused", "status": "True", "reason": "PausedByUser",
            "message": "VMI was paused by user", "lastProbeTime": now(),
            "lastTransitionTime": now()}),
        );
    } else {
        conditions.push(
            json!({"type": "Ready", "status": "True", "lastProbeTime": null,
            "lastTransitionTime": now()}),
        );
    }
    if write(objects, vmi, json!({"conditions": conditions})).await {
        let event = if pausing {
            Event::normal(vmi, "Paused", "VirtualMachineInstance paused")
        } else {
            Event::normal(vmi, "Unpaused", "VirtualMachineInstance unpaused")
        };
        record(objects, event).await;
    }
}
