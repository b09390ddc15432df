//! Persistence commands: SAVE, BGSAVE, LASTSAVE.

use server::cmd::{Ctx, Handler};
use server::errors;
use server::persistence::save;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("save", save_cmd),
    ("bgsave", bgsave),
    ("lastsave", lastsave),
];

/// SAVE: a synchronous snapshot, blocking every client meanwhile (as in
/// Redis; BGSAVE is the non-blocking form).
fn save_cmd(ctx: &mut Ctx) {
    if ctx.srv.persist.bgsave.is_some() {
        return ctx.err(errors::BGSAVE_IN_PROGRESS);
    }
    match save::save_sync(ctx.srv) {
        Ok(()) => ctx.out().ok(),
        Err(_) => ctx.err("ERR"),
    }
}

/// BGSAVE [SCHEDULE]
fn bgsave(ctx: &mut Ctx) {
    let schedule = match ctx.argv.len() {
        1 => false,
        2 if ctx.argv.get(1).eq_ignore_ascii_case(b"SCHEDULE") => true,
        _ => return ctx.err(errors::SYNTAX),
    };
    if ctx.srv.persist.bgsave.is_some() {
        if schedule {
            ctx.srv.persist.bgsave_scheduled = true;
            return ctx.out().simple(b"Background saving scheduled");
        }
        return ctx.err(errors::BGSAVE_IN_PROGRESS);
    }
    // The keyspace walk is one at a time, like Redis's one child.
    if ctx.srv.aof.rewrite_running() {
        if schedule {
            ctx.srv.persist.bgsave_scheduled = true;
            return ctx.out().simple(b"Background saving scheduled");
        }
        return ctx.err(errors::BGSAVE_WHILE_AOF_REWRITE);
    }
    match save::start_bgsave(ctx.srv) {
        Ok(()) => ctx.out().simple(b"Background saving started"),
        Err(_) => ctx.err("ERR"),
    }
}

fn lastsave(ctx: &mut Ctx) {
    let t = ctx.srv.persist.last_save_secs;
    ctx.out().int(t);
}
