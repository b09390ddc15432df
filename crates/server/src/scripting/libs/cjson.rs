//! `cjson`: JSON encoding and decoding with lua-cjson's behaviour as Redis
//! ships it (numbers with `%.14g`, `/` escaped, arrays detected from
//! positive integer keys with the default sparseness rule, `cjson.null`
//! for JSON null, 1000 levels of nesting at most).

use super::super::vm::Shared;
use mlua::{LightUserData, Lua, MultiValue, Table, Value};
use std::rc::Rc;

const MAX_DEPTH: usize = 1000;
const SPARSE_RATIO: i64 = 2;
const SPARSE_SAFE: i64 = 10;

fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

pub fn open(lua: &Lua, shared: &Rc<Shared>) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let s = shared.clone();
    t.set(
        "encode",
        lua.create_function(move |lua, args: MultiValue| {
            if args.len() != 1 {
                return super::raise(
                    &s,
                    format!(
                        "{}bad argument #1 to 'encode' (expected 1 argument)",
                        super::position(lua)
                    ),
                );
            }
            let mut out = Vec::new();
            let v = args.front().cloned().unwrap_or(Value::Nil);
            if let Err(msg) = encode(&mut out, &v, 0) {
                return super::raise(&s, format!("{}{msg}", super::position(lua)));
            }
            lua.create_string(out)
        })?,
    )?;
    let s = shared.clone();
    t.set(
        "decode",
        lua.create_function(move |lua, args: MultiValue| {
            let text = match args.front() {
                Some(Value::String(st)) if args.len() == 1 => st.as_bytes().to_vec(),
                Some(Value::Integer(i)) if args.len() == 1 => i.to_string().into_bytes(),
                Some(Value::Number(n)) if args.len() == 1 => {
                    let mut b = Vec::new();
                    super::super::call::fmt_lua_number(*n, &mut b);
                    b
                }
                _ => {
                    return super::raise(
                        &s,
                        format!(
                            "{}bad argument #1 to 'decode' (expected 1 argument)",
                            super::position(lua)
                        ),
                    )
                }
            };
            let mut p = Decoder { s: &text, pos: 0 };
            match p.document(lua) {
                Ok(v) => Ok(v),
                Err(Fail::Lua(e)) => Err(e),
                Err(Fail::Msg(m)) => super::raise(&s, format!("{}{m}", super::position(lua))),
            }
        })?,
    )?;
    t.set("null", null())?;
    // The configuration functions answer with the defaults Redis uses.
    for (name, v) in [
        ("encode_max_depth", 1000),
        ("decode_max_depth", 1000),
        ("encode_number_precision", 14),
    ] {
        t.set(name, lua.create_function(move |_, _: MultiValue| Ok(v))?)?;
    }
    t.set(
        "encode_keep_buffer",
        lua.create_function(|_, _: MultiValue| Ok(true))?,
    )?;
    t.set(
        "encode_invalid_numbers",
        lua.create_function(|_, _: MultiValue| Ok(false))?,
    )?;
    t.set(
        "decode_invalid_numbers",
        lua.create_function(|_, _: MultiValue| Ok(false))?,
    )?;
    t.set(
        "encode_sparse_array",
        lua.create_function(|_, _: MultiValue| Ok((false, SPARSE_RATIO, SPARSE_SAFE)))?,
    )?;
    t.set("_NAME", "cjson")?;
    t.set("_VERSION", "2.1.0")?;
    Ok(t)
}

fn escape(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            8 => out.extend_from_slice(b"\\b"),
            9 => out.extend_from_slice(b"\\t"),
            10 => out.extend_from_slice(b"\\n"),
            12 => out.extend_from_slice(b"\\f"),
            13 => out.extend_from_slice(b"\\r"),
            0..=31 | 127 => {
                out.extend_from_slice(format!("\\u{c:04x}").as_bytes());
            }
            _ => out.push(c),
        }
    }
    out.push(b'"');
}

