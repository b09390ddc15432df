//! Directives whose effect is outside the replies (issue 15's rule: a
//! directive Redis accepts is implemented or refused, never ignored):
//! shutdown and signals, the process's OOM score and CPU affinity, crash
//! reports and the watchdog, and what replication directives do on the
//! wire and on disk. Where Redis's behaviour is observable the same way,
//! the scenario runs against both servers.

use crate::harness::*;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

const BOTH: [Flavor; 2] = [Flavor::Redis, Flavor::Redoubt];

fn oom_score(s: &ServerHandle) -> i64 {
    let pid = s.pid().expect("running");
    std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj"))
        .expect("oom_score_adj")
        .trim()
        .parse()
        .expect("a number")
}

#[test]
fn cluster_enabled_yes_starts_a_cluster_node_as_redis_does() {
    // (It was refused until cluster mode existed; `e2e/cluster.rs` tests
    // the mode itself.)
    for flavor in BOTH {
        let s = ServerHandle::start(flavor, &[("cluster-enabled", "yes")]);
        let mut c = s.client();
        assert_eq!(info_field(&mut c, "cluster", "cluster_enabled"), "1");
        assert_eq!(info_field(&mut c, "server", "redis_mode"), "cluster");
        assert!(s.dir.join("nodes.conf").exists());
    }
}

#[test]
fn oom_score_adj_follows_the_role_as_redis_does() {
    let mut seen = Vec::new();
    for flavor in BOTH {
        let s = ServerHandle::start(flavor, &[]);
        let mut c = s.client();
        let base = oom_score(&s);
        let mut steps = vec![];
        let mut step = |c: &mut redis::Connection, args: &[&str]| {
            q(c, args);
            steps.push(oom_score(&s) - base);
        };
        step(
            &mut c,
            &["CONFIG", "SET", "oom-score-adj-values", "10 20 30"],
        );
        step(&mut c, &["CONFIG", "SET", "oom-score-adj", "yes"]);
        step(
            &mut c,
            &["CONFIG", "SET", "oom-score-adj-values", "15 20 30"],
        );
        step(&mut c, &["REPLICAOF", "127.0.0.1", "1"]);
        step(&mut c, &["REPLICAOF", "NO", "ONE"]);
        step(&mut c, &["CONFIG", "SET", "oom-score-adj", "absolute"]);
        step(&mut c, &["CONFIG", "SET", "oom-score-adj", "no"]);
        seen.push(steps);
    }
    assert_eq!(seen[0], vec![0, 10, 15, 20, 15, 15, 0]);
    assert_eq!(seen[1], seen[0], "redoubt vs redis");
}

#[test]
fn server_cpulist_pins_the_executor_and_bio_cpulist_the_aof_writer() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        return;
    }
    let s = ServerHandle::start(
        Flavor::Redoubt,
        &[
            ("server_cpulist", "0"),
            ("bio_cpulist", "1"),
            ("appendonly", "yes"),
        ],
    );
    let pid = s.pid().expect("running");
    let allowed = |task: &str| -> String {
        let status =
            std::fs::read_to_string(format!("/proc/{pid}/task/{task}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap_or("")
            .trim()
            .to_string()
    };
    assert_eq!(allowed(&pid.to_string()), "0", "the executor");
    let writer = std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("tasks")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|t| {
            std::fs::read_to_string(format!("/proc/{pid}/task/{t}/comm"))
                .is_ok_and(|c| c.trim() == "aof-writer")
        })
        .expect("an aof-writer thread");
    assert_eq!(allowed(&writer), "1", "the AOF writer (a bio thread)");
}

#[test]
fn shutdown_waits_for_a_lagging_replica_then_exits_once_it_caught_up() {
    let mut master = ServerHandle::start(
        Flavor::Redoubt,
        &[("shutdown-timeout", "30"), ("hz", "100")],
    );
    let replica = start_replica(Flavor::Redoubt, &master, &[]);
    let mut m = master.client();
    let mut r = replica.client();
    q(&mut m, &["SET", "k", "1"]);
    wait_for("the replica to get k", Duration::from_secs(10), || {
        text(q(&mut r, &["GET", "k"])) == "1"
    });
    replica.signal(libc::SIGSTOP);
    q(&mut m, &["INCR", "k"]);
    let mut shutdown = master.raw();
    shutdown.send_cmd(&[b"SHUTDOWN"]);
    wait_for("shutdown_in_milliseconds", Duration::from_secs(10), || {
        info_field(&mut m, "server", "shutdown_in_milliseconds")
            .parse::<i64>()
            .is_ok_and(|ms| ms > 0)
    });
    assert_eq!(info_field(&mut m, "clients", "blocked_clients"), "1");
    // Writes wait while the replica catches up; reads are served.
    assert_eq!(text(q(&mut m, &["GET", "k"])), "2");
    replica.signal(libc::SIGCONT);
    let status = master.wait_exit(Duration::from_secs(20));
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    assert!(
        shutdown.is_closed(),
        "SHUTDOWN is not answered: the process exits"
    );
    assert_eq!(
        text(q(&mut r, &["GET", "k"])),
        "2",
        "the replica got the last write"
    );
    let log = master.log();
    assert!(
        log.contains("Waiting for replicas before shutting down."),
        "{log}"
    );
    assert!(
        log.contains("1 of 1 replicas are in sync when shutting down."),
        "{log}"
    );
    assert!(!log.contains("Lagging replica"), "{log}");
}

