//! The VM list rows of the live store, kept between requests and sorted once per change.
//!
//! A list request used to summarise, filter and sort every VM it could see, so its cost
//! grew with the cluster (about 5 ms at 5,000 VMs). Here each VM's row is built when the
//! watch reports it, each sort order is built at most once per change (on the first request
//! that asks for it), and a request walks one order, keeping the rows of the user's
//! projects and cloning only the page it returns. Namespaces and labels are numbered, so
//! that checking a row against the user's projects compares numbers, and a request
//! allocates nothing in proportion to the VMs it walks.

use super::compare;
use crate::{
    authz::server::ProjectRow,
    projects::types::ProjectScope,
    vms::types::{VmPage, VmQuery, VmSort, VmStatus, VmSummary, VM_PAGE_SIZE},
};
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

/// One VM as the list shows it, with what the visibility check and the name filter need.
#[derive(Debug)]
pub struct IndexedVm {
    /// With the project fields empty: they depend on who asks.
    pub row: VmSummary,
    /// The project label; empty when there is none.
    pub project_id: String,
    name_lower: String,
    /// The namespace's and the label's numbers in the index (0: none yet).
    namespace_key: u32,
    label_key: u32,
}

impl IndexedVm {
    pub fn new(row: VmSummary, project_id: String) -> IndexedVm {
        IndexedVm {
            name_lower: row.name.to_lowercase(),
            project_id,
            row,
            namespace_key: 0,
            label_key: 0,
        }
    }
}

type Order = Arc<[Arc<IndexedVm>]>;

/// The orders a request can ask for: the five that depend on the VM alone, and namespace
/// then name, which the per-user project order is made from.
const ORDERS: usize = 6;

fn slot(sort: VmSort) -> usize {
    match sort {
        VmSort::Name => 0,
        VmSort::Status => 1,
        VmSort::Cpus => 2,
        VmSort::Memory => 3,
        VmSort::Age => 4,
        VmSort::Project => 5,
    }
}

#[derive(Default)]
struct State {
    rows: HashMap<(String, String), Arc<IndexedVm>>,
    orders: [Option<Order>; ORDERS],
    /// Every namespace and label seen, numbered from 1. Only grows, so a number read with
    /// one order is still right for a later one: a few bytes per namespace or project that
    /// ever had a VM.
    keys: HashMap<String, u32>,
}

impl State {
    fn key(&mut self, text: &str) -> u32 {
        if let Some(key) = self.keys.get(text) {
            return *key;
        }
        let key = u32::try_from(self.keys.len() + 1).unwrap_or(u32::MAX);
        self.keys.insert(text.to_owned(), key);
        key
    }

    fn keyed(&mut self, mut vm: IndexedVm) -> Arc<IndexedVm> {
        vm.namespace_key = self.key(&vm.row.namespace);
        vm.label_key = self.key(&vm.project_id);
        Arc::new(vm)
    }
}

/// Cheap to clone; shared by the watch tasks that write it and the requests that read it.
#[derive(Clone, Default)]
pub struct VmIndex(Arc<RwLock<State>>);

impl VmIndex {
    /// Sets the row of the VM `namespace`/`name` to `row` (`None`: the VM is gone), and
    /// says whether that changed anything the list shows. `row` is computed under the lock,
    /// so that of two watch tasks updating one VM the later one's reading of the stores
    /// wins.
    pub fn update(
        &self,
        namespace: &str,
        name: &str,
        row: impl FnOnce() -> Option<IndexedVm>,
    ) -> bool {
        let Ok(mut state) = self.0.write() else {
            return true;
        };
        let key = (namespace.to_owned(), name.to_owned());
        let known = state.rows.get(&key);
        let row = row();
        let same = match (known, &row) {
            (Some(known), Some(row)) => known.row == row.row && known.project_id == row.project_id,
            (None, None) => true,
            _ => false,
        };
        if same {
            return false;
        }
        match row {
            Some(row) => {
                let row = state.keyed(row);
                state.rows.insert(key, row);
            }
            None => drop(state.rows.remove(&key)),
        }
        state.orders = Default::default();
        true
    }