fn number(out: &mut Vec<u8>, n: f64) -> Result<(), String> {
    if !n.is_finite() {
        return Err("Cannot serialise number: must not be NaN or Inf".into());
    }
    super::super::call::fmt_lua_number(n, out);
    Ok(())
}

/// The array length of `t` as lua-cjson decides it: the largest positive
/// integer key when every key is one, -1 otherwise.
fn array_length(t: &Table) -> Result<i64, String> {
    let mut max = 0i64;
    let mut items = 0i64;
    for pair in t.clone().pairs::<Value, Value>() {
        let Ok((k, _)) = pair else {
            return Ok(-1);
        };
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => return Ok(-1),
        };
        if n < 1.0 || n.floor() != n {
            return Ok(-1);
        }
        max = max.max(n as i64);
        items += 1;
    }
    if max > items * SPARSE_RATIO && max > SPARSE_SAFE {
        return Err("Cannot serialise table: excessively sparse array".into());
    }
    Ok(max)
}

fn encode(out: &mut Vec<u8>, v: &Value, depth: usize) -> Result<(), String> {
    match v {
        Value::String(s) => escape(out, &s.as_bytes()),
        Value::Integer(i) => number(out, *i as f64)?,
        Value::Number(n) => number(out, *n)?,
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth > MAX_DEPTH {
                return Err(format!("Cannot serialise, excessive nesting ({depth})"));
            }
            let len = array_length(t)?;
            if len > 0 {
                out.push(b'[');
                for i in 1..=len {
                    if i > 1 {
                        out.push(b',');
                    }
                    let item: Value = t.raw_get(i).unwrap_or(Value::Nil);
                    encode(out, &item, depth)?;
                }
                out.push(b']');
            } else {
                out.push(b'{');
                let mut first = true;
                for pair in t.clone().pairs::<Value, Value>() {
                    let (k, item) = pair.map_err(|e| e.to_string())?;
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    match &k {
                        Value::String(s) => escape(out, &s.as_bytes()),
                        Value::Integer(i) => {
                            out.push(b'"');
                            number(out, *i as f64)?;
                            out.push(b'"');
                        }
                        Value::Number(n) => {
                            out.push(b'"');
                            number(out, *n)?;
                            out.push(b'"');
                        }
                        _ => {
                            return Err(
                                "Cannot serialise table: table key must be a number or string"
                                    .into(),
                            )
                        }
                    }
                    out.push(b':');
                    encode(out, &item, depth)?;
                }
                out.push(b'}');
            }
        }
        other => {
            return Err(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            ))
        }
    }
    Ok(())
}

enum Fail {
    Lua(mlua::Error),
    Msg(String),
}

impl From<mlua::Error> for Fail {
    fn from(e: mlua::Error) -> Fail {
        Fail::Lua(e)
    }
}

