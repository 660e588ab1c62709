//! `/admin/quota-usage`: every project's usage against its quota, for global admins,
//! sortable, the projects nearest their limits first.

use crate::resource::wire_resource;
use crate::{
    quotas::{
        api::quota_overview,
        types::{ProjectQuota, Resource as Quantity},
    },
    AppError,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use std::cmp::Ordering;

/// The order of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    /// The fullest first: the projects an admin should look at.
    Fullness,
    Name,
}

fn sort(quotas: &mut [ProjectQuota], order: Order) {
    let by_name = |a: &ProjectQuota, b: &ProjectQuota| {
        a.project_name
            .to_lowercase()
            .cmp(&b.project_name.to_lowercase())
            .then_with(|| a.project_slug.cmp(&b.project_slug))
    };
    match order {
        Order::Name => quotas.sort_by(by_name),
        Order::Fullness => quotas.sort_by(|a, b| {
            b.fullness()
                .partial_cmp(&a.fullness())
                .unwrap_or(Ordering::Equal)
                .then_with(|| by_name(a, b))
        }),
    }
}

#[component]
pub fn QuotaUsagePage() -> impl IntoView {
    let quotas = wire_resource(|| (), |_| quota_overview());
    let order = RwSignal::new(Order::Fullness);
    let header = move |label: &'static str, by: Order| {
        view! {
            <th scope="col" aria-sort=move || if order.get() == by { if by == Order::Name { "ascending" } else { "descending" } } else { "none" }>
                <button type="button" class="sort" on:click=move |_| order.set(by)>{label}</button>
            </th>
        }
    };
    view! {
        <Title text="Quota usage" />
        <section class="page">
            <p class="breadcrumb"><A href="/admin">"Admin"</A>" · "<A href="/admin/quotas">"Quota templates"</A></p>
            <h1>"Quota usage"</h1>
            <p class="lead">"Every project's usage against its quota, the projects nearest their limits first."</p>
            <Transition fallback=|| view! { <p class="loading">"Loading usage…"</p> }>
                {move || Suspend::new(async move {
                    let quotas = quotas.await?;
                    if quotas.is_empty() {
                        return Ok::<_, AppError>(view! { <p class="empty-state">"No projects yet."</p> }.into_any());
                    }
                    Ok(view! {
                        <div class="table-scroll">
                            <table class="vms quota-usage" data-testid="quota-usage">
                                <thead><tr>
                                    {header("Project", Order::Name)}
                                    {Quantity::ALL.into_iter().map(|resource| view! { <th scope="col">{resource.label()}</th> }).collect_view()}
                                    {header("Fullest", Order::Fullness)}
                                </tr></thead>
                                <tbody>
                                    {move || {
                                        let mut quotas = quotas.clone();
                                        sort(&mut quotas, order.get());
                                        quotas.into_iter().map(|quota| view! { <UsageRow quota /> }).collect_view()
                                    }}
                                </tbody>
                            </table>
                        </div>
                    }.into_any())
                })}
            </Transition>
        </section>
    }
    .into_any()
}

#[component]
fn UsageRow(quota: ProjectQuota) -> impl IntoView {
    let over = quota.over_quota();
    let fullest = format!("{:.0}%", quota.fullness() * 100.0);
    view! {
        <tr data-project=quota.project_slug.clone() class:over-quota-row=over>
            <th scope="row">
                <A href=format!("/projects/{}", quota.project_slug)>{quota.project_name.clone()}</A>
                {over.then(|| view! { " " <strong class="over-quota">"over quota"</strong> })}
            </th>
            {Quantity::ALL.into_iter().map(|resource| {
                let used = quota.usage.get(resource);
                let over = used > quota.limits.get(resource);
                let limit = quota.limits.get(resource);
                view! {
                    <td class="number" class:over-quota-cell=over>
                        {format!("{used} / {}", resource.amount(limit))}
                    </td>
                }
            }).collect_view()}
            <td class="number">{fullest}</td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::{sort, Order};
    use crate::quotas::types::{Amounts, ProjectQuota};

    fn quota(name: &str, used_vcpus: i64) -> ProjectQuota {
        ProjectQuota {
            project_slug: name.to_lowercase(),
            project_name: name.into(),
            template: None,
            limits: Amounts::vm(10, 1024, 10),
            usage: Amounts {
                vcpus: used_vcpus,
                ..Amounts::default()
            },
        }
    }

    #[test]
    fn the_fullest_come_first_and_names_sort_without_case() {
        let mut quotas = vec![quota("beta", 2), quota("Alpha", 12), quota("gamma", 9)];
        sort(&mut quotas, Order::Fullness);
        let names = |quotas: &[ProjectQuota]| {
            quotas
                .iter()
                .map(|quota| quota.project_name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&quotas), ["Alpha", "gamma", "beta"]);
        sort(&mut quotas, Order::Name);
        assert_eq!(names(&quotas), ["Alpha", "beta", "gamma"]);
    }
}
