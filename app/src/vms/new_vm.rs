//! The create-VM form: what it sends and the rules both the browser and the server check.

use super::names::VmName;
use serde::{Deserialize, Serialize};

/// The boot images offered without typing a URL: KubeVirt container disks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImagePreset {
    Fedora,
    Ubuntu,
    Cirros,
}

impl ImagePreset {
    pub const ALL: [ImagePreset; 3] = [
        ImagePreset::Fedora,
        ImagePreset::Ubuntu,
        ImagePreset::Cirros,
    ];

    pub fn key(self) -> &'static str {
        match self {
            ImagePreset::Fedora => "fedora",
            ImagePreset::Ubuntu => "ubuntu",
            ImagePreset::Cirros => "cirros",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ImagePreset::Fedora => "Fedora (latest)",
            ImagePreset::Ubuntu => "Ubuntu 24.04",
            ImagePreset::Cirros => "CirrOS (tiny test image)",
        }
    }

    /// The container disk image.
    pub fn image(self) -> &'static str {
        match self {
            ImagePreset::Fedora => "quay.io/containerdisks/fedora:latest",
            ImagePreset::Ubuntu => "quay.io/containerdisks/ubuntu:24.04",
            ImagePreset::Cirros => "quay.io/kubevirt/cirros-container-disk-demo:latest",
        }
    }
}

/// Where the root disk comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageSource {
    /// A container disk: ephemeral, nothing to import.
    Preset(ImagePreset),
    /// A disk image imported by CDI into a DataVolume of `disk_gib`.
    Url(String),
}

pub use super::types::RunStrategy;

/// The form as typed; every field is text so that a bad number becomes a field error.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewVmForm {
    pub name: String,
    /// The slug of the project the VM is made in.
    pub project: String,
    pub cpus: String,
    pub memory_mib: String,
    /// A preset key, or "url".
    pub image: String,
    pub image_url: String,
    pub disk_gib: String,
    pub ssh_key: String,
    pub user_data: String,
    pub run_strategy: String,
}

/// A checked create request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewVm {
    pub name: VmName,
    /// The project's slug, as chosen; the server checks it against the user's projects.
    pub project: String,
    pub cpus: u32,
    pub memory_mib: u64,
    pub image: ImageSource,
    pub disk_gib: u32,
    pub ssh_key: Option<String>,
    pub user_data: Option<String>,
    pub run_strategy: RunStrategy,
}

/// A problem with one field of the form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

pub const MAX_CPUS: u32 = 64;
pub const MIN_MEMORY_MIB: u64 = 128;
pub const MAX_MEMORY_MIB: u64 = 1 << 20;
pub const MAX_DISK_GIB: u32 = 10_240;
const MAX_USER_DATA: usize = 32 * 1024;
const SSH_KEY_TYPES: [&str; 6] = [
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
];

fn ssh_key_problem(key: &str) -> Option<&'static str> {
    let mut parts = key.split_whitespace();
    let kind = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let base64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
    if key.contains('\n') {
        Some("Paste one public key, on one line.")
    } else if !SSH_KEY_TYPES.contains(&kind) || body.len() < 16 || !body.chars().all(base64) {
        Some("This is not an OpenSSH public key (it starts with ssh-ed25519, ssh-rsa or ecdsa-sha2-…).")
    } else {
        None
    }
}

fn number<T: std::str::FromStr + PartialOrd + std::fmt::Display>(
    text: &str,
    field: &'static str,
    min: T,
    max: T,
    unit: &str,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    match text.trim().parse::<T>() {
        Ok(value) if value >= min && value <= max => Some(value),
        _ => {
            errors.push(FieldError {
                field,
                message: format!("Enter a whole number from {min} to {max}{unit}."),
            });
            None
        }
    }
}

