//! MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! Queuing itself happens in `cmd::execute`, after the generic checks, so
//! a command rejected there (unknown, wrong arity, not allowed in a
//! transaction) marks the transaction for EXECABORT exactly where Redis
//! does. The state lives in `server::multi`.

use server::cmd::{self, Ctx, Handler};
use server::errors;
use server::multi::MultiState;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("multi", multi),
    ("exec", exec),
    ("discard", discard),
    ("watch", watch),
    ("unwatch", unwatch),
];

fn multi(ctx: &mut Ctx) {
    if ctx.client.multi.is_some() {
        return ctx.err(errors::MULTI_NESTED);
    }
    ctx.client.multi = Some(MultiState::default());
    ctx.out().ok();
}

/// Ends the transaction of `ctx.client`, if any, and forgets its watches
/// (DISCARD, RESET, and every outcome of EXEC).
pub fn discard_transaction(ctx: &mut Ctx) {
    ctx.client.multi = None;
    let id = ctx.client.id;
    ctx.srv.watches.unwatch_all(id);
}

fn discard(ctx: &mut Ctx) {
    if ctx.client.multi.is_none() {
        return ctx.err(errors::DISCARD_WITHOUT_MULTI);
    }
    discard_transaction(ctx);
    ctx.out().ok();
}

fn exec(ctx: &mut Ctx) {
    let Some(state) = ctx.client.multi.as_mut() else {
        return ctx.err(errors::EXEC_WITHOUT_MULTI);
    };
    let aborted = state.aborted;
    let queue = std::mem::take(&mut state.queue);
    let id = ctx.client.id;
    let broken = ctx.srv.watch_broken(id);
    // Watches end here whatever happens next, as in Redis: the queued
    // commands' own writes must not count against this transaction.
    ctx.srv.watches.unwatch_all(id);
    if aborted {
        ctx.client.multi = None;
        return ctx.err(errors::EXECABORT);
    }
    if broken {
        ctx.client.multi = None;
        ctx.out().null_array();
        return;
    }
    // The queued commands record their own effects; the journal releases
    // them together when EXEC ends (wrapped in MULTI/EXEC when there are
    // several), and EXEC itself is never propagated.
    ctx.suppress_propagation();
    ctx.out().array(queue.len());
    ctx.client.in_exec = true;
    for argv in queue.iter() {
        cmd::execute(ctx.srv, ctx.client, argv);
    }
    ctx.client.in_exec = false;
    ctx.client.multi = None;
}

fn watch(ctx: &mut Ctx) {
    if ctx.client.multi.is_some() {
        return ctx.err(errors::WATCH_INSIDE_MULTI);
    }
    let (id, db) = (ctx.client.id, ctx.client.db);
    for key in ctx.argv.from(1) {
        ctx.srv.watch_key(id, db, key);
    }
    ctx.out().ok();
}

