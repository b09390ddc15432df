//! Blocking sorted-set pops: BZPOPMIN, BZPOPMAX and BZMPOP (`t_zset.c`
//! and `blocked.c` in Redis). They pop like ZPOPMIN/ZPOPMAX/ZMPOP when a
//! named key holds members, and otherwise wait through `blocking.rs`,
//! which runs them again once a key receives a sorted set.
//!
//! Propagation, as in a Redis 7.0.15 AOF: BZPOPMIN/BZPOPMAX become
//! `ZPOPMIN|ZPOPMAX key` and BZMPOP `ZPOPMIN|ZPOPMAX key n` with the
//! number actually popped, whether served at once or after a wait.

use super::zsets::{mpop_from, parse_mpop, pop_members, write_zset, MpopArgs};
use crate::util::double;
use server::blocking;
use server::cmd::{Ctx, Handler};
use server::errors::{self, WrongType};

pub const COMMANDS: &[(&str, Handler)] = &[
    ("bzpopmin", bzpopmin),
    ("bzpopmax", bzpopmax),
    ("bzmpop", bzmpop),
];

fn verb(max: bool) -> &'static [u8] {
    if max {
        b"ZPOPMAX"
    } else {
        b"ZPOPMIN"
    }
}

/// The first of `keys` holding a non-empty sorted set; a key of another
/// type met before one is an error, as in Redis.
fn first_nonempty(ctx: &mut Ctx, keys: std::ops::Range<usize>) -> Result<Option<usize>, WrongType> {
    for i in keys {
        let key = ctx.argv.get(i);
        if write_zset(ctx, key)?.is_some_and(|z| !z.is_empty()) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

fn bzpopmin(ctx: &mut Ctx) {
    bzpop_generic(ctx, false);
}

fn bzpopmax(ctx: &mut Ctx) {
    bzpop_generic(ctx, true);
}

/// BZPOP{MIN,MAX} key... timeout: `[key, member, score]` from the first
/// non-empty set; the timeout is checked before the keys.
fn bzpop_generic(ctx: &mut Ctx, max: bool) {
    let last = ctx.argv.len() - 1;
    let Some(deadline) = blocking::parse_timeout(ctx, last) else {
        return;
    };
    match first_nonempty(ctx, 1..last) {
        Err(WrongType) => ctx.err(errors::WRONGTYPE),
        Ok(Some(i)) => {
            let key = ctx.argv.get(i);
            let popped = pop_members(ctx, key, max, 1);
            let out = ctx.out();
            out.array(3);
            out.bulk(key);
            for (s, m) in &popped {
                out.bulk(m);
                double::reply(out, *s);
            }
            ctx.propagate(&[verb(max), key]);
        }
        Ok(None) => {
            if !blocking::may_block(ctx) {
                return ctx.out().null_array();
            }
            blocking::block(ctx, blocking::WaitFor::ZSet, 1..last, deadline);
        }
    }
}

/// BZMPOP timeout numkeys key... MIN|MAX [COUNT n]: the arguments are
/// checked before the timeout, as in Redis; the reply is ZMPOP's.
fn bzmpop(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let MpopArgs { keys, max, count } = match parse_mpop(argv, 2) {
        Ok(a) => a,
        Err(e) => return ctx.err(e),
    };
    let Some(deadline) = blocking::parse_timeout(ctx, 1) else {
        return;
    };
    match first_nonempty(ctx, keys.clone()) {
        Err(WrongType) => ctx.err(errors::WRONGTYPE),
        Ok(Some(i)) => mpop_from(ctx, argv.get(i), max, count),
        Ok(None) => {
            if !blocking::may_block(ctx) {
                return ctx.out().null_array();
            }
            blocking::block(ctx, blocking::WaitFor::ZSet, keys, deadline);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;
    use server::client::Client;
    use std::cell::RefCell;
    use std::rc::Rc;

    fn other(k: &mut Kit, id: u64) -> Rc<RefCell<Client>> {
        let mut c = Client::new(id, k.srv.now_ms);
        c.authenticated = true;
        let rc = Rc::new(RefCell::new(c));
        k.srv.clients.insert(id, rc.clone());
        rc
    }

    fn run_as(k: &mut Kit, c: &Rc<RefCell<Client>>, args: &[&str]) {
        let mut buf = Vec::new();
        let mut ranges = Vec::new();
        for a in args {
            let s = buf.len();
            buf.extend_from_slice(a.as_bytes());
            ranges.push((s, buf.len()));
        }
        let mut cb = c.borrow_mut();
        server::cmd::execute(&mut k.srv, &mut cb, command_meta::Argv::new(&buf, &ranges));
        drop(cb);
        server::blocking::serve_ready(&mut k.srv);
    }

    #[test]
    fn immediate_pops_propagate_as_zpop() {
        let mut k = Kit::new();
        k.run(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
        assert_eq!(
            k.run(&["BZPOPMIN", "nokey", "z", "0"]),
            "*3\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\n1\r\n"
        );
        assert_eq!(
            k.run(&["BZMPOP", "0", "1", "z", "MAX", "COUNT", "5"]),
            "*2\r\n$1\r\nz\r\n*2\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"
        );
        assert_eq!(
            k.propagated(),
            vec!["ZADD z 1 a 2 b 3 c", "ZPOPMIN z", "ZPOPMAX z 2"]
        );
        assert_eq!(k.run(&["EXISTS", "z"]), ":0\r\n");
    }

    #[test]
    fn served_pops_propagate_and_skip_list_waiters() {
        let mut k = Kit::new();
        let a = other(&mut k, 10);
        let b = other(&mut k, 11);
        run_as(&mut k, &a, &["BLPOP", "q", "0"]);
        run_as(&mut k, &b, &["BZMPOP", "0", "1", "q", "MIN", "COUNT", "3"]);
        assert_eq!(k.srv.blocking.blocked_clients, 2);
        k.run(&["ZADD", "q", "1", "x", "2", "y"]);
        assert_eq!(
            b.borrow().out.buf,
            b"*2\r\n$1\r\nq\r\n*2\r\n*2\r\n$1\r\nx\r\n$1\r\n1\r\n*2\r\n$1\r\ny\r\n$1\r\n2\r\n"
        );
        assert!(a.borrow().out.buf.is_empty());
        assert_eq!(k.propagated(), vec!["ZADD q 1 x 2 y", "ZPOPMIN q 2"]);
        assert_eq!(k.srv.blocking.blocked_clients, 1);
    }

    #[test]
    fn blocking_is_refused_where_not_allowed() {
        let mut k = Kit::new();
        k.client.deny_blocking = true;
        assert_eq!(k.run(&["BZPOPMIN", "q", "0"]), "*-1\r\n");
        assert_eq!(k.run(&["BZMPOP", "0", "1", "q", "MIN"]), "*-1\r\n");
        assert!(k.client.blocked.is_none());
        assert!(k.propagated().is_empty());
    }
}
