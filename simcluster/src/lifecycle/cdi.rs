//! CDI's DataVolume import, simulated (`pkg/controller/datavolume/import-controller.go`,
//! `controller-base.go`, `conditions.go` in kubevirt/containerized-data-importer): a new
//! DataVolume is Pending while its PVC is; one delay later the PVC is bound and the import
//! ImportScheduled; then ImportInProgress, `progress` rising over three more delays; then
//! Succeeded at "100.0%". Each phase change is an event of the DataVolume, as are changes
//! of its Bound condition and the importer's errors.
//!
//! A DataVolume a restore made is pre-populated (`AnnPrePopulated`): Succeeded at once.
//!
//! An HTTP source that cannot be fetched fails as CDI's importer does: the importer pod
//! exits with the importer's message (cmd/cdi-importer/importer.go,
//! `errorCannotConnectDataSource`), the DataVolume stays ImportInProgress with its Running
//! condition False, reason Error, and counts the pod's restarts (CrashLoopBackOff). Which
//! sources fail, by rule: a URL whose host ends in `.invalid` (RFC 2606) or is `unreachable`
//! cannot be resolved; one whose path contains `notfound` or ends in `.fail` answers 404.

use super::{
    array_at, events::Event, now, restore, runtime::Context, runtime::Work, seed, text, Kind,
    Objects, Part,
};
use serde_json::{json, Value};

const COMPONENT: &str = "datavolume-import-controller";
/// Progress reports between ImportInProgress and Succeeded.
const PROGRESS_STEPS: u64 = 3;

/// What the importer pod ends with when the source cannot be fetched.
fn import_failure(data_volume: &Value) -> Option<String> {
    let url = text(data_volume, "/spec/source/http/url");
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host);
    if host.ends_with(".invalid") || host == "unreachable" {
        // `createHTTPReader` wraps the client's error (pkg/importer/http-datasource.go).
        return Some(format!(
            "Unable to connect to http data source: HTTP request errored: Get \"{url}\": dial \
             tcp: lookup {host} on 10.96.0.10:53: no such host"
        ));
    }
    let path = path.to_ascii_lowercase();
    (path.contains("notfound") || path.ends_with(".fail")).then(|| {
        "Unable to connect to http data source: expected status code 200, got 404. Status: 404 \
         Not Found"
            .to_owned()
    })
}

/// `conditions` with the condition of `kind` set as CDI's `updateCondition` sets it: a new
/// status moves both times, a new reason or message only the heartbeat.
fn with_condition(
    conditions: &[Value],
    kind: &str,
    status: &str,
    reason: &str,
    message: &str,
) -> Vec<Value> {
    let time = now();
    let mut updated = conditions.to_vec();
    let index = match updated
        .iter()
        .position(|condition| condition["type"] == kind)
    {
        Some(index) => index,
        None => {
            updated.push(json!({"type": kind}));
            updated.len() - 1
        }
    };
    let condition = &mut updated[index];
    if condition["status"] != status {
        condition["lastTransitionTime"] = json!(time);
        condition["lastHeartbeatTime"] = json!(time);
    } else if condition["reason"] != reason || condition["message"] != message {
        condition["lastHeartbeatTime"] = json!(time);
    }
    condition["status"] = json!(status);
    condition["reason"] = json!(reason);
    condition["message"] = json!(message);
    updated
}

/// The DataVolume's conditions after `changes` (type, status, reason, message), in CDI's
/// order: Bound, Ready, Running.
fn conditions(data_volume: &Value, changes: [(&str, &str, &str, &str); 3]) -> Value {
    let mut list: Vec<Value> = array_at(data_volume, "/status/conditions");
    for (kind, status, reason, message) in changes {
        list = with_condition(&list, kind, status, reason, message);
    }
    Value::Array(list)
}

async fn write<O: Objects>(objects: &O, data_volume: &Value, status: Value) -> bool {
    objects
        .patch_of(Kind::DataVolume, data_volume, Part::Status, status)
        .await
}

async fn record<O: Objects>(objects: &O, event: Event) {
    objects.record_event(event.from(COMPONENT)).await;
}

/// The progress reported at `step` (1 to [`PROGRESS_STEPS`]), in CDI's format
/// (`updateProgressUsingPod`): rising, and not the same for every import.
fn progress(data_volume: &Value, step: u64) -> String {
    let share = 100.0 / (PROGRESS_STEPS + 1) as f64;
    let jitter = (seed(data_volume).wrapping_add(step * 7919) % 1000) as f64 / 1000.0;
    format!("{:.2}%", share * (step as f64 + jitter))
}

