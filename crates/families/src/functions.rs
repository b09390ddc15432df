//! FUNCTION and FCALL/FCALL_RO: the libraries live in the engine
//! (`server::scripting::functions`); these handlers parse arguments,
//! reply, and propagate FUNCTION LOAD/DELETE/FLUSH/RESTORE as they were
//! received (verbatim, as Redis does).

use server::cmd::{Ctx, Handler};
use server::errors;
use server::scripting::functions::{flag_names, RestorePolicy, LOAD_TIMEOUT_MS};
use server::scripting::{busy, run, vm::Kind};

pub const COMMANDS: &[(&str, Handler)] = &[
    ("fcall", fcall),
    ("fcall_ro", fcall),
    ("function|load", function_load),
    ("function|delete", function_delete),
    ("function|flush", function_flush),
    ("function|list", function_list),
    ("function|dump", function_dump),
    ("function|restore", function_restore),
    ("function|stats", function_stats),
    ("function|kill", function_kill),
    ("function|help", function_help),
];

fn fcall(ctx: &mut Ctx) {
    server::monitor::feed_line(ctx.srv, ctx.client, ctx.argv);
    ctx.suppress_propagation();
    let name = String::from_utf8_lossy(ctx.argv.get(1)).into_owned();
    let Some(f) = ctx
        .srv
        .scripting
        .functions
        .functions
        .get(&name.to_ascii_lowercase())
    else {
        return ctx.err(errors::FN_NOT_FOUND);
    };
    let (func, flags, name) = (f.func, f.flags, f.name.clone());
    let (first, numkeys) = match crate::scripting::keys_range(ctx, errors::FN_BAD_NUMKEYS) {
        Ok(r) => r,
        Err(e) => return ctx.err(e),
    };
    let ro = ctx.srv.commands.commands[ctx.cmd].meta.name == "fcall_ro";
    let s = run::Script {
        kind: Kind::Functions,
        func,
        flags,
        read_only_command: ro,
        name: name.as_bytes(),
    };
    run::run(ctx, s, first, numkeys);
}

fn function_load(ctx: &mut Ctx) {
    let argc = ctx.argv.len();
    let mut replace = false;
    let mut pos = 2;
    while pos < argc - 1 {
        let a = ctx.argv.get(pos);
        pos += 1;
        if a.eq_ignore_ascii_case(b"replace") {
            replace = true;
            continue;
        }
        let msg = errors::fn_load_option(&String::from_utf8_lossy(a));
        return ctx.err(&msg);
    }
    if pos >= argc {
        return ctx.err(errors::FN_CODE_MISSING);
    }
    let timeout = if ctx.client.is_master() || ctx.client.loading {
        0
    } else {
        LOAD_TIMEOUT_MS
    };
    match ctx
        .srv
        .scripting
        .functions
        .load(ctx.argv.get(pos), replace, timeout)
    {
        Ok(name) => {
            ctx.dirty(1);
            ctx.out().bulk(name.as_bytes());
        }
        Err(e) => ctx.err(&format!("ERR {e}")),
    }
}

fn function_delete(ctx: &mut Ctx) {
    let name = String::from_utf8_lossy(ctx.argv.get(2)).into_owned();
    if !ctx.srv.scripting.functions.delete(&name) {
        return ctx.err(errors::FN_LIBRARY_NOT_FOUND);
    }
    ctx.dirty(1);
    ctx.out().ok();
}

fn function_flush(ctx: &mut Ctx) {
    let argc = ctx.argv.len();
    if argc > 3 {
        let msg = errors::subcommand_syntax(ctx.argv.get(1), "function");
        return ctx.err(&msg);
    }
    let ok = argc == 2
        || (argc == 3
            && (ctx.argv.get(2).eq_ignore_ascii_case(b"sync")
                || ctx.argv.get(2).eq_ignore_ascii_case(b"async")));
    if !ok {
        return ctx.err(errors::FN_FLUSH_MODE);
    }
    ctx.srv.scripting.functions.flush();
    ctx.dirty(1);
    ctx.out().ok();
}

