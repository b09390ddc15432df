//! Blocking sorted-set pops over real connections: FIFO among waiters,
//! wake-ups by other clients and by EXEC, type-aware serving, timeouts,
//! RESP3 shapes and the propagated form. Every scenario runs against real
//! Redis 7.0 too, which proves the expectations are Redis's.

use crate::harness::{
    assert_times_out_in_0_3_s, blocked_clients, on_both, wait_blocked, Flavor, Raw, ServerHandle,
};

fn waiters_are_served_in_arrival_order(flavor: Flavor) {
    let s = ServerHandle::start(flavor, &[]);
    let mut admin = s.raw();
    let mut waiters: Vec<Raw> = Vec::new();
    let cmds: [&[&[u8]]; 3] = [
        &[b"BZPOPMIN", b"z", b"0"],
        &[b"BZMPOP", b"0", b"1", b"z", b"MAX", b"COUNT", b"2"],
        &[b"BZPOPMAX", b"other", b"z", b"0"],
    ];
    for (i, cmd) in cmds.iter().enumerate() {
        let mut c = s.raw();
        c.send_cmd(cmd);
        wait_blocked(&mut admin, i + 1);
        waiters.push(c);
    }
    assert_eq!(
        admin.cmd(&[b"ZADD", b"z", b"1", b"a", b"2", b"b", b"3", b"c", b"4", b"d"]),
        b":4\r\n"
    );
    let want: [&[u8]; 3] = [
        b"*3\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\n1\r\n",
        b"*2\r\n$1\r\nz\r\n*2\r\n*2\r\n$1\r\nd\r\n$1\r\n4\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n",
        b"*3\r\n$1\r\nz\r\n$1\r\nb\r\n$1\r\n2\r\n",
    ];
    for (c, w) in waiters.iter_mut().zip(want) {
        assert_eq!(c.read_reply().unwrap(), w);
    }
    assert_eq!(blocked_clients(&mut admin), 0);
    assert_eq!(admin.cmd(&[b"EXISTS", b"z"]), b":0\r\n");
}

fn a_list_does_not_serve_a_zset_waiter(flavor: Flavor) {
    let s = ServerHandle::start(flavor, &[]);
    let mut admin = s.raw();
    let mut zc = s.raw();
    zc.send_cmd(&[b"BZPOPMIN", b"k", b"0"]);
    wait_blocked(&mut admin, 1);
    let mut lc = s.raw();
    lc.send_cmd(&[b"BLPOP", b"k", b"0"]);
    wait_blocked(&mut admin, 2);
    // The list goes to the list waiter although the zset waiter came first.
    assert_eq!(admin.cmd(&[b"RPUSH", b"k", b"v"]), b":1\r\n");
    assert_eq!(lc.read_reply().unwrap(), b"*2\r\n$1\r\nk\r\n$1\r\nv\r\n");
    wait_blocked(&mut admin, 1);
    // A list under the name does not wake it either: it stays blocked.
    assert_eq!(admin.cmd(&[b"RPUSH", b"k", b"w"]), b":1\r\n");
    assert_eq!(blocked_clients(&mut admin), 1);
    assert_eq!(admin.cmd(&[b"DEL", b"k"]), b":1\r\n");
    assert_eq!(
        admin.cmd(&[b"ZINCRBY", b"k", b"2.5", b"m"]),
        b"$3\r\n2.5\r\n"
    );
    assert_eq!(
        zc.read_reply().unwrap(),
        b"*3\r\n$1\r\nk\r\n$1\r\nm\r\n$3\r\n2.5\r\n"
    );
    assert_eq!(blocked_clients(&mut admin), 0);
}

