//! Real Python clients (`tests/clients/*.py`): the official MCP SDK and
//! httpx, as agents in the field use them. `.ci/run` installs them and
//! sets HIVELOG_REQUIRE_PYTHON_CLIENTS=1, so there a missing one fails;
//! elsewhere the tests that need them say SKIPPED.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Whether python3 can import the MCP SDK (panics when it is required).
pub fn mcp_sdk() -> bool {
    let has = Command::new("python3")
        .args(["-c", "import mcp"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        assert!(
            std::env::var_os("HIVELOG_REQUIRE_PYTHON_CLIENTS").is_none(),
            "python3 with the mcp SDK is required here (pip install mcp)"
        );
        eprintln!("SKIPPED: python3 with the mcp SDK is not installed (pip install mcp)");
    }
    has
}

pub fn script(name: &str) -> String {
    format!("{}/tests/clients/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs a client to its end; asserts it succeeded and printed `want`.
pub async fn run(args: Vec<String>, want: &str) -> String {
    let run = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args(&args)
            .output()
            .expect("run python3")
    });
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the python client finished in time")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.contains(want),
        "the python client failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A client running beside the test, read line by line and told things
/// on its stdin; killed when dropped.
pub struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    pub fn start(args: &[String]) -> Running {
        Running::start_with(args, &[])
    }

    pub fn start_with(args: &[String], env: &[(&str, &str)]) -> Running {
        let mut child = Command::new("python3")
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start python3");
        let (tx, lines) = mpsc::channel();
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    let _ = tx.send(line);
                }
            });
        }
        let stdin = child.stdin.take();
        Running {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing `want`; panics with all it printed if
    /// it does not come within `within`.
    pub fn expect(&mut self, want: &str, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(want);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(_) => panic!(
                    "the python client did not print {want:?}; it printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    pub fn tell(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{line}").expect("write to the python client");
        stdin.flush().expect("flush");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