impl NewVmForm {
    /// The request, or every problem with the form.
    pub fn parse(&self) -> Result<NewVm, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut fail = |field: &'static str, message: &str| {
            errors.push(FieldError {
                field,
                message: message.to_owned(),
            })
        };
        let name = VmName::parse(self.name.trim())
            .map_err(|problem| fail("name", &problem.to_string()))
            .ok();
        // The choices offered are the user's projects; the server checks the choice.
        let project = Some(self.project.trim().to_owned()).filter(|slug| !slug.is_empty());
        if project.is_none() {
            fail("project", "Choose the project the VM belongs to.");
        }
        let image = match ImagePreset::ALL.into_iter().find(|p| p.key() == self.image) {
            Some(preset) => Some(ImageSource::Preset(preset)),
            None if self.image == "url" => {
                let url = self.image_url.trim();
                let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
                let host_ok = url.split("://").nth(1).is_some_and(|rest| !rest.is_empty());
                if scheme_ok && host_ok && url.len() <= 2048 && !url.contains(char::is_whitespace) {
                    Some(ImageSource::Url(url.to_owned()))
                } else {
                    fail(
                        "image_url",
                        "Enter the http:// or https:// URL of a disk image.",
                    );
                    None
                }
            }
            None => {
                fail("image", "Choose an image.");
                None
            }
        };
        let ssh_key = Some(self.ssh_key.trim().to_owned()).filter(|key| !key.is_empty());
        if let Some(problem) = ssh_key.as_deref().and_then(ssh_key_problem) {
            fail("ssh_key", problem);
        }
        let user_data = Some(self.user_data.trim().to_owned()).filter(|data| !data.is_empty());
        if let Some(data) = &user_data {
            if data.len() > MAX_USER_DATA {
                fail("user_data", "User data is limited to 32 KiB.");
            } else if !data.starts_with("#cloud-config") && !data.starts_with("#!") {
                fail(
                    "user_data",
                    "Start user data with #cloud-config, or #! for a script.",
                );
            } else if ssh_key.is_some() && !data.starts_with("#cloud-config") {
                fail(
                    "ssh_key",
                    "An SSH key can be added to #cloud-config user data only; add it to your script instead.",
                );
            } else if ssh_key.is_some() && data.contains("ssh_authorized_keys") {
                fail(
                    "ssh_key",
                    "Your user data already has ssh_authorized_keys: add the key there, or leave this field empty.",
                );
            }
        }
        let run_strategy = RunStrategy::CHOICES
            .into_iter()
            .find(|strategy| strategy.as_str() == self.run_strategy);
        if run_strategy.is_none() {
            fail("run_strategy", "Choose when the VM runs.");
        }
        let cpus = number(&self.cpus, "cpus", 1, MAX_CPUS, "", &mut errors);
        let memory_mib = number(
            &self.memory_mib,
            "memory_mib",
            MIN_MEMORY_MIB,
            MAX_MEMORY_MIB,
            " MiB",
            &mut errors,
        );
        let disk_gib = if matches!(image, Some(ImageSource::Url(_))) {
            number(
                &self.disk_gib,
                "disk_gib",
                1,
                MAX_DISK_GIB,
                " GiB",
                &mut errors,
            )
        } else {
            Some(0)
        };
        match (
            name,
            project,
            image,
            run_strategy,
            cpus,
            memory_mib,
            disk_gib,
        ) {
            (
                Some(name),
                Some(project),
                Some(image),
                Some(run_strategy),
                Some(cpus),
                Some(memory_mib),
                Some(disk_gib),
            ) if errors.is_empty() => Ok(NewVm {
                name,
                project,
                cpus,
                memory_mib,
                image,
                disk_gib,
                ssh_key,
                user_data,
                run_strategy,
            }),
            _ => Err(errors),
        }
    }
}

/// A stopped VM's new vCPUs and memory, checked by the same rules as the create form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmSize {
    pub cpus: u32,
    pub memory_mib: u64,
}

impl VmSize {
    /// The size, or the first field that is out of range.
    pub fn parse(cpus: &str, memory_mib: &str) -> Result<VmSize, crate::AppError> {
        let mut errors = Vec::new();
        let cpus = number(cpus, "cpus", 1, MAX_CPUS, "", &mut errors);
        let memory_mib = number(
            memory_mib,
            "memory_mib",
            MIN_MEMORY_MIB,
            MAX_MEMORY_MIB,
            " MiB",
            &mut errors,
        );
        match (cpus, memory_mib, errors.into_iter().next()) {
            (Some(cpus), Some(memory_mib), None) => Ok(VmSize { cpus, memory_mib }),
            (_, _, error) => Err(crate::AppError::Invalid {
                field: error.as_ref().map_or("cpus", |e| e.field).to_owned(),
                message: error.map_or_else(String::new, |e| e.message),
            }),
        }
    }
}

impl NewVm {
    /// The cloud-init user data the VM gets: the user's, with the SSH key added.
    pub fn cloud_init(&self) -> Option<String> {
        let key_entry = |key: &str| format!("ssh_authorized_keys:\n  - {key}\n");
        match (&self.user_data, &self.ssh_key) {
            (Some(data), Some(key)) => Some(format!("{}\n{}", data.trim_end(), key_entry(key))),
            (Some(data), None) => Some(data.clone()),
            (None, Some(key)) => Some(format!("#cloud-config\n{}", key_entry(key))),
            (None, None) => None,
        }
    }
}
