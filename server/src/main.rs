use clap::Parser;
use server::{
    config::{Command, Settings},
    startup::Application,
    telemetry,
};
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = Settings::parse();
    if let Some(Command::User(command)) = &settings.command {
        return match server::cli::run(&settings, command).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => fail(&error),
        };
    }
    if let Err(error) = telemetry::init(&settings.log, settings.log_format) {
        return fail(&error);
    }
    let application = match Application::build(&settings).await {
        Ok(application) => application,
        Err(error) => return fail(&error),
    };
    match application
        .run_until(server::startup::shutdown_signal())
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

/// Reports a fatal error as one line on stderr (and in the log) and picks the exit code.
fn fail(error: &dyn std::fmt::Display) -> ExitCode {
    tracing::error!(%error, "wukong cannot run");
    eprintln!("wukong: error: {error}");
    ExitCode::FAILURE
}
