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
