//! Server commands: DBSIZE, FLUSHDB, FLUSHALL, COMMAND, CLIENT, ...

use crate::cmd::{Ctx, Handler};
use crate::errors;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("dbsize", dbsize),
    ("flushdb", flushdb),
    ("flushall", flushall),
    ("command|count", command_count),
    ("client|id", client_id),
    ("client|setname", client_setname),
    ("client|getname", client_getname),
];

fn dbsize(ctx: &mut Ctx) {
    let n = ctx.db().len() as i64;
    ctx.out().int(n);
}

/// Parses the optional ASYNC|SYNC argument of FLUSHDB/FLUSHALL.
fn flush_mode(ctx: &mut Ctx) -> Option<()> {
    match ctx.argv.len() {
        1 => Some(()),
        2 if ctx.argv.get(1).eq_ignore_ascii_case(b"ASYNC")
            || ctx.argv.get(1).eq_ignore_ascii_case(b"SYNC") =>
        {
            Some(())
        }
        _ => {
            ctx.err(errors::SYNTAX);
            None
        }
    }
}

fn flushdb(ctx: &mut Ctx) {
    if flush_mode(ctx).is_none() {
        return;
    }
    let n = ctx.db().len() as u64;
    ctx.db().clear();
    // Propagated even when empty, as Redis forces it.
    ctx.dirty(n.max(1));
    ctx.out().ok();
}

fn flushall(ctx: &mut Ctx) {
    if flush_mode(ctx).is_none() {
        return;
    }
    let mut n = 0;
    for db in &mut ctx.srv.dbs {
        n += db.len() as u64;
        db.clear();
    }
    ctx.dirty(n.max(1));
    ctx.out().ok();
}

fn command_count(ctx: &mut Ctx) {
    let n = ctx.srv.commands.top_level().count() as i64;
    ctx.out().int(n);
}

/// Client names cannot contain spaces, newlines or special characters.
pub fn validate_client_name(name: &[u8]) -> Result<(), &'static str> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err("ERR Client names cannot contain spaces, newlines or special characters.");
    }
    Ok(())
}

fn client_id(ctx: &mut Ctx) {
    let id = ctx.client.id as i64;
    ctx.out().int(id);
}

fn client_setname(ctx: &mut Ctx) {
    let name = ctx.argv.get(2);
    if let Err(e) = validate_client_name(name) {
        return ctx.err(e);
    }
    ctx.client.name = if name.is_empty() {
        None
    } else {
        Some(name.to_vec())
    };
    ctx.out().ok();
}

fn client_getname(ctx: &mut Ctx) {
    match ctx.client.name.clone() {
        Some(n) => ctx.out().bulk(&n),
        None => ctx.out().null(),
    }
}