    /// Replaces every row, after the watch listed the cluster again.
    pub fn replace_all(&self, rows: impl IntoIterator<Item = IndexedVm>) {
        let Ok(mut state) = self.0.write() else {
            return;
        };
        let rows = rows
            .into_iter()
            .map(|vm| {
                (
                    (vm.row.namespace.clone(), vm.row.name.clone()),
                    state.keyed(vm),
                )
            })
            .collect();
        state.rows = rows;
        state.orders = Default::default();
    }

    /// The rows sorted by `sort` (namespace then name for [`VmSort::Project`]).
    fn order(&self, sort: VmSort) -> Order {
        let slot = slot(sort);
        if let Some(order) = self
            .0
            .read()
            .ok()
            .and_then(|state| state.orders[slot].clone())
        {
            return order;
        }
        let Ok(mut state) = self.0.write() else {
            return Arc::new([]);
        };
        if let Some(order) = &state.orders[slot] {
            return order.clone();
        }
        let mut rows: Vec<Arc<IndexedVm>> = state.rows.values().cloned().collect();
        match sort {
            VmSort::Project => rows.sort_unstable_by(|a, b| {
                (&a.row.namespace, &a.row.name).cmp(&(&b.row.namespace, &b.row.name))
            }),
            _ => rows.sort_unstable_by(|a, b| compare(sort, &a.row, &b.row)),
        }
        let order: Order = rows.into();
        state.orders[slot] = Some(order.clone());
        order
    }

    /// Which rows `projects` may see, by the numbers known now.
    fn visible<'a>(&self, projects: &[&'a ProjectRow]) -> Visible<'a> {
        let Ok(state) = self.0.read() else {
            return Visible(Vec::new());
        };
        let mut by_namespace = vec![None; state.keys.len() + 1];
        for project in projects {
            let (Some(namespace), Some(id)) = (
                state.keys.get(&project.namespace),
                state.keys.get(&project.id),
            ) else {
                // No VM was ever in its namespace or labelled for it.
                continue;
            };
            if let Some(place) = usize::try_from(*namespace)
                .ok()
                .and_then(|at| by_namespace.get_mut(at))
            {
                *place = Some((*project, *id));
            }
        }
        Visible(by_namespace)
    }

    /// One page of the VMs of `projects` that match `query`. A page past the end gives the
    /// last one.
    pub fn page(
        &self,
        projects: &[&ProjectRow],
        query: &VmQuery,
        scopes: Vec<ProjectScope>,
    ) -> VmPage {
        // The order first: every number in it is known to the visibility read after it.
        let order = self.order(query.sort);
        let visible = self.visible(projects);
        let needle = query.name.trim().to_lowercase();
        let shown = row_filter(|vm| {
            let wanted = (needle.is_empty() || vm.name_lower.contains(&needle))
                && query.status.is_none_or(|status| vm.row.status == status);
            wanted
                .then(|| visible.project_of(vm))
                .flatten()
                .map(|project| (&**vm, project))
        });
        let (items, total, page) = if query.sort == VmSort::Project {
            let ranges = by_project(&order, projects);
            if query.descending {
                let rows = ranges.iter().rev().flat_map(|range| range.iter().rev());
                cut(rows.filter_map(shown), query.page)
            } else {
                let rows = ranges.iter().flat_map(|range| range.iter());
                cut(rows.filter_map(shown), query.page)
            }
        } else if query.descending {
            cut(order.iter().rev().filter_map(shown), query.page)
        } else {
            cut(order.iter().filter_map(shown), query.page)
        };
        VmPage {
            items,
            total,
            page,
            projects: scopes,
        }
    }

    /// How many VMs of `projects` there are in each status, by project id.
    pub fn counts(&self, projects: &[&ProjectRow]) -> HashMap<String, HashMap<VmStatus, u64>> {
        let order = self.order(VmSort::Project);
        let visible = self.visible(projects);
        let mut counts: HashMap<String, HashMap<VmStatus, u64>> = HashMap::new();
        for range in by_project(&order, projects) {
            for vm in range {
                if let Some(project) = visible.project_of(vm) {
                    *counts
                        .entry(project.id.clone())
                        .or_default()
                        .entry(vm.row.status)
                        .or_default() += 1;
                }
            }
        }
        counts
    }
}

