//! `redoubt config ROLE` prints files that real Redis 7.0 and Redoubt
//! both start from.

use crate::harness::{free_port, redoubt_bin, temp_dir};
use std::process::Command;
use std::time::Duration;
use topology::{Kind, Node};

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

/// Starts `prog FILE` through the launcher, as the generated file says
/// (its port, its folder), waits until it answers, stops it.
fn starts_from(prog: &[&str], text: &str, port: u16, dir: &std::path::Path) {
    let file = dir.join(format!(
        "{}-{port}.conf",
        prog[0].rsplit('/').next().unwrap()
    ));
    std::fs::write(&file, text).unwrap();
    let kind = if prog.iter().any(|p| p.ends_with("sentinel")) {
        Kind::Sentinel
    } else {
        Kind::Server
    };
    let mut command: Vec<String> = prog.iter().map(|s| s.to_string()).collect();
    command.push(file.display().to_string());
    // The generated files log to standard output (`logfile ""`), which
    // the launcher keeps in `console.log`.
    let log = dir.join("console.log");
    let mut node = Node::new(kind, port, dir.to_path_buf(), log, command);
    let ready = node
        .start()
        .and_then(|()| node.wait_ready(Duration::from_secs(5)));
    if let Err(e) = ready {
        panic!("{prog:?} did not start from:\n{text}\n{e}");
    }
}

/// Generates `role_args` on a free port in `dir`, checks the text holds
/// `expect`, and starts `prog` from it.
fn generated_file_starts(prog: &[&str], role_args: &[&str], expect: &str, dir: &std::path::Path) {
    let port = free_port();
    let (p, d) = (port.to_string(), dir.display().to_string());
    let mut args = role_args.to_vec();
    args.extend_from_slice(&["--port", &p, "--dir", &d]);
    let text = generate(&args);
    assert!(text.contains(expect), "{expect:?} missing:\n{text}");
    starts_from(prog, &text, port, dir);
}

#[test]
fn generated_master_replica_and_sentinel_configs_start_redis_and_redoubt() {
    let dir = temp_dir("confgen");
    let master: &[&str] = &[
        "master",
        "--password",
        "pw",
        "--write-rate",
        "2mb",
        "--max-outage",
        "5m",
    ];
    let replica: &[&str] = &[
        "replica",
        "--master",
        "127.0.0.1:1",
        "--password",
        "pw",
        "--announce-ip",
        "127.0.0.1",
    ];
    let sentinel: &[&str] = &[
        "sentinel",
        "--master",
        "127.0.0.1:6379",
        "--password",
        "pw",
        "--quorum",
        "2",
        "--supervised",
        "systemd",
    ];
    let servers: [&[&str]; 2] = [&["redis-server"], &[redoubt_bin(), "server"]];
    for prog in servers {
        generated_file_starts(prog, master, "repl-backlog-size 900mb\n", &dir);
        generated_file_starts(prog, replica, "replicaof 127.0.0.1 1\n", &dir);
    }
    let sentinels: [&[&str]; 2] = [&["redis-sentinel"], &[redoubt_bin(), "sentinel"]];
    for prog in sentinels {
        generated_file_starts(
            prog,
            sentinel,
            "sentinel monitor mymaster 127.0.0.1 6379 2\n",
            &dir,
        );
    }
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
