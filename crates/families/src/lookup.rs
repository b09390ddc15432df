//! Typed key look-ups shared by every command family: "the value at this
//! key as a hash (or list, set, ...), or WRONGTYPE".
//!
//! Each family used to carry its own copy of the same two functions; the
//! [`Kind`] trait projects a `Value` onto one type so one generic pair
//! serves them all.

use keyspace::{Hash, List, Set, StrValue, Stream, Value, ZSet};
use resp::Reply;
use server::cmd::Ctx;
use server::errors::WrongType;

/// A value type a command works on.
pub trait Kind {
    fn of(v: &Value) -> Option<&Self>;
    fn of_mut(v: &mut Value) -> Option<&mut Self>;
}

macro_rules! kind {
    ($t:ty, $pat:pat => $e:expr, $pat_mut:pat => $e_mut:expr) => {
        impl Kind for $t {
            fn of(v: &Value) -> Option<&Self> {
                match v {
                    $pat => Some($e),
                    _ => None,
                }
            }
            fn of_mut(v: &mut Value) -> Option<&mut Self> {
                match v {
                    $pat_mut => Some($e_mut),
                    _ => None,
                }
            }
        }
    };
}

kind!(StrValue, Value::Str(s) => s, Value::Str(s) => s);
kind!(Hash, Value::Hash(h) => h, Value::Hash(h) => h);
kind!(List, Value::List(l) => l, Value::List(l) => l);
kind!(Set, Value::Set(s) => s, Value::Set(s) => s);
kind!(ZSet, Value::ZSet(z) => z, Value::ZSet(z) => z);
kind!(Stream, Value::Stream(s) => s, Value::Stream(s) => s);

/// Looks `key` up for reading (lazy expiry, hit/miss statistics) and hands
/// the value (None when missing) to `f` together with the reply buffer,
/// so elements go into the reply without a copy. Events a miss raised for
/// this very client (keymiss, expired) go out before the reply, as in
/// Redis.
pub fn with_value<T: Kind, R>(
    ctx: &mut Ctx,
    key: &[u8],
    f: impl FnOnce(Option<&T>, &mut Reply) -> R,
) -> Result<R, WrongType> {
    let (srv, client) = ctx.parts();
    let (db, master) = (client.db, client.is_master());
    match srv.lookup_read(db, key, master) {
        None => {
            srv.pubsub.flush_into(&mut client.out);
            Ok(f(None, &mut client.out))
        }
        Some(e) => match T::of(&e.value) {
            Some(v) => Ok(f(Some(v), &mut client.out)),
            None => Err(WrongType),
        },
    }
}

/// Looks `key` up for reading and returns the value.
pub fn value_ref<'c, T: Kind>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c T>, WrongType> {
    match ctx.lookup_read(key) {
        None => Ok(None),
        Some(e) => T::of(&e.value).map(Some).ok_or(WrongType),
    }
}

/// Looks `key` up for writing (lazy expiry applied, no statistics).
pub fn value_mut<'c, T: Kind>(
    ctx: &'c mut Ctx,
    key: &[u8],
) -> Result<Option<&'c mut T>, WrongType> {
    match ctx.lookup_write(key) {
        None => Ok(None),
        Some(e) => T::of_mut(&mut e.value).map(Some).ok_or(WrongType),
    }
}
