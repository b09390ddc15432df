//! Configuration as an operator meets it: a stock Debian redis.conf, bad
//! lines reported as redis-server reports them, `include`,
//! `rename-command`, `CONFIG REWRITE` of a real file, RESP3 replies.

use crate::harness::{
    free_port, pid_alive, redoubt_bin, temp_dir, wait_for, Flavor, Raw, ServerHandle,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use topology::{Kind, Launch};

/// A Redoubt started from a config file holding `text` in a fresh folder;
/// the launcher adds its port, bind, dir and logfile lines at the end.
fn start_from_file(tag: &str, text: &str) -> ServerHandle {
    let launch = Launch::server(Flavor::Redoubt.program(Kind::Server), temp_dir(tag)).conf(text);
    ServerHandle::launch(Flavor::Redoubt, &launch)
}

/// The config file of a server started by [`start_from_file`].
fn conf_of(s: &ServerHandle) -> PathBuf {
    s.dir.join("redis.conf")
}

fn bulk_pair(name: &str, value: &str) -> Vec<u8> {
    format!(
        "*2\r\n${}\r\n{name}\r\n${}\r\n{value}\r\n",
        name.len(),
        value.len()
    )
    .into_bytes()
}

#[test]
fn debian_stock_config_starts_daemonized_and_stops_on_sigterm() {
    let stock = Path::new("/etc/redis/redis.conf");
    let Ok(text) = std::fs::read_to_string(stock) else {
        eprintln!("skipped: no /etc/redis/redis.conf on this machine");
        return;
    };
    let dir = temp_dir("debian");
    let port = free_port();
    let pidfile = dir.join("redis-server.pid");
    let mut out = String::new();
    // Only the paths and the port change; `daemonize yes` and every other
    // directive stay as Debian ships them.
    for line in text.lines() {
        let word = line.split_whitespace().next().unwrap_or("");
        let l = match word {
            "port" => format!("port {port}"),
            "pidfile" => format!("pidfile {}", pidfile.display()),
            "logfile" => format!("logfile {}", dir.join("redis-server.log").display()),
            "dir" => format!("dir {}", dir.display()),
            _ => line.to_string(),
        };
        out.push_str(&l);
        out.push('\n');
    }
    assert!(out.contains("\ndaemonize yes\n"));
    let conf = dir.join("redis.conf");
    std::fs::write(&conf, out).unwrap();
    let status = Command::new(redoubt_bin())
        .arg("server")
        .arg(&conf)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the foreground process exits 0 once daemonized"
    );
    wait_for("the pidfile", Duration::from_secs(10), || pidfile.exists());
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_for("PING on the daemon", Duration::from_secs(10), || {
        std::net::TcpStream::connect(addr).is_ok()
    });
    let mut raw = Raw::connect(addr);
    assert_eq!(raw.cmd(&[b"PING"]), b"+PONG\r\n");
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"GET", b"daemonize"]),
        bulk_pair("daemonize", "yes")
    );
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"GET", b"client-output-buffer-limit"]),
        bulk_pair(
            "client-output-buffer-limit",
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        )
    );
    // SAFETY: the pid is the daemon this test started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    wait_for("the daemon to exit", Duration::from_secs(10), || {
        !pid_alive(pid)
    });
    assert!(!pidfile.exists(), "the pidfile is removed on shutdown");
    let log = std::fs::read_to_string(dir.join("redis-server.log")).unwrap_or_default();
    assert!(log.contains("Received SIGTERM"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs a server binary that must refuse to start; returns (exit code,
/// stdout, stderr).
fn refused(bin: &str, args: &[&str], cwd: &Path) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(bin);
    if bin == redoubt_bin() {
        cmd.arg("server");
    }
    let out = cmd.args(args).current_dir(cwd).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_config_lines_print_the_same_fatal_block_as_redis() {
    let dir = temp_dir("badconf");
    let files = [
        ("unknown.conf", "port 7000\nfoo bar\n"),
        ("int.conf", "# a comment\n\nport abc\n"),
        ("enum.conf", "maxmemory-policy xx\n"),
        ("bool.conf", "appendonly maybe\n"),
        ("range.conf", "hz 10\n  port 70000  \n"),
        ("args.conf", "port 1 2\n"),
        ("quotes.conf", "requirepass \"abc\n"),
        ("save.conf", "save 1\n"),
        ("cobl.conf", "client-output-buffer-limit normal 1 2\n"),
        ("rename.conf", "rename-command nosuchcmd foo\n"),
        // Refused as by a Redis without Redis's own jemalloc (Debian's).
        ("defrag.conf", "activedefrag yes\n"),
        ("sigterm.conf", "shutdown-on-sigterm save nosave\n"),
        ("oomvalues.conf", "oom-score-adj-values 1 2 3000\n"),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let mut cases: Vec<Vec<&str>> = files.iter().map(|(n, _)| vec![*n]).collect();
    cases.push(vec!["--port", "70000"]);
    cases.push(vec!["--save", "", "--bind", "1", "2", "--port", "a b"]);
    cases.push(vec!["unknown.conf", "--port", "70000"]);
    cases.push(vec!["--maxmemory", "a\"b"]);
    cases.push(vec!["--save", "--hz", "x"]);
    cases.push(vec!["--dir", "/nonexistent-redoubt-dir"]);
    cases.push(vec!["--logfile", "/nonexistent-redoubt-dir/x.log"]);
    for args in cases {
        let ours = refused(redoubt_bin(), &args, &dir);
        let real = refused("redis-server", &args, &dir);
        assert_eq!(ours, real, "redoubt vs redis-server for {args:?}");
        assert_eq!(ours.0, Some(1));
        assert!(ours
            .2
            .contains("*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn include_rename_command_and_quoted_values_apply() {
    let inc_dir = temp_dir("include");
    let inner = inc_dir.join("inner.conf");
    let outer = inc_dir.join("outer.conf");
    std::fs::write(&inner, "hz 33\nrename-command GET myget\n").unwrap();
    // A pattern includes every match in name order (Redis 7.0).
    let confd = inc_dir.join("conf.d");
    std::fs::create_dir_all(&confd).unwrap();
    std::fs::write(confd.join("10-a.conf"), "maxmemory-samples 7\n").unwrap();
    std::fs::write(confd.join("20-b.conf"), "maxmemory-samples 8\n").unwrap();
    std::fs::write(
        &outer,
        format!(
            "include {}\nrename-command FLUSHDB \"\"\ninclude {}/*.conf\ninclude {}/*.none\n",
            inner.display(),
            confd.display(),
            confd.display()
        ),
    )
    .unwrap();
    let s = start_from_file(
        "include-main",
        &format!(
            "include {}\nloglevel warning\nrequirepass \"p a\\\"ss\"\nmaxmemory 1mb\nsave 900 1\nsave 300 10\n",
            outer.display()
        ),
    );
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&[b"AUTH", b"p a\"ss"]), b"+OK\r\n");
    assert_eq!(raw.cmd(&[b"CONFIG", b"GET", b"hz"]), bulk_pair("hz", "33"));
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"GET", b"maxmemory-samples"]),
        bulk_pair("maxmemory-samples", "8")
    );
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"GET", b"loglevel"]),
        bulk_pair("loglevel", "warning")
    );
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"GET", b"maxmemory"]),
        bulk_pair("maxmemory", "1048576")
    );
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"GET", b"save"]),
        bulk_pair("save", "900 1 300 10")
    );
    assert_eq!(raw.cmd(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    assert_eq!(raw.cmd(&[b"MYGET", b"k"]), b"$1\r\nv\r\n");
    assert!(raw
        .cmd(&[b"GET", b"k"])
        .starts_with(b"-ERR unknown command 'GET'"));
    assert!(raw
        .cmd(&[b"FLUSHDB"])
        .starts_with(b"-ERR unknown command 'FLUSHDB'"));
    drop(s);
    let _ = std::fs::remove_dir_all(&inc_dir);
}

#[test]
fn config_rewrite_keeps_comments_and_survives_a_restart() {
    let mut s = start_from_file(
        "rewrite",
        "# Operator notes stay.\nslave-read-only no\nsave 900 1\nsave 300 10\n\n# memory\nmaxmemory 1gb\n",
    );
    let mut raw = s.raw();
    assert_eq!(
        raw.cmd(&[
            b"CONFIG",
            b"SET",
            b"maxmemory",
            b"64mb",
            b"replica-read-only",
            b"yes",
            b"save",
            b"60 5",
            b"hz",
            b"25",
            b"notify-keyspace-events",
            b"KEA"
        ]),
        b"+OK\r\n"
    );
    assert_eq!(raw.cmd(&[b"CONFIG", b"REWRITE"]), b"+OK\r\n");
    let text = std::fs::read_to_string(conf_of(&s)).unwrap();
    assert!(text.starts_with(
        "# Operator notes stay.\nreplica-read-only yes\nsave 60 5\n\n# memory\nmaxmemory 64mb\n"
    ), "{text}");
    assert_eq!(text.matches("# Generated by CONFIG REWRITE").count(), 1);
    assert!(text.contains("\nhz 25\n"), "{text}");
    assert!(
        text.contains("\nnotify-keyspace-events \"AKE\"\n"),
        "{text}"
    );
    assert!(!text.contains("slave-read-only"));
    // Restarted from the rewritten file, the server has the same settings.
    s.restart();
    let mut raw = s.raw();
    assert_eq!(raw.cmd(&[b"CONFIG", b"GET", b"hz"]), bulk_pair("hz", "25"));
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"GET", b"maxmemory"]),
        bulk_pair("maxmemory", "67108864")
    );
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"GET", b"save"]),
        bulk_pair("save", "60 5")
    );
    // A second rewrite with nothing changed leaves the file as it was.
    let before = std::fs::read_to_string(conf_of(&s)).unwrap();
    assert_eq!(raw.cmd(&[b"CONFIG", b"REWRITE"]), b"+OK\r\n");
    assert_eq!(std::fs::read_to_string(conf_of(&s)).unwrap(), before);
}

