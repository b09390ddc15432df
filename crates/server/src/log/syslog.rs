//! `syslog-enabled`, `syslog-ident`, `syslog-facility`: every log message
//! also goes to the system logger, as Redis's `syslog(3)` calls send it —
//! the message without our line prefix, at the priority of its level
//! (debug, info, notice, warning), under the configured facility and
//! ident, with the pid.
//!
//! Written by hand rather than through libc's `syslog(3)` so the socket is
//! a parameter (tests bind their own): one datagram per message in the
//! traditional format, `<PRI>Mmm dd hh:mm:ss ident[pid]: message`, sent to
//! `/dev/log`. A logger that is not there loses the message silently, as
//! with `syslog(3)`.

use super::Level;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::Mutex;

/// Where messages go, once `syslog-enabled yes` was read.
pub struct Syslog {
    sock: UnixDatagram,
    path: PathBuf,
    ident: String,
    facility: u8,
}

pub(super) static SYSLOG: Mutex<Option<Syslog>> = Mutex::new(None);

/// The facility code of a `syslog-facility` word (`user`, `local0`...).
pub fn facility_code(word: &str) -> u8 {
    match word {
        "user" => 1,
        w => w
            .strip_prefix("local")
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| *n <= 7)
            .map_or(16, |n| 16 + n),
    }
}

/// The syslog severity of a log level.
fn severity(level: Level) -> u8 {
    match level {
        Level::Debug => 7,
        Level::Verbose => 6,
        Level::Notice => 5,
        _ => 4,
    }
}

impl Syslog {
    pub fn new(path: PathBuf, ident: &str, facility: u8) -> std::io::Result<Syslog> {
        Ok(Syslog {
            sock: UnixDatagram::unbound()?,
            path,
            ident: ident.to_string(),
            facility,
        })
    }

    /// One message, as `syslog(3)` frames it.
    pub fn format(&self, level: Level, msg: &str) -> String {
        let pri = u32::from(self.facility) * 8 + u32::from(severity(level));
        format!(
            "<{pri}>{} {}[{}]: {msg}",
            stamp(),
            self.ident,
            std::process::id()
        )
    }

    pub fn send(&self, level: Level, msg: &str) {
        let _ = self
            .sock
            .send_to(self.format(level, msg).as_bytes(), &self.path);
    }
}

/// `Mmm dd hh:mm:ss` in local time (the day padded with a space).
fn stamp() -> String {
    // SAFETY: time and localtime_r write only into the values we pass.
    let tm = unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        tm
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// Starts sending every message to the system logger at `/dev/log`.
pub fn open(ident: &str, facility: &str) {
    open_at("/dev/log".into(), ident, facility);
}

/// As [`open`], to the logger socket at `path`.
pub fn open_at(path: PathBuf, ident: &str, facility: &str) {
    if let Ok(s) = Syslog::new(path, ident, facility_code(facility)) {
        if let Ok(mut g) = SYSLOG.lock() {
            *g = Some(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_reach_the_logger_with_priority_ident_and_pid() {
        let dir = std::env::temp_dir().join(format!("redoubt-syslog-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("log");
        let _ = std::fs::remove_file(&path);
        let logger = UnixDatagram::bind(&path).expect("bind");
        let s = Syslog::new(path.clone(), "redis-test", facility_code("local3")).expect("new");
        s.send(Level::Warning, "Hello");
        let mut buf = [0u8; 512];
        let n = logger.recv(&mut buf).expect("recv");
        let got = String::from_utf8_lossy(&buf[..n]).into_owned();
        // local3 (19) * 8 + warning (4)
        assert!(got.starts_with("<156>"), "{got}");
        assert!(
            got.ends_with(&format!(" redis-test[{}]: Hello", std::process::id())),
            "{got}"
        );
        assert_eq!(facility_code("user"), 1);
        assert_eq!(facility_code("local0"), 16);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
