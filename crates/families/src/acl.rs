//! The ACL command: users (SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI),
//! categories (CAT), the log (LOG), the ACL file (LOAD, SAVE), and the
//! helpers GENPASS and DRYRUN. The rules themselves live in `server::acl`.

use server::acl::{self, file, table, SetOutcome, UserRef};
use server::client::Client;
use server::cmd::{Ctx, Handler};
use server::config::Directive;
use server::errors;
use server::server::Server;
use std::rc::Rc;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("acl|cat", acl_cat),
    ("acl|deluser", acl_deluser),
    ("acl|dryrun", acl_dryrun),
    ("acl|genpass", acl_genpass),
    ("acl|getuser", acl_getuser),
    ("acl|help", acl_help),
    ("acl|list", acl_list),
    ("acl|load", acl_load),
    ("acl|log", acl_log),
    ("acl|save", acl_save),
    ("acl|setuser", acl_setuser),
    ("acl|users", acl_users),
    ("acl|whoami", acl_whoami),
];

fn acl_setuser(ctx: &mut Ctx) {
    let name = ctx.argv.get(2).to_vec();
    if name.iter().any(|&b| b == b' ' || b == 0) {
        return ctx.err(errors::ACL_USERNAME_SPACES);
    }
    let ops: Vec<Vec<u8>> = ctx.argv.from(3).map(<[u8]>::to_vec).collect();
    match ctx.srv.acl.set_user(&name, &ops) {
        Err(msg) => ctx.err(&msg),
        Ok(outcome) => {
            if let SetOutcome::Changed { old, user } = outcome {
                let (srv, client) = ctx.parts();
                kill_pubsub_clients_if_needed(srv, client, &old, &user);
            }
            ctx.out().ok();
        }
    }
}

/// After a user's channels changed, disconnects its subscribers that hold
/// a subscription the new rules no longer allow (Redis's
/// ACLKillPubsubClientsIfNeeded).
fn kill_pubsub_clients_if_needed(
    srv: &mut Server,
    current: &mut Client,
    old: &acl::user::User,
    user: &UserRef,
) {
    let new = user.borrow();
    if new.any_allchannels() {
        return;
    }
    let upcoming: Vec<Vec<u8>> = new
        .selectors
        .iter()
        .flat_map(|s| s.channels.iter().cloned())
        .collect();
    let superset = !old.any_allchannels()
        && old
            .selectors
            .iter()
            .flat_map(|s| s.channels.iter())
            .all(|c| upcoming.contains(c));
    if superset {
        return;
    }
    let mut probe = acl::user::Selector::new(false);
    probe.channels = upcoming;
    let violates = |c: &Client| {
        c.subs
            .patterns
            .iter()
            .any(|p| !acl::channel_allowed(&probe, p, true))
            || c.subs
                .channels
                .iter()
                .chain(c.subs.shard.iter())
                .any(|ch| !acl::channel_allowed(&probe, ch, false))
    };
    let is_user = |c: &Client| c.acl_user.as_ref().is_some_and(|u| Rc::ptr_eq(u, user));
    if is_user(current) && current.subs.is_subscribed() && violates(current) {
        current.close_after_reply = true;
    }
    for rc in srv.clients.values() {
        // The calling client is borrowed already; it was handled above.
        let Ok(mut c) = rc.try_borrow_mut() else {
            continue;
        };
        if is_user(&c) && c.subs.is_subscribed() && violates(&c) {
            c.killed = true;
            c.wake.notify_one();
        }
    }
}

/// Disconnects every client authenticated as one of `users` (deleted or
/// replaced): the calling client after its reply, the others now.
fn kill_clients_of(srv: &mut Server, current: &mut Client, users: &[UserRef]) {
    let of = |c: &Client| {
        c.acl_user
            .as_ref()
            .is_some_and(|u| users.iter().any(|d| Rc::ptr_eq(u, d)))
    };
    let default = srv.acl.default.clone();
    if of(current) {
        current.acl_user = Some(default.clone());
        current.authenticated = false;
        current.close_after_reply = true;
    }
    for rc in srv.clients.values() {
        let Ok(mut c) = rc.try_borrow_mut() else {
            continue;
        };
        if of(&c) {
            c.acl_user = Some(default.clone());
            c.authenticated = false;
            c.killed = true;
            c.wake.notify_one();
        }
    }
}

