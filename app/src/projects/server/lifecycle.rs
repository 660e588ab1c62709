//! Creating, changing, adopting into and deleting projects. Every change is audited in the
//! transaction that makes it, with what it changed.

use super::{namespace, namespace_for, slug_for};
use crate::{
    audit::server::{record, AuditEvent, Outcome, Severity},
    auth::{server::session::Requester, types::CurrentUser},
    authz::{
        server::{require_admin, AdminCap, ProjectAccess},
        Action, ProjectRole,
    },
    context::AppState,
    db::{now_ms, Db},
    projects::types::{NewProjectForm, ProjectDeletion, ProjectForm},
    vms::names::Namespace,
    AppError,
};
use serde_json::json;
use sqlx::Row as _;

/// The admin setting that lets every user create projects of their own.
pub const USERS_CREATE_PROJECTS: &str = "users_create_projects";
/// Longest project name and description accepted.
pub const MAX_NAME: usize = 80;
pub const MAX_DESCRIPTION: usize = 1000;

fn invalid(field: &str, message: &str) -> AppError {
    AppError::Invalid {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

/// The name and description of `form`, trimmed and checked.
fn checked(form: &ProjectForm) -> Result<(String, String), AppError> {
    let name = form.name.trim();
    if name.chars().count() > MAX_NAME {
        return Err(AppError::too_long("name", "The name", MAX_NAME));
    }
    if form.description.chars().count() > MAX_DESCRIPTION {
        return Err(AppError::too_long(
            "description",
            "The description",
            MAX_DESCRIPTION,
        ));
    }
    if name.is_empty() {
        return Err(invalid("name", "Enter a name for the project."));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(
            "name",
            "Use letters, digits, spaces and punctuation.",
        ));
    }
    Ok((name.to_owned(), form.description.trim().to_owned()))
}

/// A project row to insert.
pub struct NewProjectRow<'a> {
    pub name: &'a str,
    pub description: &'a str,
    /// `None`: the project's own namespace, `wukong-<id>`.
    pub namespace: Option<&'a str>,
    pub is_personal: bool,
    pub slug_base: &'a str,
    pub owner_id: &'a str,
    pub created_by: Option<&'a str>,
}

/// A project inserted: its id, slug and namespace.
pub struct InsertedProject {
    pub id: String,
    pub slug: String,
    pub namespace: String,
}