fn store_commands_and_exec_wake_waiters(flavor: Flavor) {
    let s = ServerHandle::start(flavor, &[]);
    let mut admin = s.raw();
    admin.cmd(&[b"ZADD", b"src", b"1", b"a", b"2", b"b"]);
    let mut c = s.raw();
    c.send_cmd(&[b"BZMPOP", b"0", b"2", b"d1", b"d2", b"MIN", b"COUNT", b"1"]);
    wait_blocked(&mut admin, 1);
    assert_eq!(admin.cmd(&[b"ZUNIONSTORE", b"d2", b"1", b"src"]), b":2\r\n");
    assert_eq!(
        c.read_reply().unwrap(),
        b"*2\r\n$2\r\nd2\r\n*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"
    );
    c.send_cmd(&[b"BZPOPMAX", b"t", b"0"]);
    wait_blocked(&mut admin, 1);
    assert_eq!(admin.cmd(&[b"MULTI"]), b"+OK\r\n");
    admin.cmd(&[b"ZADD", b"t", b"1", b"x", b"2", b"y"]);
    admin.cmd(&[b"ZPOPMAX", b"t"]);
    assert_eq!(
        admin.cmd(&[b"EXEC"]),
        b"*2\r\n:2\r\n*2\r\n$1\r\ny\r\n$1\r\n2\r\n"
    );
    // Served after EXEC with what the transaction left.
    assert_eq!(
        c.read_reply().unwrap(),
        b"*3\r\n$1\r\nt\r\n$1\r\nx\r\n$1\r\n1\r\n"
    );
    // Inside MULTI they answer as timed out at once.
    admin.cmd(&[b"MULTI"]);
    admin.cmd(&[b"BZPOPMIN", b"empty", b"0"]);
    admin.cmd(&[b"BZMPOP", b"0", b"1", b"empty", b"MAX"]);
    assert_eq!(admin.cmd(&[b"EXEC"]), b"*2\r\n*-1\r\n*-1\r\n");
}

fn fractional_timeouts_and_resp3_shapes(flavor: Flavor) {
    let s = ServerHandle::start(flavor, &[]);
    let mut admin = s.raw();
    let mut c = s.raw();
    assert_times_out_in_0_3_s(&mut c, &[b"BZPOPMIN", b"q", b"0.3"]);
    assert_eq!(c.cmd(&[b"HELLO", b"3"]).first(), Some(&b'%'));
    assert_eq!(c.cmd(&[b"BZMPOP", b"0.05", b"1", b"q", b"MIN"]), b"_\r\n");
    assert_eq!(c.cmd(&[b"BZPOPMAX", b"q", b"0.05"]), b"_\r\n");
    c.send_cmd(&[b"BZPOPMAX", b"q", b"0"]);
    wait_blocked(&mut admin, 1);
    admin.cmd(&[b"ZADD", b"q", b"1.5", b"a", b"3", b"b"]);
    assert_eq!(
        c.read_reply().unwrap(),
        b"*3\r\n$1\r\nq\r\n$1\r\nb\r\n,3\r\n"
    );
    c.send_cmd(&[b"BZMPOP", b"0", b"1", b"q2", b"MIN", b"COUNT", b"9"]);
    wait_blocked(&mut admin, 1);
    assert_eq!(admin.cmd(&[b"RENAME", b"q", b"q2"]), b"+OK\r\n");
    assert_eq!(
        c.read_reply().unwrap(),
        b"*2\r\n$2\r\nq2\r\n*1\r\n*2\r\n$1\r\na\r\n,1.5\r\n"
    );
}

fn served_pops_propagate_their_effect(flavor: Flavor) {
    let s = ServerHandle::start(flavor, &[]);
    let mut admin = s.raw();
    let mut mon = s.raw();
    assert_eq!(mon.cmd(&[b"MONITOR"]), b"+OK\r\n");
    let mut c = s.raw();
    c.send_cmd(&[b"BZPOPMIN", b"z", b"0"]);
    wait_blocked(&mut admin, 1);
    admin.cmd(&[b"ZADD", b"z", b"1", b"a"]);
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
    assert_eq!(
        seen.iter().filter(|l| l.contains("\"bzpopmin\"")).count(),
        1,
        "{seen:?}"
    );
    // The keyspace events of a served pop are the non-blocking ones.
    let mut sub = s.raw();
    admin.cmd(&[b"CONFIG", b"SET", b"notify-keyspace-events", b"KEA"]);
    sub.cmd(&[b"PSUBSCRIBE", b"__keyevent@0__:*"]);
    c.send_cmd(&[b"BZMPOP", b"0", b"1", b"z", b"MAX", b"COUNT", b"2"]);
    wait_blocked(&mut admin, 1);
    admin.cmd(&[b"ZADD", b"z", b"1", b"a"]);
    c.read_reply().unwrap();
    let mut events = Vec::new();
    for _ in 0..3 {
        let m = sub.read_reply().unwrap();
        let text = String::from_utf8_lossy(&m).into_owned();
        events.push(text.lines().nth(6).unwrap_or_default().to_string());
    }
    assert_eq!(
        events,
        [
            "__keyevent@0__:zadd",
            "__keyevent@0__:zpopmax",
            "__keyevent@0__:del"
        ]
    );
}

on_both!(
    waiters_are_served_in_arrival_order,
    a_list_does_not_serve_a_zset_waiter,
    store_commands_and_exec_wake_waiters,
    fractional_timeouts_and_resp3_shapes,
    served_pops_propagate_their_effect,
);
