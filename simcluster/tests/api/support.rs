//! Helpers shared by the simulated cluster's tests.

use simcluster::SimCluster;

/// An HTTP client that trusts the simulated cluster's certificate; requests still need its
/// token.
pub fn sim_http(sim: &SimCluster) -> reqwest::Client {
    let certificate = reqwest::Certificate::from_der(sim.certificate_der()).expect("certificate");
    reqwest::Client::builder()
        .add_root_certificate(certificate)
        .build()
        .expect("HTTP client")
}
