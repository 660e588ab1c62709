//! Quota wire types: limits, usage and what is left, shared by the pages and the server.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One resource a quota limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Vcpus,
    MemoryMib,
    DiskGib,
    VmCount,
    SnapshotCount,
    SnapshotGib,
}

impl Resource {
    pub const ALL: [Resource; 6] = [
        Resource::Vcpus,
        Resource::MemoryMib,
        Resource::DiskGib,
        Resource::VmCount,
        Resource::SnapshotCount,
        Resource::SnapshotGib,
    ];

    /// The column in `quota_templates`, `resource_quotas` and `resource_usage`, and the
    /// form field.
    pub fn key(self) -> &'static str {
        match self {
            Resource::Vcpus => "vcpus",
            Resource::MemoryMib => "memory_mib",
            Resource::DiskGib => "disk_gib",
            Resource::VmCount => "vm_count",
            Resource::SnapshotCount => "snapshot_count",
            Resource::SnapshotGib => "snapshot_gib",
        }
    }

    /// The name in refusals and on the pages.
    pub fn label(self) -> &'static str {
        match self {
            Resource::Vcpus => "vCPUs",
            Resource::MemoryMib => "memory",
            Resource::DiskGib => "disk",
            Resource::VmCount => "VMs",
            Resource::SnapshotCount => "snapshots",
            Resource::SnapshotGib => "snapshot space",
        }
    }

    /// The unit after an amount, with its leading space; counts have none.
    pub fn unit(self) -> &'static str {
        match self {
            Resource::MemoryMib => " MiB",
            Resource::DiskGib | Resource::SnapshotGib => " GiB",
            Resource::Vcpus | Resource::VmCount | Resource::SnapshotCount => "",
        }
    }

    /// `amount` with its unit: "8192 MiB", "3".
    pub fn amount(self, amount: i64) -> String {
        format!("{amount}{}", self.unit())
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// An amount of every resource: a quota's limits, a project's usage or a VM's demand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amounts {
    pub vcpus: i64,
    pub memory_mib: i64,
    pub disk_gib: i64,
    pub vm_count: i64,
    pub snapshot_count: i64,
    pub snapshot_gib: i64,
}

impl Amounts {
    pub fn get(&self, resource: Resource) -> i64 {
        match resource {
            Resource::Vcpus => self.vcpus,
            Resource::MemoryMib => self.memory_mib,
            Resource::DiskGib => self.disk_gib,
            Resource::VmCount => self.vm_count,
            Resource::SnapshotCount => self.snapshot_count,
            Resource::SnapshotGib => self.snapshot_gib,
        }
    }

    pub fn set(&mut self, resource: Resource, amount: i64) {
        match resource {
            Resource::Vcpus => self.vcpus = amount,
            Resource::MemoryMib => self.memory_mib = amount,
            Resource::DiskGib => self.disk_gib = amount,
            Resource::VmCount => self.vm_count = amount,
            Resource::SnapshotCount => self.snapshot_count = amount,
            Resource::SnapshotGib => self.snapshot_gib = amount,
        }
    }

    /// `self` with `other` added to every resource (subtracted when `sign` is -1).
    pub fn plus(&self, other: &Amounts, sign: i64) -> Amounts {
        let mut sum = *self;
        for resource in Resource::ALL {
            sum.set(resource, self.get(resource) + sign * other.get(resource));
        }
        sum
    }

    /// What one VM holds.
    pub fn vm(vcpus: i64, memory_mib: i64, disk_gib: i64) -> Amounts {
        Amounts {
            vcpus,
            memory_mib,
            disk_gib,
            vm_count: 1,
            ..Amounts::default()
        }
    }
}

/// A quota template, as listed and edited by global admins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaTemplate {
    pub id: String,
    pub name: String,
    pub description: String,
    pub limits: Amounts,
    /// New projects get this template's quota.
    pub is_default: bool,
    /// How many projects use it; a template in use cannot be deleted.
    pub projects: i64,
}

/// A template as typed: every limit is text so that a bad number becomes a field error.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaTemplateForm {
    pub name: String,
    pub description: String,
    pub limits: LimitsForm,
    pub is_default: bool,
}

