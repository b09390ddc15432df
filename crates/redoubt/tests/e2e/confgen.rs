//! `redoubt config ROLE` prints files that real Redis 7.0 and Redoubt
//! both start from.

use crate::harness::{free_port, redoubt_bin, temp_dir, wait_for};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

fn generate(args: &[&str]) -> String {
    let out = Command::new(redoubt_bin())
        .arg("config")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn answers_ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut b = [0u8; 64];
    s.write_all(b"PING\r\n").is_ok()
        && s.read(&mut b)
            .map(|n| b[..n].starts_with(b"+PONG") || b[..n].starts_with(b"-NOAUTH"))
            .unwrap_or(false)
}

/// Starts `prog FILE`, waits until it answers PING, stops it.
fn starts_from(prog: &[&str], text: &str, port: u16, dir: &std::path::Path) {
    let file = dir.join(format!(
        "{}-{port}.conf",
        prog[0].rsplit('/').next().unwrap()
    ));
    std::fs::write(&file, text).unwrap();
    let mut child = Command::new(prog[0])
        .args(&prog[1..])
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ok = false;
    for _ in 0..200 {
        if answers_ping(port) {
            ok = true;
            break;
        }
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    assert!(
        ok,
        "{prog:?} did not start from:\n{text}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn generated_master_replica_and_sentinel_configs_start_redis_and_redoubt() {
    let dir = temp_dir("confgen");
    let d = dir.display().to_string();
    let servers: [&[&str]; 2] = [&["redis-server"], &[redoubt_bin(), "server"]];
    for prog in servers {
        let port = free_port();
        let p = port.to_string();
        let master = generate(&[
            "master",
            "--port",
            &p,
            "--dir",
            &d,
            "--password",
            "pw",
            "--write-rate",
            "2mb",
            "--max-outage",
            "5m",
        ]);
        assert!(master.contains("repl-backlog-size 900mb"), "{master}");
        starts_from(prog, &master, port, &dir);
        let port = free_port();
        let p = port.to_string();
        let replica = generate(&[
            "replica",
            "--port",
            &p,
            "--dir",
            &d,
            "--master",
            "127.0.0.1:1",
            "--password",
            "pw",
            "--announce-ip",
            "127.0.0.1",
        ]);
        assert!(replica.contains("replicaof 127.0.0.1 1\n"), "{replica}");
        starts_from(prog, &replica, port, &dir);
    }
    let port = free_port();
    let p = port.to_string();
    let sentinel = generate(&[
        "sentinel",
        "--port",
        &p,
        "--dir",
        &d,
        "--master",
        "127.0.0.1:6379",
        "--password",
        "pw",
        "--quorum",
        "2",
    ]);
    assert!(
        sentinel.contains("sentinel monitor mymaster 127.0.0.1 6379 2\n"),
        "{sentinel}"
    );
    starts_from(&["redis-sentinel"], &sentinel, port, &dir);
    let port = free_port();
    let p = port.to_string();
    let sentinel = generate(&[
        "sentinel",
        "--port",
        &p,
        "--dir",
        &d,
        "--master",
        "127.0.0.1:6379",
        "--supervised",
        "systemd",
    ]);
    starts_from(&[redoubt_bin(), "sentinel"], &sentinel, port, &dir);
    wait_for("nothing", Duration::from_millis(10), || true);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn config_rejects_an_unknown_role_and_a_replica_without_master() {
    for args in [&["primary"][..], &["replica"][..]] {
        let out = Command::new(redoubt_bin())
            .arg("config")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}