/// Inserts a project and its first owner.
pub async fn insert(
    conn: &mut sqlx::AnyConnection,
    row: &NewProjectRow<'_>,
    now: i64,
) -> Result<InsertedProject, sqlx::Error> {
    let id = uuid::Uuid::new_v4();
    let slug = slug_for(row.slug_base, &id);
    let namespace = row
        .namespace
        .map_or_else(|| namespace_for(&id), str::to_owned);
    sqlx::query(
        "INSERT INTO projects (id, slug, name, description, namespace, is_personal, created_by, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(id.to_string())
    .bind(&slug)
    .bind(row.name)
    .bind(row.description)
    .bind(&namespace)
    .bind(i64::from(row.is_personal))
    .bind(row.created_by)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO project_members (project_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(id.to_string())
    .bind(row.owner_id)
    .bind(ProjectRole::Owner.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    crate::quotas::server::limits::assign_default(conn, &id.to_string(), now).await?;
    Ok(InsertedProject {
        id: id.to_string(),
        slug,
        namespace,
    })
}

/// A successful change to a project, as audited.
struct Change<'a> {
    event: &'a str,
    severity: Severity,
    /// Id and slug.
    project: (&'a str, &'a str),
    changes: &'a serde_json::Value,
}

impl Change<'_> {
    async fn record(
        &self,
        conn: &mut sqlx::AnyConnection,
        requester: &Requester,
        user: &CurrentUser,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        let (id, slug) = self.project;
        let event = AuditEvent::by(user, self.event, Outcome::Success, self.severity, None)
            .in_project(id, "project", slug)
            .with_changes(self.changes);
        record(conn, requester, &event, now).await
    }
}

/// Whether users who are not admins may create projects.
pub async fn users_may_create(db: &Db) -> Result<bool, AppError> {
    Ok(crate::settings::flag(db, USERS_CREATE_PROJECTS).await?)
}

/// The admin setting: whether users who are not admins may create projects.
pub async fn set_users_may_create(
    db: &Db,
    admin: &AdminCap,
    requester: &Requester,
    allowed: bool,
) -> Result<(), AppError> {
    let before = users_may_create(db).await?;
    let mut tx = db.begin_write().await?;
    let now = now_ms();
    crate::settings::set_flag(&mut tx, USERS_CREATE_PROJECTS, allowed, now).await?;
    let changes = json!({"before": before, "after": allowed});
    let event = AuditEvent::by(
        admin.user(),
        "setting_changed",
        Outcome::Success,
        Severity::Info,
        Some(USERS_CREATE_PROJECTS),
    )
    .with_changes(&changes);
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The id of the active account with `email`, for naming an owner or adding a member.
pub async fn user_by_email(db: &Db, field: &str, email: &str) -> Result<String, AppError> {
    let email = email.trim().to_lowercase();
    if email.len() > crate::auth::server::login::MAX_EMAIL_BYTES {
        return Err(AppError::too_long(
            field,
            "The email",
            crate::auth::server::login::MAX_EMAIL_BYTES,
        ));
    }
    let found: Option<String> =
        sqlx::query_scalar("SELECT id FROM users WHERE email = $1 AND is_disabled = 0")
            .bind(&email)
            .fetch_optional(db.pool())
            .await?;
    found.ok_or_else(|| invalid(field, "No active account has this email."))
}

/// Creates a project with its namespace. Global admins name the first owner; other users
/// may create projects, owned by themselves, only when the admin setting allows it.
/// Returns the new project's slug.
pub async fn create(
    state: &AppState,
    user: &CurrentUser,
    requester: &Requester,
    form: &NewProjectForm,
) -> Result<String, AppError> {
    let (name, description) = checked(&form.project)?;
    let owner_id = match require_admin(user) {
        Ok(_) if !form.owner_email.trim().is_empty() => {
            user_by_email(&state.db, "owner_email", &form.owner_email).await?
        }
        Ok(_) => user.id.clone(),
        Err(refused) => {
            if !users_may_create(&state.db).await? {
                return Err(refused);
            }
            user.id.clone()
        }
    };
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let project = insert(
        &mut tx,
        &NewProjectRow {
            name: &name,
            description: &description,
            namespace: None,
            is_personal: false,
            slug_base: &name,
            owner_id: &owner_id,
            created_by: Some(&user.id),
        },
        now,
    )
    .await?;
    let changes = json!({"after": {"name": name, "description": description, "owner": owner_id}});
    let what = Change {
        event: "project_created",
        severity: Severity::Info,
        project: (&project.id, &project.slug),
        changes: &changes,
    };
    what.record(&mut tx, requester, user, now).await?;
    tx.commit().await?;
    make_namespace(state, &project.namespace, &project.id).await;
    Ok(project.slug)
}

/// Creates the namespace of a project; whether it exists now. A cluster that cannot be
/// reached does not undo the project: [`keep_namespaces`] tries again.
async fn make_namespace(state: &AppState, namespace: &str, project_id: &str) -> bool {
    let Ok(parsed) = Namespace::parse(namespace) else {
        tracing::error!(%namespace, "a project's namespace is not a DNS label");
        return false;
    };
    match namespace::ensure(&state.cluster, &parsed, project_id).await {
        Ok(()) => {
            if let Err(error) = crate::quotas::server::limits::mirror(state, project_id).await {
                tracing::warn!(%namespace, %error, "the project's quota could not be mirrored yet");
            }
            true
        }
        Err(error) => {
            tracing::warn!(%namespace, %error, "the project's namespace could not be created yet");
            false
        }
    }
}

/// Makes sure every project has its namespace: one pass over the projects not in `ensured`
/// (those whose namespace was confirmed already), adding each it confirms. Failures are
/// logged and tried again at the next pass.
pub async fn ensure_namespaces(
    state: &AppState,
    ensured: &mut std::collections::HashSet<String>,
) -> Result<(), AppError> {
    let rows = sqlx::query("SELECT id, namespace FROM projects")
        .fetch_all(state.db.pool())
        .await?;
    for row in rows {
        let id: String = row.try_get("id")?;
        if ensured.contains(&id) {
            continue;
        }
        let namespace: String = row.try_get("namespace")?;
        if make_namespace(state, &namespace, &id).await {
            ensured.insert(id);
        }
    }
    Ok(())
}

/// How often the namespaces of new projects are checked: projects made without the cluster
/// at hand (accounts' personal projects, from the command line, an identity provider's
/// sign-up or the users page) get theirs within this time, and those from before namespaces
/// came with projects at start.
pub const NAMESPACE_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs [`ensure_namespaces`] now and then every [`NAMESPACE_CHECK_EVERY`], for as long as
/// the process.
pub async fn keep_namespaces(state: AppState) {
    let mut ensured = std::collections::HashSet::new();
    let mut every = tokio::time::interval(NAMESPACE_CHECK_EVERY);
    loop {
        every.tick().await;
        if let Err(error) = ensure_namespaces(&state, &mut ensured).await {
            tracing::warn!(%error, "could not check the projects' namespaces");
        }
    }
}

/// Renames a project or changes its description.
pub async fn update(
    db: &Db,
    access: &ProjectAccess,
    user: &CurrentUser,
    requester: &Requester,
    form: &ProjectForm,
) -> Result<(), AppError> {
    access.require(Action::EditProject)?;
    let (name, description) = checked(form)?;
    let project = access.project();
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let before: Option<(String, String)> =
        sqlx::query_as("SELECT name, description FROM projects WHERE id = $1")
            .bind(&project.id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((old_name, old_description)) = before else {
        return Err(AppError::NotFound {
            what: "That project".to_owned(),
        });
    };
    sqlx::query("UPDATE projects SET name = $1, description = $2, updated_at = $3 WHERE id = $4")
        .bind(&name)
        .bind(&description)
        .bind(now)
        .bind(&project.id)
        .execute(&mut *tx)
        .await?;
    let changes = json!({
        "before": {"name": old_name, "description": old_description},
        "after": {"name": name, "description": description},
    });
    let what = Change {
        event: "project_updated",
        severity: Severity::Info,
        project: (&project.id, &project.slug),
        changes: &changes,
    };
    what.record(&mut tx, requester, user, now).await?;
    tx.commit().await?;
    Ok(())
}

fn project_namespace(access: &ProjectAccess) -> Result<Namespace, AppError> {
    Namespace::parse(&access.project().namespace).map_err(AppError::internal)
}

/// What deleting the project deletes.
pub async fn deletion(
    state: &AppState,
    access: &ProjectAccess,
) -> Result<ProjectDeletion, AppError> {
    access.require(Action::DeleteProject)?;
    let namespace = project_namespace(access)?;
    let vms = if namespace::exists(&state.cluster, &namespace).await? {
        namespace::vm_names(&state.cluster, &namespace).await?
    } else {
        Vec::new()
    };
    Ok(ProjectDeletion {
        name: access.project().name.clone(),
        namespace: namespace.to_string(),
        vms,
    })
}

/// Deletes the project, its namespace and everything in it, once `confirm_name` repeats the
/// project's name. The namespace goes first: if the cluster refuses, the project stays and
/// the delete can be tried again.
pub async fn delete(
    state: &AppState,
    access: &ProjectAccess,
    user: &CurrentUser,
    requester: &Requester,
    confirm_name: &str,
) -> Result<(), AppError> {
    access.require(Action::DeleteProject)?;
    let project = access.project();
    if confirm_name.trim() != project.name {
        return Err(invalid(
            "confirm_name",
            "Type the project's name exactly to confirm.",
        ));
    }
    let preview = deletion(state, access).await?;
    namespace::delete(&state.cluster, &project_namespace(access)?).await?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    sqlx::query("DELETE FROM projects WHERE id = $1")
        .bind(&project.id)
        .execute(&mut *tx)
        .await?;
    let changes = json!({"before": {
        "name": project.name, "namespace": preview.namespace, "vms": preview.vms,
    }});
    let what = Change {
        event: "project_deleted",
        severity: Severity::Warning,
        project: (&project.id, &project.slug),
        changes: &changes,
    };
    what.record(&mut tx, requester, user, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Adopts an existing namespace into a new project owned by `owner_email` (the admin when
/// empty): the namespace and every VM in it are labelled as the project's; nothing is
/// recreated. Returns the new project's slug.
pub async fn adopt(
    state: &AppState,
    admin: &AdminCap,
    requester: &Requester,
    form: &NewProjectForm,
    namespace_text: &str,
) -> Result<String, AppError> {
    let (name, description) = checked(&form.project)?;
    let namespace = Namespace::parse(namespace_text.trim())
        .map_err(|problem| invalid("namespace", &problem.to_string()))?;
    if is_system_namespace(namespace.as_str()) {
        return Err(invalid(
            "namespace",
            "System namespaces cannot be adopted into a project.",
        ));
    }
    let owner_id = if form.owner_email.trim().is_empty() {
        admin.user().id.clone()
    } else {
        user_by_email(&state.db, "owner_email", &form.owner_email).await?
    };
    let taken: Option<String> =
        sqlx::query_scalar("SELECT slug FROM projects WHERE namespace = $1")
            .bind(namespace.as_str())
            .fetch_optional(state.db.pool())
            .await?;
    if taken.is_some() {
        return Err(invalid(
            "namespace",
            "This namespace already belongs to a project.",
        ));
    }
    if !namespace::exists(&state.cluster, &namespace).await? {
        return Err(invalid(
            "namespace",
            "The cluster has no namespace of this name.",
        ));
    }
    let vms = namespace::vm_names(&state.cluster, &namespace).await?;
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let project = insert(
        &mut tx,
        &NewProjectRow {
            name: &name,
            description: &description,
            namespace: Some(namespace.as_str()),
            is_personal: false,
            slug_base: &name,
            owner_id: &owner_id,
            created_by: Some(&admin.user().id),
        },
        now,
    )
    .await
    .map_err(|error| match error {
        sqlx::Error::Database(ref db) if db.is_unique_violation() => {
            invalid("namespace", "This namespace already belongs to a project.")
        }
        other => AppError::from(other),
    })?;
    let changes = json!({"after": {
        "name": name, "description": description, "owner": owner_id,
        "namespace": namespace.as_str(), "vms": vms,
    }});
    let what = Change {
        event: "namespace_adopted",
        severity: Severity::Info,
        project: (&project.id, &project.slug),
        changes: &changes,
    };
    what.record(&mut tx, requester, admin.user(), now).await?;
    tx.commit().await?;
    // Labelled once the project exists, so the VMs are never Wukong's without a project;
    // the database is not held across the cluster calls.
    let labelled = async {
        namespace::ensure(&state.cluster, &namespace, &project.id).await?;
        namespace::adopt_vms(&state.cluster, &namespace, &project.id).await
    }
    .await;
    if let Err(error) = labelled {
        undo_adoption(state, admin, requester, &project.id, &project.slug).await?;
        return Err(error);
    }
    Ok(project.slug)
}

/// Removes a project whose adoption the cluster refused, and records that it failed.
async fn undo_adoption(
    state: &AppState,
    admin: &AdminCap,
    requester: &Requester,
    project_id: &str,
    slug: &str,
) -> Result<(), AppError> {
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    sqlx::query("DELETE FROM projects WHERE id = $1")
        .bind(project_id)
        .execute(&mut *tx)
        .await?;
    let event = AuditEvent::by(
        admin.user(),
        "namespace_adopted",
        Outcome::Failure,
        Severity::Warning,
        Some("cluster_refused_labels"),
    )
    .in_project(project_id, "project", slug);
    record(&mut tx, requester, &event, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Namespaces that hold the cluster's own workloads.
fn is_system_namespace(name: &str) -> bool {
    matches!(name, "default" | "kubevirt" | "cdi") || name.starts_with("kube-")
}
