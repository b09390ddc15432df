//! Redis's `math.random`/`math.randomseed`: the rand48 generator (48-bit
//! linear congruential, the same sequence for a seed on every platform),
//! in place of the C library's `rand()`.

use super::super::vm::Shared;
use mlua::{Lua, MultiValue, Table, Value};
use std::rc::Rc;

const A: u64 = 0x5_DEEC_E66D;
const C: u64 = 0xB;
const MASK: u64 = (1 << 48) - 1;
/// The largest value `lrand48` returns plus one (Redis's REDIS_LRAND48_MAX).
const MAX: u64 = i32::MAX as u64;

/// The state after `srand48(seed)`.
pub fn seed(seed: i32) -> u64 {
    ((u64::from(seed as u32) << 16) | 0x330E) & MASK
}

/// Advances the state; returns the next value in `0..2^31`.
pub fn next(state: &mut u64) -> u64 {
    *state = (state.wrapping_mul(A).wrapping_add(C)) & MASK;
    *state >> 17
}

pub fn register(lua: &Lua, raw: &Table, shared: &Rc<Shared>) -> mlua::Result<()> {
    let s = shared.clone();
    raw.set(
        "random",
        lua.create_function(move |lua, args: MultiValue| random(lua, &s, args))?,
    )?;
    let s = shared.clone();
    raw.set(
        "randomseed",
        lua.create_function(move |lua, args: MultiValue| {
            let n = super::check_number(lua, &s, &args, 1, "randomseed")?;
            s.rand48.set(seed(n as i64 as i32));
            Ok((Value::Nil, Value::Nil))
        })?,
    )?;
    Ok(())
}

fn random(lua: &Lua, s: &Shared, args: MultiValue) -> mlua::Result<(Value, Value)> {
    let mut st = s.rand48.get();
    let r = (next(&mut st) % MAX) as f64 / MAX as f64;
    s.rand48.set(st);
    let v = match args.len() {
        0 => r,
        1 => {
            let u = super::check_number(lua, s, &args, 1, "random")? as i64 as i32;
            if u < 1 {
                return super::arg_error(lua, s, 1, "random", "interval is empty");
            }
            (r * f64::from(u)).floor() + 1.0
        }
        2 => {
            let l = super::check_number(lua, s, &args, 1, "random")? as i64 as i32;
            let u = super::check_number(lua, s, &args, 2, "random")? as i64 as i32;
            if l > u {
                return super::arg_error(lua, s, 2, "random", "interval is empty");
            }
            (r * (f64::from(u) - f64::from(l) + 1.0)).floor() + f64::from(l)
        }
        _ => {
            let msg = format!("{}wrong number of arguments", super::position(lua));
            return super::raise(s, msg);
        }
    };
    Ok((Value::Number(v), Value::Nil))
}