/// Limits as typed, one text per resource in [`Resource::ALL`] order of keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsForm {
    pub vcpus: String,
    pub memory_mib: String,
    pub disk_gib: String,
    pub vm_count: String,
    pub snapshot_count: String,
    pub snapshot_gib: String,
}

/// The largest limit accepted for any resource; far above any cluster, small enough that
/// sums of usage never overflow.
pub const MAX_LIMIT: i64 = 1 << 40;

impl LimitsForm {
    pub fn from_amounts(amounts: &Amounts) -> LimitsForm {
        let text = |resource| amounts.get(resource).to_string();
        LimitsForm {
            vcpus: text(Resource::Vcpus),
            memory_mib: text(Resource::MemoryMib),
            disk_gib: text(Resource::DiskGib),
            vm_count: text(Resource::VmCount),
            snapshot_count: text(Resource::SnapshotCount),
            snapshot_gib: text(Resource::SnapshotGib),
        }
    }

    pub fn text(&self, resource: Resource) -> &str {
        match resource {
            Resource::Vcpus => &self.vcpus,
            Resource::MemoryMib => &self.memory_mib,
            Resource::DiskGib => &self.disk_gib,
            Resource::VmCount => &self.vm_count,
            Resource::SnapshotCount => &self.snapshot_count,
            Resource::SnapshotGib => &self.snapshot_gib,
        }
    }

    pub fn set(&mut self, resource: Resource, text: String) {
        match resource {
            Resource::Vcpus => self.vcpus = text,
            Resource::MemoryMib => self.memory_mib = text,
            Resource::DiskGib => self.disk_gib = text,
            Resource::VmCount => self.vm_count = text,
            Resource::SnapshotCount => self.snapshot_count = text,
            Resource::SnapshotGib => self.snapshot_gib = text,
        }
    }

    /// The limits, or the first field that is not a whole number from 0 to [`MAX_LIMIT`]
    /// with its message.
    pub fn parse(&self) -> Result<Amounts, (&'static str, String)> {
        let mut amounts = Amounts::default();
        for resource in Resource::ALL {
            match self.text(resource).trim().parse::<i64>() {
                Ok(amount) if (0..=MAX_LIMIT).contains(&amount) => amounts.set(resource, amount),
                _ => {
                    return Err((
                        resource.key(),
                        format!(
                            "Enter the {} limit as a whole number from 0 to {MAX_LIMIT}.",
                            resource.label()
                        ),
                    ))
                }
            }
        }
        Ok(amounts)
    }
}

/// A project's quota: its limits, where they came from, and what the project holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectQuota {
    pub project_slug: String,
    pub project_name: String,
    /// The template the limits were taken from; `None` for a custom quota.
    pub template: Option<TemplateRef>,
    pub limits: Amounts,
    pub usage: Amounts,
}

/// A template named by a quota.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateRef {
    pub id: String,
    pub name: String,
    /// Whether the quota still has the template's limits; false once the template was
    /// changed and not applied to this project.
    pub current: bool,
}

impl ProjectQuota {
    /// What is left of `resource`; negative when the project is over its quota.
    pub fn free(&self, resource: Resource) -> i64 {
        self.limits.get(resource) - self.usage.get(resource)
    }

    /// Whether any resource is used beyond its limit (after the limit was lowered).
    pub fn over_quota(&self) -> bool {
        Resource::ALL
            .into_iter()
            .any(|resource| self.usage.get(resource) > self.limits.get(resource))
    }

    /// The fullest resource's share of its limit, from 0 (empty) up; a zero limit with no
    /// usage counts as empty, with usage as full.
    pub fn fullness(&self) -> f64 {
        Resource::ALL
            .into_iter()
            .map(|resource| share(self.usage.get(resource), self.limits.get(resource)))
            .fold(0.0, f64::max)
    }

