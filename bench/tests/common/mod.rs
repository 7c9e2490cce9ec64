//! What the generator's integration tests share: reading one request as a tiny RESP
//! server does, and running `holdfast-bench run` for its JSON report.

use holdfast_bench::run::report::RunReport;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::Command;

/// One RESP array of bulk strings; `None` when the client has gone.
pub fn read_command(reader: &mut impl BufRead) -> Option<Vec<Vec<u8>>> {
    let mut line = String::new();
    let count: usize = {
        reader.read_line(&mut line).ok().filter(|&n| n > 0)?;
        line.trim_end().strip_prefix('*')?.parse().ok()?
    };
    let mut args = Vec::with_capacity(count);
    for _ in 0..count {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let len: usize = line.trim_end().strip_prefix('$')?.parse().ok()?;
        let mut arg = vec![0; len + 2];
        reader.read_exact(&mut arg).ok()?;
        arg.truncate(len);
        args.push(arg);
    }
    Some(args)
}

/// Runs the generator against `port` with `args`, returning its JSON report.
pub fn run(port: u16, name: &str, args: &[&str]) -> RunReport {
    let json = scratch_dir().join(format!("{name}.json"));
    let output = Command::new(env!("CARGO_BIN_EXE_holdfast-bench"))
        .args(["run", "-s", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .arg("--json-out-file")
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "holdfast-bench run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("holdfast-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