pub(super) async fn reconcile<O: Objects>(context: &Context<O>, namespace: &str, name: &str) {
    let objects = &context.objects;
    let Some(volume) = objects.get(Kind::DataVolume, namespace, name).await else {
        return;
    };
    if volume.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let work = Work::new(Kind::DataVolume, namespace, name);
    let uid = text(&volume, "/metadata/uid").to_owned();
    let claim = text(&volume, "/metadata/name").to_owned();
    let restarts = volume
        .pointer("/status/restartCount")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let step = (1..=PROGRESS_STEPS)
        .find(|step| progress(&volume, *step) == text(&volume, "/status/progress"))
        .unwrap_or(0);
    let pre_populated = volume
        .pointer("/metadata/annotations")
        .and_then(|annotations| annotations.get(restore::PRE_POPULATED))
        .is_some();
    match text(&volume, "/status/phase") {
        // A restore's DataVolume: its claim holds the data already.
        "" if pre_populated => succeed(objects, &volume, &claim).await,
        "" => {
            let pending = format!("PVC {claim} Pending");
            let status = json!({"phase": "Pending", "progress": "N/A", "conditions": conditions(
                &volume,
                [("Bound", "False", "Pending", &pending), ("Ready", "False", "", ""),
                 ("Running", "False", "", "")],
            )});
            if write(objects, &volume, status).await {
                record(objects, Event::normal(&volume, "Pending", pending)).await;
            }
        }
        "Pending" if context.waited(format!("{uid}/bind"), 1, &work) => {
            let bound = format!("PVC {claim} Bound");
            let status = json!({"phase": "ImportScheduled", "claimName": claim,
            "conditions": conditions(
                &volume,
                [("Bound", "True", "Bound", &bound), ("Ready", "False", "", ""),
                 ("Running", "False", "", "")],
            )});
            if write(objects, &volume, status).await {
                record(objects, Event::normal(&volume, "Bound", bound)).await;
                let message = format!("Import into {claim} scheduled");
                record(objects, Event::normal(&volume, "ImportScheduled", message)).await;
            }
        }
        "ImportScheduled" if context.waited(format!("{uid}/start"), 1, &work) => {
            let bound = format!("PVC {claim} Bound");
            let failure = import_failure(&volume);
            let running = match &failure {
                Some(message) => ("Running", "False", "Error", message.as_str()),
                None => ("Running", "True", "Pod is running", ""),
            };
            let ready_reason = if failure.is_some() {
                ""
            } else {
                "TransferRunning"
            };
            let status = json!({"phase": "ImportInProgress",
            "restartCount": u64::from(failure.is_some()),
            "conditions": conditions(
                &volume,
                [("Bound", "True", "Bound", &bound), ("Ready", "False", ready_reason, ""),
                 running],
            )});
            if write(objects, &volume, status).await {
                let message = format!("Import into {claim} in progress");
                record(objects, Event::normal(&volume, "ImportInProgress", message)).await;
                if let Some(message) = failure {
                    record(objects, Event::warning(&volume, "Error", message)).await;
                }
            }
        }
        "ImportInProgress" if import_failure(&volume).is_some() => {
            // The pod restarts, backing off as the kubelet does (doubling, up to 5 minutes
            // of real time: here 32 delays).
            let steps = 1u32 << restarts.min(5);
            if context.waited(format!("{uid}/restart/{restarts}"), steps, &work) {
                write(objects, &volume, json!({"restartCount": restarts + 1})).await;
            }
        }
        "ImportInProgress" if context.waited(format!("{uid}/progress/{step}"), 1, &work) => {
            if step < PROGRESS_STEPS {
                let status = json!({"progress": progress(&volume, step + 1)});
                write(objects, &volume, status).await;
            } else {
                succeed(objects, &volume, &claim).await;
            }
        }
        _ => {}
    }
}

async fn succeed<O: Objects>(objects: &O, volume: &Value, claim: &str) {
    let bound = format!("PVC {claim} Bound");
    let status = json!({"phase": "Succeeded", "progress": "100.0%", "conditions": conditions(
        volume,
        [("Bound", "True", "Bound", &bound), ("Ready", "True", "", ""),
         ("Running", "False", "Completed", "Import Complete")],
    )});
    if write(objects, volume, status).await {
        let message = format!("Successfully imported into PVC {claim}");
        record(objects, Event::normal(volume, "ImportSucceeded", message)).await;
    }
}