#[test]
fn shutdown_on_sigterm_flags_apply_to_the_final_save_on_both_servers() {
    for flavor in BOTH {
        for (flags, saved) in [("default", true), ("nosave", false)] {
            let mut s = ServerHandle::start(
                flavor,
                &[("save", "3600 1"), ("shutdown-on-sigterm", flags)],
            );
            q(&mut s.client(), &["SET", "k", "v"]);
            let st = s.terminate(Duration::from_secs(10));
            assert_eq!(st.and_then(|s| s.code()), Some(0), "{flavor:?} {flags}");
            assert_eq!(
                s.dir.join("dump.rdb").exists(),
                saved,
                "{flavor:?} with shutdown-on-sigterm {flags}"
            );
        }
    }
}

#[test]
fn a_second_sigint_exits_at_once_and_removes_the_temp_rdb() {
    for flavor in BOTH {
        let mut s = ServerHandle::start(flavor, &[("save", "3600 1")]);
        let mut c = s.client();
        for i in 0..20 {
            q(&mut c, &["SET", &i.to_string(), "v"]);
        }
        // The final save takes 2 s: 100 ms per key.
        q(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "100000"]);
        let pid = s.pid().expect("running");
        let temp = s.dir.join(format!("temp-{pid}.rdb"));
        s.signal(libc::SIGINT);
        wait_for("the final save's temp file", Duration::from_secs(5), || {
            temp.exists()
        });
        s.signal(libc::SIGINT);
        let st = s.wait_exit(Duration::from_secs(10));
        assert_eq!(st.and_then(|s| s.code()), Some(1), "{flavor:?}");
        assert!(!temp.exists(), "{flavor:?}: the temp file is removed");
        assert!(s.log().contains("You insist... exiting now."), "{flavor:?}");
    }
}

#[test]
fn a_segfault_writes_a_crash_report_with_the_memory_test() {
    for memcheck in ["yes", "no"] {
        let mut s = ServerHandle::start(Flavor::Redoubt, &[("crash-memcheck-enabled", memcheck)]);
        let mut c = s.raw();
        c.send_cmd(&[b"DEBUG", b"SEGFAULT"]);
        let st = s.wait_exit(Duration::from_secs(20)).expect("it crashed");
        assert_eq!(
            st.signal(),
            Some(libc::SIGSEGV),
            "the default action ends it"
        );
        let log = s.log();
        assert!(log.contains("crashed by signal: 11"), "{log}");
        assert!(log.contains("------ STACK TRACE ------"), "{log}");
        assert_eq!(
            log.contains("Fast memory test PASSED"),
            memcheck == "yes",
            "{log}"
        );
        assert!(log.contains("BUG REPORT END"), "{log}");
    }
    // Without crash-log-enabled: no report, only the signal's default.
    let mut s = ServerHandle::start(Flavor::Redoubt, &[("crash-log-enabled", "no")]);
    s.raw().send_cmd(&[b"DEBUG", b"SEGFAULT"]);
    let st = s.wait_exit(Duration::from_secs(10)).expect("it crashed");
    assert_eq!(st.signal(), Some(libc::SIGSEGV));
    assert!(!s.log().contains("crashed by signal"));
}

#[test]
fn a_panic_logs_the_guru_meditation_then_exits_under_use_exit_on_panic() {
    for (exit_on_panic, code, sig) in [("yes", Some(1), None), ("no", None, Some(libc::SIGABRT))] {
        let mut s = ServerHandle::start(
            Flavor::Redoubt,
            &[
                ("use-exit-on-panic", exit_on_panic),
                ("crash-memcheck-enabled", "no"),
            ],
        );
        s.raw().send_cmd(&[b"DEBUG", b"PANIC"]);
        let st = s.wait_exit(Duration::from_secs(20)).expect("it panicked");
        assert_eq!(
            (st.code(), st.signal()),
            (code, sig),
            "use-exit-on-panic {exit_on_panic}"
        );
        let log = s.log();
        assert!(
            log.contains("Guru Meditation: DEBUG PANIC called at Unix time"),
            "{log}"
        );
        assert!(log.contains("------ STACK TRACE ------"), "{log}");
    }
}

