//! The room a project has left, as the create and resize forms show it before submit: what
//! is free now, what this VM would leave, and the refusal the server would give.

use crate::{
    quotas::{
        api::get_project_quota,
        types::{Amounts, ProjectQuota, Resource as Quantity},
    },
    realtime::{
        types::LiveEvent,
        ui::{fetch_soon, use_live_feed},
    },
    AppError,
};
use leptos::{lazy, prelude::*};

/// A project's quota as a form needs it.
type LiveQuota = LocalResource<Option<Result<ProjectQuota, AppError>>>;

/// The quota of the project `slug` (none while it is empty), loaded in the browser and
/// fetched again when `refresh` changes, when a VM in a namespace `watched` accepts changes
/// or goes, or when events were missed: another member's VM takes room while the form is
/// open.
fn live_quota(
    slug: Signal<String>,
    refresh: Signal<usize>,
    watched: Callback<String, bool>,
) -> LiveQuota {
    let quota = LocalResource::new(move || {
        let slug = slug.get();
        refresh.track();
        async move {
            if slug.is_empty() {
                None
            } else {
                Some(get_project_quota(slug).await)
            }
        }
    });
    let feed = use_live_feed();
    let refetch_soon = fetch_soon(feed, move || quota.refetch());
    if let Some(feed) = feed {
        feed.listen(move |event| match event {
            LiveEvent::VmChanged { vm } if watched.run(vm.namespace.clone()) => refetch_soon(),
            LiveEvent::VmRemoved { namespace, .. } if watched.run(namespace.clone()) => {
                refetch_soon()
            }
            LiveEvent::Resync | LiveEvent::AccessChanged => refetch_soon(),
            _ => {}
        });
    }
    quota
}

/// What a form's room shows: which project, which resources, and what the form asks for.
#[derive(Clone, Copy)]
pub struct Room {
    pub slug: Signal<String>,
    /// Changes after the form changed the project's usage itself.
    pub refresh: Signal<usize>,
    /// Whether a live event's namespace is the project's.
    pub watched: Callback<String, bool>,
    pub resources: &'static [Quantity],
    pub demand: Signal<Option<Amounts>>,
    /// The heading of the last column: "After this VM", "After the resize".
    pub after: &'static str,
}

/// A form's [`Room`] (see [`QuotaRoom`]), shown once the page runs in the browser, from its
/// own chunk: the quota is fetched there anyway, and the main bundle stays small.
#[component]
pub fn ProjectRoom(room: Room) -> impl IntoView {
    let mounted = RwSignal::new(false);
    Effect::new(move |_| mounted.set(true));
    move || {
        mounted.get().then(|| {
            view! {
                <Suspense fallback=|| view! { <p class="loading">"Loading the project's quota…"</p> }>
                    {move || Suspend::new(async move { project_room(room).await })}
                </Suspense>
            }
        })
    }
}

#[lazy]
fn project_room(room: Room) -> AnyView {
    let quota = live_quota(room.slug, room.refresh, room.watched);
    view! { <QuotaRoom quota resources=room.resources demand=room.demand after=room.after /> }
        .into_any()
}

/// What is left of `resource` once `demand` is taken: "1024 MiB left", "6144 MiB short".
fn left_text(quota: &ProjectQuota, demand: &Amounts, resource: Quantity) -> String {
    let left = quota.free(resource) - demand.get(resource);
    if left >= 0 {
        format!("{} left", resource.amount(left))
    } else {
        format!("{} short", resource.amount(-left))
    }
}

/// What is free now: "2048 of 16384 MiB free", as refusals say it.
fn free_text(quota: &ProjectQuota, resource: Quantity) -> String {
    format!(
        "{} of {} free",
        quota.free(resource).max(0),
        resource.amount(quota.limits.get(resource))
    )
}

/// The project's room for the `resources` a form changes, what `demand` (none while the
/// form's numbers do not parse) would leave, and, when it would not fit, the refusal the
/// server would give.
#[component]
fn QuotaRoom(
    quota: LiveQuota,
    resources: &'static [Quantity],
    demand: Signal<Option<Amounts>>,
    /// The heading of the last column: "After this VM", "After the resize".
    after: &'static str,
) -> impl IntoView {
    view! {
        <section class="quota-room" aria-labelledby="quota-room-heading" data-testid="quota-room">
            <h2 id="quota-room-heading">"Room in the project"</h2>
            <Suspense fallback=|| view! { <p class="loading">"Loading the project's quota…"</p> }>
                {move || Suspend::new(async move {
                    let quota = match quota.await {
                        None => return ().into_any(),
                        Some(Err(error)) => return view! {
                            <p class="form-error">{format!("The project's quota could not be loaded: {error}")}</p>
                        }.into_any(),
                        Some(Ok(quota)) => quota,
                    };
                    let refusal = {
                        let quota = quota.clone();
                        move || demand.get().and_then(|demand| quota.refusal(&demand))
                    };
                    view! {
                        <table class="quota-room-table">
                            <thead>
                                <tr><th scope="col">"Resource"</th><th scope="col">"Free now"</th><th scope="col">{after}</th></tr>
                            </thead>
                            <tbody>
                                {resources.iter().map(|&resource| {
                                    let quota = quota.clone();
                                    let free = free_text(&quota, resource);
                                    view! {
                                        <tr data-resource=resource.key()>
                                            <th scope="row">{resource.label()}</th>
                                            <td>{free}</td>
                                            <td>{move || demand.get().map(|demand| left_text(&quota, &demand, resource)).unwrap_or_else(|| "—".to_owned())}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                        <p class="quota-warning" role="alert" data-testid="quota-warning">{refusal}</p>
                    }.into_any()
                })}
            </Suspense>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::{free_text, left_text};
    use crate::quotas::types::{Amounts, ProjectQuota, Resource};

    #[test]
    fn the_room_says_what_is_free_and_what_a_vm_would_leave() {
        let quota = ProjectQuota {
            project_slug: "ml-lab".into(),
            project_name: "ML lab".into(),
            template: None,
            limits: Amounts {
                vcpus: 8,
                memory_mib: 16384,
                vm_count: 10,
                ..Amounts::default()
            },
            usage: Amounts::vm(10, 14336, 0),
        };
        assert_eq!(
            free_text(&quota, Resource::MemoryMib),
            "2048 of 16384 MiB free"
        );
        assert_eq!(free_text(&quota, Resource::Vcpus), "0 of 8 free");
        let small = Amounts::vm(0, 1024, 0);
        assert_eq!(
            left_text(&quota, &small, Resource::MemoryMib),
            "1024 MiB left"
        );
        let large = Amounts::vm(1, 8192, 0);
        assert_eq!(
            left_text(&quota, &large, Resource::MemoryMib),
            "6144 MiB short"
        );
        assert_eq!(left_text(&quota, &large, Resource::VmCount), "8 left");
    }
}