fn function_list(ctx: &mut Ctx) {
    let mut with_code = false;
    let mut pattern: Option<Vec<u8>> = None;
    let argc = ctx.argv.len();
    let mut i = 2;
    while i < argc {
        let a = ctx.argv.get(i);
        if !with_code && a.eq_ignore_ascii_case(b"withcode") {
            with_code = true;
            i += 1;
            continue;
        }
        if pattern.is_none() && a.eq_ignore_ascii_case(b"libraryname") {
            if i >= argc - 1 {
                return ctx.err(errors::FN_LIST_NAME_MISSING);
            }
            pattern = Some(ctx.argv.get(i + 1).to_vec());
            i += 2;
            continue;
        }
        let msg = errors::fn_list_argument(&String::from_utf8_lossy(a));
        return ctx.err(&msg);
    }
    let (srv, client) = ctx.parts();
    let fs = &srv.scripting.functions;
    let libs: Vec<_> = fs
        .libraries
        .values()
        .filter(|l| {
            pattern
                .as_ref()
                .is_none_or(|p| server::util::glob::matches(p, l.name.as_bytes(), false))
        })
        .collect();
    let out = &mut client.out;
    out.array(libs.len());
    for l in libs {
        out.map(if with_code { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(l.name.as_bytes());
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(l.functions.len());
        for fname in &l.functions {
            let Some(f) = fs.functions.get(&fname.to_ascii_lowercase()) else {
                out.null();
                continue;
            };
            out.map(3);
            out.bulk(b"name");
            out.bulk(f.name.as_bytes());
            out.bulk(b"description");
            match &f.description {
                Some(d) => out.bulk(d.as_bytes()),
                None => out.null(),
            }
            out.bulk(b"flags");
            let names = flag_names(f.flags);
            out.set(names.len());
            for n in names {
                out.simple(n.as_bytes());
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&l.code);
        }
    }
}

fn function_dump(ctx: &mut Ctx) {
    let payloads = ctx.srv.scripting.functions.payloads();
    let dump = rdb::payload::dump_functions(&payloads);
    ctx.out().bulk(&dump);
}

fn function_restore(ctx: &mut Ctx) {
    let argc = ctx.argv.len();
    if argc > 4 {
        let msg = errors::subcommand_syntax(ctx.argv.get(1), "function");
        return ctx.err(&msg);
    }
    let policy = if argc == 4 {
        let p = ctx.argv.get(3);
        if p.eq_ignore_ascii_case(b"flush") {
            RestorePolicy::Flush
        } else if p.eq_ignore_ascii_case(b"append") {
            RestorePolicy::Append
        } else if p.eq_ignore_ascii_case(b"replace") {
            RestorePolicy::Replace
        } else {
            return ctx.err(errors::FN_RESTORE_POLICY);
        }
    } else {
        RestorePolicy::Append
    };
    let codes = match rdb::payload::restore_functions(
        ctx.argv.get(2),
        ctx.srv.debug.skip_checksum_validation,
    ) {
        Ok(c) => c,
        Err(e) => return ctx.err(&format!("ERR {e}")),
    };
    match ctx.srv.scripting.functions.restore(&codes, policy) {
        Ok(()) => {
            ctx.dirty(1);
            ctx.out().ok();
        }
        Err(e) => ctx.err(&format!("ERR {e}")),
    }
}

fn function_stats(ctx: &mut Ctx) {
    if ctx
        .srv
        .scripting
        .running
        .as_ref()
        .is_some_and(|r| r.eval_mode)
    {
        return ctx.err(errors::BUSY_SCRIPT);
    }
    let (srv, client) = ctx.parts();
    let out = &mut client.out;
    out.map(2);
    out.bulk(b"running_script");
    match &srv.scripting.running {
        None => out.null(),
        Some(r) => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(srv.scripting.running_name.as_bytes());
            out.bulk(b"command");
            let (buf, ranges) = &srv.scripting.running_command;
            out.array(ranges.len());
            for &(s, e) in ranges {
                out.bulk(&buf[s..e]);
            }
            out.bulk(b"duration_ms");
            out.int(r.start.elapsed().as_millis() as i64);
        }
    }
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(srv.scripting.functions.libraries.len() as i64);
    out.bulk(b"functions_count");
    out.int(srv.scripting.functions.functions.len() as i64);
}

fn function_kill(ctx: &mut Ctx) {
    match busy::kill(ctx.srv, false) {
        None => ctx.out().ok(),
        Some(e) => ctx.err(e),
    }
}

fn function_help(ctx: &mut Ctx) {
    crate::client::help_reply(
        ctx,
        "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given code; REPLACE overwrites one of the same name.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    List the libraries (those whose name matches PATTERN), with their code if asked.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete every library.",
            "DUMP",
            "    Return a serialized payload of the libraries.",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore libraries from a DUMP payload (APPEND by default).",
            "STATS",
            "    Information about the running function and the engines.",
            "KILL",
            "    Kill the running function if it has not written.",
        ],
    );
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    const LIB: &str = "#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return args[1] end)\nredis.register_function{function_name='ro', callback=function() return 1 end, flags={'no-writes'}}";

    #[test]
    fn load_call_list_delete() {
        let mut k = Kit::new();
        assert_eq!(k.run(&["FUNCTION", "LOAD", LIB]), "$5\r\nmylib\r\n");
        assert_eq!(
            k.run(&["FUNCTION", "LOAD", LIB]),
            "-ERR Library 'mylib' already exists\r\n"
        );
        assert_eq!(k.run(&["FCALL", "myfunc", "0", "hi"]), "$2\r\nhi\r\n");
        assert_eq!(k.run(&["FCALL_RO", "ro", "0"]), ":1\r\n");
        assert!(k
            .run(&["FCALL_RO", "myfunc", "0"])
            .starts_with("-ERR Can not execute a script with write flag using *_ro command."));
        assert_eq!(
            k.run(&["FCALL", "nosuch", "0"]),
            "-ERR Function not found\r\n"
        );
        let dump = k.run(&["FUNCTION", "DUMP"]);
        assert!(dump.starts_with('$'));
        assert_eq!(k.run(&["FUNCTION", "DELETE", "mylib"]), "+OK\r\n");
        assert_eq!(
            k.run(&["FUNCTION", "DELETE", "mylib"]),
            "-ERR Library not found\r\n"
        );
        let r = k.run(&["FUNCTION", "LOAD", "#!lua name=x\nreturn 1"]);
        assert_eq!(r, "-ERR No functions registered\r\n");
        let r = k.run(&[
            "FUNCTION",
            "LOAD",
            "#!lua name=x\nlocal a = string.len('x')",
        ]);
        assert!(
            r.contains("Script attempted to access nonexistent global variable 'string'"),
            "{r}"
        );
    }
}