fn acl_getuser(ctx: &mut Ctx) {
    let Some(u) = ctx.srv.acl.get(ctx.argv.get(2)) else {
        return ctx.out().null();
    };
    let u = u.borrow();
    let out = &mut ctx.client.out;
    out.map(6);
    out.bulk(b"flags");
    let flags = u.flag_names();
    out.set(flags.len());
    for f in flags {
        out.bulk(f.as_bytes());
    }
    out.bulk(b"passwords");
    out.array(u.passwords.len());
    for p in &u.passwords {
        out.bulk(p.as_bytes());
    }
    let root = u.root();
    out.bulk(b"commands");
    out.bulk(root.describe_commands().as_bytes());
    out.bulk(b"keys");
    out.bulk(root.describe_keys().as_bytes());
    out.bulk(b"channels");
    out.bulk(root.describe_channels().as_bytes());
    out.bulk(b"selectors");
    out.array(u.selectors.len() - 1);
    for sel in &u.selectors[1..] {
        out.map(3);
        out.bulk(b"commands");
        out.bulk(sel.describe_commands().as_bytes());
        out.bulk(b"keys");
        out.bulk(sel.describe_keys().as_bytes());
        out.bulk(b"channels");
        out.bulk(sel.describe_channels().as_bytes());
    }
}

fn acl_deluser(ctx: &mut Ctx) {
    if ctx.argv.from(2).any(|n| n == b"default") {
        return ctx.err(errors::ACL_DELETE_DEFAULT);
    }
    let mut gone = Vec::new();
    for name in ctx.argv.from(2) {
        if let Some(u) = ctx.srv.acl.users.remove(name) {
            gone.push(u);
        }
    }
    let n = gone.len() as i64;
    let (srv, client) = ctx.parts();
    kill_clients_of(srv, client, &gone);
    ctx.out().int(n);
}

fn acl_list(ctx: &mut Ctx) {
    let lines: Vec<String> = ctx
        .srv
        .acl
        .users
        .iter()
        .map(|(n, u)| {
            format!(
                "user {} {}",
                String::from_utf8_lossy(n),
                u.borrow().describe()
            )
        })
        .collect();
    let out = ctx.out();
    out.array(lines.len());
    for l in lines {
        out.bulk(l.as_bytes());
    }
}

fn acl_users(ctx: &mut Ctx) {
    let names: Vec<Vec<u8>> = ctx.srv.acl.users.keys().cloned().collect();
    let out = ctx.out();
    out.array(names.len());
    for n in names {
        out.bulk(&n);
    }
}

fn acl_whoami(ctx: &mut Ctx) {
    let name = match &ctx.client.acl_user {
        Some(u) => u.borrow().name.clone(),
        None => ctx.client.user.clone().into_bytes(),
    };
    ctx.out().bulk(&name);
}

fn acl_cat(ctx: &mut Ctx) {
    match ctx.argv.len() {
        2 => {
            let out = ctx.out();
            out.array(table::CATEGORIES.len());
            for c in table::CATEGORIES {
                out.bulk(c.as_bytes());
            }
        }
        3 => {
            let name = String::from_utf8_lossy(ctx.argv.get(2)).into_owned();
            let Some(bit) = table::category_bit(&name) else {
                return ctx.err(&format!("ERR Unknown category '{name}'"));
            };
            let names: Vec<&str> = table::table()
                .commands
                .iter()
                .filter(|c| c.categories & bit != 0)
                .map(|c| c.meta.name)
                .collect();
            let out = ctx.out();
            out.array(names.len());
            for n in names {
                out.bulk(n.as_bytes());
            }
        }
        _ => {
            let msg = errors::subcommand_syntax(ctx.argv.get(1), "acl");
            ctx.err(&msg)
        }
    }
}

