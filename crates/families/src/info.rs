//! `INFO [section ...]`: picks the sections the arguments name and has
//! the engine render them (`server::info`, shared with the metrics
//! endpoint and Sentinel's INFO).

use server::cmd::{Ctx, Handler};
use server::info::{render, ALL, DEFAULT};

pub const COMMANDS: &[(&str, Handler)] = &[("info", info)];

fn info(ctx: &mut Ctx) {
    let mut wanted: Vec<&str> = Vec::new();
    let mut args: Vec<String> = ctx
        .argv
        .from(1)
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    if args.is_empty() {
        args.push("default".into());
    }
    for a in &args {
        match a.as_str() {
            "default" => wanted.extend_from_slice(DEFAULT),
            "all" | "everything" => wanted.extend_from_slice(ALL),
            "modules" => wanted.push("module_list"),
            other => {
                if let Some(s) = ALL.iter().find(|s| **s == other) {
                    wanted.push(s);
                }
            }
        }
    }
    let text = render(ctx.srv, &wanted);
    ctx.out().verbatim(text.as_bytes());
}
