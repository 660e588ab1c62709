//! virt-api's lifecycle actions, `PUT …/virtualmachines/{name}/{start,stop,restart}` and
//! `…/virtualmachineinstances/{name}/{pause,unpause}`, checked and carried out as
//! `pkg/virt-api/rest/lifecycle.go` does: by run strategy, a start or stop changes
//! `spec.runStrategy` or asks the VM controller through `status.stateChangeRequests`
//! (`getChangeRequestJson`); a pause or unpause goes to virt-handler. Refusals are the
//! `StatusError`s it writes (`writeError` in subresource.go), word for word.

use super::{instance, text, vm, Kind, Objects, Part};
use axum::http::StatusCode;
use serde_json::{json, Value};

/// A refused action, as a Kubernetes `Status`.
#[derive(Debug)]
pub struct Refusal {
    pub code: StatusCode,
    pub reason: &'static str,
    pub message: String,
    pub details: Value,
}

/// `errors.NewConflict(v1.Resource(resource), name, …)`.
fn conflict(resource: &str, name: &str, message: impl std::fmt::Display) -> Refusal {
    Refusal {
        code: StatusCode::CONFLICT,
        reason: "Conflict",
        message: format!(
            "Operation cannot be fulfilled on {resource}.kubevirt.io \"{name}\": {message}"
        ),
        details: json!({"name": name, "group": "kubevirt.io", "kind": resource}),
    }
}

/// `errors.NewNotFound(v1.Resource(resource), name)`.
fn not_found(resource: &str, name: &str) -> Refusal {
    Refusal {
        code: StatusCode::NOT_FOUND,
        reason: "NotFound",
        message: format!("{resource}.kubevirt.io \"{name}\" not found"),
        details: json!({"name": name, "group": "kubevirt.io", "kind": resource}),
    }
}

fn bad_request(message: &str) -> Refusal {
    Refusal {
        code: StatusCode::BAD_REQUEST,
        reason: "BadRequest",
        message: message.to_owned(),
        details: json!({}),
    }
}

/// `errors.NewInternalError(err)`.
fn internal(message: &str) -> Refusal {
    Refusal {
        code: StatusCode::INTERNAL_SERVER_ERROR,
        reason: "InternalError",
        message: format!("Internal error occurred: {message}"),
        details: json!({"causes": [{"message": message}]}),
    }
}

const VM: &str = "virtualmachine";
const VMI: &str = "virtualmachineinstance";

/// `PUT …/{plural}/{name}/{action}` with the decoded request body.
pub async fn act<O: Objects>(
    objects: &O,
    plural: &str,
    namespace: &str,
    name: &str,
    action: &str,
    body: &Value,
) -> Result<StatusCode, Refusal> {
    let call = Call {
        objects,
        namespace,
        name,
    };
    match (plural, action) {
        ("virtualmachines", "start") => call.start().await,
        ("virtualmachines", "stop") => call.stop(body).await,
        ("virtualmachines", "restart") => call.restart(body).await,
        ("virtualmachineinstances", "pause") => call.pause(true).await,
        ("virtualmachineinstances", "unpause") => call.pause(false).await,
        _ => Err(Refusal {
            code: StatusCode::NOT_FOUND,
            reason: "NotFound",
            message: "the server could not find the requested resource".to_owned(),
            details: json!({}),
        }),
    }
}

/// The requests `changes` makes of the VM's `stateChangeRequests` (`getChangeRequestJson`):
/// added to none, or a single stop replacing whatever is pending; anything else is refused.
async fn request<O: Objects>(objects: &O, vm: &Value, changes: Value) -> Result<(), Refusal> {
    let pending = vm::change_requests(vm);
    let single_stop = changes
        .as_array()
        .is_some_and(|changes| changes.len() == 1 && changes[0]["action"] == "Stop");
    if !pending.is_empty() && !single_stop {
        return Err(internal(
            "unable to complete request: stop/start already underway",
        ));
    }
    let mut status = json!({"stateChangeRequests": changes});
    if vm.pointer("/status/startFailure").is_some() {
        status["startFailure"] = Value::Null;
    }
    if objects
        .patch_of(Kind::VirtualMachine, vm, Part::Status, status)
        .await
    {
        Ok(())
    } else {
        Err(internal("the VM's status could not be written"))
    }
}