struct Decoder<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Decoder<'_> {
    fn ws(&mut self) {
        while let Some(&c) = self.s.get(self.pos) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn token_name(&self) -> &'static str {
        match self.s.get(self.pos) {
            None => "the end",
            Some(b'{') => "'{'",
            Some(b'}') => "'}'",
            Some(b'[') => "'['",
            Some(b']') => "']'",
            Some(b':') => "colon",
            Some(b',') => "comma",
            Some(b'"') => "string",
            Some(b'-' | b'0'..=b'9') => "number",
            Some(b't' | b'f') => "boolean",
            Some(b'n') => "null",
            _ => "invalid token",
        }
    }

    fn expected(&self, what: &str) -> Fail {
        Fail::Msg(format!(
            "Expected {what} but found {} at character {}",
            self.token_name(),
            self.pos + 1
        ))
    }

    fn document(&mut self, lua: &Lua) -> Result<Value, Fail> {
        self.ws();
        let v = self.value(lua, 0)?;
        self.ws();
        if self.pos < self.s.len() {
            return Err(self.expected("the end"));
        }
        Ok(v)
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Result<Value, Fail> {
        if self.s[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(Fail::Msg(format!(
                "Expected value but found invalid token at character {}",
                self.pos + 1
            )))
        }
    }

    fn value(&mut self, lua: &Lua, depth: usize) -> Result<Value, Fail> {
        match self.s.get(self.pos) {
            Some(b'{') => self.object(lua, depth + 1),
            Some(b'[') => self.array(lua, depth + 1),
            Some(b'"') => Ok(Value::String(lua.create_string(self.string()?)?)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal(b"true", Value::Boolean(true)),
            Some(b'f') => self.literal(b"false", Value::Boolean(false)),
            Some(b'n') => self.literal(b"null", null()),
            _ => Err(self.expected("value")),
        }
    }

    fn nested(&self, depth: usize) -> Result<(), Fail> {
        if depth > MAX_DEPTH {
            return Err(Fail::Msg(format!(
                "Found too many nested data structures ({depth}) at character {}",
                self.pos + 1
            )));
        }
        Ok(())
    }

    fn object(&mut self, lua: &Lua, depth: usize) -> Result<Value, Fail> {
        self.nested(depth)?;
        self.pos += 1;
        let t = lua.create_table()?;
        self.ws();
        if self.s.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(Value::Table(t));
        }
        loop {
            self.ws();
            if self.s.get(self.pos) != Some(&b'"') {
                return Err(self.expected("object key string"));
            }
            let k = self.string()?;
            self.ws();
            if self.s.get(self.pos) != Some(&b':') {
                return Err(self.expected("colon"));
            }
            self.pos += 1;
            self.ws();
            let v = self.value(lua, depth)?;
            t.raw_set(lua.create_string(k)?, v)?;
            self.ws();
            match self.s.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Table(t));
                }
                _ => return Err(self.expected("comma or object end")),
            }
        }
    }

    fn array(&mut self, lua: &Lua, depth: usize) -> Result<Value, Fail> {
        self.nested(depth)?;
        self.pos += 1;
        let t = lua.create_table()?;
        self.ws();
        if self.s.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(Value::Table(t));
        }
        let mut i = 1i64;
        loop {
            self.ws();
            let v = self.value(lua, depth)?;
            t.raw_set(i, v)?;
            i += 1;
            self.ws();
            match self.s.get(self.pos) {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Table(t));
                }
                _ => return Err(self.expected("comma or array end")),
            }
        }
    }

    fn number(&mut self) -> Result<Value, Fail> {
        let start = self.pos;
        while let Some(&c) = self.s.get(self.pos) {
            if c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E') {
                self.pos += 1;
            } else {
                break;
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("");
        match text.parse::<f64>() {
            Ok(n) => Ok(Value::Number(n)),
            Err(_) => {
                self.pos = start;
                Err(self.expected("value"))
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.pos..self.pos + 4)?;
        let v = u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
        self.pos += 4;
        Some(v)
    }

    fn string(&mut self) -> Result<Vec<u8>, Fail> {
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.pos) else {
                self.pos = start;
                return Err(Fail::Msg(format!(
                    "Expected value but found unexpected end of string at character {}",
                    start + 1
                )));
            };
            self.pos += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos) else {
                        continue;
                    };
                    self.pos += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let bad = |p: usize| {
                                Fail::Msg(format!(
                                    "Expected value but found invalid unicode escape code at character {}",
                                    p + 1
                                ))
                            };
                            let mut cp = self.hex4().ok_or_else(|| bad(start))?;
                            if (0xD800..0xDC00).contains(&cp) {
                                if self.s.get(self.pos..self.pos + 2) != Some(b"\\u") {
                                    return Err(bad(start));
                                }
                                self.pos += 2;
                                let lo = self.hex4().ok_or_else(|| bad(start))?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(bad(start));
                                }
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                            }
                            let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                            let mut b = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
                        }
                        _ => {
                            return Err(Fail::Msg(format!(
                                "Expected value but found invalid escape code at character {}",
                                start + 1
                            )))
                        }
                    }
                }
                _ => out.push(c),
            }
        }
    }
}
