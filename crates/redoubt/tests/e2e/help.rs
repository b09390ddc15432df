//! Help that behaves: `redoubt --help`, `-h` and `help` print the commands
//! on standard output and exit 0, and every subcommand describes itself
//! (one line, options, defaults, an example) without acting on `--help`.

use crate::harness::redoubt_bin;
use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(redoubt_bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const TOOLS: &[&str] = &["up", "doctor", "config", "top", "check-rdb", "check-aof"];

#[test]
fn top_level_help_lists_every_command_on_stdout_and_exits_0() {
    for flag in ["--help", "-h", "help"] {
        let (code, out, err) = run(&[flag]);
        assert_eq!(code, 0, "redoubt {flag}: {err}");
        assert!(err.is_empty(), "redoubt {flag} wrote to stderr: {err}");
        for c in TOOLS.iter().chain(&["server", "sentinel"]) {
            assert!(
                out.contains(&format!("  {c} ")),
                "redoubt {flag} lacks {c}:\n{out}"
            );
        }
    }
    // Without a command: the same list, on stderr, as a usage error.
    let (code, out, err) = run(&[]);
    assert_eq!(code, 2);
    assert!(out.is_empty() && err.contains("check-rdb"), "{out}{err}");
    let (code, _, err) = run(&["no-such-command"]);
    assert_eq!(code, 2);
    assert!(err.contains("no-such-command"), "{err}");
}

#[test]
fn every_subcommand_has_help_with_options_defaults_and_an_example() {
    for tool in TOOLS {
        for args in [vec![*tool, "--help"], vec!["help", tool], vec![*tool, "-h"]] {
            let (code, out, err) = run(&args);
            assert_eq!(code, 0, "redoubt {args:?}: {out}{err}");
            assert!(err.is_empty(), "redoubt {args:?} wrote to stderr: {err}");
            assert!(
                out.contains(&format!("Usage: redoubt {tool}")),
                "redoubt {args:?}:\n{out}"
            );
            assert!(
                out.contains("Example"),
                "redoubt {args:?} has no example:\n{out}"
            );
            // The first line is the one-line description.
            let first = out.lines().next().unwrap_or("");
            assert!(first.len() > 20, "redoubt {args:?}: {first}");
        }
    }
    // Defaults are shown where options have them.
    let (_, out, _) = run(&["up", "--help"]);
    assert!(out.contains("[default: 6379"), "{out}");
    assert!(out.contains("--sentinel-port"), "{out}");
    // check-rdb and check-aof describe themselves rather than opening a
    // file named --help.
    for tool in ["check-rdb", "check-aof"] {
        let (_, out, _) = run(&[tool, "--help"]);
        assert!(!out.contains("Cannot"), "{tool} --help:\n{out}");
        assert!(out.contains("Exit code"), "{tool} --help:\n{out}");
    }
}

#[test]
fn server_help_lists_redoubts_own_directives() {
    for args in [
        &["server", "--help"][..],
        &["help", "server"],
        &["server", "-h"],
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.contains("Usage: redoubt server"), "{out}");
        assert!(
            out.contains("metrics-port") && out.contains("metrics-bind"),
            "{out}"
        );
        assert!(out.contains("[default: 127.0.0.1]"), "{out}");
        assert!(out.contains("Example"), "{out}");
    }
    let (code, out, _) = run(&["sentinel", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Usage: redoubt sentinel"), "{out}");
}

#[test]
fn bad_tool_arguments_exit_2_with_a_message_on_stderr() {
    for args in [
        &["up", "--no-such-option"][..],
        &["top", "--count"],
        &["doctor"],
        &["config"],
    ] {
        let (code, out, err) = run(args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(!err.is_empty(), "{args:?}: nothing on stderr");
    }
}
