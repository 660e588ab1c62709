//! `simcluster`: the simulated cluster on its own. `serve` runs the whole cluster (as Wukong
//! does when it finds no kubeconfig) and writes a kubeconfig for it; `standin` plays KubeVirt
//! on the API server a kubeconfig names, such as a test control plane.

use clap::{Parser, Subcommand};
use std::{path::PathBuf, time::Duration};

#[derive(Parser)]
#[command(name = "simcluster", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the simulated cluster on 127.0.0.1 until interrupted.
    Serve {
        /// Where its state and kubeconfig go (created if missing).
        #[arg(long, default_value = "simcluster-data")]
        data_dir: PathBuf,
        /// Port on 127.0.0.1; 0 picks a free one.
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// Stands in for KubeVirt on the cluster of `kubeconfig` until interrupted: a VM
    /// controller and the `subresources.kubevirt.io` API behind an `APIService`.
    Standin {
        #[arg(long)]
        kubeconfig: PathBuf,
        /// How long each step of a start or stop takes, in milliseconds.
        #[arg(long, default_value_t = 2000)]
        transition_ms: u64,
    },
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match Cli::parse().command {
        Command::Serve { data_dir, port } => {
            std::fs::create_dir_all(&data_dir)?;
            let options = simcluster::SimOptions {
                port,
                ..simcluster::SimOptions::default()
            };
            let sim = simcluster::SimCluster::start_with(
                Some(&data_dir.join("simcluster.json")),
                options,
            )
            .await?;
            let kubeconfig = data_dir.join("simcluster.kubeconfig");
            sim.write_kubeconfig(&kubeconfig)?;
            println!(
                "{} (kubectl --kubeconfig {})",
                sim.url(),
                kubeconfig.display()
            );
            tokio::signal::ctrl_c().await?;
        }
        Command::Standin {
            kubeconfig,
            transition_ms,
        } => {
            let config = kube::Config::from_custom_kubeconfig(
                kube::config::Kubeconfig::read_from(&kubeconfig)?,
                &kube::config::KubeConfigOptions::default(),
            )
            .await?;
            let client = kube::Client::try_from(config)?;
            let standin =
                simcluster::standin::StandIn::start(client, Duration::from_millis(transition_ms))
                    .await?;
            println!("KubeVirt stand-in at {}", standin.address);
            tokio::signal::ctrl_c().await?;
        }
    }
    Ok(())
}