/// `filter`, typed so that the row it gives back borrows from the row it was given.
fn row_filter<'a, F>(filter: F) -> F
where
    F: for<'v> Fn(&'v Arc<IndexedVm>) -> Option<(&'v IndexedVm, &'a ProjectRow)>,
{
    filter
}

/// The rows of each of `projects`' namespaces, out of the namespace order, with the
/// projects by name (then namespace): the project order of the list.
fn by_project<'o>(
    order: &'o [Arc<IndexedVm>],
    projects: &[&ProjectRow],
) -> Vec<&'o [Arc<IndexedVm>]> {
    let mut sorted: Vec<&ProjectRow> = projects.to_vec();
    sorted.sort_by(|a, b| (&a.name, &a.namespace).cmp(&(&b.name, &b.namespace)));
    sorted
        .into_iter()
        .map(|project| {
            let namespace = project.namespace.as_str();
            let start = order.partition_point(|vm| vm.row.namespace.as_str() < namespace);
            let end = order.partition_point(|vm| vm.row.namespace.as_str() <= namespace);
            &order[start..end]
        })
        .collect()
}

/// Page `page` of `rows` (the last one if there are fewer), with the project fields filled
/// in, the number of rows and the page given.
fn cut<'v>(
    rows: impl Iterator<Item = (&'v IndexedVm, &'v ProjectRow)> + Clone,
    page: usize,
) -> (Vec<VmSummary>, usize, usize) {
    let first = page.saturating_mul(VM_PAGE_SIZE);
    let mut items = Vec::with_capacity(VM_PAGE_SIZE);
    let mut total = 0;
    for (vm, project) in rows.clone() {
        if total >= first && items.len() < VM_PAGE_SIZE {
            items.push(listed(vm, project));
        }
        total += 1;
    }
    let last = total.saturating_sub(1) / VM_PAGE_SIZE;
    if page <= last {
        return (items, total, page);
    }
    let items = rows
        .skip(last * VM_PAGE_SIZE)
        .take(VM_PAGE_SIZE)
        .map(|(vm, project)| listed(vm, project))
        .collect();
    (items, total, last)
}

fn listed(vm: &IndexedVm, project: &ProjectRow) -> VmSummary {
    let mut row = vm.row.clone();
    row.project.clone_from(&project.slug);
    row.project_name.clone_from(&project.name);
    row
}

/// For each namespace number, the project whose VMs there are listed and the number of its
/// id, which a VM's label must carry (as the ownership gate checks).
struct Visible<'a>(Vec<Option<(&'a ProjectRow, u32)>>);

impl<'a> Visible<'a> {
    fn project_of(&self, vm: &IndexedVm) -> Option<&'a ProjectRow> {
        let at = usize::try_from(vm.namespace_key).ok()?;
        let (project, id) = (*self.0.get(at)?)?;
        (vm.label_key == id).then_some(project)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(id: &str, name: &str) -> ProjectRow {
        ProjectRow {
            id: id.to_owned(),
            slug: format!("{id}-slug"),
            name: name.to_owned(),
            description: String::new(),
            namespace: format!("ns-{id}"),
            is_personal: false,
        }
    }

    fn vm(namespace: &str, name: &str, label: &str, seed: u32) -> IndexedVm {
        let statuses = [VmStatus::Running, VmStatus::Stopped, VmStatus::Starting];
        IndexedVm::new(
            VmSummary {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                project: String::new(),
                project_name: String::new(),
                status: statuses[(seed % 3) as usize],
                run_strategy: None,
                cpus: seed % 4 + 1,
                memory_mib: u64::from(seed % 5) * 512,
                ip: None,
                guest_agent: false,
                node: None,
                created_ms: i64::from(seed * 7919 % 1000),
            },
            label.to_owned(),
        )
    }