/// `getRunningPatch`: the run strategy Always or Halted, or `spec.running` where the VM
/// still uses that.
async fn set_running<O: Objects>(objects: &O, vm: &Value, running: bool) -> Result<(), Refusal> {
    let spec = if vm.pointer("/spec/runStrategy").is_some() {
        json!({"runStrategy": if running { "Always" } else { "Halted" }})
    } else {
        json!({"running": running})
    };
    if objects
        .patch_of(
            Kind::VirtualMachine,
            vm,
            Part::Object,
            json!({"spec": spec}),
        )
        .await
    {
        Ok(())
    } else {
        Err(internal("the VM could not be changed"))
    }
}

/// Sets the VMI's grace period, as `patchVMITerminationGracePeriod`; the one it had.
async fn set_grace_period<O: Objects>(objects: &O, vmi: &Value, seconds: i64) -> i64 {
    let old = vmi
        .pointer("/spec/terminationGracePeriodSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let patch = json!({"spec": {"terminationGracePeriodSeconds": seconds}});
    objects
        .patch_of(Kind::VirtualMachineInstance, vmi, Part::Object, patch)
        .await;
    old
}

fn stop_request(vmi: &Value) -> Value {
    json!({"action": "Stop", "uid": vmi["metadata"]["uid"]})
}

/// One call, on the VM or VMI `name` in `namespace`.
struct Call<'a, O> {
    objects: &'a O,
    namespace: &'a str,
    name: &'a str,
}