fn acl_genpass(ctx: &mut Ctx) {
    let bits = match ctx.argv.len() {
        2 => 256,
        3 => match resp::parse_i64(ctx.argv.get(2)) {
            Some(b) => b,
            None => return ctx.err(errors::NOT_INTEGER),
        },
        _ => {
            let msg = errors::subcommand_syntax(ctx.argv.get(1), "acl");
            return ctx.err(&msg);
        }
    };
    if bits <= 0 || bits > 4096 {
        return ctx.err(errors::ACL_GENPASS_BITS);
    }
    let chars = ((bits + 3) / 4) as usize;
    // Passwords come from the operating system's generator, not the
    // server's fast PRNG.
    let hex = server::util::ids::random_hex(&mut rand::rngs::OsRng, chars);
    ctx.out().bulk(hex.as_bytes());
}

fn acl_log(ctx: &mut Ctx) {
    let mut count = 10i64;
    match ctx.argv.len() {
        2 => {}
        3 => {
            let arg = ctx.argv.get(2);
            if arg.eq_ignore_ascii_case(b"reset") {
                ctx.srv.acl.log.reset();
                return ctx.out().ok();
            }
            match resp::parse_i64(arg) {
                Some(n) => count = n.max(0),
                None => return ctx.err(errors::NOT_INTEGER),
            }
        }
        _ => {
            let msg = errors::subcommand_syntax(ctx.argv.get(1), "acl");
            return ctx.err(&msg);
        }
    }
    let now = ctx.srv.now_ms;
    let entries: Vec<acl::log::LogEntry> = ctx
        .srv
        .acl
        .log
        .entries
        .iter()
        .take(count as usize)
        .cloned()
        .collect();
    let out = &mut ctx.client.out;
    out.array(entries.len());
    for e in entries {
        out.map(7);
        out.bulk(b"count");
        out.int(e.count as i64);
        out.bulk(b"reason");
        out.bulk(e.reason.as_bytes());
        out.bulk(b"context");
        out.bulk(e.context.as_bytes());
        out.bulk(b"object");
        out.bulk(&e.object);
        out.bulk(b"username");
        out.bulk(&e.username);
        out.bulk(b"age-seconds");
        let age = (now - e.ctime_ms) as f64 / 1000.0;
        crate::util::double::reply(out, age);
        out.bulk(b"client-info");
        out.bulk(e.client_info.as_bytes());
    }
}

fn acl_dryrun(ctx: &mut Ctx) {
    let name = ctx.argv.get(2);
    let Some(user) = ctx.srv.acl.get(name) else {
        let msg = format!("ERR User '{}' not found", String::from_utf8_lossy(name));
        return ctx.err(&msg);
    };
    let args: Vec<&[u8]> = ctx.argv.from(3).collect();
    let not_found = |ctx: &mut Ctx| {
        let msg = format!(
            "ERR Command '{}' not found",
            String::from_utf8_lossy(ctx.argv.get(3))
        );
        ctx.err(&msg)
    };
    let t = &ctx.srv.commands;
    let Some(mut idx) = t.lookup(args[0]) else {
        return not_found(ctx);
    };
    if args.len() > 1 && !t.commands[idx].subcommands.is_empty() {
        match t.lookup_sub(idx, args[1]) {
            Some(s) => idx = s,
            None => return not_found(ctx),
        }
    }
    let meta = t.commands[idx].meta;
    let argc = args.len() as i32;
    if (meta.arity > 0 && argc != meta.arity) || argc < -meta.arity {
        return ctx.err(&errors::wrong_arity(meta.name));
    }
    let result = acl::check(&user.borrow(), meta, &args);
    match result {
        Ok(()) => ctx.out().ok(),
        Err(d) => {
            let msg = acl::dryrun_message(d, meta, &args);
            ctx.out().bulk(msg.as_bytes());
        }
    }
}

