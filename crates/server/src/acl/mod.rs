//! Access control lists, as Redis 7.0 has them: users with passwords and
//! selectors of allowed commands, key patterns and channel patterns.
//!
//! The ACL owns the users (by name, in name order as `ACL LIST` prints
//! them) and the `ACL LOG`. Each client points at its user through a shared
//! handle, so `ACL SETUSER` changes take effect on the next command of
//! every connection of that user, as in Redis. The permission check runs
//! in `cmd::execute` right after authentication; a user whose selector
//! allows everything (the default user out of the box) costs one flag test.
//!
//! `requirepass` is the default user's password: setting it replaces the
//! default user's passwords, as Redis's config does.

pub mod check;
pub mod file;
pub mod log;
pub mod table;
pub mod user;

pub use check::{
    add_log_entry, channel_allowed, check, dryrun_message, may_read_all_keys, refusal, Denied,
};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use user::User;

pub type UserRef = Rc<RefCell<User>>;

pub struct Acl {
    pub users: BTreeMap<Vec<u8>, UserRef>,
    pub default: UserRef,
    pub log: log::AclLog,
    /// `acl-pubsub-default allchannels`: new users and selectors start
    /// with every channel allowed.
    pub pubsub_default_all: bool,
    /// Last `requirepass` applied to the default user, so other config
    /// changes do not reset passwords set with `ACL SETUSER default`.
    pub requirepass_applied: Option<String>,
}

impl Default for Acl {
    fn default() -> Self {
        Self::new()
    }
}

impl Acl {
    pub fn new() -> Acl {
        let default = Rc::new(RefCell::new(User::new_default()));
        let mut users = BTreeMap::new();
        users.insert(b"default".to_vec(), default.clone());
        Acl {
            users,
            default,
            log: log::AclLog::default(),
            pubsub_default_all: false,
            requirepass_applied: None,
        }
    }

    /// Redis's authRequired: the default user has a password or is off.
    pub fn auth_required(&self) -> bool {
        let d = self.default.borrow();
        !d.nopass || !d.enabled
    }

    /// Whether a new connection starts authenticated (as the default
    /// user, when it is on and has nopass).
    pub fn starts_authenticated(&self) -> bool {
        !self.auth_required()
    }

    pub fn get(&self, name: &[u8]) -> Option<UserRef> {
        self.users.get(name).cloned()
    }

    /// Checks credentials; returns the user on success.
    pub fn authenticate(&self, name: &[u8], pass: &[u8]) -> Option<UserRef> {
        let u = self.users.get(name)?;
        if u.borrow().check_password(pass) {
            Some(u.clone())
        } else {
            None
        }
    }

    /// Applies `requirepass` to the default user when it changed: no
    /// password means `nopass`, as Redis does.
    pub fn apply_requirepass(&mut self, pass: &str) {
        if self.requirepass_applied.as_deref() == Some(pass) {
            return;
        }
        self.requirepass_applied = Some(pass.to_string());
        let mut d = self.default.borrow_mut();
        d.apply(b"resetpass", false).ok();
        if pass.is_empty() {
            d.apply(b"nopass", false).ok();
        } else {
            let mut op = b">".to_vec();
            op.extend_from_slice(pass.as_bytes());
            d.apply(&op, false).ok();
        }
    }

    /// Puts `u` in place of the user of the same name (the default user is
    /// updated in place: every client holds it).
    pub fn install(&mut self, u: User) {
        match self.users.get(&u.name) {
            Some(existing) => *existing.borrow_mut() = u,
            None => {
                self.users.insert(u.name.clone(), Rc::new(RefCell::new(u)));
            }
        }
    }

    /// Replaces every user with `users` (ACL LOAD). The default user keeps
    /// its identity; a fresh one is used when `users` has none. Returns the
    /// users that were replaced, whose clients Redis disconnects.
    pub fn replace_all(&mut self, mut users: BTreeMap<Vec<u8>, User>) -> Vec<UserRef> {
        let new_default = users
            .remove(b"default".as_slice())
            .unwrap_or_else(User::new_default);
        *self.default.borrow_mut() = new_default;
        let old = std::mem::take(&mut self.users);
        self.users.insert(b"default".to_vec(), self.default.clone());
        for (name, u) in users {
            self.users.insert(name, Rc::new(RefCell::new(u)));
        }
        old.into_iter()
            .filter(|(n, _)| n.as_slice() != b"default")
            .map(|(_, u)| u)
            .collect()
    }

    /// Applies rule words to user `name` (created when missing), all or
    /// nothing: on error the user is left as it was and the error text is
    /// the full reply.
    pub fn set_user(&mut self, name: &[u8], ops: &[Vec<u8>]) -> Result<SetOutcome, String> {
        let ops = merge_selector_args(ops)?;
        let existing = self.users.get(name).cloned();
        let mut u = match &existing {
            Some(e) => e.borrow().clone(),
            None => User::new(name, self.pubsub_default_all),
        };
        for op in &ops {
            if let Err(reason) = u.apply(op, self.pubsub_default_all) {
                return Err(format!(
                    "ERR Error in ACL SETUSER modifier '{}': {reason}",
                    String::from_utf8_lossy(op)
                ));
            }
        }
        match existing {
            Some(e) => {
                let old = std::mem::replace(&mut *e.borrow_mut(), u);
                Ok(SetOutcome::Changed { old, user: e })
            }
            None => {
                self.users.insert(name.to_vec(), Rc::new(RefCell::new(u)));
                Ok(SetOutcome::Created)
            }
        }
    }
}

pub enum SetOutcome {
    Created,
    /// An existing user changed; `old` is how it was (to see whether
    /// subscribers lost channels).
    Changed {
        old: User,
        user: UserRef,
    },
}

/// Joins `(` ... `)` arguments into one selector word, as Redis does
/// before applying rules (`"(~a" "+get)"` is one selector).
pub fn merge_selector_args(ops: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut open: Option<Vec<u8>> = None;
    for op in ops {
        match open.as_mut() {
            Some(acc) => {
                acc.push(b' ');
                acc.extend_from_slice(op);
                if op.last() == Some(&b')') {
                    out.extend(open.take());
                }
            }
            None => {
                if op.first() == Some(&b'(') && op.last() != Some(&b')') {
                    open = Some(op.clone());
                } else {
                    out.push(op.clone());
                }
            }
        }
    }
    if let Some(acc) = open {
        let first = acc.split(|&b| b == b' ').next().unwrap_or_default();
        return Err(format!(
            "ERR Unmatched parenthesis in acl selector starting at '{}'.",
            String::from_utf8_lossy(first)
        ));
    }
    Ok(out)
}