#[test]
fn config_get_is_a_map_in_resp3_and_rewrite_needs_a_file() {
    let s = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut raw = s.raw();
    raw.cmd(&[b"HELLO", b"3"]);
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"GET", b"maxmemory-policy"]),
        b"%1\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n"
    );
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"REWRITE"]),
        b"-ERR The server is running without a config file\r\n"
    );
    let dir = raw.cmd(&[b"CONFIG", b"GET", b"dir"]);
    assert!(
        String::from_utf8_lossy(&dir).contains(&s.dir.display().to_string()),
        "dir is the working directory"
    );
}

#[test]
fn empty_logfile_logs_to_standard_output() {
    let mut s = ServerHandle::start(Flavor::Redoubt, &[("logfile", "")]);
    s.terminate(Duration::from_secs(10));
    // The launcher sends standard output to `console.log`.
    let text = std::fs::read_to_string(s.dir.join("console.log")).unwrap_or_default();
    assert!(text.contains("Ready to accept connections"), "{text}");
}

/// Starts a server logging to a pipe with `always-show-logo` set as given,
/// stops it, and returns its pid and standard output.
fn start_up_output(show_logo: &str) -> (u32, String) {
    let port = free_port();
    let dir = temp_dir("logo");
    let child = Command::new(redoubt_bin())
        .args(["server", "--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--always-show-logo", show_logo])
        .args(["--dir", &dir.display().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_for("the server to listen", Duration::from_secs(10), || {
        std::net::TcpStream::connect(addr).is_ok()
    });
    // SAFETY: our own child.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (pid, String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Redis's test suite knows a server started when ` PID: <pid>` shows in
/// its output, which Redis prints in its logo under `always-show-logo yes`.
#[test]
fn always_show_logo_prints_the_pid_port_and_mode() {
    let (pid, text) = start_up_output("yes");
    assert!(text.contains(&format!(" PID: {pid}\n")), "{text}");
    assert!(text.contains("Port: "), "{text}");
    assert!(text.contains("standalone mode"), "{text}");
    assert!(!text.contains("Running mode="), "{text}");
}

#[test]
fn without_the_logo_one_line_says_mode_and_port() {
    let (pid, text) = start_up_output("no");
    assert!(text.contains("Running mode=standalone, port="), "{text}");
    assert!(!text.contains(&format!(" PID: {pid}")), "{text}");
}

#[test]
fn config_set_port_and_bind_move_the_listener() {
    let s = ServerHandle::start(Flavor::Redoubt, &[]);
    let new_port = free_port();
    let mut raw = s.raw();
    let p = new_port.to_string();
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"SET", b"port", p.as_bytes()]),
        b"+OK\r\n"
    );
    // The old socket is closed at once; the established connection stays.
    assert!(std::net::TcpStream::connect(s.addr()).is_err());
    let moved = SocketAddr::from(([127, 0, 0, 1], new_port));
    let mut other = Raw::connect(moved);
    assert_eq!(other.cmd(&[b"PING"]), b"+PONG\r\n");
    // An address that cannot be bound fails the whole CONFIG SET and keeps
    // the listener where it was.
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"SET", b"hz", b"50", b"bind", b"192.0.2.1"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to specified addresses.\r\n"
    );
    assert_eq!(raw.cmd(&[b"CONFIG", b"GET", b"hz"]), bulk_pair("hz", "10"));
    assert_eq!(Raw::connect(moved).cmd(&[b"PING"]), b"+PONG\r\n");
    // And back again.
    let back = s.port.to_string();
    assert_eq!(
        raw.cmd(&[b"CONFIG", b"SET", b"port", back.as_bytes()]),
        b"+OK\r\n"
    );
}
