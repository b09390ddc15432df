//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT: parse the arguments,
//! find or compile the script in the engine's cache
//! (`server::scripting::eval`), and hand it to the runtime
//! (`server::scripting::run`), which writes the reply.
//!
//! The script itself is never propagated: its commands' effects reach
//! the journal as they run, and leave wrapped in MULTI/EXEC when the
//! command ends (effects replication, Redis 7.0's only mode).

use server::cmd::{Ctx, Handler};
use server::errors;
use server::scripting::{busy, eval, ldb, run, vm::Kind};

pub const COMMANDS: &[(&str, Handler)] = &[
    ("eval", eval_cmd),
    ("evalsha", evalsha),
    ("eval_ro", eval_cmd),
    ("evalsha_ro", evalsha),
    ("script|load", script_load),
    ("script|exists", script_exists),
    ("script|flush", script_flush),
    ("script|kill", script_kill),
    ("script|debug", script_debug),
    ("script|help", script_help),
];

/// Where the keys of EVAL-style commands (`<script> numkeys key...
/// arg...`) start and how many there are, or the error reply.
pub fn keys_range(ctx: &Ctx, bad_numkeys: &'static str) -> Result<(usize, usize), &'static str> {
    let argv = ctx.argv;
    let numkeys = resp::parse_i64(argv.get(2)).ok_or(bad_numkeys)?;
    let rest = argv.len() as i64 - 3;
    if numkeys > rest {
        return Err(errors::NUMKEYS_GREATER);
    }
    if numkeys < 0 {
        return Err(errors::NUMKEYS_NEGATIVE);
    }
    Ok((3, numkeys as usize))
}

fn is_ro(ctx: &Ctx) -> bool {
    ctx.srv.commands.commands[ctx.cmd]
        .meta
        .name
        .ends_with("_ro")
}

fn eval_cmd(ctx: &mut Ctx) {
    eval_generic(ctx, false);
}

fn evalsha(ctx: &mut Ctx) {
    eval_generic(ctx, true);
}

fn eval_generic(ctx: &mut Ctx, evalsha: bool) {
    // Shown to MONITOR before the commands the script runs.
    server::monitor::feed_line(ctx.srv, ctx.client, ctx.argv);
    ctx.suppress_propagation();
    if evalsha && ctx.argv.get(1).len() != 40 {
        return ctx.err(errors::NOSCRIPT);
    }
    if ctx.client.lua_debug {
        if evalsha {
            return ctx.err(errors::EVALSHA_DEBUG);
        }
        // The session's lines follow the replies already due.
        let fd = ctx.client.fd;
        ldb::write_all(fd, &ctx.client.out.buf);
        ctx.client.out.buf.clear();
        ldb::start(fd, ctx.argv.get(1));
        eval_script(ctx, false);
        ldb::end();
        // The end of the session: the reply, then the connection closes.
        ctx.client.close_after_reply = true;
        return;
    }
    eval_script(ctx, evalsha);
}

fn eval_script(ctx: &mut Ctx, evalsha: bool) {
    let (first, numkeys) = match keys_range(ctx, errors::NOT_INTEGER) {
        Ok(r) => r,
        Err(e) => return ctx.err(e),
    };
    let sha = if evalsha {
        match eval::parse_sha(ctx.argv.get(1)) {
            Some(s) if ctx.srv.scripting.eval.scripts.contains_key(&s) => s,
            _ => return ctx.err(errors::NOSCRIPT),
        }
    } else {
        match ctx.srv.scripting.eval.create(ctx.argv.get(1)) {
            Ok(s) => s,
            Err(e) => return ctx.err(&e),
        }
    };
    let Some(script) = ctx.srv.scripting.eval.scripts.get(&sha) else {
        return ctx.err(errors::NOSCRIPT);
    };
    let s = run::Script {
        kind: Kind::Eval,
        func: script.func,
        flags: script.flags,
        read_only_command: is_ro(ctx),
        name: &sha,
    };
    run::run(ctx, s, first, numkeys);
}

fn script_load(ctx: &mut Ctx) {
    match ctx.srv.scripting.eval.create(ctx.argv.get(2)) {
        Ok(sha) => ctx.out().bulk(&sha),
        Err(e) => ctx.err(&e),
    }
}

fn script_exists(ctx: &mut Ctx) {
    let n = ctx.argv.len() - 2;
    ctx.out().array(n);
    for i in 2..ctx.argv.len() {
        let found = eval::parse_sha(ctx.argv.get(i))
            .is_some_and(|s| ctx.srv.scripting.eval.scripts.contains_key(&s));
        ctx.out().int(i64::from(found));
    }
}

fn script_flush(ctx: &mut Ctx) {
    let argc = ctx.argv.len();
    let ok = argc == 2
        || (argc == 3
            && (ctx.argv.get(2).eq_ignore_ascii_case(b"sync")
                || ctx.argv.get(2).eq_ignore_ascii_case(b"async")));
    if !ok {
        return ctx.err(errors::SCRIPT_FLUSH_MODE);
    }
    // ASYNC frees the old state on the spot too: it is small next to a
    // dataset, and the cache is gone at once either way.
    ctx.srv.scripting.eval.flush();
    ctx.out().ok();
}

fn script_kill(ctx: &mut Ctx) {
    match busy::kill(ctx.srv, true) {
        None => ctx.out().ok(),
        Some(e) => ctx.err(e),
    }
}

/// SCRIPT DEBUG SYNC|NO: the client's next EVAL runs under the Lua
/// debugger (see `server::scripting::ldb`); YES (Redis's forked session)
/// is refused.
fn script_debug(ctx: &mut Ctx) {
    if !ctx.client.out.buf.is_empty() {
        return ctx.err(errors::SCRIPT_DEBUG_PIPELINE);
    }
    let mode = ctx.argv.get(2);
    if mode.eq_ignore_ascii_case(b"no") {
        ctx.client.lua_debug = false;
        ctx.out().ok();
    } else if mode.eq_ignore_ascii_case(b"sync") {
        if ctx.client.tls || ctx.client.fd < 0 {
            return ctx.err(errors::SCRIPT_DEBUG_TLS);
        }
        ctx.client.lua_debug = true;
        ctx.out().ok();
    } else if mode.eq_ignore_ascii_case(b"yes") {
        ctx.err(errors::SCRIPT_DEBUG_FORKED);
    } else {
        ctx.err(errors::SCRIPT_DEBUG_MODE);
    }
}

fn script_help(ctx: &mut Ctx) {
    crate::client::help_reply(
        ctx,
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Debug the next EVAL with the Lua debugger (SYNC: blocking the server; YES is not offered).",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return whether each script is in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Empty the script cache.",
            "KILL",
            "    Stop the running script if it has not written.",
            "LOAD <script>",
            "    Add a script to the script cache without running it.",
        ],
    );
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn eval_returns_converted_values() {
        let mut k = Kit::new();
        assert_eq!(k.run(&["EVAL", "return 'hello'", "0"]), "$5\r\nhello\r\n");
        assert_eq!(k.run(&["EVAL", "return 100.5", "0"]), ":100\r\n");
        assert_eq!(k.run(&["EVAL", "return true", "0"]), ":1\r\n");
        assert_eq!(k.run(&["EVAL", "return false", "0"]), "$-1\r\n");
        assert_eq!(
            k.run(&["EVAL", "return {1,2,3,'ciao',{1,2}}", "0"]),
            "*5\r\n:1\r\n:2\r\n:3\r\n$4\r\nciao\r\n*2\r\n:1\r\n:2\r\n"
        );
        assert_eq!(
            k.run(&["EVAL", "return {err='ERR this is an error'}", "0"]),
            "-ERR this is an error\r\n"
        );
        assert_eq!(k.run(&["EVAL", "return {ok='fine'}", "0"]), "+fine\r\n");
        assert_eq!(
            k.run(&[
                "EVAL",
                "return {KEYS[1],KEYS[2],ARGV[1],ARGV[2]}",
                "2",
                "a",
                "b",
                "c",
                "d"
            ]),
            "*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"
        );
    }

    #[test]
    fn redis_call_runs_commands_and_propagates_effects() {
        let mut k = Kit::new();
        assert_eq!(
            k.run(&[
                "EVAL",
                "redis.call('set',KEYS[1],'x'); return redis.call('get',KEYS[1])",
                "1",
                "k"
            ]),
            "$1\r\nx\r\n"
        );
        assert_eq!(k.propagated(), vec!["set k x"]);
        k.run(&[
            "EVAL",
            "redis.call('incr','a'); redis.call('incr','a')",
            "0",
        ]);
        assert_eq!(k.propagated(), vec!["MULTI", "incr a", "incr a", "EXEC"]);
        assert_eq!(
            k.run(&["EVAL", "return redis.call('nosuch')", "0"]),
            "-ERR Unknown Redis command called from script script: 3cd4c1f24c7fc7a1ae0cf7bde3c2d87bc7d6a1a9, on @user_script:1.\r\n"
                .replace("3cd4c1f24c7fc7a1ae0cf7bde3c2d87bc7d6a1a9", &sha("return redis.call('nosuch')"))
        );
        assert_eq!(
            k.run(&["EVAL", "return redis.pcall('incr','nosuchkey', 'x')", "0"]),
            "-ERR Wrong number of args calling Redis command from script\r\n"
        );
    }

    fn sha(body: &str) -> String {
        String::from_utf8_lossy(&server::scripting::eval::sha1hex(body.as_bytes())).into_owned()
    }

    #[test]
    fn globals_are_protected() {
        let mut k = Kit::new();
        let r = k.run(&["EVAL", "a = 5", "0"]);
        assert!(r.contains("Attempt to modify a readonly table"), "{r}");
        let r = k.run(&["EVAL", "return a", "0"]);
        assert!(
            r.contains("Script attempted to access nonexistent global variable 'a'"),
            "{r}"
        );
        let r = k.run(&["EVAL", "redis.call = function() return 1 end", "0"]);
        assert!(r.contains("Attempt to modify a readonly table"), "{r}");
        let r = k.run(&["EVAL", "print('x')", "0"]);
        assert!(r.contains("nonexistent global variable 'print'"), "{r}");
        let r = k.run(&[
            "EVAL",
            "return loadstring(string.dump(function() return 1 end))()",
            "0",
        ]);
        assert!(r.contains("attempt to call a nil value"), "{r}");
    }

    #[test]
    fn evalsha_and_script_cache() {
        let mut k = Kit::new();
        let s = sha("return 1");
        assert_eq!(
            k.run(&["EVALSHA", &s, "0"]),
            "-NOSCRIPT No matching script. Please use EVAL.\r\n"
        );
        assert_eq!(
            k.run(&["SCRIPT", "LOAD", "return 1"]),
            format!("$40\r\n{s}\r\n")
        );
        assert_eq!(k.run(&["EVALSHA", &s.to_uppercase(), "0"]), ":1\r\n");
        assert_eq!(k.run(&["SCRIPT", "EXISTS", &s, "x"]), "*2\r\n:1\r\n:0\r\n");
        assert_eq!(k.run(&["SCRIPT", "FLUSH"]), "+OK\r\n");
        assert_eq!(k.run(&["SCRIPT", "EXISTS", &s]), "*1\r\n:0\r\n");
        assert_eq!(
            k.run(&["EVAL_RO", "return redis.call('set','x','y')", "0"]),
            format!("-ERR Write commands are not allowed from read-only scripts. script: {}, on @user_script:1.\r\n", sha("return redis.call('set','x','y')"))
        );
    }
}
