//! ACL and exposure, as an operator meets them, checked against a real
//! Redis 7.0: the ACL log, the ACL file and `user` lines, clients dropped
//! when their user goes, a least-privilege replication user in every
//! master/replica pairing, protected mode, `rename-command`, and the
//! DEBUG/MODULE gates.

use crate::harness::{
    q, server_to_exit, start_replica, temp_dir, text, wait_for, Flavor, ServerHandle,
};
use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

const BOTH: [Flavor; 2] = [Flavor::Redis, Flavor::Redoubt];

/// The ACL log with the fields that depend on time and sockets checked
/// for shape and then left out, so two servers' logs compare equal.
fn acl_log_shape(c: &mut redis::Connection) -> Vec<Vec<(String, String)>> {
    let entries = match q(c, &["ACL", "LOG"]) {
        redis::Value::Array(a) => a,
        other => panic!("ACL LOG: {other:?}"),
    };
    entries
        .into_iter()
        .map(|e| {
            let fields = match e {
                redis::Value::Array(f) => f,
                other => panic!("entry: {other:?}"),
            };
            let mut out = Vec::new();
            for pair in fields.chunks(2) {
                let k = text(&pair[0]);
                let v = text(&pair[1]);
                match k.as_str() {
                    "age-seconds" => assert!(v.parse::<f64>().is_ok(), "age {v}"),
                    "client-info" => {
                        assert!(v.starts_with("id=") && v.contains(" user="), "{v}");
                        // The command being run is part of the info.
                        let cmd = v.split(' ').find(|f| f.starts_with("cmd=")).unwrap_or("");
                        out.push((k, cmd.to_string()));
                    }
                    _ => out.push((k, v)),
                }
            }
            out
        })
        .collect()
}

#[test]
fn acl_log_entries_match_redis() {
    let mut logs = Vec::new();
    for flavor in BOTH {
        let s = ServerHandle::start(flavor, &[]);
        let mut admin = s.client();
        q(
            &mut admin,
            &[
                "ACL", "SETUSER", "t", "on", ">pw", "~k*", "&c*", "+get", "+multi", "+publish",
            ],
        );
        let mut c = s.raw();
        c.cmd_str(&["AUTH", "t", "bad"]);
        c.cmd_str(&["AUTH", "t", "pw"]);
        c.cmd_str(&["GET", "x"]);
        c.cmd_str(&["GET", "x"]);
        c.cmd_str(&["SET", "k", "v"]);
        c.cmd_str(&["PUBLISH", "zz", "m"]);
        c.cmd_str(&["MULTI"]);
        c.cmd_str(&["GET", "y"]);
        c.cmd_str(&["DISCARD"]);
        c.cmd_str(&["HELLO", "3", "AUTH", "nobody", "x"]);
        let all = acl_log_shape(&mut admin);
        assert_eq!(all.len(), 6, "{all:?}");
        // Count and RESET behave the same.
        match q(&mut admin, &["ACL", "LOG", "2"]) {
            redis::Value::Array(a) => assert_eq!(a.len(), 2),
            other => panic!("ACL LOG 2: {other:?}"),
        }
        logs.push(all);
        q(&mut admin, &["ACL", "LOG", "RESET"]);
        assert_eq!(text(q(&mut admin, &["ACL", "LOG"])), "[]");
    }
    assert_eq!(logs[0], logs[1]);
}

/// Starts a server of each flavor reading the same ACL file.
fn pair_with_aclfile(path: &str) -> Vec<ServerHandle> {
    BOTH.iter()
        .map(|&f| ServerHandle::start(f, &[("aclfile", path)]))
        .collect()
}

