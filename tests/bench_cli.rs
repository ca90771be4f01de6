//! `hivelog bench` end to end, briefly, so it cannot rot: every workload
//! runs against a hivelog it starts and, with `--compare`, a nats-server,
//! and the JSON report carries a figure for each side and their ratio.

mod common;

use std::process::Command;

use serde_json::Value;

#[test]
fn bench_compare_reports_every_workload_for_both_sides() {
    let compare = common::nats::installed();
    if !compare {
        assert!(
            std::env::var("HIVELOG_REQUIRE_NATS").as_deref() != Ok("1"),
            "HIVELOG_REQUIRE_NATS=1 but nats-server is not on PATH"
        );
    }
    let mut args = vec![
        "bench",
        "--rounds",
        "1",
        "--duration",
        "300ms",
        "--size",
        "60",
        "--window",
        "8",
        "--subscribers",
        "3",
        "--json",
    ];
    if compare {
        args.push("--compare");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_hivelog"))
        .args(&args)
        .output()
        .expect("run hivelog bench");
    assert!(out.status.success(), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let rows = report["workloads"].as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["workload"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "publish",
            "pipelined",
            "publish16",
            "fan-out",
            "fetch-ack",
            "claim",
            "latency"
        ]
    );
    // The fixed-rate latency row: every message timed, tail at or above
    // the median.
    let latency = &rows[6]["hivelog"];
    let (p50, p999) = (
        latency["p50_ms"].as_f64().unwrap(),
        latency["p999_ms"].as_f64().unwrap(),
    );
    assert!(p50 > 0.0 && p999 >= p50, "{latency}");
    // hivelog's subscribers keep up with a small fan-out: nothing lost.
    let fan_out = &rows[3]["hivelog"];
    assert_eq!(fan_out["lost"].as_u64(), Some(0), "{fan_out}");
    assert!(fan_out["deliveries"].as_u64().unwrap() > 0, "{fan_out}");
    for row in rows {
        let ops = row["hivelog"]["ops_per_s"].as_f64().unwrap_or(0.0);
        assert!(ops > 0.0, "{row}");
        assert!(
            row["hivelog"]["server_peak_rss_mib"]
                .as_f64()
                .unwrap_or(0.0)
                > 0.0,
            "{row}"
        );
        if compare {
            assert!(
                row["nats-server"]["ops_per_s"].as_f64().unwrap_or(0.0) > 0.0,
                "{row}"
            );
            assert!(row["ratio"].as_f64().is_some(), "{row}");
        }
    }
    assert!(report["durability"]["hivelog"]
        .as_str()
        .unwrap()
        .contains("fsync"));
}

#[test]
fn bad_bench_flags_are_refused_before_anything_starts() {
    let out = Command::new(env!("CARGO_BIN_EXE_hivelog"))
        .args(["bench", "--sync", "sometimes"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--sync is always or interval"));
}

#[test]
fn an_empty_window_or_no_subscribers_is_refused() {
    for flag in ["--window", "--subscribers"] {
        let out = Command::new(env!("CARGO_BIN_EXE_hivelog"))
            .args(["bench", flag, "0"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flag} 0 was accepted");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("must be at least 1"),
            "{out:?}"
        );
    }
}

/// `hivelog bench --hivelog URL --workload claim` with small sizes, as JSON.
fn claim_run(server: &common::Server) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hivelog"))
        .args(["bench", "--hivelog", &server.url(""), "--workload", "claim"])
        .args(["--rounds", "1", "--size", "40", "--json"])
        .output()
        .expect("run hivelog bench")
}

#[tokio::test]
async fn a_running_server_can_be_measured_twice_and_its_own_work_is_not_taken() {
    let server = common::Server::start();
    // Two runs on one server: the second must not find the first's
    // (finished) tasks under the same ids and measure nothing.
    for run in 0..2 {
        let out = claim_run(&server);
        assert!(out.status.success(), "run {run}: {out:?}");
        let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
        let row = &report["workloads"][0]["hivelog"];
        assert!(
            row["ops_per_s"].as_f64().unwrap_or(0.0) > 0.0,
            "run {run}: {row}"
        );
    }
    // Someone's real task waiting: the workload would complete it.
    let http = common::client();
    let (status, _) = common::send(http.post(server.url("/api/tasks")).json(
        &serde_json::json!({"task_id": "real-work", "title": "not the bench's", "description": ""}),
    ))
    .await;
    assert_eq!(status, 200);
    let out = claim_run(&server);
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("real-work") && stderr.contains("--hivelog"),
        "{stderr}"
    );
    let (_, task) = common::send(http.get(server.url("/api/tasks/real-work"))).await;
    assert_eq!(task["status"], "available", "{task}");
    assert!(task["owner"].is_null() && task["attempts"] == 0, "{task}");
}

#[test]
fn target_nats_measures_a_nats_server_alone() {
    if !common::nats::installed() {
        assert!(
            std::env::var("HIVELOG_REQUIRE_NATS").as_deref() != Ok("1"),
            "HIVELOG_REQUIRE_NATS=1 but nats-server is not on PATH"
        );
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_hivelog"))
        .args(["bench", "--target", "nats", "--workload", "publish"])
        .args([
            "--workload",
            "claim",
            "--rounds",
            "1",
            "--duration",
            "300ms",
        ])
        .args(["--size", "40", "--json"])
        .output()
        .expect("run hivelog bench");
    assert!(out.status.success(), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    for row in report["workloads"].as_array().unwrap() {
        assert!(
            row["nats-server"]["ops_per_s"].as_f64().unwrap_or(0.0) > 0.0,
            "{row}"
        );
        assert!(
            row.get("hivelog").is_none(),
            "no hivelog was measured: {row}"
        );
        assert!(row.get("ratio").is_none(), "{row}");
    }
    let durability = report["durability"].as_object().unwrap();
    assert_eq!(durability.keys().collect::<Vec<_>>(), ["nats-server"]);
}

#[test]
fn target_and_compare_together_are_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_hivelog"))
        .args(["bench", "--target", "nats", "--compare"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot be used with"),
        "{out:?}"
    );
}
