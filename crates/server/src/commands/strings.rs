//! String commands (`t_string.c` in Redis): GET, SET and friends.
//!
//! Handlers follow three steps: parse the arguments into a typed struct,
//! run the keyspace operation, encode the reply.

use crate::cmd::{Ctx, Handler};
use crate::errors::{self, WrongType};
use keyspace::{StrValue, Value, NO_EXPIRE};

pub const COMMANDS: &[(&str, Handler)] = &[("get", get), ("set", set)];

/// Writes a string value as a bulk reply.
pub fn reply_str(out: &mut resp::Reply, s: &StrValue) {
    match s {
        StrValue::Int(n) => out.bulk_int(*n),
        StrValue::Bytes { data, .. } => out.bulk(data),
    }
}

/// Reads `key` as a string for a read command. `Err(())` means the key
/// holds another type (the caller sends the WRONGTYPE error).
pub fn read_str<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c StrValue>, WrongType> {
    match ctx.lookup_read(key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Str(s) => Ok(Some(s)),
            #[allow(unreachable_patterns)]
            _ => Err(WrongType),
        },
    }
}

fn get(ctx: &mut Ctx) {
    let key = ctx.argv.get(1);
    let (srv, client) = ctx.parts();
    let wrong_type = match srv.lookup_read(client.db, key, client.is_master()) {
        None => {
            client.out.null();
            false
        }
        Some(e) => match &e.value {
            Value::Str(s) => {
                reply_str(&mut client.out, s);
                false
            }
            #[allow(unreachable_patterns)]
            _ => true,
        },
    };
    if wrong_type {
        ctx.err(errors::WRONGTYPE);
    }
}

/// Expiry options shared by SET and GETEX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    None,
    KeepTtl,
    Persist,
    /// Absolute time in milliseconds; `relative` says whether the request
    /// used EX/PX (propagated as PXAT).
    At {
        ms: i64,
        unit_pxat: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Always,
    Nx,
    Xx,
}

pub struct SetArgs {
    pub cond: Condition,
    pub get: bool,
    pub expiry: Expiry,
}

/// Converts an EX/PX/EXAT/PXAT argument to absolute milliseconds with
/// Redis's checks: an integer, positive, and no overflow.
pub fn parse_expire_arg(
    raw: &[u8],
    unit_ms: bool,
    absolute: bool,
    now_ms: i64,
    cmd: &str,
) -> Result<i64, String> {
    let n = resp::parse_i64(raw).ok_or_else(|| errors::NOT_INTEGER.to_string())?;
    if n <= 0 {
        return Err(errors::invalid_expire(cmd));
    }
    let ms = if unit_ms {
        n
    } else {
        n.checked_mul(1000)
            .ok_or_else(|| errors::invalid_expire(cmd))?
    };
    if absolute {
        Ok(ms)
    } else {
        ms.checked_add(now_ms)
            .ok_or_else(|| errors::invalid_expire(cmd))
    }
}

/// Parses SET's options (argv[3..]). `getex` enables PERSIST and disables
/// NX/XX/GET/KEEPTTL, as GETEX accepts.
pub fn parse_set_options(ctx: &Ctx, start: usize, getex: bool) -> Result<SetArgs, String> {
    let mut a = SetArgs {
        cond: Condition::Always,
        get: false,
        expiry: Expiry::None,
    };
    let cmd = if getex { "getex" } else { "set" };
    let mut i = start;
    let argc = ctx.argv.len();
    while i < argc {
        let opt = ctx.argv.get(i);
        let next = if i + 1 < argc {
            Some(ctx.argv.get(i + 1))
        } else {
            None
        };
        let up = |s: &[u8]| opt.eq_ignore_ascii_case(s);
        let no_expiry = a.expiry == Expiry::None;
        if !getex && up(b"NX") && a.cond == Condition::Always {
            a.cond = Condition::Nx;
        } else if !getex && up(b"XX") && a.cond == Condition::Always {
            a.cond = Condition::Xx;
        } else if !getex && up(b"GET") {
            a.get = true;
        } else if !getex && up(b"KEEPTTL") && no_expiry {
            a.expiry = Expiry::KeepTtl;
        } else if getex && up(b"PERSIST") && no_expiry {
            a.expiry = Expiry::Persist;
        } else if (up(b"EX") || up(b"PX") || up(b"EXAT") || up(b"PXAT"))
            && no_expiry
            && next.is_some()
        {
            let unit_ms = up(b"PX") || up(b"PXAT");
            let absolute = up(b"EXAT") || up(b"PXAT");
            let ms = parse_expire_arg(
                next.unwrap_or_default(),
                unit_ms,
                absolute,
                ctx.now_ms(),
                cmd,
            )?;
            a.expiry = Expiry::At {
                ms,
                unit_pxat: up(b"PXAT"),
            };
            i += 1;
        } else {
            return Err(errors::SYNTAX.to_string());
        }
        i += 1;
    }
    Ok(a)
}

fn set(ctx: &mut Ctx) {
    let args = match parse_set_options(ctx, 3, false) {
        Ok(a) => a,
        Err(e) => return ctx.err(&e),
    };
    let key = ctx.argv.get(1);
    let val = ctx.argv.get(2);
    // With GET, the old value must be a string (checked before any change).
    let mut old: Option<Option<Vec<u8>>> = None;
    if args.get {
        match read_str(ctx, key) {
            Err(WrongType) => return ctx.err(errors::WRONGTYPE),
            Ok(v) => old = Some(v.map(|s| s.clone().into_vec())),
        }
    }
    let exists = ctx.lookup_write(key).is_some();
    let apply = match args.cond {
        Condition::Always => true,
        Condition::Nx => !exists,
        Condition::Xx => exists,
    };
    if apply {
        let lru = ctx.srv.lru_clock;
        let value = Value::Str(StrValue::from_bytes(val));
        match args.expiry {
            Expiry::KeepTtl => {
                ctx.db().set_keep_ttl(key, value, lru);
            }
            Expiry::At { ms, .. } => {
                ctx.db().insert(key, value, ms, lru);
            }
            _ => {
                ctx.db().insert(key, value, NO_EXPIRE, lru);
            }
        }
        ctx.dirty(1);
        // Relative and second-based expiries become an absolute PXAT so
        // replicas and the AOF expire the key at the same instant.
        if let Expiry::At {
            ms,
            unit_pxat: false,
        } = args.expiry
        {
            let ms = itoa::Buffer::new().format(ms).as_bytes().to_vec();
            ctx.propagate(&[b"SET", key, val, b"PXAT", &ms]);
        }
    }
    match old {
        Some(Some(v)) => ctx.out().bulk(&v),
        Some(None) => ctx.out().null(),
        None if apply => ctx.out().ok(),
        None => ctx.out().null(),
    }
}