impl<O: Objects> Call<'_, O> {
    async fn vm(&self) -> Result<Value, Refusal> {
        self.objects
            .get(Kind::VirtualMachine, self.namespace, self.name)
            .await
            .ok_or_else(|| not_found(VM, self.name))
    }

    async fn vmi(&self) -> Option<Value> {
        self.objects
            .get(Kind::VirtualMachineInstance, self.namespace, self.name)
            .await
    }

    fn conflict(&self, resource: &str, message: impl std::fmt::Display) -> Refusal {
        conflict(resource, self.name, message)
    }

    /// `StartVMRequestHandler`.
    async fn start(&self) -> Result<StatusCode, Refusal> {
        let vm = self.vm().await?;
        let vmi = self.vmi().await;
        let phase = vmi.as_ref().map(|vmi| text(vmi, "/status/phase"));
        let final_ = vmi.as_ref().is_some_and(instance::is_final);
        if vmi.is_some() && !final_ && !matches!(phase, Some("Unknown" | "")) {
            return Err(self.conflict(VM, "VM is already running"));
        }
        let strategy = vm::run_strategy(&vm);
        match strategy {
            "Halted" => set_running(self.objects, &vm, true).await?,
            "RerunOnFailure" | "Manual" => {
                if strategy == "RerunOnFailure" && phase == Some("Failed") {
                    let message = "RerunOnFailure does not support starting VM from failed state";
                    return Err(self.conflict(VM, message));
                }
                // A final instance (for RerunOnFailure: one the guest shut down) goes first.
                let replaced = vmi.as_ref().filter(|_| match strategy {
                    "RerunOnFailure" => phase == Some("Succeeded"),
                    _ => final_,
                });
                let changes = match replaced {
                    Some(vmi) => json!([stop_request(vmi), {"action": "Start"}]),
                    None => json!([{"action": "Start"}]),
                };
                request(self.objects, &vm, changes).await?;
            }
            "Always" | "Once" => {
                let message = format!("{strategy} does not support manual start requests");
                return Err(self.conflict(VM, message));
            }
            _ => {}
        }
        Ok(StatusCode::ACCEPTED)
    }

    /// `StopVMRequestHandler`; `body` is `StopOptions` (`gracePeriod`).
    async fn stop(&self, body: &Value) -> Result<StatusCode, Refusal> {
        let vm = self.vm().await?;
        let strategy = vm::run_strategy(&vm);
        let vmi = self.vmi().await;
        let grace = body.get("gracePeriod").and_then(Value::as_i64);
        let running = vmi.as_ref().filter(|vmi| !instance::is_final(vmi));
        let mut old_grace = 0;
        if let (Some(vmi), Some(grace)) = (running, grace) {
            old_grace = set_grace_period(self.objects, vmi, grace).await;
        }
        match (strategy, running) {
            ("Halted" | "RerunOnFailure" | "Manual", None) => {
                return Err(self.conflict(VM, "VM is not running"));
            }
            ("Halted", Some(vmi)) => {
                let had_grace = vmi.pointer("/spec/terminationGracePeriodSeconds").is_some();
                if grace.is_none_or(|grace| had_grace && grace >= old_grace) {
                    let message =
                        "Halted only supports manual stop requests with a shorter graceperiod";
                    return Err(self.conflict(VM, message));
                }
                request(self.objects, &vm, json!([stop_request(vmi)])).await?;
            }
            ("RerunOnFailure" | "Manual", Some(vmi)) => {
                request(self.objects, &vm, json!([stop_request(vmi)])).await?;
            }
            ("Always" | "Once", _) => set_running(self.objects, &vm, false).await?,
            _ => {}
        }
        Ok(StatusCode::ACCEPTED)
    }

    /// `RestartVMRequestHandler`; `body` is `RestartOptions` (`gracePeriodSeconds`).
    async fn restart(&self, body: &Value) -> Result<StatusCode, Refusal> {
        let grace = body.get("gracePeriodSeconds").and_then(Value::as_i64);
        match grace {
            Some(seconds) if seconds > 0 => {
                return Err(bad_request(
                    "For force restart, only gracePeriod=0 is supported for now",
                ))
            }
            Some(seconds) if seconds < 0 => {
                return Err(bad_request("gracePeriod has to be greater or equal to 0"))
            }
            _ => {}
        }
        let vm = self.vm().await?;
        let strategy = vm::run_strategy(&vm);
        if matches!(strategy, "Halted" | "Once") {
            // "RunStategy" is virt-api's spelling.
            let message = format!("RunStategy {strategy} does not support manual restart requests");
            return Err(self.conflict(VM, message));
        }
        let Some(vmi) = self.vmi().await else {
            return Err(self.conflict(VM, "VM is not running: Halted"));
        };
        if grace == Some(0) {
            // The shortest safe grace period, so the guest goes down at once.
            set_grace_period(self.objects, &vmi, 1).await;
        }
        let changes = json!([stop_request(&vmi), {"action": "Start"}]);
        request(self.objects, &vm, changes).await?;
        Ok(StatusCode::ACCEPTED)
    }

    /// `PauseVMIRequestHandler` (`pausing`) and `UnpauseVMIRequestHandler`.
    async fn pause(&self, pausing: bool) -> Result<StatusCode, Refusal> {
        if !pausing {
            let vm = self.vm().await.ok();
            if vm.is_some_and(|vm| vm.pointer("/status/snapshotInProgress").is_some()) {
                return Err(self.conflict(VM, "VM snapshot is in progress"));
            }
        }
        let vmi = self.vmi().await.ok_or_else(|| not_found(VMI, self.name))?;
        let running = text(&vmi, "/status/phase") == "Running";
        let paused = super::condition(&vmi, "Paused").is_some();
        match (pausing, running, paused) {
            // Pausing says "VM", unpausing "VMI": virt-api's own words.
            (true, false, _) => Err(self.conflict(VMI, "VM is not running")),
            (true, true, true) => Err(self.conflict(VMI, "VMI is already paused")),
            (false, false, _) => Err(self.conflict(VMI, "VMI is not running")),
            (false, true, false) => Err(self.conflict(VMI, "VMI is not paused")),
            _ => {
                instance::pause(self.objects, &vmi, pausing).await;
                Ok(StatusCode::OK)
            }
        }
    }
}
