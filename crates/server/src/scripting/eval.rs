//! EVAL's script cache (Redis's `lua_scripts` dict): scripts by the SHA1
//! of their body, compiled once into EVAL's Lua state; the shebang line
//! and its flags. Not replicated and not persisted, as in Redis 7.0:
//! effects are replicated, so replicas and restarts never need a script.

use super::flags;
use super::vm::{Kind, Vm};
use crate::errors;
use std::collections::HashMap;
use std::os::raw::c_int;

/// A cached script.
pub struct CachedScript {
    pub body: Vec<u8>,
    pub flags: u32,
    /// The compiled function's registry reference in EVAL's state.
    pub func: c_int,
}

pub struct EvalEngine {
    pub vm: Vm,
    /// By lower-case hex SHA1 of the body.
    pub scripts: HashMap<[u8; 40], CachedScript, foldhash::fast::RandomState>,
    /// Bytes of the cached bodies and their keys (`used_memory_scripts_eval`).
    pub scripts_mem: usize,
    /// A script runs in `vm` now (see [`EvalEngine::flush`]).
    pub in_use: bool,
    deprecated_api: bool,
}

/// The lower-case hex SHA1 of `body` (the script's name, and
/// `redis.sha1hex`).
pub fn sha1hex(body: &[u8]) -> [u8; 40] {
    let digest: [u8; 20] = <sha1::Sha1 as sha1::Digest>::digest(body).into();
    let mut out = [0u8; 40];
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in digest.iter().enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 15) as usize];
    }
    out
}

/// A sha as clients send it, lower-cased; `None` when it cannot name a
/// script (not 40 bytes).
pub fn parse_sha(s: &[u8]) -> Option<[u8; 40]> {
    let mut out = [0u8; 40];
    if s.len() != 40 {
        return None;
    }
    for (d, c) in out.iter_mut().zip(s) {
        *d = c.to_ascii_lowercase();
    }
    Some(out)
}

/// The flags of `body`'s shebang line (`#!lua flags=...`), and the length
/// of that line (without its newline, which is kept so line numbers stay
/// right). No shebang: Redis 6 compatibility mode.
pub fn shebang_flags(body: &[u8]) -> Result<(u32, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((flags::EVAL_COMPAT, 0));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err(errors::SHEBANG_INVALID.to_string());
    };
    let line = &body[..end];
    let parts = match resp::split_args::split_args_owned(line) {
        Ok(p) if !p.is_empty() => p,
        _ => return Err(errors::SHEBANG_ENGINE_INVALID.to_string()),
    };
    if parts[0] != b"#!lua" {
        return Err(errors::shebang_unexpected_engine(&String::from_utf8_lossy(
            &parts[0],
        )));
    }
    let mut f = 0;
    for p in &parts[1..] {
        let Some(list) = p.strip_prefix(b"flags=") else {
            return Err(errors::shebang_unknown_option(&String::from_utf8_lossy(p)));
        };
        if list.is_empty() {
            continue;
        }
        for name in list.split(|&b| b == b',') {
            match flags::NAMES.iter().find(|(n, _)| n.as_bytes() == name) {
                Some((_, bit)) => f |= bit,
                None => {
                    return Err(errors::shebang_unexpected_flag(&String::from_utf8_lossy(
                        name,
                    )))
                }
            }
        }
    }
    Ok((f, end))
}

impl EvalEngine {
    pub fn new(deprecated_api: bool) -> EvalEngine {
        EvalEngine {
            vm: new_vm(deprecated_api),
            scripts: HashMap::default(),
            scripts_mem: 0,
            in_use: false,
            deprecated_api,
        }
    }

    /// Compiles and caches `body` unless it is cached; returns its sha.
    pub fn create(&mut self, body: &[u8]) -> Result<[u8; 40], String> {
        let sha = sha1hex(body);
        if self.scripts.contains_key(&sha) {
            return Ok(sha);
        }
        let (flags, shebang_len) = shebang_flags(body)?;
        // The shebang line goes, its newline stays: line numbers are the
        // user's.
        let func = self
            .vm
            .compile(&body[shebang_len..], c"@user_script")
            .map_err(|e| errors::script_compile(&String::from_utf8_lossy(&e)))?;
        self.scripts_mem += body.len() + 40 + std::mem::size_of::<CachedScript>();
        self.scripts.insert(
            sha,
            CachedScript {
                body: body.to_vec(),
                flags,
                func,
            },
        );
        Ok(sha)
    }

    /// SCRIPT FLUSH: forgets every script and starts a new Lua state.
    /// A script flushing the cache (only possible with `DEBUG
    /// SET-DISABLE-DENY-SCRIPTS`) keeps the state it runs in; its
    /// compiled scripts stay there, unreachable, until the next flush.
    pub fn flush(&mut self) {
        self.scripts.clear();
        self.scripts_mem = 0;
        if !self.in_use {
            self.vm = new_vm(self.deprecated_api);
        }
    }
}

fn new_vm(deprecated_api: bool) -> Vm {
    match Vm::new(Kind::Eval, deprecated_api) {
        Ok(vm) => vm,
        // Setting up a fresh state runs only our own code; failing means
        // the process cannot allocate, as in Redis's serverPanic.
        Err(e) => {
            crate::log_warning!("Failed creating the Lua VM: {e}");
            std::process::abort()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs_declare_flags() {
        assert_eq!(shebang_flags(b"return 1"), Ok((flags::EVAL_COMPAT, 0)));
        assert_eq!(
            shebang_flags(b"#!lua flags=no-writes,allow-oom\nreturn 1"),
            // Up to the newline, which stays with the body.
            Ok((flags::NO_WRITES | flags::ALLOW_OOM, 31))
        );
        assert_eq!(shebang_flags(b"#!lua\nreturn 1"), Ok((0, 5)));
        assert_eq!(
            shebang_flags(b"#!lua"),
            Err("ERR Invalid script shebang".to_string())
        );
        assert_eq!(
            shebang_flags(b"#!luajit\n"),
            Err("ERR Unexpected engine in script shebang: #!luajit".to_string())
        );
        assert_eq!(
            shebang_flags(b"#!lua flags=bad\n"),
            Err("ERR Unexpected flag in script shebang: bad".to_string())
        );
        assert_eq!(
            shebang_flags(b"#!lua foo=bar\n"),
            Err("ERR Unknown lua shebang option: foo=bar".to_string())
        );
    }

    #[test]
    fn sha1_is_hex_lower_case() {
        assert_eq!(
            &sha1hex(b"")[..],
            b"da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
    }
}