#[test]
fn aclfile_save_and_load_round_trip() {
    let dir = temp_dir("aclfile");
    let path = dir.join("users.acl");
    let path_s = path.display().to_string();
    std::fs::write(
        &path,
        "user default on nopass ~* &* +@all\nuser a on >x ~k +get\n",
    )
    .unwrap();
    let servers = pair_with_aclfile(&path_s);
    let lists: Vec<String> = servers
        .iter()
        .map(|s| text(q(&mut s.client(), &["ACL", "LIST"])))
        .collect();
    assert_eq!(lists[0], lists[1]);
    assert!(lists[1].contains("user a on #"), "{}", lists[1]);

    // A bad file changes nothing, and both servers say why in the same words.
    std::fs::write(
        &path,
        "user b on +nosuch\nfoo bar\nuser c on\nuser c off\n\n  # comment\nuser e (+get\nuser\nuser f on #abc\n",
    )
    .unwrap();
    let errors: Vec<String> = servers
        .iter()
        .map(|s| s.raw().cmd_str(&["ACL", "LOAD"]))
        .collect();
    assert_eq!(errors[0], errors[1]);
    assert!(
        errors[1].contains("no change to the previously active ACL rules"),
        "{}",
        errors[1]
    );
    for s in &servers {
        assert_eq!(text(q(&mut s.client(), &["ACL", "LIST"])), lists[0]);
    }

    // ACL SAVE writes what ACL LIST shows; a restart reads it back.
    let mut ours = servers.into_iter().nth(1).unwrap();
    let mut c = ours.client();
    q(
        &mut c,
        &["ACL", "SETUSER", "z", "on", ">zz", "&ch", "~z*", "+set"],
    );
    assert_eq!(text(q(&mut c, &["ACL", "SAVE"])), "OK");
    let saved = std::fs::read_to_string(&path).unwrap();
    let listed = text(q(&mut c, &["ACL", "LIST"]));
    assert_eq!(format!("[{}]", saved.trim_end().replace('\n', ",")), listed);
    ours.kill();
    let again = ServerHandle::start(Flavor::Redoubt, &[("aclfile", &path_s)]);
    assert_eq!(text(q(&mut again.client(), &["ACL", "LIST"])), listed);

    // ACL LOAD replaces the users, and drops connections of the old ones.
    let mut z = again.raw();
    assert_eq!(z.cmd_str(&["AUTH", "z", "zz"]), "+OK\r\n");
    std::fs::write(&path, "user default on nopass ~* &* +@all\n").unwrap();
    assert_eq!(text(q(&mut again.client(), &["ACL", "LOAD"])), "OK");
    assert!(z.is_closed(), "client of a replaced user stays connected");
    assert_eq!(text(q(&mut again.client(), &["ACL", "USERS"])), "[default]");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_aclfile_stops_startup_like_redis() {
    let dir = temp_dir("aclmissing");
    let path = dir.join("missing.acl").display().to_string();
    let status = server_to_exit(&["--aclfile", &path], &dir);
    assert_ne!(status.0, Some(0));
    assert!(
        status.1.contains(&format!(
            "Aborting Redis startup because of ACL errors: Error loading ACLs, opening file '{path}': No such file or directory"
        )),
        "{}",
        status.1
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn user_lines_in_config_define_users_and_refuse_an_aclfile_too() {
    let lists: Vec<String> = BOTH
        .iter()
        .map(|&f| {
            let s = ServerHandle::start(
                f,
                &[
                    ("user", "alice on >pw ~a* &news +@string -getex"),
                    ("user", "bob off nopass +@read (~b* +@write)"),
                ],
            );
            let mut c = s.raw();
            assert_eq!(c.cmd_str(&["AUTH", "alice", "pw"]), "+OK\r\n");
            assert_eq!(c.cmd_str(&["SET", "a1", "v"]), "+OK\r\n");
            text(q(&mut s.client(), &["ACL", "LIST"]))
        })
        .collect();
    assert_eq!(lists[0], lists[1]);

    let dir = temp_dir("aclboth");
    let path = dir.join("users.acl");
    std::fs::write(&path, "user default on nopass ~* &* +@all\n").unwrap();
    let (code, log) = server_to_exit(
        &[
            "--user",
            "a",
            "on",
            "--aclfile",
            &path.display().to_string(),
        ],
        &dir,
    );
    assert_ne!(code, Some(0));
    assert!(
        log.contains("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid."),
        "{log}"
    );
    let (code, log) = server_to_exit(&["--user", "a", "on", "--user", "a", "off"], &dir);
    assert_ne!(code, Some(0));
    assert!(
        log.contains("Error in user declaration 'a': Duplicate user found. A user can only be defined once in config files"),
        "{log}"
    );
    let (code, log) = server_to_exit(&["--user", "a", "on", "#abc"], &dir);
    assert_ne!(code, Some(0));
    assert!(
        log.contains(
            "Error in user declaration 'a': The password hash must be exactly 64 characters"
        ),
        "{log}"
    );
    let (code, log) = server_to_exit(&["--user", "a", "on", "+nosuch"], &dir);
    assert_ne!(code, Some(0));
    assert!(
        log.contains("Error loading ACL rule '+nosuch' for the user named 'a': Unknown command or category name in ACL"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// What happens to a connection of a user that is deleted, and to a
/// subscriber whose channel permission is taken away.
fn user_removal_effects(flavor: Flavor) -> Vec<String> {
    let s = ServerHandle::start(flavor, &[]);
    let mut admin = s.client();
    q(
        &mut admin,
        &["ACL", "SETUSER", "u", "on", "nopass", "+@all", "~*", "&*"],
    );
    q(
        &mut admin,
        &[
            "ACL", "SETUSER", "sub", "on", "nopass", "+@all", "~*", "&news",
        ],
    );
    let mut u = s.raw();
    let mut seen = vec![u.cmd_str(&["AUTH", "u", "x"])];
    let mut other = s.raw();
    seen.push(other.cmd_str(&["PING"]));
    let mut subscriber = s.raw();
    subscriber.cmd_str(&["AUTH", "sub", "x"]);
    seen.push(subscriber.cmd_str(&["SUBSCRIBE", "news"]));
    // A change that keeps the channel keeps the subscriber.
    q(&mut admin, &["ACL", "SETUSER", "sub", "&more"]);
    seen.push(subscriber.cmd_str(&["PING"]));
    // Deleting a user closes its connections, and only those.
    seen.push(text(q(&mut admin, &["ACL", "DELUSER", "u"])));
    seen.push(format!("u closed: {}", u.is_closed()));
    seen.push(other.cmd_str(&["PING"]));
    // Losing the subscribed channel closes the subscriber.
    q(
        &mut admin,
        &["ACL", "SETUSER", "sub", "resetchannels", "&more"],
    );
    seen.push(format!("subscriber closed: {}", subscriber.is_closed()));
    // A client deleting its own user gets the reply, then is closed.
    q(
        &mut admin,
        &["ACL", "SETUSER", "self", "on", "nopass", "+@all", "~*"],
    );
    let mut me = s.raw();
    me.cmd_str(&["AUTH", "self", "x"]);
    seen.push(me.cmd_str(&["ACL", "DELUSER", "self"]));
    seen.push(format!("self closed: {}", me.is_closed()));
    seen
}

#[test]
fn deleted_users_and_lost_channels_disconnect_clients_like_redis() {
    let redis = user_removal_effects(Flavor::Redis);
    let ours = user_removal_effects(Flavor::Redoubt);
    assert_eq!(redis, ours);
    assert!(ours.contains(&"u closed: true".to_string()), "{ours:?}");
}

/// A master with a replication user allowed only PSYNC, REPLCONF and PING;
/// a replica authenticating as that user; the data must arrive.
fn least_privilege_replication(master: Flavor, replica: Flavor) {
    let m = ServerHandle::start(
        master,
        &[
            ("user", "repl on >replpw +psync +replconf +ping"),
            ("requirepass", "adminpw"),
        ],
    );
    let mut mc = m.client();
    q(&mut mc, &["AUTH", "adminpw"]);
    q(&mut mc, &["SET", "before", "1"]);
    q(&mut mc, &["HSET", "h", "f", "v"]);
    let r = start_replica(
        replica,
        &m,
        &[("masteruser", "repl"), ("masterauth", "replpw")],
    );
    let mut rc = r.client();
    q(&mut mc, &["SET", "after", "2"]);
    wait_for(
        "write to reach the replica",
        Duration::from_secs(10),
        || text(q(&mut rc, &["GET", "after"])) == "2",
    );
    assert_eq!(text(q(&mut rc, &["GET", "before"])), "1");
    assert_eq!(text(q(&mut rc, &["HGET", "h", "f"])), "v");
    // The replication user can do nothing else on the master.
    let mut as_repl = m.raw();
    assert_eq!(as_repl.cmd_str(&["AUTH", "repl", "replpw"]), "+OK\r\n");
    assert_eq!(
        as_repl.cmd_str(&["GET", "before"]),
        "-NOPERM this user has no permissions to run the 'get' command\r\n"
    );
}

#[test]
fn least_privilege_replication_user_redoubt_master_redoubt_replica() {
    least_privilege_replication(Flavor::Redoubt, Flavor::Redoubt);
}

#[test]
fn least_privilege_replication_user_real_redis_master_redoubt_replica() {
    least_privilege_replication(Flavor::Redis, Flavor::Redoubt);
}

#[test]
fn least_privilege_replication_user_redoubt_master_real_redis_replica() {
    least_privilege_replication(Flavor::Redoubt, Flavor::Redis);
}

/// Connects to `port` on 127.0.0.1 from source address 127.0.0.2: still a
/// loopback interface, but not the address Redis's protected mode accepts.
fn connect_from_127_0_0_2(port: u16) -> TcpStream {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a descriptor we own; the sockaddr
    // structs are fully initialised before use.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let mut src: libc::sockaddr_in = std::mem::zeroed();
        src.sin_family = libc::AF_INET as libc::sa_family_t;
        src.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 2]);
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        assert_eq!(
            libc::bind(fd, &src as *const _ as *const libc::sockaddr, len),
            0
        );
        let mut dst: libc::sockaddr_in = std::mem::zeroed();
        dst.sin_family = libc::AF_INET as libc::sa_family_t;
        dst.sin_port = port.to_be();
        dst.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        assert_eq!(
            libc::connect(fd, &dst as *const _ as *const libc::sockaddr, len),
            0
        );
        TcpStream::from_raw_fd(fd)
    }
}

/// Everything the server sends to a PING from 127.0.0.2 until it closes
/// (or two seconds pass).
fn ping_from_outside(port: u16) -> String {
    use std::io::Write;
    let mut s = connect_from_127_0_0_2(port);
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let _ = s.write_all(b"PING\r\n");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => {
                got.extend_from_slice(b"<closed>");
                break;
            }
            Ok(n) => got.extend_from_slice(&buf[..n]),
            // Closed with our PING unread: the peer resets.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                got.extend_from_slice(b"<closed>");
                break;
            }
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn protected_mode_refuses_outside_peers_like_redis() {
    let mut seen = Vec::new();
    for flavor in BOTH {
        let s = ServerHandle::start(flavor, &[]);
        let mut steps = vec![ping_from_outside(s.port)];
        let mut c = s.client();
        // A password for the default user opens the door (to AUTH).
        q(&mut c, &["CONFIG", "SET", "requirepass", "pw"]);
        steps.push(ping_from_outside(s.port));
        q(&mut c, &["AUTH", "pw"]);
        q(&mut c, &["CONFIG", "SET", "requirepass", ""]);
        q(&mut c, &["CONFIG", "SET", "protected-mode", "no"]);
        steps.push(ping_from_outside(s.port));
        seen.push(steps);
    }
    assert_eq!(seen[0], seen[1]);
    assert!(
        seen[1][0].starts_with("-DENIED Redis is running in protected mode"),
        "{:?}",
        seen[1]
    );
    assert!(seen[1][0].ends_with("<closed>"));
    assert_eq!(seen[1][2], "+PONG\r\n");
}

#[test]
fn rename_command_and_gates_behave_like_redis() {
    let mut seen = Vec::new();
    for flavor in BOTH {
        let s = ServerHandle::start(
            flavor,
            &[
                ("rename-command", "flushall "),
                ("rename-command", "config cfg"),
                ("enable-debug-command", "no"),
                ("enable-module-command", "no"),
                ("enable-protected-configs", "no"),
            ],
        );
        let mut c = s.raw();
        let mut steps = Vec::new();
        for cmd in [
            &["FLUSHALL"][..],
            &["CONFIG", "GET", "maxmemory"],
            &["CFG", "GET", "maxmemory"],
            &["CFG", "SET", "dir", "/tmp"],
            &["ACL", "DRYRUN", "default", "flushall"],
            &["ACL", "DRYRUN", "default", "cfg", "get", "x"],
            &["DEBUG", "SLEEP", "0"],
            &["MODULE", "LOAD", "/nonexistent.so"],
            &["MODULE", "UNLOAD", "x"],
            &["MODULE", "LIST"],
        ] {
            steps.push(c.cmd_str(cmd));
        }
        seen.push(steps);
    }
    assert_eq!(seen[0], seen[1]);
    assert!(
        seen[1][0].starts_with("-ERR unknown command 'FLUSHALL'"),
        "{:?}",
        seen[1]
    );

    // Config errors for bad renames stop start-up with Redis's words.
    let dir = temp_dir("renames");
    for (args, reason) in [
        (
            &["--rename-command", "get", "set"][..],
            "Target command name already exists",
        ),
        (
            &["--rename-command", "nosuch", "x"],
            "No such command in rename-command",
        ),
    ] {
        let (code, out) = server_to_exit(args, &dir);
        assert_ne!(code, Some(0), "{args:?} should be refused ({reason})");
        assert!(out.contains(reason), "{out}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends `args` from 127.0.0.2 and returns the reply text.
fn command_from_127_0_0_2(port: u16, args: &[&str]) -> String {
    use std::io::Write;
    let mut s = connect_from_127_0_0_2(port);
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut req = format!("*{}\r\n", args.len());
    for a in args {
        req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn local_gates_accept_only_127_0_0_1_like_redis() {
    let mut seen = Vec::new();
    for flavor in BOTH {
        let s = ServerHandle::start(
            flavor,
            &[
                ("protected-mode", "no"),
                ("enable-debug-command", "local"),
                ("enable-module-command", "local"),
                ("enable-protected-configs", "local"),
            ],
        );
        let dir = s.dir.display().to_string();
        let mut steps = Vec::new();
        for cmd in [
            &["DEBUG", "SLEEP", "0"][..],
            &["MODULE", "UNLOAD", "x"],
            &["CONFIG", "SET", "dir", &dir],
        ] {
            steps.push(s.raw().cmd_str(cmd));
            steps.push(command_from_127_0_0_2(s.port, cmd));
        }
        seen.push(steps);
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[1][0], "+OK\r\n");
    assert!(
        seen[1][1].starts_with("-ERR DEBUG command not allowed."),
        "{:?}",
        seen[1]
    );
}

#[test]
fn bind_limits_the_listening_addresses_like_redis() {
    for flavor in BOTH {
        let s = ServerHandle::start(flavor, &[("bind", "127.0.0.1 -::1")]);
        assert_eq!(s.raw().cmd_str(&["PING"]), "+PONG\r\n");
        // Another loopback address of the same host is not listened on.
        let other = std::net::SocketAddr::from(([127, 0, 0, 2], s.port));
        assert!(
            TcpStream::connect_timeout(&other, Duration::from_secs(2)).is_err(),
            "{flavor:?} accepted on 127.0.0.2"
        );
        let got = text(q(&mut s.client(), &["CONFIG", "GET", "bind"]));
        assert_eq!(got, "[bind,127.0.0.1 -::1]", "{flavor:?}");
    }
}
