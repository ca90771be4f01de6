//! MCP and file-reservation benchmarks, in one run against an in-process
//! server on loopback with `--sync always`. Run with
//! `cargo bench --bench mcp` (see benches/README.md).
//!
//! 1. claim-next + complete pairs/s with 16 concurrent agents, through the
//!    plain HTTP routes (the baseline) and through MCP over Streamable
//!    HTTP (`claim_next` + `complete` tools) on the same server: once as
//!    bare JSON-RPC POSTs (what the server costs) and once with the
//!    official Rust SDK's client (what an agent using it sees).
//! 2. With 10,000 active reservations held by 100 agents: p50/p99 of the
//!    pre-commit check for 1 path and for 50 paths, and of taking one more
//!    reservation (which checks it against all 10,000); the baseline is
//!    `GET /health` in the same run.

use std::time::{Duration, Instant};

use hivelog::api::{router, AppState};
use hivelog::coord::{CoordConfig, Coordinator};
use hivelog::log::{Log, LogOptions, SyncPolicy};
use hivelog::streams::{Backend, LogBackend};
use rmcp::model::CallToolRequestParams;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;
use serde_json::{json, Value};

const AGENTS: usize = 16;
const SAMPLES: usize = 300;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn serve(dir: &std::path::Path) -> (String, Log, tokio::task::JoinHandle<()>) {
    let log = Log::open(
        dir,
        LogOptions {
            sync: SyncPolicy::Always,
            ..Default::default()
        },
    )
    .expect("open");
    let port = Backend::Embedded(LogBackend::open(log.clone(), "mjwork").expect("port"));
    let coord = Coordinator::open(port, CoordConfig::default())
        .await
        .expect("coordinator");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = router(AppState::new(log.clone(), coord, Default::default()).listening_on(addr));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), log, task)
}

async fn add_tasks(base: &str, prefix: &str, n: usize) {
    let client = reqwest::Client::new();
    for i in 0..n {
        let resp = client
            .post(format!("{base}/api/tasks"))
            .json(&json!({"task_id": format!("{prefix}-{i}"), "title": "job", "description": ""}))
            .send()
            .await
            .expect("post");
        assert!(resp.status().is_success());
    }
}

async fn http_pairs(base: &str, n: usize) -> f64 {
    add_tasks(base, "http", n).await;
    let start = Instant::now();
    let mut agents = Vec::new();
    for a in 0..AGENTS {
        let base = base.to_string();
        agents.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let me = format!("http-agent-{a}");
            let mut done = 0usize;
            loop {
                let resp = client
                    .post(format!("{base}/api/tasks/claim-next"))
                    .json(&json!({"agent_id": me}))
                    .send()
                    .await
                    .expect("claim");
                if resp.status() == 204 {
                    return done;
                }
                let body: Value = resp.json().await.expect("json");
                let id = body["task_id"].as_str().expect("id").to_string();
                let token = body["task"]["fencing_token"].clone();
                let resp = client
                    .post(format!("{base}/api/tasks/{id}/complete"))
                    .json(&json!({"agent_id": me, "success": true, "fencing_token": token}))
                    .send()
                    .await
                    .expect("complete");
                assert!(resp.status().is_success());
                done += 1;
            }
        }));
    }
    let mut total = 0;
    for a in agents {
        total += a.await.expect("agent");
    }
    assert_eq!(total, n);
    n as f64 / start.elapsed().as_secs_f64()
}

fn call(name: &'static str, args: Value) -> CallToolRequestParams {
    let mut p = CallToolRequestParams::new(name);
    p.arguments = args.as_object().cloned();
    p
}

fn answer(result: &rmcp::model::CallToolResult) -> Value {
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let text = result
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone());
    serde_json::from_str(&text.expect("text content")).expect("json answer")
}

async fn mcp_pairs(base: &str, n: usize) -> f64 {
    add_tasks(base, "mcp", n).await;
    // Sessions are opened before the clock starts, as a harness does once.
    let mut clients = Vec::new();
    for _ in 0..AGENTS {
        let transport = StreamableHttpClientTransport::from_uri(format!("{base}/mcp"));
        clients.push(().serve(transport).await.expect("mcp session"));
    }
    let start = Instant::now();
    let mut agents = Vec::new();
    for (a, client) in clients.into_iter().enumerate() {
        agents.push(tokio::spawn(async move {
            let me = format!("mcp-agent-{a}");
            let mut done = 0usize;
            loop {
                let brief = client
                    .call_tool(call("claim_next", json!({"agent_id": me})))
                    .await
                    .expect("claim_next");
                let brief = answer(&brief);
                let Some(task) = brief["task"].as_object() else {
                    let _ = client.cancel().await;
                    return done;
                };
                let args = json!({"agent_id": me, "task_id": task["task_id"], "fencing_token": task["fencing_token"]});
                let done_answer = client
                    .call_tool(call("complete", args))
                    .await
                    .expect("complete");
                answer(&done_answer);
                done += 1;
            }
        }));
    }
    let mut total = 0;
    for a in agents {
        total += a.await.expect("agent");
    }
    assert_eq!(total, n);
    n as f64 / start.elapsed().as_secs_f64()
}