fn unwatch(ctx: &mut Ctx) {
    let id = ctx.client.id;
    ctx.srv.watches.unwatch_all(id);
    ctx.out().ok();
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn queued_commands_run_at_exec_and_runtime_errors_do_not_abort() {
        let mut k = Kit::new();
        assert_eq!(k.run(&["MULTI"]), "+OK\r\n");
        assert_eq!(k.run(&["SET", "a", "x"]), "+QUEUED\r\n");
        assert_eq!(k.run(&["INCR", "a"]), "+QUEUED\r\n");
        assert_eq!(k.run(&["GET", "a"]), "+QUEUED\r\n");
        assert_eq!(
            k.run(&["EXEC"]),
            "*3\r\n+OK\r\n-ERR value is not an integer or out of range\r\n$1\r\nx\r\n"
        );
        assert_eq!(k.run(&["EXEC"]), "-ERR EXEC without MULTI\r\n");
        assert_eq!(k.run(&["DISCARD"]), "-ERR DISCARD without MULTI\r\n");
        assert_eq!(k.run(&["MULTI"]), "+OK\r\n");
        assert_eq!(k.run(&["EXEC"]), "*0\r\n");
    }

    #[test]
    fn queuing_errors_abort_the_transaction() {
        let mut k = Kit::new();
        k.run(&["MULTI"]);
        assert_eq!(k.run(&["MULTI"]), "-ERR MULTI calls can not be nested\r\n");
        assert_eq!(
            k.run(&["WATCH", "k"]),
            "-ERR WATCH inside MULTI is not allowed\r\n"
        );
        // Neither of those dooms the transaction.
        k.run(&["SET", "a", "1"]);
        assert_eq!(k.run(&["EXEC"]), "*1\r\n+OK\r\n");
        k.run(&["MULTI"]);
        assert_eq!(
            k.run(&["GET"]),
            "-ERR wrong number of arguments for 'get' command\r\n"
        );
        k.run(&["SET", "a", "2"]);
        assert_eq!(
            k.run(&["EXEC"]),
            "-EXECABORT Transaction discarded because of previous errors.\r\n"
        );
        assert_eq!(k.run(&["GET", "a"]), "$1\r\n1\r\n");
        k.run(&["MULTI"]);
        assert_eq!(
            k.run(&["SHUTDOWN"]),
            "-ERR Command not allowed inside a transaction\r\n"
        );
        assert!(k.run(&["EXEC"]).starts_with("-EXECABORT"));
        k.run(&["MULTI"]);
        assert_eq!(
            k.run(&["EXEC", "x"]),
            "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n"
        );
        assert_eq!(k.run(&["EXEC"]), "-ERR EXEC without MULTI\r\n");
    }

    #[test]
    fn discard_and_reset_end_the_transaction() {
        let mut k = Kit::new();
        k.run(&["MULTI"]);
        k.run(&["SET", "a", "1"]);
        assert_eq!(k.run(&["DISCARD"]), "+OK\r\n");
        assert_eq!(k.run(&["GET", "a"]), "$-1\r\n");
        k.run(&["MULTI"]);
        k.run(&["SET", "a", "1"]);
        assert_eq!(k.run(&["RESET"]), "+RESET\r\n");
        assert_eq!(k.run(&["EXEC"]), "-ERR EXEC without MULTI\r\n");
        assert!(k.client.multi.is_none() && !k.client.in_exec);
    }

    #[test]
    fn watch_is_broken_by_another_clients_write_not_by_a_read() {
        let mut k = Kit::new();
        let mut other = k.new_client(2);
        k.run(&["SET", "k", "v"]);
        k.run(&["WATCH", "k"]);
        k.run_on(&mut other, &["GET", "k"]);
        k.run(&["MULTI"]);
        k.run(&["SET", "k", "mine"]);
        assert_eq!(k.run(&["EXEC"]), "*1\r\n+OK\r\n");

        k.run(&["WATCH", "k"]);
        k.run_on(&mut other, &["SET", "k", "theirs"]);
        k.run(&["MULTI"]);
        k.run(&["SET", "k", "mine"]);
        assert_eq!(k.run(&["EXEC"]), "*-1\r\n");
        assert_eq!(k.run(&["GET", "k"]), "$6\r\ntheirs\r\n");
        // The failed EXEC unwatched everything.
        k.run_on(&mut other, &["SET", "k", "again"]);
        k.run(&["MULTI"]);
        assert_eq!(k.run(&["EXEC"]), "*0\r\n");
    }

    #[test]
    fn watch_is_broken_by_own_write_and_null_follows_the_protocol() {
        let mut k = Kit::new();
        k.run(&["HELLO", "3"]);
        k.run(&["WATCH", "k"]);
        k.run(&["SET", "k", "1"]);
        k.run(&["MULTI"]);
        k.run(&["PING"]);
        assert_eq!(k.run(&["EXEC"]), "_\r\n");
        // DEL of a missing key changes nothing.
        k.run(&["WATCH", "nokey"]);
        k.run(&["DEL", "nokey", "k"]);
        k.run(&["MULTI"]);
        assert_eq!(k.run(&["EXEC"]), "*0\r\n");
        // UNWATCH forgets.
        k.run(&["WATCH", "k"]);
        k.run(&["UNWATCH"]);
        k.run(&["SET", "k", "1"]);
        k.run(&["MULTI"]);
        assert_eq!(k.run(&["EXEC"]), "*0\r\n");
    }

    #[test]
    fn flush_and_swapdb_break_watches_on_existing_keys_only() {
        let mut k = Kit::new();
        let mut other = k.new_client(2);
        k.run(&["WATCH", "missing"]);
        k.run_on(&mut other, &["FLUSHALL"]);
        k.run(&["MULTI"]);
        assert_eq!(k.run(&["EXEC"]), "*0\r\n");

        k.run(&["SET", "k", "v"]);
        k.run(&["WATCH", "k"]);
        k.run_on(&mut other, &["SELECT", "1"]);
        k.run_on(&mut other, &["FLUSHDB"]);
        k.run(&["MULTI"]);
        assert_eq!(k.run(&["EXEC"]), "*0\r\n");
        k.run(&["WATCH", "k"]);
        k.run_on(&mut other, &["SELECT", "0"]);
        k.run_on(&mut other, &["FLUSHDB"]);
        k.run(&["MULTI"]);
        assert_eq!(k.run(&["EXEC"]), "*-1\r\n");

        // SWAPDB brings a key in from the other database.
        k.run_on(&mut other, &["SELECT", "1"]);
        k.run_on(&mut other, &["SET", "k", "v"]);
        k.run(&["WATCH", "k"]);
        k.run_on(&mut other, &["SWAPDB", "1", "2"]);
        k.run(&["MULTI"]);
        assert_eq!(k.run(&["EXEC"]), "*0\r\n");
        k.run(&["WATCH", "k"]);
        k.run_on(&mut other, &["SWAPDB", "0", "2"]);
        k.run(&["MULTI"]);
        assert_eq!(k.run(&["EXEC"]), "*-1\r\n");
    }

    #[test]
    fn watched_key_expiring_breaks_exec_unless_it_was_already_expired() {
        let mut k = Kit::new();
        let mut other = k.new_client(2);
        k.run(&["SET", "k", "v"]);
        k.run(&["WATCH", "k"]);
        // Expires without anyone deleting it yet.
        k.srv.dbs[0].set_expire(b"k", 1);
        k.run(&["MULTI"]);
        assert_eq!(k.run(&["EXEC"]), "*-1\r\n");

        // Already expired at WATCH time: its lazy deletion is no change.
        k.run(&["WATCH", "k"]);
        assert_eq!(k.run_on(&mut other, &["GET", "k"]), "$-1\r\n");
        k.run(&["MULTI"]);
        assert_eq!(k.run(&["EXEC"]), "*0\r\n");

        // Live at WATCH time, then deleted by expiry: broken.
        k.run(&["SET", "k", "v"]);
        k.run(&["WATCH", "k"]);
        k.srv.dbs[0].set_expire(b"k", 1);
        k.run_on(&mut other, &["GET", "k"]);
        k.run(&["MULTI"]);
        assert_eq!(k.run(&["EXEC"]), "*-1\r\n");
    }

    #[test]
    fn exec_propagates_its_effects_as_one_unit() {
        let mut k = Kit::new();
        k.run(&["MULTI"]);
        k.run(&["SET", "a", "1"]);
        k.run(&["GET", "a"]);
        k.run(&["INCR", "a"]);
        k.run(&["EXEC"]);
        assert_eq!(k.propagated(), vec!["MULTI", "SET a 1", "INCR a", "EXEC"]);
        // A single effect needs no wrapping (Redis 7.0 does the same).
        k.run(&["MULTI"]);
        k.run(&["SET", "b", "1", "PXAT", "99999999999999"]);
        k.run(&["EXEC"]);
        assert_eq!(k.propagated(), vec!["SET b 1 PXAT 99999999999999"]);
        // A read-only transaction propagates nothing.
        k.run(&["MULTI"]);
        k.run(&["GET", "a"]);
        k.run(&["EXEC"]);
        assert!(k.propagated().is_empty());
        // Nor does a discarded or aborted one, or a failed WATCH.
        k.run(&["MULTI"]);
        k.run(&["SET", "a", "2"]);
        k.run(&["DISCARD"]);
        k.run(&["WATCH", "a"]);
        k.run(&["SET", "a", "3"]);
        assert_eq!(k.propagated(), vec!["SET a 3"]);
        k.run(&["MULTI"]);
        k.run(&["SET", "a", "4"]);
        k.run(&["EXEC"]);
        assert!(k.propagated().is_empty());
    }

    #[test]
    fn queued_commands_are_counted_when_they_run() {
        let mut k = Kit::new();
        k.run(&["MULTI"]);
        k.run(&["SET", "a", "1"]);
        let set = k.srv.commands.lookup(b"set").unwrap_or(0);
        assert_eq!(k.srv.commands.stats[set].calls, 0);
        assert_eq!(k.run(&["CLIENT", "INFO"]), "+QUEUED\r\n");
        k.run(&["EXEC"]);
        assert_eq!(k.srv.commands.stats[set].calls, 1);
    }
}
