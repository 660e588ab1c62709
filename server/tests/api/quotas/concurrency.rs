//! Fifty creates at once against room for exactly five: five succeed, forty-five are
//! refused with the quota's sentence, and usage is exactly the five.

use super::{quota_of, room_for, session, small, small_vm};
use crate::tenancy::{Tenancy, Who};
use app::vms::server::kubevirt::VirtualMachine;
use app::{
    auth::server::session::Requester, quotas::types::Amounts, vms::server::requests, AppError,
};
use kube::api::{Api, ListParams};
use std::sync::Arc;

const TRIES: usize = 50;
const ROOM: i64 = 5;

/// How many VMs named `quota-…` the cluster has in the project's namespace.
async fn made_in_cluster(t: &Tenancy) -> usize {
    let vms: Api<VirtualMachine> =
        Api::namespaced(t.state.cluster.client.clone(), &t.alpha.namespace);
    let list = vms.list(&ListParams::default()).await.expect("list");
    list.items
        .iter()
        .filter(|vm| {
            vm.metadata
                .name
                .as_deref()
                .is_some_and(|n| n.starts_with("quota-"))
        })
        .count()
}

fn five_more(before: &Amounts) -> Amounts {
    (0..ROOM).fold(*before, |sum, _| sum.plus(&small(), 1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_creates_through_the_service_function_leave_exactly_five() {
    let t = Arc::new(Tenancy::start().await);
    let before = room_for(&t, &t.alpha, ROOM).await;
    let operator = session(&t, Who::Operator).await;
    let tries = (0..TRIES).map(|i| {
        let (t, operator) = (Arc::clone(&t), operator.clone());
        tokio::spawn(async move {
            let form = small_vm(&t.alpha, &format!("quota-{i}"));
            requests::create(&t.state, &operator, &Requester::default(), &form).await
        })
    });
    let mut made = 0;
    let mut refused = 0;
    for answer in futures_util::future::join_all(tries).await {
        match answer.expect("task") {
            Ok(_) => made += 1,
            Err(AppError::QuotaExceeded { message }) => {
                assert!(
                    message.contains(" requested, 0 of ")
                        && message.ends_with(&format!("free in project {}", t.alpha.slug)),
                    "{message}"
                );
                refused += 1;
            }
            Err(other) => panic!("neither made nor refused for quota: {other:?}"),
        }
    }
    assert_eq!((made, refused), (5, 45));
    assert_eq!(quota_of(&t, &t.alpha).await.usage, five_more(&before));
    assert_eq!(made_in_cluster(&t).await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_creates_over_http_leave_exactly_five() {
    let mut t = Tenancy::start().await;
    let before = room_for(&t, &t.alpha, ROOM).await;
    let address = t.listen().await;
    let client = reqwest::Client::new();
    let cookie = t.cookie(Who::Operator).to_owned();
    let tries = (0..TRIES).map(|i| {
        let body = serde_json::json!({"form": small_vm(&t.alpha, &format!("quota-{i}"))});
        client
            .post(format!("http://{address}/api/vms/create"))
            .header("content-type", "application/json")
            .header("origin", crate::support::ORIGIN)
            .header("cookie", &cookie)
            .body(body.to_string())
            .send()
    });
    let mut made = 0;
    let mut refused = 0;
    for answer in futures_util::future::join_all(tries).await {
        let answer = answer.expect("answer");
        let status = answer.status().as_u16();
        let body = answer.text().await.expect("body");
        match status {
            200 => made += 1,
            409 if body.contains("requested, 0 of ") && body.contains("free in project") => {
                refused += 1
            }
            _ => panic!("neither made nor refused for quota: {status} {body}"),
        }
    }
    assert_eq!((made, refused), (5, 45));
    assert_eq!(quota_of(&t, &t.alpha).await.usage, five_more(&before));
    assert_eq!(made_in_cluster(&t).await, 5);
}