#[test]
fn the_watchdog_logs_a_stack_trace_when_the_executor_is_stuck() {
    for flavor in BOTH {
        let s = ServerHandle::start(flavor, &[]);
        let mut c = s.client();
        q(&mut c, &["CONFIG", "SET", "watchdog-period", "100"]);
        // Raised to two cron ticks, as Redis does.
        assert_eq!(
            text(q(&mut c, &["CONFIG", "GET", "watchdog-period"])),
            "[watchdog-period,200]"
        );
        q(&mut c, &["DEBUG", "SLEEP", "1"]);
        wait_for("the watchdog's report", Duration::from_secs(5), || {
            s.log().contains("--- WATCHDOG TIMER EXPIRED ---")
        });
        q(&mut c, &["CONFIG", "SET", "watchdog-period", "0"]);
    }
}

#[test]
fn replica_announce_ip_and_port_are_what_the_master_lists() {
    for master_flavor in BOTH {
        let master = ServerHandle::start(master_flavor, &[]);
        let replica = start_replica(
            Flavor::Redoubt,
            &master,
            &[
                ("replica-announce-ip", "10.9.8.7"),
                ("replica-announce-port", "4321"),
            ],
        );
        let mut m = master.client();
        let slave0 = info_field(&mut m, "replication", "slave0");
        assert!(
            slave0.starts_with("ip=10.9.8.7,port=4321,"),
            "{master_flavor:?} master: {slave0}"
        );
        drop(replica);
    }
}

#[test]
fn bind_source_addr_is_the_replica_link_s_address() {
    for flavor in BOTH {
        let master = ServerHandle::start(Flavor::Redoubt, &[("protected-mode", "no")]);
        let _replica = start_replica(flavor, &master, &[("bind-source-addr", "127.0.0.2")]);
        let mut m = master.client();
        let slave0 = info_field(&mut m, "replication", "slave0");
        assert!(slave0.starts_with("ip=127.0.0.2,"), "{flavor:?}: {slave0}");
    }
}

#[test]
fn a_replica_keeps_the_synced_rdb_unless_rdb_del_sync_files() {
    for flavor in BOTH {
        for (del, kept) in [("no", true), ("yes", false)] {
            let master = ServerHandle::start(Flavor::Redoubt, &[]);
            q(&mut master.client(), &["SET", "k", "v"]);
            // Persistence off (`save ""`, no AOF): the case the directive is for.
            let replica = start_replica(
                flavor,
                &master,
                &[
                    ("repl-diskless-load", "disabled"),
                    ("rdb-del-sync-files", del),
                ],
            );
            let mut r = replica.client();
            wait_for("the synced key", Duration::from_secs(10), || {
                text(q(&mut r, &["GET", "k"])) == "v"
            });
            assert_eq!(
                replica.dir.join("dump.rdb").exists(),
                kept,
                "{flavor:?} replica with rdb-del-sync-files {del}"
            );
        }
    }
}

#[test]
fn a_read_only_replica_panics_on_an_error_from_its_master_under_panic_on_replicas() {
    for flavor in BOTH {
        let master = ServerHandle::start(Flavor::Redoubt, &[]);
        let mut replica = start_replica(
            flavor,
            &master,
            &[
                ("replica-read-only", "no"),
                ("propagation-error-behavior", "panic-on-replicas"),
                ("use-exit-on-panic", "yes"),
                ("crash-memcheck-enabled", "no"),
            ],
        );
        let mut r = replica.client();
        // The replica's own write makes the next master write fail there.
        q(&mut r, &["SET", "k", "string"]);
        q(&mut r, &["CONFIG", "SET", "replica-read-only", "yes"]);
        q(&mut master.client(), &["LPUSH", "k", "x"]);
        let st = replica.wait_exit(Duration::from_secs(10));
        assert_eq!(st.and_then(|s| s.code()), Some(1), "{flavor:?}");
        let log = replica.log();
        assert!(
            log.contains("== CRITICAL == This replica is sending an error to its master"),
            "{flavor:?}: {log}"
        );
        assert!(
            log.contains("This replica panicked sending an error to its master after processing the command 'lpush'"),
            "{flavor:?}: {log}"
        );
    }
}
