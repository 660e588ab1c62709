//! Who may talk to the simulated cluster. Loopback is open to every account on the machine,
//! so the simulator answers only requests that carry this process's bearer token, and it
//! speaks HTTPS because kubectl sends credentials to https servers only. The token and the
//! certificate are made once per process, so a simulator restarted on the same port is the
//! same server to the clients of the first.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use std::{
    io,
    net::SocketAddr,
    sync::{Arc, OnceLock},
    time::Duration,
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch},
};
use tokio_rustls::{server::TlsStream, TlsAcceptor};

/// How long a client may take to complete its TLS handshake.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);

/// What a client needs besides the address: the token to send, the certificate to trust.
pub struct Credentials {
    /// 256 random bits, URL-safe base64: `Authorization: Bearer <token>`.
    pub token: String,
    /// Self-signed, for `127.0.0.1` and `localhost`.
    pub certificate: CertificateDer<'static>,
    pub certificate_pem: String,
    tls: Arc<rustls::ServerConfig>,
}

static CREDENTIALS: OnceLock<Credentials> = OnceLock::new();

/// This process's credentials, made on first use.
pub fn credentials() -> io::Result<&'static Credentials> {
    if let Some(credentials) = CREDENTIALS.get() {
        return Ok(credentials);
    }
    let made = make_credentials()?;
    Ok(CREDENTIALS.get_or_init(|| made))
}

fn make_credentials() -> io::Result<Credentials> {
    self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
}

/// A new token and a self-signed certificate for `names` (IP addresses or DNS names).
pub fn self_signed(names: Vec<String>) -> io::Result<Credentials> {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(names).map_err(io::Error::other)?;
    let key = PrivatePkcs8KeyDer::from(signing_key.serialize_der());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key.into())
        .map_err(io::Error::other)?;
    Ok(Credentials {
        token: URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()),
        certificate: cert.der().clone(),
        certificate_pem: cert.pem(),
        tls: Arc::new(tls),
    })
}

/// Accepts TCP connections and completes each TLS handshake in a task of its own, so a
/// client that stalls its handshake holds up no one else; stops accepting, freeing the port,
/// when the cluster stops.
pub struct TlsListener {
    address: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    pub fn start(
        listener: TcpListener,
        credentials: &Credentials,
        mut stopped: watch::Receiver<()>,
    ) -> io::Result<Self> {
        let address = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(credentials.tls.clone());
        let (sender, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = stopped.changed() => return,
                    accepted = listener.accept() => accepted,
                };
                let (stream, peer) = match accepted {
                    Ok(connection) => connection,
                    Err(error) => {
                        // Out of file descriptors, most likely: give the others time to close.
                        tracing::warn!(%error, "simulated cluster: cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(HANDSHAKE_DEADLINE, acceptor.accept(stream));
                    if let Ok(Ok(tls)) = handshake.await {
                        let _ = sender.send((tls, peer)).await;
                    }
                });
            }
        });
        Ok(TlsListener { address, ready })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // Only once the cluster has stopped, when the server no longer accepts anyway.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.address)
    }
}
