//! The client side of TLS for an `https://` server: the system's trusted
//! roots, plus `--ca-cert` (HIVELOG_CA_CERT) for a server whose
//! certificate is self-signed or from a private CA. One rustls config
//! serves both the HTTP client and the WebSocket (`wss://`) one.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use super::error::CliError;

pub fn client_config(ca_cert: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, CliError> {
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable system certificates are skipped: --ca-cert may be all
    // that is needed.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_cert {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| CliError::input(format!("cannot read --ca-cert {}: {e}", path.display())))?
            .collect::<Result<_, _>>()
            .map_err(|e| {
                CliError::input(format!(
                    "--ca-cert {} is not a PEM certificate: {e}",
                    path.display()
                ))
            })?;
        if certs.is_empty() {
            return Err(CliError::input(format!(
                "--ca-cert {} holds no certificate (expected PEM \"BEGIN CERTIFICATE\" blocks)",
                path.display()
            )));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| CliError::input(format!("--ca-cert {}: {e}", path.display())))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| CliError::Protocol(format!("TLS setup: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}
