//! Tests of `server::blocking` that run real commands (they need the families).

use crate::testkit::Kit;
use server::client::Client;
use std::cell::RefCell;
use std::rc::Rc;

/// Registers a second client in the kit's server, as a connection would.
fn other(k: &mut Kit, id: u64) -> Rc<RefCell<Client>> {
    let mut c = Client::new(id, k.srv.now_ms);
    c.authenticated = true;
    let rc = Rc::new(RefCell::new(c));
    k.srv.clients.insert(id, rc.clone());
    rc
}

fn run_as(k: &mut Kit, c: &Rc<RefCell<Client>>, args: &[&str]) -> String {
    let mut buf = Vec::new();
    let mut ranges = Vec::new();
    for a in args {
        let s = buf.len();
        buf.extend_from_slice(a.as_bytes());
        ranges.push((s, buf.len()));
    }
    let mut cb = c.borrow_mut();
    let mark = cb.out.buf.len();
    server::cmd::execute(&mut k.srv, &mut cb, command_meta::Argv::new(&buf, &ranges));
    drop(cb);
    server::blocking::serve_ready(&mut k.srv);
    String::from_utf8_lossy(&c.borrow().out.buf[mark..]).into_owned()
}

#[test]
fn served_pops_are_propagated_as_their_non_blocking_form() {
    let mut k = Kit::new();
    let a = other(&mut k, 10);
    let b = other(&mut k, 11);
    assert_eq!(run_as(&mut k, &a, &["BLPOP", "q", "0"]), "");
    assert_eq!(
        run_as(&mut k, &b, &["BLMOVE", "src", "q", "RIGHT", "LEFT", "0"]),
        ""
    );
    assert_eq!(k.srv.blocking.blocked_clients, 2);
    assert_eq!(k.run(&["RPUSH", "src", "v"]), ":1\r\n");
    // b moves v into q, which serves a.
    assert_eq!(b.borrow().out.buf, b"$1\r\nv\r\n");
    assert_eq!(a.borrow().out.buf, b"*2\r\n$1\r\nq\r\n$1\r\nv\r\n");
    assert_eq!(
        k.propagated(),
        vec!["RPUSH src v", "LMOVE src q RIGHT LEFT", "LPOP q"]
    );
    assert_eq!(k.srv.blocking.blocked_clients, 0);
    assert_eq!(k.run(&["EXISTS", "src", "q"]), ":0\r\n");
}

#[test]
fn blmpop_served_propagates_the_count_popped() {
    let mut k = Kit::new();
    let a = other(&mut k, 10);
    run_as(
        &mut k,
        &a,
        &["BLMPOP", "0", "2", "x", "y", "RIGHT", "COUNT", "5"],
    );
    k.run(&["RPUSH", "y", "1", "2"]);
    assert_eq!(
        a.borrow().out.buf,
        b"*2\r\n$1\r\ny\r\n*2\r\n$1\r\n2\r\n$1\r\n1\r\n"
    );
    assert_eq!(k.propagated(), vec!["RPUSH y 1 2", "RPOP y 2"]);
}

#[test]
fn blocking_is_refused_where_not_allowed() {
    let mut k = Kit::new();
    k.client.deny_blocking = true;
    assert_eq!(k.run(&["BLPOP", "q", "0"]), "*-1\r\n");
    assert_eq!(k.run(&["BLMOVE", "q", "d", "LEFT", "LEFT", "0"]), "$-1\r\n");
    assert_eq!(k.run(&["BLMPOP", "0", "1", "q", "LEFT"]), "*-1\r\n");
    assert!(k.client.blocked.is_none());
}

#[test]
fn client_unblock_answers_timeout_or_error() {
    let mut k = Kit::new();
    let a = other(&mut k, 10);
    run_as(&mut k, &a, &["BRPOP", "q", "0"]);
    assert_eq!(k.run(&["CLIENT", "UNBLOCK", "10", "ERROR"]), ":1\r\n");
    assert_eq!(
        a.borrow().out.buf,
        b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    );
    assert_eq!(k.run(&["CLIENT", "UNBLOCK", "10"]), ":0\r\n");
    a.borrow_mut().out.buf.clear();
    run_as(&mut k, &a, &["BRPOP", "q", "0"]);
    assert_eq!(k.run(&["CLIENT", "UNBLOCK", "10", "TIMEOUT"]), ":1\r\n");
    assert_eq!(a.borrow().out.buf, b"*-1\r\n");
    assert_eq!(
        k.run(&["CLIENT", "UNBLOCK", "10", "MAYBE"]),
        "-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n"
    );
    assert_eq!(k.srv.blocking.blocked_clients, 0);
    let i = k.srv.commands.lookup(b"brpop").unwrap_or_default();
    let st = k.srv.commands.stats[i];
    assert_eq!((st.calls, st.failed_calls), (2, 1));
}