    /// The first resource `demand` would take beyond the limit, as the refusal says it:
    /// "memory: 8192 MiB requested, 2048 of 16384 MiB free in project ml-lab". Growth only:
    /// a resource `demand` does not increase is never refused, even over quota.
    pub fn refusal(&self, demand: &Amounts) -> Option<String> {
        Resource::ALL.into_iter().find_map(|resource| {
            let asked = demand.get(resource);
            let free = self.free(resource);
            (asked > 0 && asked > free).then(|| {
                format!(
                    "{}: {} requested, {} of {} free in project {}",
                    resource.label(),
                    resource.amount(asked),
                    free.max(0),
                    resource.amount(self.limits.get(resource)),
                    self.project_slug,
                )
            })
        })
    }
}

/// `used` as a share of `limit`.
pub fn share(used: i64, limit: i64) -> f64 {
    match (used, limit) {
        (0, _) => 0.0,
        (_, 0) => 1.0,
        _ => used as f64 / limit as f64,
    }
}

/// A project's quota as an admin sets it: from a template, or custom limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QuotaChoice {
    Template(String),
    Custom(LimitsForm),
}

#[cfg(test)]
mod tests {
    use super::{Amounts, LimitsForm, ProjectQuota, Resource};

    fn quota(limits: Amounts, usage: Amounts) -> ProjectQuota {
        ProjectQuota {
            project_slug: "ml-lab".into(),
            project_name: "ML lab".into(),
            template: None,
            limits,
            usage,
        }
    }

    #[test]
    fn a_refusal_names_the_resource_the_request_the_room_and_the_limit() {
        let limits = Amounts {
            vcpus: 8,
            memory_mib: 16384,
            vm_count: 10,
            ..Amounts::default()
        };
        let usage = Amounts::vm(2, 14336, 0);
        let quota = quota(limits, usage);
        assert_eq!(
            quota.refusal(&Amounts::vm(1, 8192, 0)).as_deref(),
            Some("memory: 8192 MiB requested, 2048 of 16384 MiB free in project ml-lab")
        );
        assert_eq!(quota.refusal(&Amounts::vm(6, 2048, 0)), None);
        assert_eq!(
            quota.refusal(&Amounts::vm(7, 0, 0)).as_deref(),
            Some("vCPUs: 7 requested, 6 of 8 free in project ml-lab")
        );
    }

    #[test]
    fn over_quota_blocks_growth_but_not_shrinking() {
        let limits = Amounts::vm(2, 1024, 0);
        let quota = quota(limits, Amounts::vm(4, 512, 0));
        assert!(quota.over_quota());
        assert_eq!(quota.free(Resource::Vcpus), -2);
        let shrink = Amounts {
            vcpus: -1,
            ..Amounts::default()
        };
        assert_eq!(quota.refusal(&shrink), None);
        assert!(quota
            .refusal(&Amounts {
                memory_mib: 1,
                ..Amounts::default()
            })
            .is_none());
        assert!(quota
            .refusal(&Amounts {
                vcpus: 1,
                ..Amounts::default()
            })
            .unwrap()
            .starts_with("vCPUs: 1 requested, 0 of 2 free"));
    }

    #[test]
    fn limits_are_whole_numbers_in_range() {
        let mut form = LimitsForm::from_amounts(&Amounts::vm(4, 8192, 100));
        assert_eq!(form.parse(), Ok(Amounts::vm(4, 8192, 100)));
        form.memory_mib = "-1".into();
        assert_eq!(form.parse().map_err(|(field, _)| field), Err("memory_mib"));
        form.memory_mib = "lots".into();
        assert!(form.parse().is_err());
    }

    #[test]
    fn each_limit_is_typed_into_its_own_field() {
        let mut form = LimitsForm::default();
        for (resource, text) in Resource::ALL
            .into_iter()
            .zip(["1", "2", "3", "4", "5", "6"])
        {
            form.set(resource, text.to_owned());
        }
        for (resource, text) in Resource::ALL
            .into_iter()
            .zip(["1", "2", "3", "4", "5", "6"])
        {
            assert_eq!(form.text(resource), text);
        }
        assert_eq!(
            form.parse(),
            Ok(Amounts {
                vcpus: 1,
                memory_mib: 2,
                disk_gib: 3,
                vm_count: 4,
                snapshot_count: 5,
                snapshot_gib: 6,
            })
        );
    }
}
