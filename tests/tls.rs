//! `--tls-cert`/`--tls-key`: the real binary serves HTTPS and WSS on one
//! port with a self-signed certificate (rcgen), the command-line client
//! reaches it with `--ca-cert`, a renewed certificate is taken on SIGHUP
//! without a restart, and a client that never finishes its handshake does
//! not hold up anyone else.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Server;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as Frame;

struct Pem {
    cert: String,
    key: String,
}

fn self_signed() -> Pem {
    let c =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    Pem {
        cert: c.cert.pem(),
        key: c.signing_key.serialize_pem(),
    }
}

fn write(dir: &Path, pem: &Pem) {
    std::fs::write(dir.join("cert.pem"), &pem.cert).unwrap();
    std::fs::write(dir.join("key.pem"), &pem.key).unwrap();
}

fn start(dir: &Path) -> Server {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    Server::start_in(
        &dir.join("data"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    )
}

fn trusting(pem: &Pem) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.cert.as_bytes()).unwrap())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn rustls_trusting(pem: &Pem) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(pem.cert.as_bytes()).unwrap())
        .unwrap();
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

#[tokio::test]
async fn https_and_wss_on_one_port_with_the_cli_and_a_certificate_renewed_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let first = self_signed();
    write(dir.path(), &first);
    let server = start(dir.path());
    assert!(server.base.starts_with("https://"), "{}", server.base);
    // The banner follows the log line the harness waits for.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.stdout().join("\n").contains("wss://") {
        assert!(Instant::now() < deadline, "{:?}", server.stdout());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // HTTPS: the API, the dashboard, a write and its read.
    let c = trusting(&first);
    let health = c.get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let page = c.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let posted = c
        .post(server.url("/api/tasks"))
        .json(&json!({"task_id": "tls-1", "title": "over TLS", "description": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);

    // Plain HTTP to the TLS port gets no answer.
    let plain = server.base.replacen("https://", "http://", 1) + "/health";
    assert!(reqwest::get(&plain).await.is_err(), "plain HTTP answered");
    // A client that does not trust the certificate is refused.
    assert!(reqwest::Client::new()
        .get(server.url("/health"))
        .send()
        .await
        .is_err());

    // WSS: subscribe, publish over HTTPS, receive.
    let ws_url = server.base.replacen("https://", "wss://", 1) + "/ws";
    let (mut ws, _) = tokio_tungstenite::connect_async_tls_with_config(
        ws_url.as_str(),
        None,
        true,
        Some(tokio_tungstenite::Connector::Rustls(rustls_trusting(
            &first,
        ))),
    )
    .await
    .expect("wss connect");
    ws.send(Frame::text(
        json!({"op": "sub", "sid": "s", "subject": "tls.>"}).to_string(),
    ))
    .await
    .unwrap();
    // One connection's frames are handled in order: the subscription is
    // in place before its own publish.
    ws.send(Frame::text(
        json!({"op": "pub", "id": 1, "subject": "tls.hello", "text": "over wss"}).to_string(),
    ))
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = None;
    while Instant::now() < deadline && got.is_none() {
        if let Ok(Some(Ok(Frame::Text(t)))) =
            tokio::time::timeout(Duration::from_millis(200), ws.next()).await
        {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["op"] == "msg" {
                got = Some(v);
            }
        }
    }
    let got = got.expect("no message over wss");
    assert_eq!(got["subject"], "tls.hello");

    // The command-line client: with --ca-cert it works; without, it says
    // why it cannot connect.
    let cli = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_hivelog"))
            .args(["--server", &server.base])
            .args(extra)
            .args(["task", "show", "tls-1"])
            .env("NO_COLOR", "1")
            .env_remove("HIVELOG_CA_CERT")
            .output()
            .unwrap()
    };
    let ca = dir.path().join("cert.pem");
    let ok = cli(&["--ca-cert", ca.to_str().unwrap()]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("over TLS"));
    let refused = cli(&[]);
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr).to_lowercase();
    assert!(
        why.contains("certificate") || why.contains("issuer"),
        "{why}"
    );

    // A renewed certificate, taken on SIGHUP: new connections see it.
    let second = self_signed();
    write(dir.path(), &second);
    let status = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let renewed = trusting(&second).get(server.url("/health")).send().await;
        if renewed.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was not taken"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        trusting(&first)
            .get(server.url("/health"))
            .send()
            .await
            .is_err(),
        "the old certificate is still served"
    );
    assert!(server
        .logs()
        .iter()
        .any(|l| l.contains("TLS certificate reloaded")));
}

#[tokio::test]
async fn a_stalled_handshake_holds_up_no_one_and_bad_files_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let pem = self_signed();
    write(dir.path(), &pem);
    let server = start(dir.path());
    let addr = server.base.trim_start_matches("https://").to_string();
    // Ten connections that never say a word.
    let mut idle = Vec::new();
    for _ in 0..10 {
        idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    let started = Instant::now();
    let r = trusting(&pem)
        .get(server.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(idle);

    // A key that does not belong to the certificate.
    let other = self_signed();
    std::fs::write(dir.path().join("key.pem"), &other.key).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let refused = Server::try_start_in(
        &dir.path().join("data2"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let Err((status, logs)) = refused else {
        panic!("started with a key that does not fit its certificate");
    };
    assert!(status.is_some_and(|s| !s.success()));
    let logs = logs.join("\n");
    assert!(logs.contains("does not fit --tls-cert"), "{logs}");
    // Nothing was created for a server that could not start.
    assert!(!dir.path().join("data2").exists());
    // --tls-cert without --tls-key is a usage error.
    let out = Command::new(env!("CARGO_BIN_EXE_hivelog"))
        .args(["serve", "--tls-cert", cert.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
}
