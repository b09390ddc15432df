//! Generic key commands (`db.c`/`expire.c` in Redis): DEL, EXISTS, ...

use crate::cmd::{Ctx, Handler};

pub const COMMANDS: &[(&str, Handler)] = &[("del", del), ("unlink", del), ("exists", exists)];

/// DEL / UNLINK key [key ...]: the number of keys removed. UNLINK frees
/// memory the same way here; large values are dropped after the reply.
fn del(ctx: &mut Ctx) {
    let mut n = 0;
    for key in ctx.argv.from(1) {
        if ctx.key_exists(key) {
            ctx.db().remove(key);
            n += 1;
        }
    }
    ctx.dirty(n as u64);
    ctx.out().int(n);
}

/// EXISTS key [key ...]: counts repeated keys repeatedly, as Redis does.
fn exists(ctx: &mut Ctx) {
    let mut n = 0;
    for key in ctx.argv.from(1) {
        if ctx.lookup_read(key).is_some() {
            n += 1;
        }
    }
    ctx.out().int(n);
}
