//! Tenancy: projects, members and roles, over the simulated cluster. Every request goes
//! through the router as a browser's would.

mod audit;
pub mod isolation;
mod membership;
mod projects;
mod roles;

use crate::support::{
    app_state_on, body_text, create_user, simulated, test_auth, test_db, TestDb, ORIGIN,
};
use app::{
    authz::ProjectRole,
    context::AppState,
    projects::server::{
        lifecycle::{insert, NewProjectRow},
        namespace,
    },
    vms::{names::Namespace, new_vm::NewVmForm},
};
use axum::{
    body::Body,
    http::{header, Request, StatusCode},
};
use serde_json::Value;
use server::simcluster::{SimCluster, SimOptions};
use std::{net::SocketAddr, time::Duration};
use tower::ServiceExt as _;

pub const PASSWORD: &str = "long enough password";

/// Who makes a request, relative to the project "Alpha".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// Owner of another project, "Beta", and nothing in Alpha.
    Outsider,
    Viewer,
    Operator,
    Admin,
    Owner,
    /// A global admin who is not a member of Alpha.
    GlobalAdmin,
}

impl Who {
    pub const ALL: [Who; 6] = [
        Who::Outsider,
        Who::Viewer,
        Who::Operator,
        Who::Admin,
        Who::Owner,
        Who::GlobalAdmin,
    ];

    pub fn email(self) -> &'static str {
        match self {
            Who::Outsider => "outsider@example.test",
            Who::Viewer => "viewer@example.test",
            Who::Operator => "operator@example.test",
            Who::Admin => "admin@example.test",
            Who::Owner => "owner@example.test",
            Who::GlobalAdmin => "root@example.test",
        }
    }

    fn role(self) -> Option<ProjectRole> {
        match self {
            Who::Viewer => Some(ProjectRole::Viewer),
            Who::Operator => Some(ProjectRole::Operator),
            Who::Admin => Some(ProjectRole::Admin),
            Who::Owner => Some(ProjectRole::Owner),
            Who::Outsider | Who::GlobalAdmin => None,
        }
    }
}

/// A project as the tests name it.
#[derive(Clone, Debug)]
pub struct Project {
    pub id: String,
    pub slug: String,
    pub namespace: String,
}

/// The user every membership test acts on: a viewer of Alpha.
pub const MEMBER: &str = "member@example.test";
/// A user in no project, whom tests add.
pub const NEWCOMER: &str = "newcomer@example.test";
/// The VM of Alpha every test finds there.
pub const VM: &str = "web-1";

/// Wukong over a simulated cluster with two projects: Alpha (an owner, an admin, an
/// operator, a viewer and [`MEMBER`], and the VM [`VM`]) and Beta (owned by the outsider,
/// with its own VM), a global admin, and [`NEWCOMER`]; everyone but the member and the
/// newcomer signed in.
pub struct Tenancy {
    pub test: TestDb,
    pub state: AppState,
    pub sim: SimCluster,
    pub alpha: Project,
    pub beta: Project,
    cookies: Vec<(Who, String)>,
    pub member_id: String,
    pub newcomer_id: String,
    address: Option<SocketAddr>,
}

async fn project(state: &AppState, name: &str, owner_id: &str) -> Project {
    let mut conn = state.db.pool().acquire().await.expect("connection");
    let row = NewProjectRow {
        name,
        description: "A test project.",
        namespace: None,
        is_personal: false,
        slug_base: name,
        owner_id,
        created_by: None,
    };
    let inserted = insert(&mut conn, &row, 0).await.expect("project");
    namespace::ensure(
        &state.cluster,
        &Namespace::parse(&inserted.namespace).expect("namespace"),
        &inserted.id,
    )
    .await
    .expect("namespace");
    Project {
        id: inserted.id,
        slug: inserted.slug,
        namespace: inserted.namespace,
    }
}

async fn add_member(state: &AppState, project: &Project, user_id: &str, role: ProjectRole) {
    sqlx::query(
        "INSERT INTO project_members (project_id, user_id, role, created_at) VALUES ($1, $2, $3, 0)",
    )
    .bind(&project.id)
    .bind(user_id)
    .bind(role.as_str())
    .execute(state.db.pool())
    .await
    .expect("member");
}

