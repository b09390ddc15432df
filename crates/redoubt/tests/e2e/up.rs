//! `redoubt up` end to end, as a user runs it: it comes up, a write on the
//! master reaches both replicas, SIGKILL of the master process ends in a
//! failover shown in the status table, and Ctrl-C (SIGINT) leaves no
//! process behind. Redoubt's own servers and sentinels (`up`'s defaults).

use crate::harness::{
    conn, free_ports, heavy, info_field, pid_alive, redoubt_bin, temp_dir, wait_for,
};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `redoubt up` with its output collected line by line.
pub struct Up {
    pub child: Child,
    pub out: Arc<Mutex<Vec<String>>>,
}

impl Up {
    pub fn start(args: &[&str]) -> Up {
        let mut child = Command::new(redoubt_bin())
            .arg("up")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start redoubt up");
        let out = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let out = out.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    out.lock().unwrap().push(line);
                }
            });
        }
        Up { child, out }
    }

    pub fn text(&self) -> String {
        self.out.lock().unwrap().join("\n")
    }

    /// Waits until a line satisfies `pred`, failing with the output.
    pub fn wait_line(
        &mut self,
        what: &str,
        limit: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(l) = self.out.lock().unwrap().iter().find(|l| pred(l)) {
                return l.clone();
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                panic!("redoubt up exited ({st}) before {what}:\n{}", self.text());
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn interrupt(&mut self) -> std::process::ExitStatus {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "up did not stop on SIGINT:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: as above; SIGINT lets `up` stop its own children.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
            let _ = self.child.wait();
        }
    }
}

/// The pid of the process answering on `port`, as it reports it.
fn pid_of(port: u16) -> i32 {
    info_field(&mut conn(port), "server", "process_id")
        .parse()
        .unwrap()
}

#[test]
fn up_replicates_fails_over_on_master_kill_and_stops_on_sigint() {
    let _heavy = heavy();
    let port = free_ports(3);
    let sport = free_ports(3);
    let dir = temp_dir("up");
    let (p, s, d) = (
        port.to_string(),
        sport.to_string(),
        dir.display().to_string(),
    );
    let args = [
        "--port",
        &p,
        "--sentinel-port",
        &s,
        "--dir",
        &d,
        "--down-after",
        "1000",
        "--failover-timeout",
        "10000",
        "--refresh-ms",
        "250",
    ];
    let mut up = Up::start(&args);
    up.wait_line("`Ready in`", Duration::from_secs(60), |l| {
        l.starts_with("Ready in")
    });
    // While it waited it said for what (the sentinels need a few hello
    // rounds to find each other, so there is always something).
    let text = up.text();
    assert!(
        text.lines()
            .any(|l| l.contains("] waiting for ") && l.contains("sentinel-")),
        "{text}"
    );

    let mut pids: Vec<i32> = (0..3).map(|i| pid_of(port + i)).collect();
    pids.extend((0..3).map(|i| pid_of(sport + i)));
    let _: () = redis::cmd("SET")
        .arg("greeting")
        .arg("hello")
        .query(&mut conn(port))
        .unwrap();
    for r in [port + 1, port + 2] {
        wait_for(
            "the write on both replicas",
            Duration::from_secs(10),
            || {
                redis::cmd("GET")
                    .arg("greeting")
                    .query::<Option<String>>(&mut conn(r))
                    .ok()
                    .flatten()
                    .as_deref()
                    == Some("hello")
            },
        );
    }

    // SAFETY: the master is a process `up` started for this test.
    unsafe { libc::kill(pids[0], libc::SIGKILL) };
    let line = up.wait_line(
        "a failover in the status table",
        Duration::from_secs(40),
        |l| l.contains("last failover:") && !l.ends_with("last failover: none"),
    );
    assert!(
        line.contains(&format!("127.0.0.1:{port} -> 127.0.0.1:")),
        "{line}"
    );
    assert!(
        up.text().contains(&format!("server-{port} exited")),
        "{}",
        up.text()
    );

    let st = up.interrupt();
    assert!(st.success(), "up exited with {st}:\n{}", up.text());
    for pid in pids {
        assert!(!pid_alive(pid), "pid {pid} is still running after SIGINT");
    }

    // Resuming the folder: the promoted replica is still the master (the
    // sentinels' and servers' rewritten configs say so), the old master
    // comes back as its replica, and the data is there.
    let new_master: u16 = line.rsplit(':').next().unwrap().trim().parse().unwrap();
    let mut up = Up::start(&args);
    up.wait_line("`Ready in` after resuming", Duration::from_secs(60), |l| {
        l.starts_with("Ready in")
    });
    assert!(
        up.text()
            .contains(&format!("master:    redis-cli -p {new_master}\n")),
        "{}",
        up.text()
    );
    for p in [port, port + 1, port + 2] {
        let v: Option<String> = redis::cmd("GET")
            .arg("greeting")
            .query(&mut conn(p))
            .unwrap();
        assert_eq!(v.as_deref(), Some("hello"), "on port {p}");
    }
    assert!(up.interrupt().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn up_resumes_the_same_folder_with_its_data() {
    let _heavy = heavy();
    let port = free_ports(2);
    let sport = free_ports(1);
    let dir = temp_dir("up-resume");
    let (p, s, d) = (
        port.to_string(),
        sport.to_string(),
        dir.display().to_string(),
    );
    let args = [
        "--port",
        p.as_str(),
        "--replicas",
        "1",
        "--sentinels",
        "1",
        "--quorum",
        "1",
        "--sentinel-port",
        s.as_str(),
        "--dir",
        d.as_str(),
        "--password",
        "pw-1",
    ];
    let mut up = Up::start(&args);
    up.wait_line("`Ready in`", Duration::from_secs(60), |l| {
        l.starts_with("Ready in")
    });
    let mut c = redis::Client::open(format!("redis://:pw-1@127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("kept")
        .arg("yes")
        .query(&mut c)
        .unwrap();
    assert!(up.interrupt().success());

    let mut up = Up::start(&args);
    up.wait_line("`Resuming`", Duration::from_secs(10), |l| {
        l.starts_with("Resuming the topology")
    });
    up.wait_line("`Ready in`", Duration::from_secs(60), |l| {
        l.starts_with("Ready in")
    });
    let mut c = redis::Client::open(format!("redis://:pw-1@127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    let v: Option<String> = redis::cmd("GET").arg("kept").query(&mut c).unwrap();
    assert_eq!(v.as_deref(), Some("yes"));
    assert!(up.interrupt().success());
    let _ = std::fs::remove_dir_all(&dir);
}
