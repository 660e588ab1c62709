//! The names Wukong puts into Kubernetes API paths, parsed once where they enter: a request
//! or the create form gives text, and only a [`Namespace`], [`VmName`] or
//! [`DataVolumeName`] reaches a cluster call. kube-rs formats names into the path as they
//! are (`kube-core` `Request::delete`, `replace_subresource` only refuse an empty name), so
//! `../x` or `a/b` would otherwise address another object (security.md VAL-03).

use crate::AppError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a text is not a DNS-1123 label, in words for the create form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameProblem {
    #[error("Enter a name.")]
    Empty,
    #[error("Use at most 63 characters.")]
    TooLong,
    #[error("Use only lowercase letters, digits and '-'.")]
    Character,
    #[error("Start and end with a letter or digit.")]
    Ends,
}

/// Kubernetes' longest label (`validation.DNS1123LabelMaxLength`).
const LABEL_MAX: usize = 63;
/// Kubernetes' longest subdomain (`validation.DNS1123SubdomainMaxLength`).
const SUBDOMAIN_MAX: usize = 253;

/// The shape of a label, whatever its length.
fn shape_problem(text: &str) -> Option<NameProblem> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if text.is_empty() {
        Some(NameProblem::Empty)
    } else if !text.chars().all(allowed) {
        Some(NameProblem::Character)
    } else if !text.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !text.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        Some(NameProblem::Ends)
    } else {
        None
    }
}

/// Kubernetes' `IsDNS1123Label`.
fn label_problem(text: &str) -> Option<NameProblem> {
    if text.len() > LABEL_MAX {
        Some(NameProblem::TooLong)
    } else {
        shape_problem(text)
    }
}

/// Kubernetes' `IsDNS1123Subdomain`: label shapes joined by dots (no `..`, no dot at either
/// end), at most 253 characters in all; a part may be longer than a label.
fn subdomain_problem(text: &str) -> Option<NameProblem> {
    if text.len() > SUBDOMAIN_MAX {
        Some(NameProblem::TooLong)
    } else {
        text.split('.').find_map(shape_problem)
    }
}

macro_rules! checked_name {
    ($(#[$doc:meta])* $type:ident, $check:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $type(String);

        impl $type {
            pub fn parse(text: &str) -> Result<Self, NameProblem> {
                match $check(text) {
                    Some(problem) => Err(problem),
                    None => Ok($type(text.to_owned())),
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $type {
            type Error = NameProblem;

            fn try_from(text: String) -> Result<Self, NameProblem> {
                match $check(&text) {
                    Some(problem) => Err(problem),
                    None => Ok($type(text)),
                }
            }
        }

        impl From<$type> for String {
            fn from(name: $type) -> String {
                name.0
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

checked_name!(
    /// A namespace name: Kubernetes allows DNS-1123 labels only (`ValidateNamespaceName`).
    Namespace,
    label_problem
);

checked_name!(
    /// A VirtualMachine name. The API server would take a DNS-1123 subdomain, but Wukong
    /// names its VMs with labels only, because the name becomes the guest's host name and the
    /// value of the `kubevirt.io/vm` label (KubeVirt cuts longer names at the first dot and
    /// at 63 characters: kubevirt/kubevirt `pkg/util/net/dns/sanitize.go`). A name with a dot
    /// can therefore never be one of Wukong's VMs.
    VmName,
    label_problem
);

checked_name!(
    /// A DataVolume name (a PVC name underneath): a DNS-1123 subdomain, as `{vm}-root` may be
    /// longer than a label.
    DataVolumeName,
    subdomain_problem
);

checked_name!(
    /// A VirtualMachineSnapshot name. Wukong gives snapshots labels only, like VMs, so that
    /// the names of the restores and clones made from them stay within Kubernetes' limits.
    SnapshotName,
    label_problem
);

/// One VM a request names.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VmRef {
    pub namespace: Namespace,
    pub name: VmName,
}

impl VmRef {
    /// The VM named by the text of a request. A malformed name answers 404, like any VM the
    /// caller may not see: a request naming one object learns nothing more from a bad name
    /// than from a missing VM, and the text is not echoed back.
    pub fn from_request(namespace: &str, name: &str) -> Result<VmRef, AppError> {
        match (Namespace::parse(namespace), VmName::parse(name)) {
            (Ok(namespace), Ok(name)) => Ok(VmRef { namespace, name }),
            _ => Err(AppError::NotFound {
                what: "That virtual machine".to_owned(),
            }),
        }
    }

    /// How messages name the VM, e.g. `VM "web-1"`.
    pub fn what(&self) -> String {
        format!("VM \"{}\"", self.name)
    }
}

impl fmt::Display for VmRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}