impl Tenancy {
    pub async fn start() -> Tenancy {
        let options = SimOptions {
            transition_delay: Duration::from_millis(100),
            ..SimOptions::default()
        };
        let sim = SimCluster::start_with(None, options).await.expect("sim");
        let test = test_db().await;
        let auth = test_auth(false);
        let mut ids = Vec::new();
        for who in Who::ALL {
            ids.push((
                who,
                create_user(&test.db, &auth, who.email(), PASSWORD).await,
            ));
        }
        let member_id = create_user(&test.db, &auth, MEMBER, PASSWORD).await;
        let newcomer_id = create_user(&test.db, &auth, NEWCOMER, PASSWORD).await;
        let id_of = |who: Who| {
            ids.iter()
                .find(|(listed, _)| *listed == who)
                .map(|(_, id)| id.clone())
                .expect("user")
        };
        sqlx::query("UPDATE users SET global_role = 'admin' WHERE id = $1")
            .bind(id_of(Who::GlobalAdmin))
            .execute(test.db.pool())
            .await
            .expect("promote");
        let state = app_state_on(test.db.clone(), auth, simulated(&sim));
        let alpha = project(&state, "Alpha", &id_of(Who::Owner)).await;
        let beta = project(&state, "Beta", &id_of(Who::Outsider)).await;
        for who in [Who::Viewer, Who::Operator, Who::Admin] {
            let role = who.role().expect("a role");
            add_member(&state, &alpha, &id_of(who), role).await;
        }
        add_member(&state, &alpha, &member_id, ProjectRole::Viewer).await;
        let mut cookies = Vec::new();
        for who in Who::ALL {
            cookies.push((
                who,
                crate::support::sign_in(&state, who.email(), PASSWORD, None).await,
            ));
        }
        let tenancy = Tenancy {
            test,
            state,
            sim,
            alpha,
            beta,
            cookies,
            member_id,
            newcomer_id,
            address: None,
        };
        tenancy.make_vm(&tenancy.alpha, VM).await;
        tenancy.make_vm(&tenancy.beta, "beta-vm").await;
        tenancy
    }

    pub fn cookie(&self, who: Who) -> &str {
        self.cookies
            .iter()
            .find(|(listed, _)| *listed == who)
            .map(|(_, cookie)| cookie.as_str())
            .expect("signed in")
    }

    /// Signs in `email` (one of the fixture's users).
    pub async fn sign_in(&self, email: &str) -> String {
        crate::support::sign_in(&self.state, email, PASSWORD, None).await
    }

    /// A stopped VM `name` of `project`, as Wukong creates it, once the live store has it.
    pub async fn make_vm(&self, project: &Project, name: &str) {
        let vm = small_vm(project, name).parse().expect("form");
        let namespace = Namespace::parse(&project.namespace).expect("namespace");
        app::vms::server::cluster::create(&self.state.cluster, &vm, &namespace, &project.id)
            .await
            .expect("VM");
        self.wait_for_vm(&project.namespace, name).await;
    }

    pub async fn wait_for_vm(&self, namespace: &str, name: &str) {
        for _ in 0..500 {
            if self.state.live.vm(namespace, name).is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{namespace}/{name} never reached the live store");
    }

    /// Posts `body` (`application/json` when it starts with `{`, a form otherwise) to the
    /// server fn `endpoint` with `cookie`; the answer's status and body.
    pub async fn post_as(&self, cookie: &str, endpoint: &str, body: &str) -> (StatusCode, String) {
        let content_type = if body.starts_with('{') {
            "application/json"
        } else {
            "application/x-www-form-urlencoded"
        };
        let request = Request::post(format!("/api/{endpoint}"))
            .header(header::CONTENT_TYPE, content_type)
            .header(header::ORIGIN, ORIGIN)
            .header(header::COOKIE, cookie)
            .body(Body::from(body.to_owned()))
            .expect("request");
        let (status, _, body) = self.send(request).await;
        (status, body)
    }

    /// Sends `request` through the router; the status, the headers and the body.
    pub async fn send(&self, request: Request<Body>) -> (StatusCode, header::HeaderMap, String) {
        let response = server::http::router(self.state.clone())
            .oneshot(request)
            .await
            .expect("answer");
        let (status, headers) = (response.status(), response.headers().clone());
        (status, headers, body_text(response).await)
    }

    /// GETs `path` (a page, a download) as `who`; the status, the headers and the body.
    pub async fn get(&self, who: Who, path: &str) -> (StatusCode, header::HeaderMap, String) {
        let request = Request::get(path)
            .header(header::COOKIE, self.cookie(who))
            .body(Body::empty())
            .expect("request");
        self.send(request).await
    }

    pub async fn post(&self, who: Who, endpoint: &str, body: &str) -> (StatusCode, String) {
        self.post_as(self.cookie(who), endpoint, body).await
    }

    /// `who`'s role in `project` now, if any.
    pub async fn role_of(&self, project: &Project, user_id: &str) -> Option<String> {
        sqlx::query_scalar(
            "SELECT role FROM project_members WHERE project_id = $1 AND user_id = $2",
        )
        .bind(&project.id)
        .bind(user_id)
        .fetch_optional(self.test.db.pool())
        .await
        .expect("role")
    }

    pub async fn user_id(&self, email: &str) -> String {
        sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
            .bind(email)
            .fetch_one(self.test.db.pool())
            .await
            .expect("user")
    }

    /// The address of a listening server over the same state, for sockets.
    pub async fn listen(&mut self) -> SocketAddr {
        if let Some(address) = self.address {
            return address;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let service = server::http::router(self.state.clone())
            .into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, service).await;
        });
        self.address = Some(address);
        address
    }
}

/// A stopped CirrOS VM of one vCPU and 256 MiB, as the create form sends it.
pub fn small_vm(project: &Project, name: &str) -> NewVmForm {
    NewVmForm {
        name: name.to_owned(),
        project: project.slug.clone(),
        cpus: "1".to_owned(),
        memory_mib: "256".to_owned(),
        image: "cirros".to_owned(),
        run_strategy: "Halted".to_owned(),
        ..NewVmForm::default()
    }
}

/// The JSON body of an answer.
pub fn json(body: &str) -> Value {
    serde_json::from_str(body).expect("JSON answer")
}