fn acl_save(ctx: &mut Ctx) {
    let path = ctx.srv.config.get_str(Directive::Aclfile);
    if path.is_empty() {
        return ctx.err(errors::ACL_NO_FILE);
    }
    match file::save_acl_file(&ctx.srv.acl, &path) {
        Ok(()) => ctx.out().ok(),
        Err(e) => {
            server::log_warning!("Opening temp ACL file for ACL SAVE: {e}");
            ctx.err(errors::ACL_SAVE_FAILED)
        }
    }
}

fn acl_load(ctx: &mut Ctx) {
    let path = ctx.srv.config.get_str(Directive::Aclfile);
    if path.is_empty() {
        return ctx.err(errors::ACL_NO_FILE);
    }
    match file::load_acl_file(&path, ctx.srv.acl.pubsub_default_all) {
        Err(e) => ctx.err(&format!("ERR {e}")),
        Ok(users) => {
            let old = ctx.srv.acl.replace_all(users);
            let (srv, client) = ctx.parts();
            kill_clients_of(srv, client, &old);
            ctx.out().ok();
        }
    }
}

fn acl_help(ctx: &mut Ctx) {
    crate::client::help_reply(
        ctx,
        "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "CAT [<category>]",
            "    Without an argument, the command categories; with one, the commands in it.",
            "DELUSER <username> [<username> ...]",
            "    Remove users (the default user stays).",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Tell whether the user could run the command, without running it.",
            "GETUSER <username>",
            "    Show a user's flags, passwords, commands, keys, channels and selectors.",
            "GENPASS [<bits>]",
            "    A random password, 256 bits unless told otherwise.",
            "LIST",
            "    Every user as a line of the ACL file.",
            "LOAD",
            "    Replace the users with the ones in the ACL file.",
            "LOG [<count> | RESET]",
            "    Recent refused commands and failed logins, or clear them.",
            "SAVE",
            "    Write the users to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create a user, or change one, with the given rules.",
            "USERS",
            "    The names of all users.",
            "WHOAMI",
            "    The user this connection runs as.",
        ],
    );
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn setuser_and_list_describe_rules_as_redis() {
        let mut k = Kit::new();
        assert_eq!(
            k.run(&[
                "ACL",
                "SETUSER",
                "u",
                "on",
                ">p",
                "~a*",
                "%R~r*",
                "&ch",
                "+get",
                "+config|get",
                "+@hash",
                "-hset"
            ]),
            "+OK\r\n"
        );
        let list = k.run(&["ACL", "LIST"]);
        assert!(
            list.contains("user default on nopass ~* &* +@all"),
            "{list}"
        );
        let hash = server::acl::user::hash_password(b"p");
        let want = format!(
            "user u on #{hash} ~a* %R~r* resetchannels &ch -@all +@hash +config|get +get -hset"
        );
        assert!(list.contains(&want), "{list}");
    }

    #[test]
    fn setuser_errors_leave_the_user_unchanged() {
        let mut k = Kit::new();
        assert_eq!(
            k.run(&["ACL", "SETUSER", "u", "on", "+nosuch"]),
            "-ERR Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL\r\n"
        );
        assert_eq!(k.run(&["ACL", "GETUSER", "u"]), "$-1\r\n");
        assert_eq!(
            k.run(&["ACL", "SETUSER", "u", "(~a", "+get"]),
            "-ERR Unmatched parenthesis in acl selector starting at '(~a'.\r\n"
        );
    }

    #[test]
    fn deluser_refuses_default() {
        let mut k = Kit::new();
        k.run(&["ACL", "SETUSER", "a"]);
        assert_eq!(
            k.run(&["ACL", "DELUSER", "a", "default"]),
            "-ERR The 'default' user cannot be removed\r\n"
        );
        assert_eq!(k.run(&["ACL", "DELUSER", "a", "b"]), ":1\r\n");
    }
}
