//! `cmsgpack`: MessagePack with lua-cmsgpack's choices as Redis ships it:
//! integral numbers as the smallest integer encoding, others as float32
//! when exact and float64 otherwise; tables as arrays when their keys are
//! exactly 1..n, maps otherwise; nesting past 16 levels becomes nil.

use super::super::vm::Shared;
use mlua::{Lua, MultiValue, Table, Value};
use std::rc::Rc;

const MAX_NESTING: usize = 16;

pub fn open(lua: &Lua, shared: &Rc<Shared>) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let s = shared.clone();
    t.set(
        "pack",
        lua.create_function(move |lua, args: MultiValue| {
            if args.is_empty() {
                return super::raise(
                    &s,
                    format!("{}MessagePack pack needs input.", super::position(lua)),
                );
            }
            let mut out = Vec::new();
            for v in args.iter() {
                encode(&mut out, v, 0);
            }
            lua.create_string(out)
        })?,
    )?;
    for (name, limit_arg) in [
        ("unpack", false),
        ("unpack_one", true),
        ("unpack_limit", true),
    ] {
        let s = shared.clone();
        t.set(
            name,
            lua.create_function(move |lua, args: MultiValue| {
                let data = match args.front() {
                    Some(Value::String(st)) => st.as_bytes().to_vec(),
                    _ => return super::arg_error(lua, &s, 1, name, "string expected"),
                };
                let (limit, offset) = if limit_arg {
                    let limit = if name == "unpack_one" {
                        1
                    } else {
                        super::check_number(lua, &s, &args, 2, name)? as i64
                    };
                    let off_pos = if name == "unpack_one" { 2 } else { 3 };
                    let offset = match args.get(off_pos - 1) {
                        None | Some(Value::Nil) => 0,
                        _ => super::check_number(lua, &s, &args, off_pos, name)? as i64,
                    };
                    (limit, offset)
                } else {
                    (0, 0)
                };
                if offset < 0 || limit < 0 {
                    let msg = format!(
                        "{}Invalid request to unpack with offset of {offset} and limit of {limit}.",
                        super::position(lua)
                    );
                    return super::raise(&s, msg);
                }
                let offset = offset as usize;
                if offset > data.len() {
                    let msg = format!(
                        "{}Start offset {offset} greater than input length {}.",
                        super::position(lua),
                        data.len()
                    );
                    return super::raise(&s, msg);
                }
                let mut d = Decoder {
                    s: &data,
                    pos: offset,
                    eof: false,
                };
                let mut vals = Vec::new();
                while d.pos < data.len() && (limit == 0 || (vals.len() as i64) < limit) {
                    match d.value(lua)? {
                        Some(v) => vals.push(v),
                        None => {
                            let msg = if d.eof {
                                "Missing bytes in input."
                            } else {
                                "Bad data format in input."
                            };
                            return super::raise(&s, format!("{}{msg}", super::position(lua)));
                        }
                    }
                }
                let mut out = MultiValue::new();
                if limit_arg {
                    let next = if d.pos >= data.len() {
                        -1
                    } else {
                        d.pos as i64
                    };
                    out.push_back(Value::Integer(next));
                }
                for v in vals {
                    out.push_back(v);
                }
                Ok(out)
            })?,
        )?;
    }
    t.set("_NAME", "cmsgpack")?;
    t.set("_VERSION", "lua-cmsgpack 0.4.0")?;
    Ok(t)
}