    /// What a list request returned before the index: every visible row, filtered and
    /// sorted in full.
    fn reference(rows: &[&IndexedVm], projects: &[ProjectRow], query: &VmQuery) -> VmPage {
        let needle = query.name.trim().to_lowercase();
        let mut rows: Vec<VmSummary> = rows
            .iter()
            .filter_map(|vm| {
                let project = projects.iter().find(|project| {
                    vm.row.namespace == project.namespace && vm.project_id == project.id
                })?;
                let mut row = vm.row.clone();
                row.project.clone_from(&project.slug);
                row.project_name.clone_from(&project.name);
                Some(row)
            })
            .filter(|row| {
                (needle.is_empty() || row.name.to_lowercase().contains(&needle))
                    && query.status.is_none_or(|status| row.status == status)
            })
            .collect();
        rows.sort_by(|a, b| {
            let order = compare(query.sort, a, b);
            if query.descending {
                order.reverse()
            } else {
                order
            }
        });
        let total = rows.len();
        let page = query.page.min(total.saturating_sub(1) / VM_PAGE_SIZE);
        VmPage {
            items: rows
                .into_iter()
                .skip(page * VM_PAGE_SIZE)
                .take(VM_PAGE_SIZE)
                .collect(),
            total,
            page,
            projects: Vec::new(),
        }
    }

    #[test]
    fn every_query_gives_the_page_a_full_sort_would() {
        // Two projects share a name, so the project order falls back to namespace and name.
        let projects = [
            project("a", "Lab"),
            project("b", "Lab"),
            project("c", "Alpha"),
        ];
        let hidden = project("d", "Hidden");
        let mut vms = Vec::new();
        for (index, owner) in projects.iter().chain([&hidden]).enumerate() {
            for n in 0..40u32 {
                let seed = n * 13 + u32::try_from(index).unwrap_or_default();
                vms.push(vm(&owner.namespace, &format!("vm-{n:02}"), &owner.id, seed));
            }
        }
        // Labelled for another project: listed nowhere.
        vms.push(vm("ns-a", "stray", "c", 1));
        let index = VmIndex::default();
        index.replace_all(
            vms.iter()
                .map(|vm| IndexedVm::new(vm.row.clone(), vm.project_id.clone())),
        );
        let all: Vec<&IndexedVm> = vms.iter().collect();
        let visible: Vec<&ProjectRow> = projects.iter().collect();
        for sort in VmSort::ALL {
            for descending in [false, true] {
                for (name, status, page) in [
                    ("", None, 0),
                    ("", None, 2),
                    ("", None, 99),
                    ("VM-1", None, 0),
                    ("", Some(VmStatus::Running), 0),
                    ("nothing", None, 3),
                ] {
                    let query = VmQuery {
                        name: name.to_owned(),
                        project: String::new(),
                        status,
                        sort,
                        descending,
                        page,
                    };
                    let got = index.page(&visible, &query, Vec::new());
                    assert_eq!(got, reference(&all, &projects, &query), "{query:?}");
                }
            }
        }
        assert_eq!(
            index.page(&visible, &VmQuery::default(), Vec::new()).total,
            120
        );
    }

    #[test]
    fn changes_reach_the_next_request() {
        let projects = [project("a", "Lab")];
        let visible: Vec<&ProjectRow> = projects.iter().collect();
        let index = VmIndex::default();
        assert!(index.update("ns-a", "one", || Some(vm("ns-a", "one", "a", 0))));
        assert!(index.update("ns-a", "two", || Some(vm("ns-a", "two", "a", 1))));
        assert!(
            !index.update("ns-a", "two", || Some(vm("ns-a", "two", "a", 1))),
            "the same row again is no change"
        );
        assert!(index.update("ns-a", "two", || Some(vm("ns-a", "two", "b", 1))));
        assert!(index.update("ns-a", "two", || Some(vm("ns-a", "two", "a", 1))));
        let names = |index: &VmIndex| -> Vec<String> {
            index
                .page(&visible, &VmQuery::default(), Vec::new())
                .items
                .into_iter()
                .map(|row| row.name)
                .collect()
        };
        assert_eq!(names(&index), ["one", "two"]);
        assert!(index.update("ns-a", "one", || None));
        assert!(!index.update("ns-a", "one", || None));
        assert!(index.update("ns-a", "three", || Some(vm("ns-a", "three", "a", 2))));
        assert_eq!(names(&index), ["three", "two"]);
        let running = index.counts(&visible);
        assert_eq!(running["a"].values().sum::<u64>(), 2);
    }
}
