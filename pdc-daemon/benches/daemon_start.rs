//! Daemon cold start (spawn to first answered API call) and idle RSS.
//! Run: `cargo bench -p pdc-daemon --bench daemon_start`

use anyhow::{Context, Result, ensure};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() -> Result<()> {
    let runs = if std::env::args().any(|a| a == "--test") {
        1
    } else {
        5
    };
    let exe = env!("CARGO_BIN_EXE_pdc-daemon");
    let mut starts = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..runs {
        let dir = tempfile::tempdir().context("creating a temporary directory")?;
        let ok = Command::new(exe)
            .args(["init", "--role", "patient", "--name", "Bench", "--data-dir"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .status()
            .context("running pdc-daemon init")?;
        ensure!(ok.success(), "pdc-daemon init failed ({ok})");
        let token = std::fs::read_to_string(dir.path().join("api.token"))
            .context("reading the API token init wrote")?;
        let t0 = Instant::now();
        let mut child = Command::new(exe)
            .args(["run", "--api-listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null())
            .spawn()
            .context("starting pdc-daemon run")?;
        loop {
            if let Ok(a) = std::fs::read_to_string(dir.path().join("api.addr"))
                && status_ok(a.trim(), token.trim())
            {
                break;
            }
            ensure!(
                t0.elapsed() < Duration::from_secs(30),
                "the daemon did not answer /status within 30 s"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        starts.push(t0.elapsed());
        std::thread::sleep(Duration::from_secs(2)); // let it settle to idle
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
        let kb: u64 = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        rss.push(kb);
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let _ = child.wait();
    }
    starts.sort();
    rss.sort();
    println!("daemon cold start (spawn -> first authenticated /status answered), {runs} runs");
    println!(
        "  median {:.1} ms, max {:.1} ms",
        starts[starts.len() / 2].as_secs_f64() * 1e3,
        starts[starts.len() - 1].as_secs_f64() * 1e3
    );
    println!(
        "idle RSS: median {:.1} MiB",
        rss[rss.len() / 2] as f64 / 1024.0
    );
    Ok(())
}

fn status_ok(addr: &str, token: &str) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let req = format!(
        "GET /api/v1/status HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200")
}