fn encode_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_number(out: &mut Vec<u8>, n: f64) {
    // C's (int64_t) cast equivalence test.
    if n.is_finite()
        && n >= -9.223_372_036_854_775_808e18
        && n < 9.223_372_036_854_775_808e18
        && (n as i64) as f64 == n
    {
        return encode_int(out, n as i64);
    }
    let f = n as f32;
    if f64::from(f) == n {
        out.push(0xca);
        out.extend_from_slice(&f.to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_len(out: &mut Vec<u8>, len: usize, fix: u8, fix_max: usize, b16: u8, b32: u8) {
    if len < fix_max {
        out.push(fix | len as u8);
    } else if len <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn is_array(t: &Table) -> Option<usize> {
    let (mut count, mut max) = (0usize, 0usize);
    for pair in t.clone().pairs::<Value, Value>() {
        let (k, _) = pair.ok()?;
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => return None,
        };
        if n <= 0.0 || n.floor() != n || n > f64::from(i32::MAX) {
            return None;
        }
        max = max.max(n as usize);
        count += 1;
    }
    (max == count).then_some(max)
}

fn encode(out: &mut Vec<u8>, v: &Value, level: usize) {
    match v {
        Value::String(s) => {
            let s = s.as_bytes();
            let len = s.len();
            if len < 32 {
                out.push(0xa0 | len as u8);
            } else if len <= 0xff {
                out.extend_from_slice(&[0xd9, len as u8]);
            } else if len <= 0xffff {
                out.push(0xda);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                out.push(0xdb);
                out.extend_from_slice(&(len as u32).to_be_bytes());
            }
            out.extend_from_slice(&s);
        }
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => encode_number(out, *i as f64),
        Value::Number(n) => encode_number(out, *n),
        Value::Table(t) if level < MAX_NESTING => match is_array(t) {
            Some(len) => {
                encode_len(out, len, 0x90, 16, 0xdc, 0xdd);
                for j in 1..=len {
                    let item: Value = t.get(j).unwrap_or(Value::Nil);
                    encode(out, &item, level + 1);
                }
            }
            None => {
                let pairs: Vec<(Value, Value)> =
                    t.clone().pairs::<Value, Value>().flatten().collect();
                encode_len(out, pairs.len(), 0x80, 16, 0xde, 0xdf);
                for (k, item) in &pairs {
                    encode(out, k, level + 1);
                    encode(out, item, level + 1);
                }
            }
        },
        _ => out.push(0xc0),
    }
}

struct Decoder<'a> {
    s: &'a [u8],
    pos: usize,
    eof: bool,
}

impl Decoder<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let Some(b) = self.s.get(self.pos..self.pos + n) else {
            self.eof = true;
            return None;
        };
        self.pos += n;
        Some(b)
    }

    fn uint(&mut self, n: usize) -> Option<u64> {
        let b = self.take(n)?;
        Some(b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    }

    fn value(&mut self, lua: &Lua) -> mlua::Result<Option<Value>> {
        let Some(t) = self.take(1).map(|b| b[0]) else {
            return Ok(None);
        };
        let num = |v: f64| Ok(Some(Value::Number(v)));
        match t {
            0x00..=0x7f => num(f64::from(t)),
            0xe0..=0xff => num(f64::from(t as i8)),
            0xcc => match self.uint(1) {
                Some(v) => num(v as f64),
                None => Ok(None),
            },
            0xcd => match self.uint(2) {
                Some(v) => num(v as f64),
                None => Ok(None),
            },
            0xce => match self.uint(4) {
                Some(v) => num(v as f64),
                None => Ok(None),
            },
            0xcf => match self.uint(8) {
                Some(v) => num(v as f64),
                None => Ok(None),
            },
            0xd0 => match self.uint(1) {
                Some(v) => num(f64::from(v as u8 as i8)),
                None => Ok(None),
            },
            0xd1 => match self.uint(2) {
                Some(v) => num(f64::from(v as u16 as i16)),
                None => Ok(None),
            },
            0xd2 => match self.uint(4) {
                Some(v) => num(f64::from(v as u32 as i32)),
                None => Ok(None),
            },
            0xd3 => match self.uint(8) {
                Some(v) => num(v as i64 as f64),
                None => Ok(None),
            },
            0xc0 => Ok(Some(Value::Nil)),
            0xc3 => Ok(Some(Value::Boolean(true))),
            0xc2 => Ok(Some(Value::Boolean(false))),
            0xca => match self.uint(4) {
                Some(v) => num(f64::from(f32::from_bits(v as u32))),
                None => Ok(None),
            },
            0xcb => match self.uint(8) {
                Some(v) => num(f64::from_bits(v)),
                None => Ok(None),
            },
            0xa0..=0xbf => self.string(lua, usize::from(t & 0x1f)),
            0xd9 | 0xc4 => match self.uint(1) {
                Some(n) => self.string(lua, n as usize),
                None => Ok(None),
            },
            0xda | 0xc5 => match self.uint(2) {
                Some(n) => self.string(lua, n as usize),
                None => Ok(None),
            },
            0xdb | 0xc6 => match self.uint(4) {
                Some(n) => self.string(lua, n as usize),
                None => Ok(None),
            },
            0x90..=0x9f => self.array(lua, usize::from(t & 0x0f)),
            0xdc => match self.uint(2) {
                Some(n) => self.array(lua, n as usize),
                None => Ok(None),
            },
            0xdd => match self.uint(4) {
                Some(n) => self.array(lua, n as usize),
                None => Ok(None),
            },
            0x80..=0x8f => self.map(lua, usize::from(t & 0x0f)),
            0xde => match self.uint(2) {
                Some(n) => self.map(lua, n as usize),
                None => Ok(None),
            },
            0xdf => match self.uint(4) {
                Some(n) => self.map(lua, n as usize),
                None => Ok(None),
            },
            _ => Ok(None),
        }
    }

    fn string(&mut self, lua: &Lua, n: usize) -> mlua::Result<Option<Value>> {
        match self.take(n) {
            Some(b) => {
                let b = b.to_vec();
                Ok(Some(Value::String(lua.create_string(b)?)))
            }
            None => Ok(None),
        }
    }

    fn array(&mut self, lua: &Lua, n: usize) -> mlua::Result<Option<Value>> {
        let t = lua.create_table()?;
        for i in 1..=n {
            let Some(v) = self.value(lua)? else {
                return Ok(None);
            };
            t.raw_set(i, v)?;
        }
        Ok(Some(Value::Table(t)))
    }

    fn map(&mut self, lua: &Lua, n: usize) -> mlua::Result<Option<Value>> {
        let t = lua.create_table()?;
        for _ in 0..n {
            let Some(k) = self.value(lua)? else {
                return Ok(None);
            };
            let Some(v) = self.value(lua)? else {
                return Ok(None);
            };
            if !k.is_nil() {
                t.raw_set(k, v)?;
            }
        }
        Ok(Some(Value::Table(t)))
    }
}
