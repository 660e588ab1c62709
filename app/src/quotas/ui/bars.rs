//! A project's usage against its quota, one bar per resource.

use crate::quotas::types::{share, ProjectQuota, Resource as Quantity};
use leptos::prelude::*;

/// How full a bar is, as its colour and (past the limit) its words say.
fn level(used: i64, limit: i64) -> &'static str {
    if used > limit {
        "over"
    } else if share(used, limit) >= 0.9 {
        "high"
    } else {
        "ok"
    }
}

/// One `<meter>` per resource with "used of limit" beside it. A resource used beyond its
/// limit (the limit was lowered) is red and says "over quota", so colour is never the only
/// sign.
#[component]
pub fn UsageBars(quota: ProjectQuota) -> impl IntoView {
    let label = format!("Quota usage of {}", quota.project_name);
    view! {
        <ul class="usage-bars" aria-label=label data-project=quota.project_slug.clone()>
            {Quantity::ALL.into_iter().map(|resource| {
                let used = quota.usage.get(resource);
                let limit = quota.limits.get(resource);
                let text = format!("{used} of {} used", resource.amount(limit));
                // A zero limit would make an empty range: show it full when anything is used.
                let (max, value) = if limit > 0 { (limit, used.min(limit)) } else { (1, used.clamp(0, 1)) };
                let over = used > limit;
                view! {
                    <li class="usage-bar" data-resource=resource.key() data-level=level(used, limit)>
                        <span class="usage-name">{resource.label()}</span>
                        <meter min="0" max=max value=value aria-label=resource.label() aria-valuetext=text.clone()>
                            {text.clone()}
                        </meter>
                        <span class="usage-text">
                            {text}
                            {over.then(|| view! { " " <strong class="over-quota">"over quota"</strong> })}
                        </span>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}

#[cfg(test)]
mod tests {
    use super::level;

    #[test]
    fn a_bar_is_over_only_past_its_limit() {
        assert_eq!(level(0, 0), "ok");
        assert_eq!(level(5, 10), "ok");
        assert_eq!(level(9, 10), "high");
        assert_eq!(level(10, 10), "high");
        assert_eq!(level(11, 10), "over");
        assert_eq!(level(1, 0), "over");
    }
}
