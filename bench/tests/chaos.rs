//! `holdfast-bench chaos` and `holdfast-bench check` as a user runs them: the real
//! holdfast-server (the one `cargo build` put beside holdfast-bench) killed, restarted
//! and paused under the workloads.
//!
//! The durable server must pass; the same attack on `--durability none`, where a kill
//! loses everything, must fail, which shows the run can fail at all.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("holdfast-chaos-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_holdfast-bench"))
        .args(args)
        .output()
        .expect("run holdfast-bench")
}

fn chaos(out: &Path, extra: &[&str]) -> Output {
    let out = out.to_str().expect("a UTF-8 temporary path");
    let mut args = vec!["chaos", "--duration", "8", "--seed", "42", "--out", out];
    args.extend(extra);
    bench(&args)
}

fn text(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_durable_server_passes_kills_and_pauses() {
    let out = scratch("local");
    let output = chaos(&out, &["--nemesis", "kill,pause"]);
    assert!(output.status.success(), "{}", text(&output));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.starts_with("# holdfast-bench chaos: PASS"),
        "{report}"
    );
    assert!(report.contains("- seed: 42"));
    assert!(report.contains("| 1 | "), "at least one fault: {report}");
    assert!(report.contains("| write (SET) |") && report.contains("| incr (INCR) |"));
    assert!(String::from_utf8_lossy(&output.stderr).contains("seed 42"));
    // The history is a file `check` accepts, with the same verdict.
    let history = out.join("history.jsonl");
    let checked = bench(&["check", history.to_str().unwrap()]);
    assert!(checked.status.success(), "{}", text(&checked));
    assert!(String::from_utf8_lossy(&checked.stdout).contains("verdict: PASS"));
    assert!(
        !out.join("data").exists(),
        "a passing run removes the server's data"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_durable_server_passes_partitions_delays_and_loss() {
    let out = scratch("network");
    let output = chaos(&out, &["--nemesis", "partition,delay,loss"]);
    assert!(output.status.success(), "{}", text(&output));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("clients connect through the fault proxy"),
        "{report}"
    );
    // The first fault always fits in the run: a gap of at most 2.5 s, a hold of at most 3 s.
    assert!(report.contains("| 1 | "), "at least one fault: {report}");
    assert!(report.contains("then heal |"), "{report}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_durable_server_passes_power_loss_or_says_why_it_was_skipped() {
    let out = scratch("power");
    let output = chaos(&out, &["--nemesis", "power-loss"]);
    assert!(output.status.success(), "{}", text(&output));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        assert!(report.contains("| 1 | PowerLoss |"), "{report}");
        assert!(report.contains("loop-device image"), "{report}");
        assert!(
            !out.join("disk.img").exists(),
            "a passing run removes the image"
        );
    } else {
        eprintln!("not root: power loss skipped, as the report says");
        assert!(
            report.contains("power-loss skipped: needs root"),
            "{report}"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_server_that_loses_writes_on_a_kill_fails() {
    let out = scratch("none");
    let output = chaos(&out, &["--nemesis", "kill", "--durability", "none"]);
    assert!(!output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("NOT LINEARIZABLE: key chaos:"),
        "{}",
        text(&output)
    );
    assert!(
        stdout.contains("LOST WRITE: key chaos:"),
        "{}",
        text(&output)
    );
    assert!(stdout.ends_with("verdict: FAIL\n"));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.starts_with("# holdfast-bench chaos: FAIL"));
    assert!(report.contains("| Kill |"));
    let checked = bench(&["check", out.join("history.jsonl").to_str().unwrap()]);
    assert!(!checked.status.success(), "{}", text(&checked));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn check_refuses_a_malformed_history_with_its_line() {
    let dir = scratch("malformed");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("history.jsonl");
    std::fs::write(&path, "\n{\"process\":1}\n").unwrap();
    let output = bench(&["check", path.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("history line 2:"),
        "{}",
        text(&output)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
