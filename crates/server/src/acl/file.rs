//! Users from outside: `user` lines of the config file and the `aclfile`
//! (`ACL LOAD` / `ACL SAVE`), with Redis 7.0's error texts.
//!
//! An ACL file holds one `user NAME rules...` line per user, words split
//! on single spaces (no quoting, no comments), exactly what `ACL LIST`
//! prints. Loading is all or nothing: every line is checked, every problem
//! reported, and the running users change only when there was none.

use super::user::User;
use super::{merge_selector_args, Acl};
use crate::config::Directive;
use std::collections::BTreeMap;

/// Parses the text of an ACL file into users; `Err` holds every problem
/// found, in Redis's words, ready for the `-ERR` reply or the log.
pub fn parse_acl_text(
    text: &str,
    path: &str,
    allchannels_default: bool,
) -> Result<BTreeMap<Vec<u8>, User>, String> {
    let mut users: BTreeMap<Vec<u8>, User> = BTreeMap::new();
    let mut errors = String::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = raw.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
        if line.is_empty() {
            continue;
        }
        let argv: Vec<&str> = line.split(' ').collect();
        if argv[0] != "user" || argv.len() < 2 {
            errors.push_str(&format!(
                "{path}:{line_no} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = argv[1].as_bytes();
        if users.contains_key(name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{}' found on line {line_no}. ",
                argv[1]
            ));
            continue;
        }
        let ops: Vec<Vec<u8>> = argv[2..].iter().map(|s| s.as_bytes().to_vec()).collect();
        let merged = match merge_selector_args(&ops) {
            Ok(m) => m,
            Err(_) => {
                errors.push_str(&format!(
                    "{path}:{line_no}: Unmatched parenthesis in selector definition."
                ));
                Vec::new()
            }
        };
        let mut u = User::new(name, allchannels_default);
        let mut syntax_error = false;
        for op in &merged {
            let op: Vec<u8> = trim_op(op);
            if op.is_empty() {
                continue;
            }
            if let Err(reason) = u.apply(&op, allchannels_default) {
                if reason == super::user::ERR_UNKNOWN_CMD {
                    // Unknown names are safe to echo; other errors may hold
                    // a password, so only the first one is reported.
                    errors.push_str(&format!(
                        "{path}:{line_no}: Error in applying operation '{}': {reason}. ",
                        String::from_utf8_lossy(&op)
                    ));
                } else if !syntax_error {
                    errors.push_str(&format!("{path}:{line_no}: {reason}. "));
                    syntax_error = true;
                }
            }
        }
        users.insert(name.to_vec(), u);
    }
    if errors.is_empty() {
        Ok(users)
    } else {
        errors.push_str(
            "WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
        );
        Err(errors)
    }
}

fn trim_op(op: &[u8]) -> Vec<u8> {
    let mut s = op;
    while let Some((&b, rest)) = s.split_last() {
        if matches!(b, b'\t' | b'\r' | b'\n') {
            s = rest;
        } else {
            break;
        }
    }
    while let Some((&b, rest)) = s.split_first() {
        if matches!(b, b'\t' | b'\r' | b'\n') {
            s = rest;
        } else {
            break;
        }
    }
    s.to_vec()
}

/// Reads and parses the ACL file at `path`.
pub fn load_acl_file(
    path: &str,
    allchannels_default: bool,
) -> Result<BTreeMap<Vec<u8>, User>, String> {
    let text = std::fs::read(path).map_err(|e| {
        format!(
            "Error loading ACLs, opening file '{path}': {}",
            crate::config::strerror(&e)
        )
    })?;
    parse_acl_text(&String::from_utf8_lossy(&text), path, allchannels_default)
}

/// The ACL file text for the current users, as `ACL SAVE` writes it.
pub fn acl_text(acl: &Acl) -> String {
    let mut s = String::new();
    for (name, u) in &acl.users {
        s.push_str("user ");
        s.push_str(&String::from_utf8_lossy(name));
        s.push(' ');
        s.push_str(&u.borrow().describe());
        s.push('\n');
    }
    s
}

/// Writes the users to `path` through a temporary file renamed over it,
/// so a crash never leaves a half-written ACL file.
pub fn save_acl_file(acl: &Acl, path: &str) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp-{}", std::process::id());
    std::fs::write(&tmp, acl_text(acl))?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Applies the config file's `user` lines at start-up. Each line is one
/// user; a bad rule stops start-up with Redis's message.
pub fn apply_config_users(acl: &mut Acl, lines: &[Vec<String>]) -> Result<(), String> {
    for line in lines {
        let Some((name, rules)) = line.split_first() else {
            continue;
        };
        let ops: Vec<Vec<u8>> = rules.iter().map(|r| r.as_bytes().to_vec()).collect();
        let merged =
            merge_selector_args(&ops).map_err(|e| e.trim_start_matches("ERR ").to_string())?;
        // A user line describes the user from scratch.
        let mut u = User::new(name.as_bytes(), acl.pubsub_default_all);
        for op in &merged {
            if let Err(reason) = u.apply(op, acl.pubsub_default_all) {
                return Err(format!(
                    "Error loading ACL rule '{}' for the user named '{name}': {reason}",
                    String::from_utf8_lossy(op)
                ));
            }
        }
        acl.install(u);
    }
    Ok(())
}

/// Start-up: the config's `user` lines or the `aclfile`, never both (as
/// Redis, which refuses the combination as a likely mistake). The error is
/// the log line to print before exiting.
pub fn load_at_startup(srv: &mut crate::server::Server) -> Result<(), String> {
    let path = srv.config.get_str(Directive::Aclfile);
    let lines = srv.config.users.clone();
    if !path.is_empty() && !lines.is_empty() {
        return Err(crate::errors::ACL_USERS_AND_FILE.to_string());
    }
    if !lines.is_empty() {
        return apply_config_users(&mut srv.acl, &lines)
            .map_err(|e| format!("{e}\nCritical error while loading ACLs. Exiting."));
    }
    if !path.is_empty() {
        let users = load_acl_file(&path, srv.acl.pubsub_default_all)
            .map_err(|e| format!("Aborting Redis startup because of ACL errors: {e}"))?;
        srv.acl.replace_all(users);
    }
    Ok(())
}

/// Checks a config file `user` line as it is read, as Redis does: a
/// duplicate user or a malformed rule stops start-up at that line; unknown
/// command names are only reported when the users are created.
pub fn check_config_user(rest: &[String], earlier: &[Vec<String>]) -> Result<(), String> {
    let Some((name, rules)) = rest.split_first() else {
        return Ok(());
    };
    let fail = |reason: &str| Err(format!("Error in user declaration '{name}': {reason}"));
    if earlier.iter().any(|u| u.first() == Some(name)) {
        return fail("Duplicate user found. A user can only be defined once in config files");
    }
    let ops: Vec<Vec<u8>> = rules.iter().map(|r| r.as_bytes().to_vec()).collect();
    // Redis 7.0 reports an unbalanced selector with this (stale) reason.
    let Ok(merged) = merge_selector_args(&ops) else {
        return fail(super::user::ERR_UNKNOWN_CMD);
    };
    let mut probe = User::new(name.as_bytes(), false);
    for op in &merged {
        match probe.apply(op, false) {
            Err(reason) if reason != super::user::ERR_UNKNOWN_CMD => return fail(reason),
            _ => {}
        }
    }
    Ok(())
}
