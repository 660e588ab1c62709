//! The `wukong user …` commands: account administration against the configured database,
//! for the operator at the console.

use crate::{
    config::{Settings, UserCommand},
    startup::{hasher, open_database, StartupError},
};
use app::{
    auth::server::{
        admin::{self, Operator, UserRequest},
        session::Requester,
    },
    AppError,
};
use std::io::BufRead as _;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("no account with email {0}")]
    UnknownUser(String),
    #[error("cannot read the password from standard input: {0}")]
    Stdin(std::io::Error),
    #[error("{0}")]
    Refused(String),
}

impl From<AppError> for CliError {
    fn from(error: AppError) -> Self {
        CliError::Refused(match error {
            AppError::Invalid { message, .. } => message,
            other => other.to_string(),
        })
    }
}

/// Runs one command; what it prints goes to standard output.
pub async fn run(settings: &Settings, command: &UserCommand) -> Result<(), CliError> {
    let db = open_database(settings).await?;
    let hasher = hasher()?;
    let requester = Requester::default();
    let result = async {
        let user_id = |email: String| {
            let db = db.clone();
            async move {
                admin::user_id_by_email(&db, &email)
                    .await
                    .map_err(AppError::from)?
                    .ok_or(CliError::UnknownUser(email))
            }
        };
        match command {
            UserCommand::Create {
                email,
                admin,
                name,
                password_stdin,
            } => {
                let password = if *password_stdin {
                    let mut line = String::new();
                    std::io::stdin()
                        .lock()
                        .read_line(&mut line)
                        .map_err(CliError::Stdin)?;
                    Some(line.trim_end_matches(['\r', '\n']).to_owned())
                } else {
                    None
                };
                let request = UserRequest {
                    email: email.clone(),
                    display_name: name.clone(),
                    password,
                    is_admin: *admin,
                };
                let (user, generated) =
                    admin::create_user(&db, &hasher, &requester, Operator::Cli, request).await?;
                let role = if user.is_admin { "admin" } else { "user" };
                println!("created {} ({role})", user.email);
                if let Some(password) = generated {
                    println!("password (must be changed at first sign-in): {password}");
                }
            }
            UserCommand::ResetPassword(target) => {
                let id = user_id(target.email.clone()).await?;
                let password =
                    admin::reset_password(&db, &hasher, &requester, Operator::Cli, &id).await?;
                println!("password of {} reset; sessions ended", target.email);
                println!("password (must be changed at next sign-in): {password}");
            }
            UserCommand::ResetMfa(target) => {
                let id = user_id(target.email.clone()).await?;
                admin::reset_mfa(&db, &requester, Operator::Cli, &id).await?;
                println!(
                    "two-factor sign-in of {} removed; sessions ended",
                    target.email
                );
            }
            UserCommand::Disable(target) => {
                let id = user_id(target.email.clone()).await?;
                admin::set_disabled(&db, &requester, Operator::Cli, &id, true).await?;
                println!("{} disabled; sessions ended", target.email);
            }
            UserCommand::Enable(target) => {
                let id = user_id(target.email.clone()).await?;
                admin::set_disabled(&db, &requester, Operator::Cli, &id, false).await?;
                println!("{} enabled", target.email);
            }
            UserCommand::Unlock(target) => {
                let id = user_id(target.email.clone()).await?;
                admin::unlock(&db, &requester, Operator::Cli, &id).await?;
                println!("{} unlocked", target.email);
            }
        }
        Ok::<_, CliError>(())
    }
    .await;
    db.close().await;
    result
}