/// The same agents speaking MCP's JSON-RPC over plain HTTP POSTs (what
/// the server costs, without any client library's overhead).
async fn raw_mcp_pairs(base: &str, n: usize) -> f64 {
    add_tasks(base, "raw", n).await;
    let start = Instant::now();
    let mut agents = Vec::new();
    for a in 0..AGENTS {
        let base = base.to_string();
        agents.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let me = format!("raw-agent-{a}");
            let rpc = |id: usize, name: &str, args: Value| {
                client
                    .post(format!("{base}/mcp"))
                    .header("accept", "application/json, text/event-stream")
                    .json(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                        "params": {"name": name, "arguments": args}}))
            };
            let text = |v: Value| -> Value {
                let t = v["result"]["content"][0]["text"].as_str().expect("text").to_string();
                serde_json::from_str(&t).expect("json")
            };
            let mut done = 0usize;
            loop {
                let resp = rpc(1, "claim_next", json!({"agent_id": me})).send().await.expect("claim");
                let brief = text(resp.json().await.expect("json"));
                let Some(task) = brief["task"].as_object() else {
                    return done;
                };
                let args = json!({"agent_id": me, "task_id": task["task_id"], "fencing_token": task["fencing_token"]});
                let resp = rpc(2, "complete", args).send().await.expect("complete");
                let answer: Value = resp.json().await.expect("json");
                assert_ne!(answer["result"]["isError"], json!(true), "{answer}");
                done += 1;
            }
        }));
    }
    let mut total = 0;
    for a in agents {
        total += a.await.expect("agent");
    }
    assert_eq!(total, n);
    n as f64 / start.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

async fn latency(
    label: &str,
    mut make: impl FnMut(usize) -> reqwest::RequestBuilder,
) -> (f64, f64) {
    let mut times = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let req = make(i);
        let t = Instant::now();
        let resp = req.send().await.expect("request");
        assert!(resp.status().is_success(), "{label}: {}", resp.status());
        resp.bytes().await.expect("body");
        times.push(t.elapsed());
    }
    times.sort();
    let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
    println!("  {label:<48} p50 {p50:7.3} ms   p99 {p99:7.3} ms");
    (p50, p99)
}

async fn run() {
    let n: usize = std::env::var("HIVELOG_BENCH_PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let dir = tempfile::tempdir().expect("dir");
    let (base, log, task) = serve(dir.path()).await;

    println!("claim-next + complete, {AGENTS} agents, {n} tasks each way, --sync always");
    let http = http_pairs(&base, n).await;
    println!("  plain HTTP (baseline)      {http:8.0} pairs/s");
    let raw = raw_mcp_pairs(&base, n).await;
    println!(
        "  MCP tools/call, JSON-RPC   {raw:8.0} pairs/s   ratio {:.2} of HTTP (the server's cost)",
        raw / http
    );
    let mcp = mcp_pairs(&base, n).await;
    println!("  MCP via the rmcp client    {mcp:8.0} pairs/s   ratio {:.2} of HTTP (plus that client's own cost)", mcp / http);

    // 10,000 reservations: 100 agents x 100 globs, a mix of directory
    // globs, wildcards and single files, none overlapping another agent's.
    let client = reqwest::Client::new();
    let fill = Instant::now();
    for a in 0..100 {
        let globs: Vec<String> = (0..100)
            .map(|g| match g % 3 {
                0 => format!("area{a}/mod{g}/**"),
                1 => format!("area{a}/src{g}/*.rs"),
                _ => format!("area{a}/file{g}.txt"),
            })
            .collect();
        let resp = client
            .post(format!("{base}/api/v2/reservations"))
            .json(&json!({"agent_id": format!("holder-{a}"), "globs": globs, "ttl": "1h"}))
            .send()
            .await
            .expect("reserve");
        assert!(
            resp.status().is_success(),
            "{}",
            resp.text().await.unwrap_or_default()
        );
    }
    println!(
        "\n10,000 active reservations (taken in {:.1}s); {SAMPLES} samples each",
        fill.elapsed().as_secs_f64()
    );
    let (health, _) = latency("GET /health (baseline)", |_| {
        client.get(format!("{base}/health"))
    })
    .await;
    let (one, one99) = latency("check 1 path", |i| {
        client
            .post(format!("{base}/api/v2/reservations/check"))
            .json(
                &json!({"agent_id": "committer", "paths": [format!("area{}/mod3/x.rs", i % 100)]}),
            )
    })
    .await;
    let (fifty, fifty99) = latency("check 50 paths (a commit)", |i| {
        let paths: Vec<String> = (0..50)
            .map(|k| format!("area{}/src{}/f{k}.rs", (i + k) % 100, k))
            .collect();
        client
            .post(format!("{base}/api/v2/reservations/check"))
            .json(&json!({"agent_id": "committer", "paths": paths}))
    })
    .await;
    let (take, take99) = latency("reserve 1 more glob (checked against all)", |i| {
        client
            .post(format!("{base}/api/v2/reservations"))
            .json(&json!({"agent_id": format!("newcomer-{i}"), "globs": [format!("fresh{i}/**")], "ttl": "1h"}))
    })
    .await;
    println!("\nratios to GET /health p50: check 1 path {:.1}x (p99 {one99:.2} ms), 50 paths {:.1}x (p99 {fifty99:.2} ms), reserve {:.1}x (p99 {take99:.2} ms)",
        one / health, fifty / health, take / health);
    task.abort();
    log.close().expect("close");
}
